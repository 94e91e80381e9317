#include "mf/jobs/clip_job.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>

#include "mf/core/error.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"
#include "mf/project/session.h"

namespace mf::jobs {

namespace fs = std::filesystem;
namespace proj = mf::project;
using mf::ErrorCode;
using mf::tasks::TaskId;

bool is_clip_task(TaskId task) {
  switch (task) {
    case TaskId::VInp:
    case TaskId::VOutp:
    case TaskId::VColor:
    case TaskId::VSR:
    case TaskId::VEdit:
    case TaskId::VExd:
      return true;
    default:
      return false;
  }
}

namespace {

// A folder name that sorts by time and does not collide within a second.
std::string stamp_name(const fs::path& parent, const std::string& prefix) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::string base = prefix + "_" + buf;
  std::string name = base;
  for (int i = 2; fs::exists(parent / name) || fs::exists(parent / (name + ".mp4")); ++i)
    name = base + "_" + std::to_string(i);
  return name;
}

int largest_4k1(int64_t n) { return n < 1 ? 0 : static_cast<int>((n - 1) / 4 * 4 + 1); }

// The painted keyframe that covers `frame` (hold): at the frame, else the latest before it, else the first after.
const proj::MaskKeyframe* covering_keyframe(const proj::MaskTrack& track, int64_t frame) {
  const proj::MaskKeyframe* best = nullptr;
  for (const auto& k : track.keyframes)
    if (k.frame <= frame) best = &k;
  if (!best && !track.keyframes.empty()) best = &track.keyframes.front();
  return best;
}

media::Image to_rgb(const media::Image& gray) {
  if (gray.channels == 3) return gray;
  media::Image out = media::Image::make(gray.width, gray.height, 3);
  for (int y = 0; y < gray.height; ++y) {
    const uint8_t* s = gray.row(y);
    uint8_t* d = out.row(y);
    for (int x = 0; x < gray.width; ++x) d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = s[x * gray.channels];
  }
  return out;
}

}  // namespace

ClipJob export_clip_job(const proj::ProjectSession& session, const ClipJobRequest& request) {
  const proj::Project& doc = session.document();
  const auto& facts = mf::tasks::task_facts(request.task);
  check(is_clip_task(request.task), ErrorCode::BadInput,
        std::string("task ") + facts.key + " does not take a clip from the timeline; choose one of vinp, voutp, "
                                           "vcolor, vsr, vedit, vexd");
  const proj::Clip* clip = doc.find_clip(request.clip_id);
  check(clip != nullptr, ErrorCode::BadInput, "no clip is selected: click a clip on the timeline first");
  const proj::MediaItem& media_item = proj::require_media(doc, clip->media_id);
  check(media_item.kind == proj::MediaKind::Video, ErrorCode::BadInput,
        "the clip '" + clip->name + "' is a still image; " + facts.key +
            " edits a video. Use a video clip (or the image tasks for stills)");
  const int64_t available = std::min<int64_t>(clip->duration(), media_item.frame_count - clip->source_in);
  const int n = largest_4k1(std::min<int64_t>(available, std::max(1, request.max_frames)));
  check(n >= 1, ErrorCode::BadInput, "the clip '" + clip->name + "' has no frames to use");

  const fs::path jobs_root = session.folder() / "jobs" / "inputs";
  const std::string name = stamp_name(jobs_root, facts.key);
  const fs::path folder = jobs_root / name;
  fs::create_directories(folder);

  // Input frames: [source_in, source_in + n) of the media, losslessly.
  const fs::path source = session.to_absolute(media_item.path);
  check(fs::exists(source), ErrorCode::BadInput,
        "the media file of clip '" + clip->name + "' is missing: " + source.string() +
            " (relink or re-import it)");
  media::VideoReader reader(source);
  std::vector<media::Image> frames;
  frames.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) frames.push_back(reader.frame(clip->source_in + i).image);
  const int width = frames.front().width, height = frames.front().height;
  check(width >= 16 && height >= 16, ErrorCode::BadInput,
        "the clip is " + std::to_string(width) + "x" + std::to_string(height) +
            " pixels; the model needs at least 16x16");
  media::EncodeOptions eo;
  eo.codec = media::Codec::Ffv1;
  eo.fps = reader.fps().valid() ? reader.fps() : media::Rational(media_item.fps.num(), media_item.fps.den());
  const fs::path input_file = folder / "input.mkv";
  media::write_video(input_file, frames, eo);

  mf::tasks::TaskSpec spec = mf::tasks::official_defaults(request.task);
  spec.prompt = request.prompt;
  spec.model = request.model;
  spec.clips = {input_file.string()};
  spec.num_frames = n;
  spec.width = width / 16 * 16;
  spec.height = height / 16 * 16;
  spec.crop = mf::tasks::CropMode::KeepRes;
  spec.fps = {eo.fps.num, eo.fps.den};
  if (request.steps > 0) spec.steps = request.steps;
  if (request.guidance) spec.guidance_scale = *request.guidance;
  spec.seed = request.seed;

  // Masks: the clip's first mask track that has painted keyframes, resolved per frame.
  if (facts.mask != mf::tasks::MaskUse::Forbidden) {
    const proj::MaskTrack* track = nullptr;
    for (const proj::MaskTrack* t : doc.mask_tracks_for_clip(clip->id))
      if (!t->keyframes.empty()) {
        track = t;
        break;
      }
    check(track != nullptr || facts.mask != mf::tasks::MaskUse::Required, ErrorCode::BadInput,
          std::string(facts.key) + " needs a mask: paint the area to regenerate on the clip with the mask brush (B) "
                                   "first");
    if (track) {
      std::map<std::string, media::Image> loaded;
      std::vector<media::Image> masks;
      media::Image keep_all;
      for (int i = 0; i < n; ++i) {
        const proj::MaskKeyframe* k = covering_keyframe(*track, clip->source_in + i);
        if (track->interpolation == proj::MaskInterpolation::None && k->frame != clip->source_in + i) {
          // Interpolation "none": only painted frames have a mask; the others keep everything.
          if (keep_all.empty()) {
            keep_all = media::Image::make(width, height, 3);
            std::fill(keep_all.data.begin(), keep_all.data.end(), uint8_t(255));
          }
          masks.push_back(keep_all);
          continue;
        }
        auto it = loaded.find(k->path);
        if (it == loaded.end()) {
          const fs::path p = session.to_absolute(k->path);
          check(fs::exists(p), ErrorCode::BadInput,
                "the painted mask " + p.string() + " is missing; repaint the mask on frame " +
                    std::to_string(k->frame));
          media::Image m = media::read_image(p, media::PixelFormat::Gray8);
          check(m.width == width && m.height == height, ErrorCode::BadInput,
                "the painted mask " + p.string() + " is " + std::to_string(m.width) + "x" +
                    std::to_string(m.height) + " but the clip is " + std::to_string(width) + "x" +
                    std::to_string(height) + "; repaint it on this clip");
          it = loaded.emplace(k->path, to_rgb(m)).first;
        }
        masks.push_back(it->second);
      }
      // One mask frame per input frame (TaskSpec validation asks video tasks for a mask video), losslessly.
      const fs::path mask_file = folder / "mask.mkv";
      media::write_video(mask_file, masks, eo);
      spec.mask = mask_file.string();
    }
  }

  ClipJob job;
  job.spec = spec;
  job.input_folder = folder;
  job.output = session.folder() / "renders" / (name + (facts.image_output ? ".png" : ".mp4"));
  job.source_clip_id = clip->id;
  return job;
}

}  // namespace mf::jobs

#include "mf/jobs/task_job.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>

#include "mf/core/error.h"
#include "mf/media/mask.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"
#include "mf/project/session.h"

namespace mf::jobs {

namespace fs = std::filesystem;
namespace proj = mf::project;
using mf::ErrorCode;
using mf::tasks::MaskUse;
using mf::tasks::TaskId;

TaskForm task_form(TaskId task) {
  const auto& f = mf::tasks::task_facts(task);
  TaskForm form;
  form.task = task;
  form.mask = f.mask;
  form.motion = !f.image_output;
  form.upscale = f.uses_upscale;
  form.size = f.input == mf::tasks::InputKind::None ? TaskForm::Size::Choose : TaskForm::Size::FromInput;
  if (f.image_output) form.frames = TaskForm::Frames::Single;
  else if (f.generation) {
    form.frames = TaskForm::Frames::Choose;
    form.default_frames = f.official_num_frames;
  } else if (f.input == mf::tasks::InputKind::Video) form.frames = TaskForm::Frames::FromClip;
  else form.frames = TaskForm::Frames::Choose;
  switch (task) {
    case TaskId::T2V: form.hint = "Generates a video from the prompt alone."; break;
    case TaskId::T2I: form.hint = "Generates an image from the prompt alone."; break;
    case TaskId::I2V:
      form.inputs = {"First frame"};
      form.hint = "Animates the first frame (mark it with F, or the frame at the playhead).";
      break;
    case TaskId::ITrans:
      form.inputs = {"First frame", "Last frame"};
      form.hint = "Generates the motion from the first frame (F) to the last frame (Shift+L).";
      break;
    case TaskId::VExd:
      form.inputs = {"Clip"};
      form.hint = "Continues the selected clip: its last 8 frames condition the new frames; the result starts with "
                  "the clip.";
      break;
    case TaskId::VTrans:
      form.inputs = {"First clip", "Last clip"};
      form.hint = "Generates a transition from the end of the first clip to the start of the last clip (select two "
                  "clips, or mark them).";
      break;
    case TaskId::IInp:
    case TaskId::IOutp:
    case TaskId::IColor:
    case TaskId::ISR:
      form.inputs = {"Image"};
      form.hint = f.mask == MaskUse::Required
                      ? "Works on the frame at the playhead with the mask painted on it: black (brush) regenerates, "
                        "white (eraser) keeps."
                      : "Works on the frame at the playhead (a painted mask on it limits the change).";
      break;
    default:
      form.inputs = {"Clip"};
      form.hint = f.mask == MaskUse::Required
                      ? "Uses the clip's mask track: black (brush) regenerates, white (eraser) keeps."
                      : "The whole clip is the condition; a painted mask is used if there is one.";
      break;
  }
  return form;
}

namespace {

std::string media_name(const std::string& path) { return fs::path(path).filename().string(); }

// The mask frames over `span` when the inputs' mask belongs to that clip and paints something.
std::optional<proj::MaskFrames> mask_for(const proj::TaskInputs& in, const proj::ClipSpan& span) {
  if (!in.mask || in.mask->clip_id != span.clip_id || !in.mask->any()) return std::nullopt;
  return in.mask;
}

}  // namespace

ResolvedInputs resolve_task_inputs(TaskId task, const proj::TaskInputs& in) {
  ResolvedInputs r;
  const auto& f = mf::tasks::task_facts(task);
  const std::string key = f.key;
  auto need_video_clip = [&](const std::optional<proj::ClipSpan>& c, const std::string& what) {
    if (!c) {
      r.missing.push_back(what);
      return false;
    }
    if (c->kind != proj::MediaKind::Video) {
      r.missing.push_back("the clip of " + media_name(c->media_path) + " is a still image; " + key +
                          " needs a video clip");
      return false;
    }
    r.clips.push_back(*c);
    return true;
  };
  switch (task) {
    case TaskId::T2V:
    case TaskId::T2I:
      break;
    case TaskId::I2V:
      if (in.first_frame) r.images.push_back(*in.first_frame);
      else if (in.playhead_frame) {
        r.images.push_back(*in.playhead_frame);
        r.notes.push_back("no first frame is marked: the frame at the playhead is used");
      } else
        r.missing.push_back("mark the first frame (F) on a clip, or put the playhead on a clip");
      break;
    case TaskId::ITrans:
      if (in.first_frame) r.images.push_back(*in.first_frame);
      else r.missing.push_back("mark the first frame (F)");
      if (in.last_frame) r.images.push_back(*in.last_frame);
      else r.missing.push_back("mark the last frame (Shift+L)");
      break;
    case TaskId::ISR:
    case TaskId::IColor:
    case TaskId::IInp:
    case TaskId::IOutp: {
      if (in.playhead_frame) r.images.push_back(*in.playhead_frame);
      else if (in.first_frame) r.images.push_back(*in.first_frame);
      else {
        r.missing.push_back("put the playhead on a clip (the frame there is the image)");
        break;
      }
      const proj::FrameRef& img = r.images.front();
      if (in.mask && in.mask->clip_id == img.clip_id) {
        for (const auto& mf_ : in.mask->frames)
          if (mf_.source_frame == img.source_frame && mf_.sample.kind != proj::MaskSampleKind::None)
            r.image_mask = mf_.sample;
      }
      if (f.mask == MaskUse::Required && !r.image_mask)
        r.missing.push_back("paint the area to " + std::string(task == TaskId::IOutp ? "outpaint" : "regenerate") +
                            " on the frame at the playhead with the mask brush (B)");
      break;
    }
    case TaskId::VTrans:
      need_video_clip(in.first_clip, "select two clips (Ctrl+click) or mark the first clip");
      need_video_clip(in.last_clip, "select a second clip or mark the last clip");
      break;
    default:  // vexd and the editing tasks: one clip
      if (need_video_clip(in.clip, "select the clip to use on the timeline") && f.mask != MaskUse::Forbidden) {
        r.mask = mask_for(in, r.clips.front());
        if (f.mask == MaskUse::Required && !r.mask)
          r.missing.push_back(key + " needs a mask: paint the area to regenerate on the clip with the mask brush (B) "
                                    "first");
      }
      break;
  }
  return r;
}

namespace {

int largest_4k1(int64_t n) { return n < 1 ? 0 : static_cast<int>((n - 1) / 4 * 4 + 1); }

// The source frames of a clip input that the job writes.
proj::ClipSpan frames_used(TaskId task, const proj::ClipSpan& span, int index, int max_frames) {
  const int64_t limit = std::max(1, max_frames);
  if (task == TaskId::VExd) return span.tail(limit);
  if (task == TaskId::VTrans) return index == 0 ? span.tail(limit) : span.head(limit);
  return span.head(largest_4k1(std::min<int64_t>(span.frame_count(), limit)));
}

// The size of the first input (clip, else the media of the first image), or 0x0.
proj::Resolution input_size(const proj::Project& doc, const ResolvedInputs& r) {
  if (!r.clips.empty()) return r.clips.front().size;
  if (!r.images.empty())
    if (const proj::MediaItem* m = doc.find_media(r.images.front().media_id)) return m->size;
  return {};
}

mf::tasks::TaskSpec base_spec(const proj::Project& doc, const proj::TaskInputs& in, const ResolvedInputs& r,
                              const TaskJobRequest& q) {
  const TaskForm form = task_form(q.task);
  mf::tasks::TaskSpec spec = mf::tasks::official_defaults(q.task);
  spec.prompt = q.prompt;
  spec.model = q.model;
  if (q.style) mf::tasks::apply_style_preset(spec, *q.style);
  if (q.negative_prompt) spec.negative_prompt = q.negative_prompt;
  if (q.steps > 0) spec.steps = q.steps;
  if (q.guidance) spec.guidance_scale = *q.guidance;
  if (q.motion_score && form.motion) spec.motion_score = *q.motion_score;
  if (q.upscale > 0) spec.upscale = q.upscale;
  spec.seed = q.seed;
  spec.keep_known_pixels = q.keep_known_pixels && form.mask == mf::tasks::MaskUse::Required;
  for (const auto& l : q.loras)
    if (std::none_of(spec.loras.begin(), spec.loras.end(), [&](const auto& x) { return x.path == l.path; }))
      spec.loras.push_back(l);

  // Geometry: the request's box, else the input's size (16-aligned), else the task's default box.
  const bool box = q.height > 0 && q.width > 0;
  if (form.size == TaskForm::Size::FromInput) {
    spec.crop = mf::tasks::CropMode::KeepRes;
    const proj::Resolution size = input_size(doc, r);
    if (box) {
      spec.height = mf::tasks::snap_to_16(q.height);
      spec.width = mf::tasks::snap_to_16(q.width);
    } else if (size.width >= 16 && size.height >= 16) {
      spec.height = size.height / 16 * 16;
      spec.width = size.width / 16 * 16;
    }
  } else if (box) {
    spec.height = mf::tasks::snap_to_16(q.height);
    spec.width = mf::tasks::snap_to_16(q.width);
  }

  switch (form.frames) {
    case TaskForm::Frames::Single: spec.num_frames = 1; break;
    case TaskForm::Frames::Choose:
      spec.num_frames = q.num_frames > 0 ? q.num_frames : form.default_frames > 0 ? form.default_frames : 49;
      break;
    case TaskForm::Frames::FromClip:
      spec.num_frames = r.clips.empty() ? 1 : static_cast<int>(frames_used(q.task, r.clips[0], 0, q.max_frames).frame_count());
      break;
  }
  // Frame rate: the clip's, else the project's.
  const proj::Rational fps = !r.clips.empty() ? r.clips.front().media_fps : in.fps;
  spec.fps = {fps.num(), fps.den()};
  return spec;
}

std::string stamp_name(const fs::path& parent, const std::string& prefix) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  const std::string base = prefix + "_" + buf;
  std::string name = base;
  for (int i = 2; fs::exists(parent / name) || fs::exists(parent / (name + ".mp4")) ||
                  fs::exists(parent / (name + ".png"));
       ++i)
    name = base + "_" + std::to_string(i);
  return name;
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

// Reads the media of clips and frame references, each file opened once, frames decoded once.
class MediaAccess {
 public:
  explicit MediaAccess(const proj::ProjectSession& s) : session_(s) {}

  fs::path existing(const std::string& rel, const std::string& what) const {
    const fs::path p = session_.to_absolute(rel);
    check(fs::exists(p), ErrorCode::BadInput,
          "the media file of " + what + " is missing: " + p.string() + " (relink or re-import it)");
    return p;
  }
  media::VideoReader& reader(const std::string& rel, const std::string& what) {
    auto it = readers_.find(rel);
    if (it == readers_.end())
      it = readers_.emplace(rel, std::make_unique<media::VideoReader>(existing(rel, what))).first;
    return *it->second;
  }
  const media::Image& frame(const std::string& rel, int64_t index, const std::string& what) {
    const auto key = std::make_pair(rel, index);
    auto it = frames_.find(key);
    if (it == frames_.end()) {
      media::VideoReader& r = reader(rel, what);
      check(index >= 0 && index < r.frame_count(), ErrorCode::BadInput,
            what + ": frame " + std::to_string(index) + " is past the end of " + rel + " (" +
                std::to_string(r.frame_count()) + " frames); re-import the media");
      it = frames_.emplace(key, r.frame(index).image).first;
    }
    return it->second;
  }
  media::Image image(const proj::FrameRef& ref, const std::string& what) {
    if (ref.kind == proj::MediaKind::Image) return media::read_image(existing(ref.media_path, what));
    return frame(ref.media_path, ref.source_frame, what);
  }
  const media::Image& painted_mask(const std::string& rel, int64_t frame, int width, int height) {
    auto it = masks_.find(rel);
    if (it == masks_.end()) {
      const fs::path p = session_.to_absolute(rel);
      check(fs::exists(p), ErrorCode::BadInput,
            "the painted mask " + p.string() + " is missing; repaint the mask on frame " + std::to_string(frame));
      media::Image m = media::to_gray(media::read_image(p, media::PixelFormat::Gray8));
      check(m.width == width && m.height == height, ErrorCode::BadInput,
            "the painted mask " + p.string() + " is " + std::to_string(m.width) + "x" + std::to_string(m.height) +
                " but the clip is " + std::to_string(width) + "x" + std::to_string(height) + "; repaint it on this clip");
      it = masks_.emplace(rel, std::move(m)).first;
    }
    return it->second;
  }
  // The keep/regenerate mask (Gray8, white = keep) a sample gives on a frame of `media` (a video clip).
  media::Image resolve(const proj::MaskSample& s, const std::string& media, int64_t at, int width, int height,
                       const std::string& what) {
    switch (s.kind) {
      case proj::MaskSampleKind::None: {
        media::Image keep = media::Image::make(width, height, 1);
        std::fill(keep.data.begin(), keep.data.end(), uint8_t(255));
        return keep;
      }
      case proj::MaskSampleKind::Painted:
      case proj::MaskSampleKind::Held:
        return painted_mask(s.path, s.frame_a, width, height);
      case proj::MaskSampleKind::Interpolated: {
        const media::Image ma = painted_mask(s.path, s.frame_a, width, height);
        const media::Image mb = painted_mask(s.path_b, s.frame_b, width, height);
        const media::Image fa = this->frame(media, s.frame_a, what);
        const media::Image fb = this->frame(media, s.frame_b, what);
        const media::Image& ft = this->frame(media, at, what);
        return media::interpolate_mask_flow(fa, ma, fb, mb, ft, s.t);
      }
    }
    return {};
  }

 private:
  const proj::ProjectSession& session_;
  std::map<std::string, std::unique_ptr<media::VideoReader>> readers_;
  std::map<std::pair<std::string, int64_t>, media::Image> frames_;
  std::map<std::string, media::Image> masks_;
};

std::string clip_label(const proj::Project& doc, const proj::ClipSpan& c) {
  const proj::Clip* clip = doc.find_clip(c.clip_id);
  return "clip '" + (clip ? clip->name : c.clip_id) + "'";
}

}  // namespace

mf::tasks::TaskSpec preview_task_spec(const proj::Project& doc, const proj::TaskInputs& inputs,
                                      const ResolvedInputs& r, const TaskJobRequest& q) {
  mf::tasks::TaskSpec spec = base_spec(doc, inputs, r, q);
  for (const auto& img : r.images)
    spec.images.push_back(img.media_path + "#frame" + std::to_string(img.source_frame));
  for (size_t i = 0; i < r.clips.size(); ++i) {
    const proj::ClipSpan used = frames_used(q.task, r.clips[i], static_cast<int>(i), q.max_frames);
    spec.clips.push_back(used.media_path + "#frames" + std::to_string(used.source.start) + "-" +
                         std::to_string(used.source.end - 1));
  }
  if (r.mask) spec.mask = "mask-track:" + r.mask->mask_track_id;
  if (r.image_mask) spec.mask = r.image_mask->path;
  return spec;
}

TaskJob export_task_job(const proj::ProjectSession& session, const proj::TaskInputs& inputs,
                        const TaskJobRequest& q) {
  const proj::Project& doc = session.document();
  const auto& facts = mf::tasks::task_facts(q.task);
  const ResolvedInputs r = resolve_task_inputs(q.task, inputs);
  if (!r.ready()) {
    std::string msg = std::string(facts.key) + " cannot start yet:";
    for (const auto& m : r.missing) msg += "\n  " + m;
    throw Error(ErrorCode::BadInput, msg);
  }
  mf::tasks::TaskSpec spec = base_spec(doc, inputs, r, q);

  const fs::path jobs_root = session.folder() / "jobs" / "inputs";
  const std::string name = stamp_name(jobs_root, facts.key);
  TaskJob job;
  MediaAccess media(session);
  auto folder = [&]() {
    job.input_folder = jobs_root / name;
    fs::create_directories(job.input_folder);
    return job.input_folder;
  };

  // Image inputs as PNG files.
  int image_w = 0, image_h = 0;
  for (size_t i = 0; i < r.images.size(); ++i) {
    const proj::FrameRef& ref = r.images[i];
    const std::string what = ref.clip_id.empty() ? "still " + media_name(ref.media_path)
                                                 : "frame " + std::to_string(ref.timeline_frame);
    const media::Image img = media.image(ref, what);
    check(img.width >= 16 && img.height >= 16, ErrorCode::BadInput,
          what + " is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
              " pixels; the model needs at least 16x16");
    if (i == 0) {
      image_w = img.width;
      image_h = img.height;
    }
    const fs::path file = folder() / ("image_" + std::to_string(i) + ".png");
    media::write_png(file, img);
    spec.images.push_back(file.string());
  }
  if (!r.images.empty() && !(q.height > 0 && q.width > 0)) {
    spec.height = image_h / 16 * 16;
    spec.width = image_w / 16 * 16;
  }
  if (r.image_mask) {
    const proj::FrameRef& ref = r.images.front();
    const media::Image m = media.resolve(*r.image_mask, ref.media_path, ref.source_frame, image_w, image_h,
                                         "frame " + std::to_string(ref.timeline_frame));
    const fs::path file = folder() / "mask.png";
    media::write_png(file, to_rgb(m));
    spec.mask = file.string();
  }

  // Clip inputs as lossless FFV1 video.
  for (size_t i = 0; i < r.clips.size(); ++i) {
    const std::string what = clip_label(doc, r.clips[i]);
    media::VideoReader& reader = media.reader(r.clips[i].media_path, what);
    // A clip longer than its file (the media was replaced by a shorter one) uses the frames that exist.
    proj::ClipSpan span = r.clips[i];
    if (span.source.end > reader.frame_count()) span = span.head(std::max<int64_t>(0, reader.frame_count() - span.source.start));
    check(span.frame_count() >= 1, ErrorCode::BadInput, "the " + what + " has no frames to use");
    const proj::ClipSpan used = frames_used(q.task, span, static_cast<int>(i), q.max_frames);
    std::vector<media::Image> frames;
    frames.reserve(static_cast<size_t>(used.frame_count()));
    for (int64_t s = used.source.start; s < used.source.end; ++s) frames.push_back(media.frame(used.media_path, s, what));
    const int width = frames.front().width, height = frames.front().height;
    check(width >= 16 && height >= 16, ErrorCode::BadInput,
          "the " + what + " is " + std::to_string(width) + "x" + std::to_string(height) +
              " pixels; the model needs at least 16x16");
    media::EncodeOptions eo;
    eo.codec = media::Codec::Ffv1;
    eo.fps = reader.fps().valid() ? reader.fps() : media::Rational(used.media_fps.num(), used.media_fps.den());
    if (i == 0) spec.fps = {eo.fps.num, eo.fps.den};
    const fs::path file = folder() / (r.clips.size() == 1 ? std::string("input.mkv") : "input_" + std::to_string(i) + ".mkv");
    media::write_video(file, frames, eo);
    spec.clips.push_back(file.string());
    if (i == 0 && task_form(q.task).frames == TaskForm::Frames::FromClip) spec.num_frames = static_cast<int>(frames.size());

    if (i == 0 && r.mask) {
      std::map<int64_t, const proj::MaskSample*> by_source;
      for (const auto& mf_ : r.mask->frames) by_source[mf_.source_frame] = &mf_.sample;
      std::vector<media::Image> masks;
      masks.reserve(frames.size());
      const proj::MaskSample none;
      for (int64_t s = used.source.start; s < used.source.end; ++s) {
        auto it = by_source.find(s);
        const proj::MaskSample& sample = it == by_source.end() ? none : *it->second;
        masks.push_back(to_rgb(media.resolve(sample, used.media_path, s, width, height, what)));
      }
      const fs::path mask_file = folder() / "mask.mkv";
      media::write_video(mask_file, masks, eo);
      spec.mask = mask_file.string();
    }
  }

  mf::tasks::check_valid(spec);
  job.spec = spec;
  job.output = session.folder() / "renders" / (name + (facts.image_output ? ".png" : ".mp4"));
  if (!r.clips.empty()) job.source_clip_id = r.clips.front().clip_id;
  else if (!r.images.empty()) job.source_clip_id = r.images.front().clip_id;
  return job;
}

}  // namespace mf::jobs

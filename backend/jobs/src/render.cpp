#include "mf/jobs/render.h"

#include <algorithm>
#include <map>
#include <memory>

#include "mf/core/error.h"
#include "mf/media/mask.h"
#include "mf/media/reader.h"
#include "mf/project/session.h"
#include "mf/project/snapping.h"

namespace mf::jobs {

namespace fs = std::filesystem;
namespace proj = mf::project;
using mf::ErrorCode;

std::string default_extension(media::Codec codec) {
  switch (codec) {
    case media::Codec::H264:
    case media::Codec::H265:
    case media::Codec::Av1: return ".mp4";
    case media::Codec::Vp9: return ".webm";
    case media::Codec::ProRes422:
    case media::Codec::ProRes4444: return ".mov";
    case media::Codec::Ffv1: return ".mkv";
    case media::Codec::Mjpeg: return ".avi";
    case media::Codec::Gif: return ".gif";
    case media::Codec::Png: return ".png";
  }
  return ".mp4";
}

namespace {

// Fits `img` into a w x h black frame, aspect kept (img already decoded at the fitted size or any size).
media::Image letterbox(const media::Image& img, int w, int h) {
  if (img.width == w && img.height == h && img.channels == 3) return img;
  media::Image out = media::Image::make(w, h, 3);
  const int ox = (w - img.width) / 2, oy = (h - img.height) / 2;
  for (int y = 0; y < img.height; ++y) {
    const int ty = y + oy;
    if (ty < 0 || ty >= h) continue;
    for (int x = 0; x < img.width; ++x) {
      const int tx = x + ox;
      if (tx < 0 || tx >= w) continue;
      const uint8_t* s = img.at(x, y);
      uint8_t* d = out.at(tx, ty);
      if (img.channels == 1) d[0] = d[1] = d[2] = s[0];
      else std::copy_n(s, 3, d);
    }
  }
  return out;
}

// The size of a w0 x h0 picture fitted into w x h (aspect kept, even sizes, at least 2).
std::pair<int, int> fitted(int w0, int h0, int w, int h) {
  if (w0 <= 0 || h0 <= 0) return {w, h};
  const double s = std::min(static_cast<double>(w) / w0, static_cast<double>(h) / h0);
  const int fw = std::clamp(static_cast<int>(w0 * s + 0.5) / 2 * 2, 2, w);
  const int fh = std::clamp(static_cast<int>(h0 * s + 0.5) / 2 * 2, 2, h);
  return {fw, fh};
}

// Decoders per media file at one output size, frames read in order (sequential reads never seek).
class Sources {
 public:
  Sources(const proj::ProjectSession& s, int w, int h) : session_(s), w_(w), h_(h) {}
  media::Image frame(const proj::MediaItem& m, int64_t source_frame) {
    const fs::path path = session_.to_absolute(m.path);
    check(fs::exists(path), ErrorCode::BadInput,
          "the media file of '" + m.name + "' is missing: " + path.string() + " (relink or re-import it)");
    if (m.kind == proj::MediaKind::Image) {
      auto it = stills_.find(m.id);
      if (it == stills_.end()) {
        media::Image img = media::read_image(path);
        const auto [fw, fh] = fitted(img.width, img.height, w_, h_);
        it = stills_.emplace(m.id, letterbox(media::resize_image(img, fw, fh), w_, h_)).first;
      }
      return it->second;
    }
    auto it = readers_.find(m.id);
    if (it == readers_.end()) {
      const media::MediaInfo info = media::probe(path);
      const auto [fw, fh] = fitted(info.width, info.height, w_, h_);
      media::DecodeOptions o;
      o.width = fw;
      o.height = fh;
      it = readers_.emplace(m.id, std::make_unique<media::VideoReader>(path, o)).first;
    }
    media::VideoReader& r = *it->second;
    check(source_frame >= 0 && source_frame < r.frame_count(), ErrorCode::BadInput,
          "'" + m.name + "' has " + std::to_string(r.frame_count()) + " frames but the timeline uses frame " +
              std::to_string(source_frame) + " (the file was replaced by a shorter one: trim the clip or relink)");
    return letterbox(r.frame(source_frame).image, w_, h_);
  }

 private:
  const proj::ProjectSession& session_;
  int w_, h_;
  std::map<std::string, std::unique_ptr<media::VideoReader>> readers_;
  std::map<std::string, media::Image> stills_;
};

// "<dir>/<stem>.partial<ext>" next to the target (the container follows the extension).
fs::path partial_path(const fs::path& out) {
  return out.parent_path() / (out.stem().string() + ".partial" + out.extension().string());
}

}  // namespace

RenderResult render(const proj::ProjectSession& session, const fs::path& output, const RenderOptions& o,
                    const RenderProgress& progress) {
  const proj::Project& doc = session.document();
  check(!output.empty() && output.has_extension(), ErrorCode::BadInput,
        "give the export a file name with an extension such as .mp4 (found '" + output.string() + "')");
  check(o.codec != media::Codec::Png, ErrorCode::BadInput,
        "PNG sequences are not an export format here: choose a video codec (FFV1 is lossless)");

  // What to render: one clip's source frames, or timeline frames through the top visible clip.
  struct Item {
    const proj::Clip* clip;  // nullptr: a gap (black)
    int64_t source_frame;
  };
  std::vector<Item> items;
  nlohmann::json recipe;
  int width = 0, height = 0;
  proj::Rational fps = doc.fps;
  if (!o.clip_id.empty()) {
    const proj::Clip* clip = doc.find_clip(o.clip_id);
    check(clip != nullptr, ErrorCode::BadInput, "the clip to export (" + o.clip_id + ") is no longer on the timeline");
    const proj::MediaItem& m = proj::require_media(doc, clip->media_id);
    for (int64_t s = clip->source_in; s < clip->source_out; ++s) items.push_back({clip, s});
    width = m.size.width;
    height = m.size.height;
    if (m.kind == proj::MediaKind::Video) fps = m.fps;
    if (!clip->recipe.is_null()) recipe = clip->recipe;
    else
      recipe = {{"manyfold_render",
                 {{"project", doc.name}, {"clip", clip->name}, {"media", m.path},
                  {"source_frames", {clip->source_in, clip->source_out}}}}};
  } else {
    proj::FrameRange range = o.range ? *o.range
                                     : (doc.timeline.in_out ? *doc.timeline.in_out
                                                            : proj::FrameRange{0, doc.timeline.end_frame()});
    check(!range.empty() && range.start >= 0, ErrorCode::BadInput,
          "nothing to export: the timeline is empty (add a clip) or the range is empty (" + std::to_string(range.start) +
              "-" + std::to_string(range.end) + ")");
    width = o.width > 0 ? o.width : doc.resolution.width;
    height = o.height > 0 ? o.height : doc.resolution.height;
    nlohmann::json spans = nlohmann::json::array();
    const proj::Clip* last = nullptr;
    for (int64_t f = range.start; f < range.end; ++f) {
      const proj::Clip* c = proj::top_clip_at(doc, f);
      items.push_back({c, c ? c->source_frame_at(f) : 0});
      if (c && c != last) {
        const proj::MediaItem& m = proj::require_media(doc, c->media_id);
        nlohmann::json span = {{"clip", c->name}, {"media", m.path}, {"timeline_start", f},
                               {"source_start", c->source_frame_at(f)}};
        if (!c->recipe.is_null()) span["recipe"] = c->recipe;
        spans.push_back(span);
      }
      if (c && !spans.empty()) spans.back()["timeline_end"] = f + 1;
      last = c;
    }
    recipe = {{"manyfold_render",
               {{"project", doc.name}, {"range", {range.start, range.end}}, {"fps", fps.to_string()},
                {"size", {width, height}}, {"clips", spans}}}};
  }
  check(width >= 2 && height >= 2, ErrorCode::BadInput,
        "the export size " + std::to_string(width) + "x" + std::to_string(height) +
            " is too small: set the project resolution (or the export size)");
  // YUV 4:2:0 codecs need even sizes.
  width = width / 2 * 2;
  height = height / 2 * 2;

  media::EncodeOptions eo;
  eo.codec = o.codec;
  eo.fps = media::Rational(fps.num(), fps.den());
  eo.crf = o.crf;
  eo.preset = o.preset;
  eo.recipe_json = recipe.dump();
  if (!output.parent_path().empty()) fs::create_directories(output.parent_path());
  const fs::path tmp = partial_path(output);
  fs::remove(tmp);
  RenderResult result;
  try {
    media::VideoWriter writer(tmp, width, height, eo);
    Sources sources(session, width, height);
    const media::Image black = media::Image::make(width, height, 3);
    const int64_t total = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < total; ++i) {
      const Item& it = items[static_cast<size_t>(i)];
      if (it.clip) writer.write(sources.frame(proj::require_media(doc, it.clip->media_id), it.source_frame));
      else writer.write(black);
      if (progress && !progress(i + 1, total)) throw Error(ErrorCode::Cancelled, "the export was cancelled");
    }
    writer.finish();
    result.frames = writer.frames_written();
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, output);
  result.file = output;
  result.recipe = recipe;
  return result;
}

}  // namespace mf::jobs

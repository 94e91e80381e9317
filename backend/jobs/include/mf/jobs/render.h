// Export: rendering the timeline (a range of it) or one clip/take to a video file through the media layer, with
// a recipe embedded so the file says where it came from.
//
// Timeline: each output frame is the top-most visible clip at that timeline frame (takes sit above their source,
// so the newest take wins, as in the editor); frames where no clip is visible are black. Every frame is fitted
// into the output size (aspect kept, black bars), which defaults to the project resolution. The frame rate is
// the project's. Recipe: {"manyfold_render": {...}} with the project, range, fps and one entry per clip span
// used (media, source frames, and the clip's own recipe when it is a take).
// One clip or take: its trimmed source frames at the media's size and fps; the recipe is the take's own job recipe
// (so a rendered take is as rerunnable as the engine's output), or the render record for footage.
//
// The file is written next to the target under a temporary name and renamed when complete: a cancelled or failed
// export leaves no partial file and never replaces an existing one half-way.
//
// Thread-safety: reads the document and the media; call on the thread that owns the session (the studio runs it
// with a progress dialog on the UI thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mf/media/writer.h"
#include "mf/project/document.h"

namespace mf::project {
class ProjectSession;
}

namespace mf::jobs {

struct RenderOptions {
  media::Codec codec = media::Codec::H264;
  int crf = -1;                                    // -1 = the codec's high-quality default
  std::string preset;                              // x264/x265 preset ("" = the encoder's default)
  std::optional<mf::project::FrameRange> range;    // timeline frames; absent = in/out, else the whole timeline
  std::string clip_id;                             // render this clip (a take or footage) instead of the timeline
  int width = 0, height = 0;                       // timeline output size; 0 = the project resolution
};

struct RenderResult {
  std::filesystem::path file;
  int64_t frames = 0;
  nlohmann::json recipe;  // what was embedded
};

// Called after each frame with (done, total); return false to cancel (mf::Error(Cancelled) is thrown and no file
// is left behind).
using RenderProgress = std::function<bool(int64_t done, int64_t total)>;

// Throws mf::Error: BadInput (empty timeline or range, unknown clip, missing media naming the file, an encoder
// the extension cannot hold), Unsupported (no encoder for the codec in this FFmpeg), Cancelled.
RenderResult render(const mf::project::ProjectSession& session, const std::filesystem::path& output,
                    const RenderOptions& options, const RenderProgress& progress = {});

// The file extension that suits a codec (".mp4" for H.264/H.265/AV1, ".webm" VP9, ".mov" ProRes, ".mkv" FFV1,
// ".avi" MJPEG, ".gif" GIF).
std::string default_extension(media::Codec codec);

}  // namespace mf::jobs

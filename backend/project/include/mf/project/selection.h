// From a timeline selection to the plain data an MfM task needs (the inspector pre-fills its form with it):
// the clip's source span and media, the marked first/last frames and clips, the mask of a mask track per
// frame, still keyframes and references. Nothing here knows about TaskSpec (backend/tasks); the UI glues the
// two, so either side can change without the other.
//
// Paths are project-relative (join them with the project folder, see ProjectSession::to_absolute).
//
// Threading: pure functions of the document.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mf/project/document.h"

namespace mf::project {

// --- masks ------------------------------------------------------------------------------------------------------

enum class MaskSampleKind {
  None,          // no mask on this frame: nothing is regenerated
  Painted,       // the frame has its own painted mask (path)
  Held,          // a painted mask from another frame is held (path, from frame_a)
  Interpolated,  // propagate between two painted masks with optical flow (path at frame_a, path_b at frame_b, t)
};
const char* to_string(MaskSampleKind kind);

struct MaskSample {
  MaskSampleKind kind = MaskSampleKind::None;
  std::string path;             // Painted/Held/Interpolated: the mask at frame_a
  std::string path_b;           // Interpolated: the mask at frame_b
  std::int64_t frame_a = 0;     // source frames of the bound clip's media
  std::int64_t frame_b = 0;
  double t = 0.0;               // Interpolated: (frame - frame_a) / (frame_b - frame_a), in (0, 1)
};

// What the mask track gives for source frame `frame` (rules in document.h, MaskTrack / MaskInterpolation).
MaskSample sample_mask(const MaskTrack& track, std::int64_t frame);

// --- selection ---------------------------------------------------------------------------------------------------

struct Selection {
  std::vector<std::string> clip_ids;        // in the order the user selected them
  std::optional<FrameRange> range;          // a timeline range (drag on the ruler); limits the clip span
  std::string mask_track_id;                // a selected mask track (else the first one bound to the clip)
  std::optional<std::int64_t> playhead;
};

// A span of a clip: which frames of which file, where on the timeline.
struct ClipSpan {
  std::string clip_id;
  std::string media_id;
  std::string media_path;
  MediaKind kind = MediaKind::Video;
  FrameRange source;        // source frames of the media
  FrameRange timeline;      // the same frames on the timeline
  Rational media_fps{24};
  Resolution size;
  nlohmann::json recipe;    // the clip's recipe when it is a take ("same settings again")

  std::int64_t frame_count() const { return source.length(); }
  // The first / last n frames of the span (all of it when shorter), e.g. the 8 conditioning frames of vexd.
  ClipSpan head(std::int64_t n) const;
  ClipSpan tail(std::int64_t n) const;
};

// One frame of a file: a clip's source frame, or a still from the bin (clip_id empty).
struct FrameRef {
  std::string clip_id;
  std::string media_id;
  std::string media_path;
  MediaKind kind = MediaKind::Video;
  std::int64_t source_frame = 0;
  std::int64_t timeline_frame = 0;
};

struct MaskFrame {
  std::int64_t timeline_frame = 0;
  std::int64_t source_frame = 0;
  MaskSample sample;
};

struct MaskFrames {
  std::string mask_track_id;
  std::string clip_id;
  MaskInterpolation interpolation = MaskInterpolation::Hold;
  std::vector<MaskFrame> frames;  // one per frame of the clip span, in order
  bool any() const;               // true when at least one frame has a mask
};

struct TaskInputs {
  Rational fps{24};
  Resolution resolution;
  std::string style_preset;

  // The timeline frames the task covers: the selection range, else the selected clip's span, else in/out.
  std::optional<FrameRange> range;
  std::optional<ClipSpan> clip;          // the first selected clip (cut to the selection range)
  std::optional<ClipSpan> second_clip;   // the second selected clip
  std::optional<FrameRef> first_frame;   // first-frame mark, else the still keyframe at the start of the range
  std::optional<FrameRef> last_frame;    // last-frame mark, else the still keyframe at the last frame of the range
  std::optional<ClipSpan> first_clip;    // first-clip mark, else the earlier of two selected clips
  std::optional<ClipSpan> last_clip;     // last-clip mark, else the later of two selected clips
  std::optional<MaskFrames> mask;        // the mask over the clip span
  std::vector<FrameRef> stills;          // still keyframes inside the range (all when there is no range)
  std::optional<FrameRef> playhead_frame;  // the top visible clip's frame under the playhead
  std::vector<std::string> reference_paths;
  std::vector<std::string> notes;        // what could not be resolved, as sentences for the inspector

  // Length of `range` in seconds at the project fps (0 without a range).
  Rational duration_seconds() const;
};

TaskInputs gather_task_inputs(const Project& project, const Selection& selection);

// The span of clip `clip_id` (optionally cut to a timeline range; nullopt when they do not intersect).
std::optional<ClipSpan> clip_span(const Project& project, const std::string& clip_id,
                                  const std::optional<FrameRange>& limit = std::nullopt);
// The frame of the top visible clip at a timeline frame, as a first/last frame mark would store it.
std::optional<FrameMark> frame_mark_at(const Project& project, std::int64_t timeline_frame);

}  // namespace mf::project

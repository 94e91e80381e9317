// Timeline queries the editor needs while dragging: what lies under a frame, whether a range is free, and
// snapping of frames and clip moves to nearby edit points (clip edges, playhead, in/out, markers, keyframes).
//
// Threading: pure functions of the document.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mf/project/document.h"

namespace mf::project {

// The clip covering `frame` on `track`, or nullptr.
const Clip* clip_at(const Track& track, std::int64_t frame);
// The top-most visible clip covering `frame` (tracks are bottom to top), or nullptr.
const Clip* top_clip_at(const Project& project, std::int64_t frame);
// True when no clip on `track` other than `exclude_clip_id` overlaps `range` (and range.start >= 0).
bool is_range_free(const Track& track, const FrameRange& range, const std::string& exclude_clip_id = {});

struct SnapOptions {
  std::int64_t tolerance = 5;                  // frames; the UI converts its pixel tolerance at the current zoom
  std::optional<std::int64_t> playhead;
  bool clip_edges = true;
  bool markers = true;
  bool in_out = true;
  bool keyframes = true;                       // still keyframes and first/last frame marks
  std::string exclude_clip_id;                 // the clip being dragged does not snap to itself
};

enum class SnapKind { None, ClipStart, ClipEnd, Playhead, In, Out, Marker, Keyframe, Zero };

struct SnapTarget {
  std::int64_t frame = 0;
  SnapKind kind = SnapKind::None;
  std::string id;  // clip, marker or keyframe id when there is one
};

struct SnapResult {
  std::int64_t frame = 0;        // the snapped frame (the input when nothing was in reach)
  bool snapped = false;
  SnapTarget target;
};

// Every snap point, sorted by frame (frame 0 is always one).
std::vector<SnapTarget> snap_targets(const Project& project, const SnapOptions& options);
// The nearest target within tolerance of `frame` (ties: the earlier target).
SnapResult snap_frame(const Project& project, std::int64_t frame, const SnapOptions& options);
// Snaps a clip being moved to `proposed_start`: either its start or its end edge snaps, whichever is closer;
// returns the adjusted start. The clip itself is excluded from the targets.
SnapResult snap_clip_start(const Project& project, const std::string& clip_id, std::int64_t proposed_start,
                           SnapOptions options);

}  // namespace mf::project

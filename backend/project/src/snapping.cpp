#include "mf/project/snapping.h"

#include <algorithm>
#include <cstdlib>

#include "mf/core/error.h"

namespace mf::project {

const Clip* clip_at(const Track& track, std::int64_t frame) {
  // Clips are sorted and disjoint: the candidate is the last clip starting at or before `frame`.
  auto it = std::upper_bound(track.clips.begin(), track.clips.end(), frame,
                             [](std::int64_t f, const Clip& c) { return f < c.timeline_start; });
  if (it == track.clips.begin()) return nullptr;
  --it;
  return it->timeline_range().contains(frame) ? &*it : nullptr;
}

const Clip* top_clip_at(const Project& project, std::int64_t frame) {
  const auto& tracks = project.timeline.tracks;
  for (std::size_t i = tracks.size(); i > 0; --i) {
    if (tracks[i - 1].hidden) continue;
    if (const Clip* c = clip_at(tracks[i - 1], frame)) return c;
  }
  return nullptr;
}

bool is_range_free(const Track& track, const FrameRange& range, const std::string& exclude_clip_id) {
  if (range.start < 0) return false;
  for (const auto& c : track.clips)
    if (c.id != exclude_clip_id && c.timeline_range().overlaps(range)) return false;
  return true;
}

std::vector<SnapTarget> snap_targets(const Project& project, const SnapOptions& options) {
  std::vector<SnapTarget> out;
  out.push_back({0, SnapKind::Zero, {}});
  const auto& tl = project.timeline;
  if (options.clip_edges)
    for (const auto& t : tl.tracks)
      for (const auto& c : t.clips) {
        if (c.id == options.exclude_clip_id) continue;
        out.push_back({c.timeline_start, SnapKind::ClipStart, c.id});
        out.push_back({c.timeline_end(), SnapKind::ClipEnd, c.id});
      }
  if (options.playhead) out.push_back({*options.playhead, SnapKind::Playhead, {}});
  if (options.in_out && tl.in_out) {
    out.push_back({tl.in_out->start, SnapKind::In, {}});
    out.push_back({tl.in_out->end, SnapKind::Out, {}});
  }
  if (options.markers)
    for (const auto& m : tl.markers) out.push_back({m.frame, SnapKind::Marker, m.id});
  if (options.keyframes) {
    for (const auto& s : tl.keyframes.stills) out.push_back({s.frame, SnapKind::Keyframe, s.id});
    for (const auto* mark : {&tl.keyframes.first_frame, &tl.keyframes.last_frame}) {
      if (!*mark || (*mark)->clip_id == options.exclude_clip_id) continue;
      if (const Clip* c = project.find_clip((*mark)->clip_id))
        out.push_back({c->timeline_frame_of((*mark)->source_frame), SnapKind::Keyframe, c->id});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const SnapTarget& a, const SnapTarget& b) { return a.frame < b.frame; });
  return out;
}

namespace {
SnapResult nearest(const std::vector<SnapTarget>& targets, std::int64_t frame, std::int64_t tolerance) {
  SnapResult r;
  r.frame = frame;
  std::int64_t best = tolerance + 1;
  for (const auto& t : targets) {
    const std::int64_t d = std::llabs(t.frame - frame);
    if (d < best) {
      best = d;
      r.frame = t.frame;
      r.snapped = true;
      r.target = t;
    }
  }
  return r;
}
}  // namespace

SnapResult snap_frame(const Project& project, std::int64_t frame, const SnapOptions& options) {
  return nearest(snap_targets(project, options), frame, options.tolerance);
}

SnapResult snap_clip_start(const Project& project, const std::string& clip_id, std::int64_t proposed_start,
                           SnapOptions options) {
  const Clip& c = require_clip(project, clip_id);
  options.exclude_clip_id = clip_id;
  const auto targets = snap_targets(project, options);
  SnapResult by_start = nearest(targets, proposed_start, options.tolerance);
  SnapResult by_end = nearest(targets, proposed_start + c.duration(), options.tolerance);
  if (by_end.snapped) by_end.frame -= c.duration();
  if (!by_start.snapped && !by_end.snapped) return by_start;
  if (!by_end.snapped) return by_start;
  if (!by_start.snapped) return by_end;
  return std::llabs(by_start.frame - proposed_start) <= std::llabs(by_end.frame - proposed_start) ? by_start : by_end;
}

}  // namespace mf::project

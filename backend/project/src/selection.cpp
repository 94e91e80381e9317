#include "mf/project/selection.h"

#include <algorithm>

#include "mf/core/error.h"
#include "mf/project/snapping.h"

namespace mf::project {

const char* to_string(MaskSampleKind kind) {
  switch (kind) {
    case MaskSampleKind::None: return "none";
    case MaskSampleKind::Painted: return "painted";
    case MaskSampleKind::Held: return "held";
    case MaskSampleKind::Interpolated: return "interpolated";
  }
  return "none";
}

namespace {
MaskSample held(const MaskKeyframe& k) {
  MaskSample s;
  s.kind = MaskSampleKind::Held;
  s.path = k.path;
  s.frame_a = s.frame_b = k.frame;
  return s;
}
}  // namespace

MaskSample sample_mask(const MaskTrack& track, std::int64_t frame) {
  const auto& keys = track.keyframes;
  // First key strictly after `frame`; the one before it (if any) is the latest at or before `frame`.
  auto next_it = std::upper_bound(keys.begin(), keys.end(), frame,
                                  [](std::int64_t f, const MaskKeyframe& k) { return f < k.frame; });
  const MaskKeyframe* prev = next_it == keys.begin() ? nullptr : &*(next_it - 1);
  const MaskKeyframe* next = next_it == keys.end() ? nullptr : &*next_it;

  if (prev && prev->frame == frame) {
    MaskSample s;
    s.kind = MaskSampleKind::Painted;
    s.path = prev->path;
    s.frame_a = s.frame_b = frame;
    return s;
  }
  for (const auto& h : track.holds) {
    if (!h.contains(frame)) continue;
    if (prev) return held(*prev);
    // Nothing painted before: the first painted mask inside the hold range is held backward.
    if (next && h.contains(next->frame)) return held(*next);
    return {};
  }
  switch (track.interpolation) {
    case MaskInterpolation::None: return {};
    case MaskInterpolation::Hold:
      if (prev) return held(*prev);
      if (next) return held(*next);
      return {};
    case MaskInterpolation::Flow:
      if (prev && next) {
        MaskSample s;
        s.kind = MaskSampleKind::Interpolated;
        s.path = prev->path;
        s.path_b = next->path;
        s.frame_a = prev->frame;
        s.frame_b = next->frame;
        s.t = static_cast<double>(frame - prev->frame) / static_cast<double>(next->frame - prev->frame);
        return s;
      }
      if (prev) return held(*prev);
      if (next) return held(*next);
      return {};
  }
  return {};
}

bool MaskFrames::any() const {
  return std::any_of(frames.begin(), frames.end(),
                     [](const MaskFrame& f) { return f.sample.kind != MaskSampleKind::None; });
}

ClipSpan ClipSpan::head(std::int64_t n) const {
  ClipSpan s = *this;
  const std::int64_t k = std::clamp<std::int64_t>(n, 0, frame_count());
  s.source.end = s.source.start + k;
  s.timeline.end = s.timeline.start + k;
  return s;
}

ClipSpan ClipSpan::tail(std::int64_t n) const {
  ClipSpan s = *this;
  const std::int64_t k = std::clamp<std::int64_t>(n, 0, frame_count());
  s.source.start = s.source.end - k;
  s.timeline.start = s.timeline.end - k;
  return s;
}

Rational TaskInputs::duration_seconds() const {
  if (!range) return Rational(0);
  return frame_to_time(range->length(), fps);
}

std::optional<ClipSpan> clip_span(const Project& project, const std::string& clip_id,
                                  const std::optional<FrameRange>& limit) {
  const Clip& c = require_clip(project, clip_id);
  const MediaItem& m = require_media(project, c.media_id);
  FrameRange tl = c.timeline_range();
  if (limit) {
    tl = FrameRange{std::max(tl.start, limit->start), std::min(tl.end, limit->end)};
    if (tl.empty()) return std::nullopt;
  }
  ClipSpan s;
  s.clip_id = c.id;
  s.media_id = m.id;
  s.media_path = m.path;
  s.kind = m.kind;
  s.timeline = tl;
  s.source = FrameRange{c.source_frame_at(tl.start), c.source_frame_at(tl.end)};
  s.media_fps = m.fps;
  s.size = m.size;
  s.recipe = c.recipe;
  return s;
}

std::optional<FrameMark> frame_mark_at(const Project& project, std::int64_t timeline_frame) {
  const Clip* c = top_clip_at(project, timeline_frame);
  if (!c) return std::nullopt;
  return FrameMark{c->id, c->source_frame_at(timeline_frame)};
}

namespace {

std::optional<FrameRef> ref_from_mark(const Project& p, const std::optional<FrameMark>& mark) {
  if (!mark) return std::nullopt;
  const Clip* c = p.find_clip(mark->clip_id);
  if (!c) return std::nullopt;
  const MediaItem* m = p.find_media(c->media_id);
  if (!m) return std::nullopt;
  return FrameRef{c->id, m->id, m->path, m->kind, mark->source_frame, c->timeline_frame_of(mark->source_frame)};
}

std::optional<ClipSpan> span_from_mark(const Project& p, const std::optional<ClipRangeMark>& mark) {
  if (!mark || !p.find_clip(mark->clip_id)) return std::nullopt;
  const Clip& c = *p.find_clip(mark->clip_id);
  return clip_span(p, c.id, FrameRange{c.timeline_frame_of(mark->source.start), c.timeline_frame_of(mark->source.end)});
}

FrameRef ref_from_still(const Project& p, const StillKeyframe& s) {
  const MediaItem& m = require_media(p, s.media_id);
  return FrameRef{"", m.id, m.path, m.kind, 0, s.frame};
}

}  // namespace

TaskInputs gather_task_inputs(const Project& project, const Selection& sel) {
  TaskInputs in;
  in.fps = project.fps;
  in.resolution = project.resolution;
  in.style_preset = project.style_preset;
  const auto& tl = project.timeline;

  // Selected clips, in selection order; unknown ids are reported rather than thrown (the selection may be stale).
  std::vector<ClipSpan> spans;
  for (const auto& id : sel.clip_ids) {
    if (!project.find_clip(id)) {
      in.notes.push_back("selected clip " + id + " is no longer on the timeline");
      continue;
    }
    if (auto s = clip_span(project, id, sel.range)) spans.push_back(*s);
    else in.notes.push_back("selected clip " + id + " lies outside the selected range");
  }
  if (!spans.empty()) in.clip = spans[0];
  if (spans.size() >= 2) in.second_clip = spans[1];
  if (spans.size() > 2) in.notes.push_back("only the first two selected clips are used");

  if (sel.range) in.range = sel.range;
  else if (in.clip) in.range = in.clip->timeline;
  else if (tl.in_out) in.range = tl.in_out;

  // First/last frames: marks first, then still keyframes at the ends of the range.
  in.first_frame = ref_from_mark(project, tl.keyframes.first_frame);
  in.last_frame = ref_from_mark(project, tl.keyframes.last_frame);
  for (const auto& s : tl.keyframes.stills) {
    if (!in.range || in.range->contains(s.frame)) in.stills.push_back(ref_from_still(project, s));
    if (in.range && !in.first_frame && s.frame == in.range->start) in.first_frame = ref_from_still(project, s);
    if (in.range && !in.last_frame && s.frame == in.range->end - 1) in.last_frame = ref_from_still(project, s);
  }
  if (in.first_frame && in.last_frame && in.first_frame->timeline_frame >= in.last_frame->timeline_frame)
    in.notes.push_back("the first frame (timeline frame " + std::to_string(in.first_frame->timeline_frame) +
                       ") is not before the last frame (" + std::to_string(in.last_frame->timeline_frame) + ")");

  // First/last clips: marks first, then the two selected clips in timeline order.
  in.first_clip = span_from_mark(project, tl.keyframes.first_clip);
  in.last_clip = span_from_mark(project, tl.keyframes.last_clip);
  if (!in.first_clip && !in.last_clip && spans.size() >= 2) {
    const bool swap = spans[1].timeline.start < spans[0].timeline.start;
    in.first_clip = swap ? spans[1] : spans[0];
    in.last_clip = swap ? spans[0] : spans[1];
  }

  // Mask: the selected mask track, else the first one bound to the selected clip.
  const MaskTrack* mask = nullptr;
  if (!sel.mask_track_id.empty()) {
    mask = project.find_mask_track(sel.mask_track_id);
    if (!mask) in.notes.push_back("selected mask track " + sel.mask_track_id + " is no longer on the timeline");
  } else if (in.clip) {
    auto bound = project.mask_tracks_for_clip(in.clip->clip_id);
    if (!bound.empty()) mask = bound.front();
  }
  if (mask) {
    std::optional<ClipSpan> span = in.clip && in.clip->clip_id == mask->clip_id
                                       ? in.clip
                                       : (project.find_clip(mask->clip_id) ? clip_span(project, mask->clip_id, sel.range)
                                                                          : std::nullopt);
    if (!span) {
      in.notes.push_back("mask track " + mask->id + " does not overlap the selection");
    } else {
      MaskFrames frames;
      frames.mask_track_id = mask->id;
      frames.clip_id = mask->clip_id;
      frames.interpolation = mask->interpolation;
      for (std::int64_t f = span->timeline.start; f < span->timeline.end; ++f) {
        const std::int64_t src = span->source.start + (f - span->timeline.start);
        frames.frames.push_back(MaskFrame{f, src, sample_mask(*mask, src)});
      }
      if (!frames.any()) in.notes.push_back("mask track " + mask->id + " has no painted mask in the selected frames");
      in.mask = std::move(frames);
    }
  }

  if (sel.playhead) {
    if (auto mark = frame_mark_at(project, *sel.playhead)) in.playhead_frame = ref_from_mark(project, mark);
  }
  for (const auto& r : project.references)
    if (const MediaItem* m = project.find_media(r.media_id)) in.reference_paths.push_back(m->path);
  return in;
}

}  // namespace mf::project

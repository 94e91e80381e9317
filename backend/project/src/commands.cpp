#include "mf/project/commands.h"

#include <algorithm>

#include "mf/core/error.h"
#include "mf/project/invariants.h"

namespace mf::project {

namespace {

std::string range_text(const FrameRange& r) {
  return "[" + std::to_string(r.start) + ", " + std::to_string(r.end) + ")";
}

Track& mutable_track(Project& doc, const std::string& id) {
  Track* t = doc.find_track(id);
  mf::check(t != nullptr, ErrorCode::BadInput, "no track '" + id + "' on the timeline");
  return *t;
}

void check_unlocked(const Track& t, const std::string& action) {
  mf::check(!t.locked, ErrorCode::BadInput,
            "track '" + (t.name.empty() ? t.id : t.name) + "' is locked; unlock it to " + action);
}

void check_free(const Track& t, const FrameRange& r, const std::string& exclude_clip) {
  mf::check(r.start >= 0, ErrorCode::BadInput, "a clip cannot start before frame 0 (asked for " +
                                                   std::to_string(r.start) + ")");
  for (const auto& c : t.clips) {
    if (c.id == exclude_clip) continue;
    mf::check(!c.timeline_range().overlaps(r), ErrorCode::BadInput,
              "frames " + range_text(r) + " would overlap clip " + c.id + " " + range_text(c.timeline_range()) +
                  " on track " + t.id);
  }
}

void check_source(const MediaItem& m, const FrameRange& src) {
  mf::check(!src.empty(), ErrorCode::BadInput,
            "source range " + range_text(src) + " of media " + m.id + " is empty or reversed");
  if (m.kind == MediaKind::Video)
    mf::check(src.start >= 0 && src.end <= m.frame_count, ErrorCode::BadInput,
              "source range " + range_text(src) + " leaves media " + m.id + " (" + std::to_string(m.frame_count) +
                  " frames)");
}

void insert_sorted(Track& t, Clip c) {
  auto it = std::lower_bound(t.clips.begin(), t.clips.end(), c.timeline_start,
                             [](const Clip& a, std::int64_t s) { return a.timeline_start < s; });
  t.clips.insert(it, std::move(c));
}

Clip extract_clip(Project& doc, const std::string& id) {
  auto loc = doc.locate_clip(id);
  mf::check(loc.has_value(), ErrorCode::Internal, "clip '" + id + "' vanished from the timeline");
  auto& clips = doc.timeline.tracks[loc->track].clips;
  Clip c = std::move(clips[loc->index]);
  clips.erase(clips.begin() + static_cast<std::ptrdiff_t>(loc->index));
  return c;
}

void relocate_clip(Project& doc, const std::string& id, const std::string& track_id, std::int64_t start) {
  Clip c = extract_clip(doc, id);
  c.timeline_start = start;
  insert_sorted(mutable_track(doc, track_id), std::move(c));
}

// Removes everything anchored to a clip that is going away: bound mask tracks and keyframe marks.
void drop_clip_references(Project& doc, const std::string& clip_id) {
  auto& masks = doc.timeline.mask_tracks;
  masks.erase(std::remove_if(masks.begin(), masks.end(), [&](const MaskTrack& m) { return m.clip_id == clip_id; }),
              masks.end());
  auto& k = doc.timeline.keyframes;
  if (k.first_frame && k.first_frame->clip_id == clip_id) k.first_frame.reset();
  if (k.last_frame && k.last_frame->clip_id == clip_id) k.last_frame.reset();
  if (k.first_clip && k.first_clip->clip_id == clip_id) k.first_clip.reset();
  if (k.last_clip && k.last_clip->clip_id == clip_id) k.last_clip.reset();
}

// Keeps marks anchored to `clip_id` inside its new source range `src`.
void clamp_marks(KeyframeMarks& k, const std::string& clip_id, const FrameRange& src) {
  for (auto* m : {&k.first_frame, &k.last_frame})
    if (*m && (*m)->clip_id == clip_id && !src.contains((*m)->source_frame)) m->reset();
  for (auto* m : {&k.first_clip, &k.last_clip}) {
    if (!*m || (*m)->clip_id != clip_id) continue;
    FrameRange r{std::max((*m)->source.start, src.start), std::min((*m)->source.end, src.end)};
    if (r.empty()) m->reset();
    else (*m)->source = r;
  }
}

template <class V>
std::size_t index_of(const V& v, const std::string& id, const char* what) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i].id == id) return i;
  throw Error(ErrorCode::BadInput, std::string("no ") + what + " '" + id + "'");
}

template <class V>
void pop_expected(V& v, const std::string& id) {
  mf::check(!v.empty() && v.back().id == id, ErrorCode::Internal, "undo: expected '" + id + "' at the end");
  v.pop_back();
}

}  // namespace

// --- bins and settings ------------------------------------------------------------------------------------------

void AddMedia::redo(Project& doc) {
  if (!applied_) {
    mf::check(is_project_relative_path(item_.path), ErrorCode::BadInput,
              "media path '" + item_.path + "' must be relative to the project folder (import the file first)");
    mf::check(item_.frame_count >= 1, ErrorCode::BadInput, "media '" + item_.path + "' has no frames");
    mf::check(item_.kind != MediaKind::Image || item_.frame_count == 1, ErrorCode::BadInput,
              "image '" + item_.path + "' must have exactly one frame");
    check_frame_rate(item_.fps);
    mf::check(item_.recipe.is_null() || item_.recipe.is_object(), ErrorCode::BadInput,
              "media recipe must be a JSON object");
    next_before_ = doc.next_id;
    item_.id = doc.make_id("media");
    next_after_ = doc.next_id;
    applied_ = true;
  }
  doc.media.push_back(item_);
  doc.next_id = next_after_;
}

void AddMedia::undo(Project& doc) {
  pop_expected(doc.media, item_.id);
  doc.next_id = next_before_;
}

void RemoveMedia::redo(Project& doc) {
  index_ = index_of(doc.media, id_, "media item");
  for (const auto& t : doc.timeline.tracks)
    for (const auto& c : t.clips)
      mf::check(c.media_id != id_, ErrorCode::BadInput, "media " + id_ + " is used by clip " + c.id + "; delete the clip first");
  for (const auto& r : doc.references)
    mf::check(r.media_id != id_, ErrorCode::BadInput, "media " + id_ + " is used by reference " + r.id);
  for (const auto& s : doc.timeline.keyframes.stills)
    mf::check(s.media_id != id_, ErrorCode::BadInput, "media " + id_ + " is used by still keyframe " + s.id);
  removed_ = doc.media[index_];
  doc.media.erase(doc.media.begin() + static_cast<std::ptrdiff_t>(index_));
}

void RemoveMedia::undo(Project& doc) { doc.media.insert(doc.media.begin() + static_cast<std::ptrdiff_t>(index_), removed_); }

void AddReference::redo(Project& doc) {
  if (id_.empty()) {
    require_media(doc, media_id_);
    next_before_ = doc.next_id;
    id_ = doc.make_id("ref");
    next_after_ = doc.next_id;
  }
  doc.references.push_back(ReferenceItem{id_, media_id_, label_});
  doc.next_id = next_after_;
}

void AddReference::undo(Project& doc) {
  pop_expected(doc.references, id_);
  doc.next_id = next_before_;
}

void RemoveReference::redo(Project& doc) {
  index_ = index_of(doc.references, id_, "reference");
  removed_ = doc.references[index_];
  doc.references.erase(doc.references.begin() + static_cast<std::ptrdiff_t>(index_));
}

void RemoveReference::undo(Project& doc) {
  doc.references.insert(doc.references.begin() + static_cast<std::ptrdiff_t>(index_), removed_);
}

void SetProjectSettings::redo(Project& doc) {
  if (new_.resolution)
    mf::check(new_.resolution->width > 0 && new_.resolution->height > 0, ErrorCode::BadInput,
              "resolution " + std::to_string(new_.resolution->width) + "x" + std::to_string(new_.resolution->height) +
                  " must be positive");
  old_ = ProjectSettings{};
  if (new_.name) {
    old_.name = doc.name;
    doc.name = *new_.name;
  }
  if (new_.style_preset) {
    old_.style_preset = doc.style_preset;
    doc.style_preset = *new_.style_preset;
  }
  if (new_.resolution) {
    old_.resolution = doc.resolution;
    doc.resolution = *new_.resolution;
  }
}

void SetProjectSettings::undo(Project& doc) {
  if (old_.name) doc.name = *old_.name;
  if (old_.style_preset) doc.style_preset = *old_.style_preset;
  if (old_.resolution) doc.resolution = *old_.resolution;
}

// --- tracks -------------------------------------------------------------------------------------------------

void AddTrack::redo(Project& doc) {
  if (id_.empty()) {
    const std::size_t n = doc.timeline.tracks.size();
    mf::check(!index_ || *index_ <= n, ErrorCode::BadInput,
              "track position " + std::to_string(index_.value_or(0)) + " is past the " + std::to_string(n) + " tracks");
    at_ = index_ ? *index_ : n;
    next_before_ = doc.next_id;
    id_ = doc.make_id("track");
    next_after_ = doc.next_id;
  }
  Track t;
  t.id = id_;
  t.name = name_;
  doc.timeline.tracks.insert(doc.timeline.tracks.begin() + static_cast<std::ptrdiff_t>(at_), std::move(t));
  doc.next_id = next_after_;
}

void AddTrack::undo(Project& doc) {
  auto& tracks = doc.timeline.tracks;
  mf::check(at_ < tracks.size() && tracks[at_].id == id_, ErrorCode::Internal, "undo add track: track moved");
  tracks.erase(tracks.begin() + static_cast<std::ptrdiff_t>(at_));
  doc.next_id = next_before_;
}

SnapshotCommand::Parts SnapshotCommand::capture(const Project& doc,
                                                const std::optional<std::vector<std::size_t>>& tracks) const {
  Parts p;
  if (tracks) {
    for (std::size_t i : *tracks) p.tracks.emplace_back(i, doc.timeline.tracks.at(i));
  } else {
    p.all_tracks = doc.timeline.tracks;
  }
  p.mask_tracks = doc.timeline.mask_tracks;
  p.keyframes = doc.timeline.keyframes;
  p.next_id = doc.next_id;
  return p;
}

void SnapshotCommand::restore(Project& doc, const Parts& p) {
  if (p.all_tracks) doc.timeline.tracks = *p.all_tracks;
  for (const auto& [i, t] : p.tracks) doc.timeline.tracks.at(i) = t;
  doc.timeline.mask_tracks = p.mask_tracks;
  doc.timeline.keyframes = p.keyframes;
  doc.next_id = p.next_id;
}

void SnapshotCommand::redo(Project& doc) {
  if (after_) {
    restore(doc, *after_);
    return;
  }
  const auto touched = touched_tracks(doc);  // may refuse (missing clip) before anything changes
  Parts before = capture(doc, touched);
  try {
    apply(doc);
  } catch (...) {
    restore(doc, before);
    throw;
  }
  after_ = capture(doc, touched);
  before_ = std::move(before);
}

void SnapshotCommand::undo(Project& doc) {
  mf::check(before_.has_value(), ErrorCode::Internal, "undo of a command that was never applied");
  restore(doc, *before_);
}

void RemoveTrack::apply(Project& doc) {
  const std::size_t i = index_of(doc.timeline.tracks, id_, "track");
  check_unlocked(doc.timeline.tracks[i], "delete it");
  for (const auto& c : doc.timeline.tracks[i].clips) drop_clip_references(doc, c.id);
  doc.timeline.tracks.erase(doc.timeline.tracks.begin() + static_cast<std::ptrdiff_t>(i));
}

void SetTrackSettings::redo(Project& doc) {
  Track& t = mutable_track(doc, id_);
  old_ = TrackSettings{};
  if (new_.name) {
    old_.name = t.name;
    t.name = *new_.name;
  }
  if (new_.hidden) {
    old_.hidden = t.hidden;
    t.hidden = *new_.hidden;
  }
  if (new_.locked) {
    old_.locked = t.locked;
    t.locked = *new_.locked;
  }
}

void SetTrackSettings::undo(Project& doc) {
  Track& t = mutable_track(doc, id_);
  if (old_.name) t.name = *old_.name;
  if (old_.hidden) t.hidden = *old_.hidden;
  if (old_.locked) t.locked = *old_.locked;
}

// --- clips --------------------------------------------------------------------------------------------------

void AddClip::redo(Project& doc) {
  if (id_.empty()) {
    const Track& t = require_track(doc, placement_.track_id);
    check_unlocked(t, "add clips");
    const MediaItem& m = require_media(doc, placement_.media_id);
    check_source(m, placement_.source);
    check_free(t, FrameRange{placement_.timeline_start, placement_.timeline_start + placement_.source.length()}, "");
    mf::check(placement_.recipe.is_null() || placement_.recipe.is_object(), ErrorCode::BadInput,
              "clip recipe must be a JSON object");
    next_before_ = doc.next_id;
    id_ = doc.make_id("clip");
    next_after_ = doc.next_id;
  }
  Clip c;
  c.id = id_;
  c.media_id = placement_.media_id;
  c.name = placement_.name;
  c.source_in = placement_.source.start;
  c.source_out = placement_.source.end;
  c.timeline_start = placement_.timeline_start;
  c.take_group = placement_.take_group;
  c.recipe = placement_.recipe;
  insert_sorted(mutable_track(doc, placement_.track_id), std::move(c));
  doc.next_id = next_after_;
}

void AddClip::undo(Project& doc) {
  extract_clip(doc, id_);
  doc.next_id = next_before_;
}

std::optional<std::vector<std::size_t>> RemoveClip::touched_tracks(const Project& doc) const {
  auto loc = doc.locate_clip(id_);
  mf::check(loc.has_value(), ErrorCode::BadInput, "no clip '" + id_ + "' on the timeline");
  return std::vector<std::size_t>{loc->track};
}

void RemoveClip::apply(Project& doc) {
  auto loc = doc.locate_clip(id_);
  check_unlocked(doc.timeline.tracks[loc->track], "delete clips");
  extract_clip(doc, id_);
  drop_clip_references(doc, id_);
}

void MoveClip::redo(Project& doc) {
  if (!applied_) {
    auto loc = doc.locate_clip(id_);
    mf::check(loc.has_value(), ErrorCode::BadInput, "no clip '" + id_ + "' on the timeline");
    const Track& from = doc.timeline.tracks[loc->track];
    const Clip& c = from.clips[loc->index];
    check_unlocked(from, "move clips");
    const Track& to = require_track(doc, to_track_);
    check_unlocked(to, "move clips onto it");
    check_free(to, FrameRange{to_start_, to_start_ + c.duration()}, id_);
    from_track_ = from.id;
    from_start_ = c.timeline_start;
    applied_ = true;
  }
  relocate_clip(doc, id_, to_track_, to_start_);
}

void MoveClip::undo(Project& doc) { relocate_clip(doc, id_, from_track_, from_start_); }

bool MoveClip::merge_with(const Command& next) {
  const auto& n = static_cast<const MoveClip&>(next);
  if (n.id_ != id_) return false;
  to_track_ = n.to_track_;
  to_start_ = n.to_start_;
  return true;
}

void TrimClip::set_state(Project& doc, const std::string& id, const State& s) {
  Clip* c = doc.find_clip(id);
  mf::check(c != nullptr, ErrorCode::Internal, "trim: clip '" + id + "' vanished");
  c->source_in = s.source_in;
  c->source_out = s.source_out;
  c->timeline_start = s.timeline_start;
  doc.timeline.keyframes = s.keyframes;
}

void TrimClip::redo(Project& doc) {
  if (!after_) {
    auto loc = doc.locate_clip(id_);
    mf::check(loc.has_value(), ErrorCode::BadInput, "no clip '" + id_ + "' on the timeline");
    const Track& t = doc.timeline.tracks[loc->track];
    const Clip& c = t.clips[loc->index];
    check_unlocked(t, "trim clips");
    State before{c.source_in, c.source_out, c.timeline_start, doc.timeline.keyframes};
    State after = before;
    if (edge_ == ClipEdge::Start) {
      after.source_in = c.source_in + (edge_frame_ - c.timeline_start);
      after.timeline_start = edge_frame_;
    } else {
      after.source_out = c.source_in + (edge_frame_ - c.timeline_start);
    }
    mf::check(after.source_in < after.source_out, ErrorCode::BadInput,
              "trimming clip " + id_ + " to frame " + std::to_string(edge_frame_) + " would leave it empty");
    const MediaItem& m = require_media(doc, c.media_id);
    if (m.kind == MediaKind::Video) {
      mf::check(after.source_in >= 0, ErrorCode::BadInput,
                "clip " + id_ + " cannot start before the first frame of its media");
      mf::check(after.source_out <= m.frame_count, ErrorCode::BadInput,
                "clip " + id_ + " cannot extend past the last frame of its media (" + std::to_string(m.frame_count) +
                    " frames)");
    }
    const FrameRange span{after.timeline_start, after.timeline_start + (after.source_out - after.source_in)};
    check_free(t, span, id_);
    clamp_marks(after.keyframes, id_, FrameRange{after.source_in, after.source_out});
    before_ = std::move(before);
    after_ = std::move(after);
  }
  set_state(doc, id_, *after_);
}

void TrimClip::undo(Project& doc) { set_state(doc, id_, *before_); }

bool TrimClip::merge_with(const Command& next) {
  const auto& n = static_cast<const TrimClip&>(next);
  if (n.id_ != id_ || n.edge_ != edge_) return false;
  after_ = n.after_;
  edge_frame_ = n.edge_frame_;
  return true;
}

std::optional<std::vector<std::size_t>> SplitClip::touched_tracks(const Project& doc) const {
  auto loc = doc.locate_clip(id_);
  mf::check(loc.has_value(), ErrorCode::BadInput, "no clip '" + id_ + "' on the timeline");
  return std::vector<std::size_t>{loc->track};
}

void SplitClip::apply(Project& doc) {
  auto loc = doc.locate_clip(id_);
  Track& t = doc.timeline.tracks[loc->track];
  check_unlocked(t, "split clips");
  Clip& left = t.clips[loc->index];
  mf::check(frame_ > left.timeline_start && frame_ < left.timeline_end(), ErrorCode::BadInput,
            "split point " + std::to_string(frame_) + " is not inside clip " + id_ + " " +
                range_text(left.timeline_range()));
  const std::int64_t split_src = left.source_frame_at(frame_);
  Clip right = left;
  right.id = doc.make_id("clip");
  right.source_in = split_src;
  right.timeline_start = frame_;
  left.source_out = split_src;
  right_id_ = right.id;
  t.clips.insert(t.clips.begin() + static_cast<std::ptrdiff_t>(loc->index + 1), std::move(right));

  auto& k = doc.timeline.keyframes;
  for (auto* m : {&k.first_frame, &k.last_frame})
    if (*m && (*m)->clip_id == id_ && (*m)->source_frame >= split_src) (*m)->clip_id = right_id_;
  for (auto* m : {&k.first_clip, &k.last_clip}) {
    if (!*m || (*m)->clip_id != id_) continue;
    if ((*m)->source.start >= split_src) (*m)->clip_id = right_id_;
    else (*m)->source.end = std::min((*m)->source.end, split_src);
  }
  // The right half keeps its masks: copy each bound mask track, right after the original.
  auto& masks = doc.timeline.mask_tracks;
  for (std::size_t i = 0; i < masks.size(); ++i) {
    if (masks[i].clip_id != id_) continue;
    MaskTrack copy = masks[i];
    copy.id = doc.make_id("mask");
    copy.clip_id = right_id_;
    masks.insert(masks.begin() + static_cast<std::ptrdiff_t>(i + 1), std::move(copy));
    ++i;
  }
}

void SetClipTakeGroup::redo(Project& doc) {
  Clip* c = doc.find_clip(id_);
  mf::check(c != nullptr, ErrorCode::BadInput, "no clip '" + id_ + "' on the timeline");
  old_ = c->take_group;
  c->take_group = new_;
}

void SetClipTakeGroup::undo(Project& doc) {
  Clip* c = doc.find_clip(id_);
  mf::check(c != nullptr, ErrorCode::Internal, "undo group takes: clip vanished");
  c->take_group = old_;
}

void AddTake::redo(Project& doc) {
  if (steps_) {
    steps_->redo(doc);
    doc.next_id = next_after_;
    return;
  }
  auto steps = std::make_unique<MacroCommand>("Add take");
  next_before_ = doc.next_id;
  try {
    const auto loc = doc.locate_clip(request_.source_clip_id);
    mf::check(loc.has_value(), ErrorCode::BadInput,
              "the take's source clip '" + request_.source_clip_id + "' is no longer on the timeline");
    const Clip src = doc.timeline.tracks[loc->track].clips[loc->index];  // copy: the track list may grow
    mf::check(request_.recipe.is_null() || request_.recipe.is_object(), ErrorCode::BadInput,
              "take recipe must be a JSON object");

    MediaItem item = request_.media;
    if (item.recipe.is_null()) item.recipe = request_.recipe;
    auto add_media = std::make_unique<AddMedia>(std::move(item));
    add_media->redo(doc);
    media_id_ = add_media->media_id();
    steps->add_applied(std::move(add_media));

    const MediaItem& m = *doc.find_media(media_id_);
    const FrameRange source = request_.source ? *request_.source
                              : m.kind == MediaKind::Video ? FrameRange{0, m.frame_count}
                                                           : FrameRange{0, src.duration()};
    check_source(m, source);
    const FrameRange span{src.timeline_start, src.timeline_start + source.length()};

    group_ = src.take_group.empty() ? doc.make_id("group") : src.take_group;

    std::string track_id;
    for (std::size_t i = loc->track + 1; i < doc.timeline.tracks.size() && track_id.empty(); ++i) {
      const Track& t = doc.timeline.tracks[i];
      if (t.locked || t.hidden) continue;  // a take must land where the user can see and edit it
      bool free = true;
      for (const auto& c : t.clips) free = free && !c.timeline_range().overlaps(span);
      if (free) track_id = t.id;
    }
    if (track_id.empty()) {
      auto add_track = std::make_unique<AddTrack>("Takes", loc->track + 1);
      add_track->redo(doc);
      track_id = add_track->track_id();
      steps->add_applied(std::move(add_track));
    }

    ClipPlacement placement;
    placement.track_id = track_id;
    placement.media_id = media_id_;
    placement.source = source;
    placement.timeline_start = span.start;
    placement.name = m.name.empty() ? std::string("Take") : m.name;
    placement.take_group = group_;
    placement.recipe = request_.recipe;
    auto add_clip = std::make_unique<AddClip>(std::move(placement));
    add_clip->redo(doc);
    clip_id_ = add_clip->clip_id();
    steps->add_applied(std::move(add_clip));

    if (src.take_group.empty()) {
      auto group = std::make_unique<SetClipTakeGroup>(src.id, group_);
      group->redo(doc);
      steps->add_applied(std::move(group));
    }
  } catch (...) {
    steps->undo(doc);
    doc.next_id = next_before_;
    throw;
  }
  steps_ = std::move(steps);
  next_after_ = doc.next_id;
}

void AddTake::undo(Project& doc) {
  steps_->undo(doc);
  doc.next_id = next_before_;
}

// --- timeline ranges and markers -----------------------------------------------------------------------------

void SetInOut::redo(Project& doc) {
  if (new_)
    mf::check(new_->start >= 0 && new_->start < new_->end, ErrorCode::BadInput,
              "in/out range " + range_text(*new_) + " must start at frame 0 or later and end after it starts");
  old_ = doc.timeline.in_out;
  doc.timeline.in_out = new_;
}

void SetInOut::undo(Project& doc) { doc.timeline.in_out = old_; }

namespace {
bool marker_less(const Marker& a, const Marker& b) { return a.frame != b.frame ? a.frame < b.frame : a.id < b.id; }
}  // namespace

void AddMarker::redo(Project& doc) {
  if (id_.empty()) {
    mf::check(frame_ >= 0, ErrorCode::BadInput, "a marker cannot sit before frame 0");
    next_before_ = doc.next_id;
    id_ = doc.make_id("marker");
    next_after_ = doc.next_id;
  }
  Marker m{id_, frame_, label_, color_};
  auto& v = doc.timeline.markers;
  v.insert(std::lower_bound(v.begin(), v.end(), m, marker_less), m);
  doc.next_id = next_after_;
}

void AddMarker::undo(Project& doc) {
  auto& v = doc.timeline.markers;
  v.erase(v.begin() + static_cast<std::ptrdiff_t>(index_of(v, id_, "marker")));
  doc.next_id = next_before_;
}

void RemoveMarker::redo(Project& doc) {
  auto& v = doc.timeline.markers;
  index_ = index_of(v, id_, "marker");
  removed_ = v[index_];
  v.erase(v.begin() + static_cast<std::ptrdiff_t>(index_));
}

void RemoveMarker::undo(Project& doc) {
  auto& v = doc.timeline.markers;
  v.insert(v.begin() + static_cast<std::ptrdiff_t>(index_), removed_);
}

namespace {
void place_marker(Project& doc, const std::string& id, std::int64_t frame) {
  auto& v = doc.timeline.markers;
  const std::size_t i = index_of(v, id, "marker");
  Marker m = v[i];
  m.frame = frame;
  v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
  v.insert(std::lower_bound(v.begin(), v.end(), m, marker_less), m);
}
}  // namespace

void MoveMarker::redo(Project& doc) {
  if (!applied_) {
    const auto& v = doc.timeline.markers;
    from_ = v[index_of(v, id_, "marker")].frame;
    mf::check(to_ >= 0, ErrorCode::BadInput, "a marker cannot sit before frame 0");
    applied_ = true;
  }
  place_marker(doc, id_, to_);
}

void MoveMarker::undo(Project& doc) { place_marker(doc, id_, from_); }

bool MoveMarker::merge_with(const Command& next) {
  const auto& n = static_cast<const MoveMarker&>(next);
  if (n.id_ != id_) return false;
  to_ = n.to_;
  return true;
}

// --- keyframe marks -------------------------------------------------------------------------------------------

namespace {
const char* slot_name(MarkSlot s) { return s == MarkSlot::First ? "first" : "last"; }
}  // namespace

std::string SetFrameMark::text() const {
  return std::string(new_ ? "Mark " : "Clear ") + slot_name(slot_) + " frame";
}

void SetFrameMark::redo(Project& doc) {
  if (new_) {
    const Clip& c = require_clip(doc, new_->clip_id);
    mf::check(c.source_range().contains(new_->source_frame), ErrorCode::BadInput,
              "frame " + std::to_string(new_->source_frame) + " is not inside clip " + c.id + " (source frames " +
                  range_text(c.source_range()) + ")");
  }
  auto& slot = slot_ == MarkSlot::First ? doc.timeline.keyframes.first_frame : doc.timeline.keyframes.last_frame;
  old_ = slot;
  slot = new_;
}

void SetFrameMark::undo(Project& doc) {
  (slot_ == MarkSlot::First ? doc.timeline.keyframes.first_frame : doc.timeline.keyframes.last_frame) = old_;
}

std::string SetClipMark::text() const { return std::string(new_ ? "Mark " : "Clear ") + slot_name(slot_) + " clip"; }

void SetClipMark::redo(Project& doc) {
  if (new_) {
    const Clip& c = require_clip(doc, new_->clip_id);
    mf::check(!new_->source.empty() && c.source_range().contains(new_->source), ErrorCode::BadInput,
              "range " + range_text(new_->source) + " is empty or not inside clip " + c.id + " (source frames " +
                  range_text(c.source_range()) + ")");
  }
  auto& slot = slot_ == MarkSlot::First ? doc.timeline.keyframes.first_clip : doc.timeline.keyframes.last_clip;
  old_ = slot;
  slot = new_;
}

void SetClipMark::undo(Project& doc) {
  (slot_ == MarkSlot::First ? doc.timeline.keyframes.first_clip : doc.timeline.keyframes.last_clip) = old_;
}

void AddStillKeyframe::redo(Project& doc) {
  auto& stills = doc.timeline.keyframes.stills;
  if (id_.empty()) {
    const MediaItem& m = require_media(doc, media_id_);
    mf::check(m.kind == MediaKind::Image, ErrorCode::BadInput,
              "media " + m.id + " is a video; drop a still image, or mark a frame of a clip instead");
    mf::check(frame_ >= 0, ErrorCode::BadInput, "a keyframe cannot sit before frame 0");
    for (const auto& s : stills)
      mf::check(s.frame != frame_, ErrorCode::BadInput,
                "frame " + std::to_string(frame_) + " already has keyframe " + s.id);
    next_before_ = doc.next_id;
    id_ = doc.make_id("still");
    next_after_ = doc.next_id;
  }
  auto it = std::lower_bound(stills.begin(), stills.end(), frame_,
                             [](const StillKeyframe& s, std::int64_t f) { return s.frame < f; });
  stills.insert(it, StillKeyframe{id_, media_id_, frame_});
  doc.next_id = next_after_;
}

void AddStillKeyframe::undo(Project& doc) {
  auto& stills = doc.timeline.keyframes.stills;
  stills.erase(stills.begin() + static_cast<std::ptrdiff_t>(index_of(stills, id_, "still keyframe")));
  doc.next_id = next_before_;
}

void RemoveStillKeyframe::redo(Project& doc) {
  auto& stills = doc.timeline.keyframes.stills;
  index_ = index_of(stills, id_, "still keyframe");
  removed_ = stills[index_];
  stills.erase(stills.begin() + static_cast<std::ptrdiff_t>(index_));
}

void RemoveStillKeyframe::undo(Project& doc) {
  auto& stills = doc.timeline.keyframes.stills;
  stills.insert(stills.begin() + static_cast<std::ptrdiff_t>(index_), removed_);
}

namespace {
void place_still(Project& doc, const std::string& id, std::int64_t frame) {
  auto& stills = doc.timeline.keyframes.stills;
  const std::size_t i = index_of(stills, id, "still keyframe");
  StillKeyframe k = stills[i];
  k.frame = frame;
  stills.erase(stills.begin() + static_cast<std::ptrdiff_t>(i));
  auto it = std::lower_bound(stills.begin(), stills.end(), frame,
                             [](const StillKeyframe& s, std::int64_t f) { return s.frame < f; });
  stills.insert(it, std::move(k));
}
}  // namespace

void MoveStillKeyframe::redo(Project& doc) {
  if (!applied_) {
    const auto& stills = doc.timeline.keyframes.stills;
    from_ = stills[index_of(stills, id_, "still keyframe")].frame;
    mf::check(to_ >= 0, ErrorCode::BadInput, "a keyframe cannot sit before frame 0");
    for (const auto& s : stills)
      mf::check(s.id == id_ || s.frame != to_, ErrorCode::BadInput,
                "frame " + std::to_string(to_) + " already has keyframe " + s.id);
    applied_ = true;
  }
  place_still(doc, id_, to_);
}

void MoveStillKeyframe::undo(Project& doc) { place_still(doc, id_, from_); }

bool MoveStillKeyframe::merge_with(const Command& next) {
  const auto& n = static_cast<const MoveStillKeyframe&>(next);
  if (n.id_ != id_) return false;
  to_ = n.to_;
  return true;
}

// --- mask tracks ---------------------------------------------------------------------------------------------

namespace {
MaskTrack& mutable_mask(Project& doc, const std::string& id) {
  MaskTrack* m = doc.find_mask_track(id);
  mf::check(m != nullptr, ErrorCode::BadInput, "no mask track '" + id + "' on the timeline");
  return *m;
}
}  // namespace

void AddMaskTrack::redo(Project& doc) {
  if (id_.empty()) {
    require_clip(doc, clip_id_);
    next_before_ = doc.next_id;
    id_ = doc.make_id("mask");
    next_after_ = doc.next_id;
  }
  MaskTrack m;
  m.id = id_;
  m.name = name_;
  m.clip_id = clip_id_;
  m.interpolation = mode_;
  doc.timeline.mask_tracks.push_back(std::move(m));
  doc.next_id = next_after_;
}

void AddMaskTrack::undo(Project& doc) {
  pop_expected(doc.timeline.mask_tracks, id_);
  doc.next_id = next_before_;
}

void RemoveMaskTrack::redo(Project& doc) {
  auto& v = doc.timeline.mask_tracks;
  index_ = index_of(v, id_, "mask track");
  removed_ = v[index_];
  v.erase(v.begin() + static_cast<std::ptrdiff_t>(index_));
}

void RemoveMaskTrack::undo(Project& doc) {
  auto& v = doc.timeline.mask_tracks;
  v.insert(v.begin() + static_cast<std::ptrdiff_t>(index_), removed_);
}

void SetMaskInterpolation::redo(Project& doc) {
  MaskTrack& m = mutable_mask(doc, id_);
  old_ = m.interpolation;
  m.interpolation = new_;
}

void SetMaskInterpolation::undo(Project& doc) { mutable_mask(doc, id_).interpolation = old_; }

void SetMaskKeyframe::redo(Project& doc) {
  MaskTrack& m = mutable_mask(doc, id_);
  mf::check(frame_ >= 0, ErrorCode::BadInput, "mask frame " + std::to_string(frame_) + " is before frame 0");
  const Clip& c = require_clip(doc, m.clip_id);
  const MediaItem& media = require_media(doc, c.media_id);
  if (media.kind == MediaKind::Video)
    mf::check(frame_ < media.frame_count, ErrorCode::BadInput,
              "mask frame " + std::to_string(frame_) + " is past the " + std::to_string(media.frame_count) +
                  " frames of media " + media.id);
  mf::check(is_project_relative_path(path_) && path_.rfind("masks/", 0) == 0, ErrorCode::BadInput,
            "mask image path '" + path_ + "' must be a project-relative path under masks/");
  auto it = std::lower_bound(m.keyframes.begin(), m.keyframes.end(), frame_,
                             [](const MaskKeyframe& k, std::int64_t f) { return k.frame < f; });
  if (it != m.keyframes.end() && it->frame == frame_) {
    old_path_ = it->path;
    it->path = path_;
  } else {
    old_path_.reset();
    m.keyframes.insert(it, MaskKeyframe{frame_, path_});
  }
}

void SetMaskKeyframe::undo(Project& doc) {
  MaskTrack& m = mutable_mask(doc, id_);
  auto it = std::find_if(m.keyframes.begin(), m.keyframes.end(), [&](const MaskKeyframe& k) { return k.frame == frame_; });
  mf::check(it != m.keyframes.end(), ErrorCode::Internal, "undo paint mask: keyframe vanished");
  if (old_path_) it->path = *old_path_;
  else m.keyframes.erase(it);
}

void RemoveMaskKeyframe::redo(Project& doc) {
  MaskTrack& m = mutable_mask(doc, id_);
  auto it = std::find_if(m.keyframes.begin(), m.keyframes.end(), [&](const MaskKeyframe& k) { return k.frame == frame_; });
  mf::check(it != m.keyframes.end(), ErrorCode::BadInput,
            "mask track " + id_ + " has no painted mask on frame " + std::to_string(frame_));
  index_ = static_cast<std::size_t>(it - m.keyframes.begin());
  old_path_ = it->path;
  m.keyframes.erase(it);
}

void RemoveMaskKeyframe::undo(Project& doc) {
  MaskTrack& m = mutable_mask(doc, id_);
  m.keyframes.insert(m.keyframes.begin() + static_cast<std::ptrdiff_t>(index_), MaskKeyframe{frame_, old_path_});
}

std::vector<FrameRange> apply_hold(const std::vector<FrameRange>& holds, FrameRange range, bool hold) {
  std::vector<FrameRange> out;
  if (hold) {
    FrameRange merged = range;
    for (const auto& h : holds) {
      if (h.end < range.start || h.start > range.end) {
        out.push_back(h);  // neither overlapping nor touching
      } else {
        merged.start = std::min(merged.start, h.start);
        merged.end = std::max(merged.end, h.end);
      }
    }
    out.insert(std::lower_bound(out.begin(), out.end(), merged,
                                [](const FrameRange& a, const FrameRange& b) { return a.start < b.start; }),
               merged);
  } else {
    for (const auto& h : holds) {
      if (!h.overlaps(range)) {
        out.push_back(h);
        continue;
      }
      if (h.start < range.start) out.push_back(FrameRange{h.start, range.start});
      if (range.end < h.end) out.push_back(FrameRange{range.end, h.end});
    }
  }
  return out;
}

void SetMaskHold::redo(Project& doc) {
  MaskTrack& m = mutable_mask(doc, id_);
  if (!applied_) {
    mf::check(!range_.empty() && range_.start >= 0, ErrorCode::BadInput,
              "hold range " + range_text(range_) + " must be non-empty and start at frame 0 or later");
    old_ = m.holds;
    new_ = apply_hold(old_, range_, hold_);
    applied_ = true;
  }
  m.holds = new_;
}

void SetMaskHold::undo(Project& doc) { mutable_mask(doc, id_).holds = old_; }

}  // namespace mf::project

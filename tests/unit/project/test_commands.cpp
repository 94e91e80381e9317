// Undo stack behaviour, every command's do/undo/redo, cascades, and the invariant checker itself.
#include <gtest/gtest.h>

#include "mf/core/error.h"
#include "project_test_util.h"

using namespace mf::project;
using mf::project::testing::dump;
using mf::project::testing::Editor;

namespace {

// Pushes a command, then checks that undo restores `before` exactly and redo restores `after` exactly.
template <class C>
C& push_and_roundtrip(Editor& e, std::unique_ptr<C> cmd) {
  const std::string before = dump(e.doc);
  C& applied = e.push(std::move(cmd));
  const std::string after = dump(e.doc);
  EXPECT_NE(before, after) << "command changed nothing";
  e.stack.undo();
  EXPECT_EQ(dump(e.doc), before);
  e.stack.redo();
  EXPECT_EQ(dump(e.doc), after);
  return applied;
}

// Expects the command to be refused with BadInput and the document and history to stay as they were.
template <class C>
void expect_refused(Editor& e, std::unique_ptr<C> cmd, const std::string& message_part = {}) {
  const std::string before = dump(e.doc);
  const std::size_t count = e.stack.count(), index = e.stack.index();
  try {
    e.push(std::move(cmd));
    ADD_FAILURE() << "command was not refused";
  } catch (const mf::Error& err) {
    EXPECT_EQ(err.code(), mf::ErrorCode::BadInput) << err.what();
    if (!message_part.empty()) {
      EXPECT_NE(std::string(err.what()).find(message_part), std::string::npos) << err.what();
    }
  }
  EXPECT_EQ(dump(e.doc), before);
  EXPECT_EQ(e.stack.count(), count);
  EXPECT_EQ(e.stack.index(), index);
}

struct Scene {
  Editor e;
  std::string media, still, v1, v2, a, b;
  Scene() {
    media = e.add_video("media/a.mp4", 100);
    still = e.add_image("media/still.png");
    v1 = e.add_track("V1");
    v2 = e.add_track("V2");
    a = e.add_clip(v1, media, {10, 40}, 0);   // timeline [0, 30)
    b = e.add_clip(v1, media, {50, 70}, 40);  // timeline [40, 60)
  }
};

}  // namespace

TEST(UndoStack, UndoRedoCleanAndTexts) {
  Editor e;
  EXPECT_TRUE(e.stack.is_clean());
  EXPECT_FALSE(e.stack.can_undo());
  const std::string empty = dump(e.doc);
  const std::string m = e.add_video("media/x.mp4", 10);
  EXPECT_EQ(m, "media-1");
  EXPECT_FALSE(e.stack.is_clean());
  EXPECT_EQ(e.stack.undo_text(), "Import media");
  e.stack.set_clean();
  e.add_track();
  EXPECT_FALSE(e.stack.is_clean());
  e.stack.undo();
  EXPECT_TRUE(e.stack.is_clean());
  EXPECT_EQ(e.stack.redo_text(), "Add track");
  e.stack.undo();
  EXPECT_EQ(dump(e.doc), empty);
  EXPECT_FALSE(e.stack.is_clean());
  EXPECT_THROW(e.stack.undo(), mf::Error);
  e.stack.redo();
  EXPECT_TRUE(e.stack.is_clean());
  e.stack.redo();
  EXPECT_THROW(e.stack.redo(), mf::Error);
  EXPECT_GT(e.checks, 0);
}

TEST(UndoStack, NewEditDiscardsRedoBranchAndItsCleanState) {
  Editor e;
  e.add_video("media/x.mp4", 10);
  e.add_track("A");
  e.stack.set_clean();
  e.stack.undo();
  e.add_track("B");  // the saved state (with track A) is no longer reachable
  EXPECT_EQ(e.stack.count(), 2u);
  EXPECT_FALSE(e.stack.clean_index().has_value());
  EXPECT_FALSE(e.stack.is_clean());
  EXPECT_FALSE(e.stack.can_redo());
}

TEST(UndoStack, DragMovesMergeIntoOneStep) {
  Scene s;
  Editor& e = s.e;
  const std::string before = dump(e.doc);
  const std::size_t count = e.stack.count();
  for (int x = 61; x <= 90; ++x) e.push(std::make_unique<MoveClip>(s.a, s.v1, x));
  e.push(std::make_unique<MoveClip>(s.a, s.v2, 5));
  EXPECT_EQ(e.stack.count(), count + 1);
  EXPECT_EQ(e.clip(s.a).timeline_start, 5);
  EXPECT_EQ(e.doc.locate_clip(s.a)->track, 1u);
  const std::string after = dump(e.doc);
  e.stack.undo();
  EXPECT_EQ(dump(e.doc), before);
  e.stack.redo();
  EXPECT_EQ(dump(e.doc), after);
  // A barrier (mouse released) starts a new step; moving another clip never merges.
  e.stack.break_merge();
  e.push(std::make_unique<MoveClip>(s.a, s.v2, 6));
  e.push(std::make_unique<MoveClip>(s.b, s.v1, 41));
  EXPECT_EQ(e.stack.count(), count + 3);
}

TEST(UndoStack, MergeNeverSwallowsTheSavedState) {
  Scene s;
  s.e.push(std::make_unique<MoveClip>(s.a, s.v1, 61));
  s.e.stack.set_clean();
  s.e.push(std::make_unique<MoveClip>(s.a, s.v1, 62));
  EXPECT_FALSE(s.e.stack.is_clean());
  s.e.stack.undo();
  EXPECT_TRUE(s.e.stack.is_clean());
  EXPECT_EQ(s.e.clip(s.a).timeline_start, 61);
}

TEST(UndoStack, MacroGroupsAndAborts) {
  Scene s;
  Editor& e = s.e;
  const std::string before = dump(e.doc);
  const std::size_t count = e.stack.count();
  e.stack.begin_macro("Ripple");
  e.push(std::make_unique<MoveClip>(s.b, s.v1, 45));
  e.stack.begin_macro("inner");
  e.push(std::make_unique<AddMarker>(3, "m"));
  e.stack.end_macro();
  EXPECT_FALSE(e.stack.can_undo());  // undo is blocked while a macro is open
  EXPECT_THROW(e.stack.undo(), mf::Error);
  e.stack.end_macro();
  EXPECT_EQ(e.stack.count(), count + 1);
  EXPECT_EQ(e.stack.undo_text(), "Ripple");
  const std::string after = dump(e.doc);
  e.stack.undo();
  EXPECT_EQ(dump(e.doc), before);
  e.stack.redo();
  EXPECT_EQ(dump(e.doc), after);

  // abort_macro rolls back what the open macro did.
  e.stack.begin_macro("Abandoned");
  e.push(std::make_unique<AddMarker>(7, "x"));
  e.stack.abort_macro();
  EXPECT_EQ(dump(e.doc), after);
  // An empty macro adds no step.
  e.stack.begin_macro("Nothing");
  e.stack.end_macro();
  EXPECT_EQ(e.stack.count(), count + 1);
}

TEST(UndoStack, MacroCommandRollsBackWhenAChildRefuses) {
  Scene s;
  const std::string before = dump(s.e.doc);
  auto macro = std::make_unique<MacroCommand>("Two moves");
  macro->add(std::make_unique<MoveClip>(s.a, s.v2, 0));
  macro->add(std::make_unique<MoveClip>(s.b, s.v2, 10));  // overlaps a's new place: refused
  EXPECT_THROW(s.e.push(std::move(macro)), mf::Error);
  EXPECT_EQ(dump(s.e.doc), before);
}

TEST(UndoStack, UndoLimitDropsOldestAndTracksCleanIndex) {
  Editor e;
  e.stack.set_undo_limit(3);
  for (int i = 0; i < 5; ++i) e.push(std::make_unique<AddMarker>(i, "m"));
  EXPECT_EQ(e.stack.count(), 3u);
  EXPECT_FALSE(e.stack.clean_index().has_value());  // the empty state fell off the bottom
  e.stack.set_clean();
  e.push(std::make_unique<AddMarker>(9, "m"));
  EXPECT_EQ(*e.stack.clean_index(), 2u);
  e.stack.undo();
  EXPECT_TRUE(e.stack.is_clean());
}

TEST(Commands, AddClipValidatesPlacement) {
  Scene s;
  ClipPlacement p{s.v1, s.media, {0, 20}, 25, "", "", nullptr};
  expect_refused(s.e, std::make_unique<AddClip>(p), "overlap");
  p.timeline_start = 30;
  p.source = {90, 101};
  expect_refused(s.e, std::make_unique<AddClip>(p), "leaves media");
  p.source = {5, 5};
  expect_refused(s.e, std::make_unique<AddClip>(p), "empty");
  p.source = {0, 10};
  p.timeline_start = -1;
  expect_refused(s.e, std::make_unique<AddClip>(p), "before frame 0");
  p.timeline_start = 30;
  p.media_id = "media-404";
  expect_refused(s.e, std::make_unique<AddClip>(p), "media-404");
  p.media_id = s.media;
  p.track_id = "track-404";
  expect_refused(s.e, std::make_unique<AddClip>(p), "track-404");
  // Exactly filling the gap [30, 40) is fine; clips stay sorted.
  p.track_id = s.v1;
  auto& c = push_and_roundtrip(s.e, std::make_unique<AddClip>(p));
  const auto& clips = s.e.doc.find_track(s.v1)->clips;
  ASSERT_EQ(clips.size(), 3u);
  EXPECT_EQ(clips[1].id, c.clip_id());
  // Stills may have any duration.
  ClipPlacement still{s.v2, s.still, {0, 500}, 0, "", "", nullptr};
  push_and_roundtrip(s.e, std::make_unique<AddClip>(still));
}

TEST(Commands, LockedTrackRefusesEdits) {
  Scene s;
  s.e.push(std::make_unique<SetTrackSettings>(s.v1, TrackSettings{std::nullopt, std::nullopt, true}));
  expect_refused(s.e, std::make_unique<MoveClip>(s.a, s.v1, 70), "locked");
  expect_refused(s.e, std::make_unique<TrimClip>(s.a, ClipEdge::End, 20), "locked");
  expect_refused(s.e, std::make_unique<RemoveClip>(s.a), "locked");
  expect_refused(s.e, std::make_unique<SplitClip>(s.a, 10), "locked");
  expect_refused(s.e, std::make_unique<MoveClip>(s.a, s.v2, 0), "locked");
  s.e.stack.undo();
  push_and_roundtrip(s.e, std::make_unique<MoveClip>(s.a, s.v2, 0));
}

TEST(Commands, MoveClipAcrossTracksRoundTrips) {
  Scene s;
  push_and_roundtrip(s.e, std::make_unique<MoveClip>(s.a, s.v2, 12));
  EXPECT_EQ(s.e.doc.locate_clip(s.a)->track, 1u);
  expect_refused(s.e, std::make_unique<MoveClip>(s.b, s.v2, 30), "overlap");
  expect_refused(s.e, std::make_unique<MoveClip>(s.b, s.v1, -3), "before frame 0");
  // Moving onto its own old place (itself excluded) is fine.
  push_and_roundtrip(s.e, std::make_unique<MoveClip>(s.b, s.v1, 35));
}

TEST(Commands, TrimClipBothEdgesWithinSource) {
  Scene s;
  // Start edge: timeline 0 -> 5 moves source_in 10 -> 15.
  push_and_roundtrip(s.e, std::make_unique<TrimClip>(s.a, ClipEdge::Start, 5));
  EXPECT_EQ(s.e.clip(s.a).source_in, 15);
  EXPECT_EQ(s.e.clip(s.a).timeline_start, 5);
  EXPECT_EQ(s.e.clip(s.a).timeline_end(), 30);
  // End edge out to 38 (source_out 48).
  push_and_roundtrip(s.e, std::make_unique<TrimClip>(s.a, ClipEdge::End, 38));
  EXPECT_EQ(s.e.clip(s.a).source_out, 48);
  expect_refused(s.e, std::make_unique<TrimClip>(s.a, ClipEdge::End, 41), "overlap");
  expect_refused(s.e, std::make_unique<TrimClip>(s.a, ClipEdge::Start, 38), "empty");
  expect_refused(s.e, std::make_unique<TrimClip>(s.b, ClipEdge::End, 91), "last frame");
  s.e.push(std::make_unique<MoveClip>(s.a, s.v2, 20));  // a: source [15, 48) at [20, 53)
  expect_refused(s.e, std::make_unique<TrimClip>(s.a, ClipEdge::Start, 4), "first frame");
}

TEST(Commands, TrimDragMergesAndCascadesMarks) {
  Scene s;
  Editor& e = s.e;
  e.push(std::make_unique<SetFrameMark>(MarkSlot::First, FrameMark{s.a, 35}));
  e.push(std::make_unique<SetClipMark>(MarkSlot::First, ClipRangeMark{s.a, {20, 38}}));
  const std::string before = dump(e.doc);
  const std::size_t count = e.stack.count();
  // Drag the end edge in past the marks, then back out a little.
  for (int f = 29; f >= 15; --f) e.push(std::make_unique<TrimClip>(s.a, ClipEdge::End, f));
  EXPECT_FALSE(e.doc.timeline.keyframes.first_frame.has_value());  // source 35 left the clip
  ASSERT_TRUE(e.doc.timeline.keyframes.first_clip.has_value());
  EXPECT_EQ(e.doc.timeline.keyframes.first_clip->source, (FrameRange{20, 25}));
  e.push(std::make_unique<TrimClip>(s.a, ClipEdge::End, 20));
  EXPECT_EQ(e.stack.count(), count + 1);
  // The marks stay as the drag left them (not re-created by the wider final trim).
  EXPECT_FALSE(e.doc.timeline.keyframes.first_frame.has_value());
  const std::string after = dump(e.doc);
  e.stack.undo();
  EXPECT_EQ(dump(e.doc), before);
  e.stack.redo();
  EXPECT_EQ(dump(e.doc), after);
  // Trimming everything out of the clip mark drops it.
  e.push(std::make_unique<TrimClip>(s.a, ClipEdge::Start, 16));  // source_in 26 > the mark's end 25
  EXPECT_FALSE(e.doc.timeline.keyframes.first_clip.has_value());
}

TEST(Commands, SplitClipReanchorsMarksAndCopiesMasks) {
  Scene s;
  Editor& e = s.e;
  const std::string mask = e.push(std::make_unique<AddMaskTrack>(s.a, "sky")).mask_track_id();
  e.push(std::make_unique<SetMaskKeyframe>(mask, 12, "masks/m/a.png"));
  e.push(std::make_unique<SetFrameMark>(MarkSlot::First, FrameMark{s.a, 11}));
  e.push(std::make_unique<SetFrameMark>(MarkSlot::Last, FrameMark{s.a, 35}));
  e.push(std::make_unique<SetClipMark>(MarkSlot::Last, ClipRangeMark{s.a, {15, 30}}));
  auto& split = push_and_roundtrip(e, std::make_unique<SplitClip>(s.a, 10));  // source split at 20
  const std::string right = split.right_clip_id();
  ASSERT_FALSE(right.empty());
  EXPECT_EQ(e.clip(s.a).source_range(), (FrameRange{10, 20}));
  EXPECT_EQ(e.clip(right).source_range(), (FrameRange{20, 40}));
  EXPECT_EQ(e.clip(right).timeline_start, 10);
  const auto& k = e.doc.timeline.keyframes;
  EXPECT_EQ(k.first_frame->clip_id, s.a);
  EXPECT_EQ(k.last_frame->clip_id, right);
  EXPECT_EQ(k.last_clip->clip_id, s.a);  // it started in the left half: clamped there
  EXPECT_EQ(k.last_clip->source, (FrameRange{15, 20}));
  ASSERT_EQ(e.doc.timeline.mask_tracks.size(), 2u);
  EXPECT_EQ(e.doc.timeline.mask_tracks[1].clip_id, right);
  EXPECT_EQ(e.doc.timeline.mask_tracks[1].keyframes.size(), 1u);
  expect_refused(e, std::make_unique<SplitClip>(s.a, 0), "not inside");
  expect_refused(e, std::make_unique<SplitClip>(s.a, 10), "not inside");
}

TEST(Commands, RemoveClipCascadesAndRestores) {
  Scene s;
  Editor& e = s.e;
  const std::string mask = e.push(std::make_unique<AddMaskTrack>(s.b, "m")).mask_track_id();
  e.push(std::make_unique<AddMaskTrack>(s.a, "keep"));
  e.push(std::make_unique<SetFrameMark>(MarkSlot::Last, FrameMark{s.b, 55}));
  e.push(std::make_unique<SetClipMark>(MarkSlot::First, ClipRangeMark{s.b, {50, 60}}));
  e.push(std::make_unique<SetFrameMark>(MarkSlot::First, FrameMark{s.a, 10}));
  push_and_roundtrip(e, std::make_unique<RemoveClip>(s.b));
  EXPECT_EQ(e.doc.find_clip(s.b), nullptr);
  EXPECT_EQ(e.doc.find_mask_track(mask), nullptr);
  EXPECT_EQ(e.doc.timeline.mask_tracks.size(), 1u);
  EXPECT_FALSE(e.doc.timeline.keyframes.last_frame.has_value());
  EXPECT_FALSE(e.doc.timeline.keyframes.first_clip.has_value());
  EXPECT_TRUE(e.doc.timeline.keyframes.first_frame.has_value());
  expect_refused(e, std::make_unique<RemoveClip>(s.b), s.b);
}

TEST(Commands, TracksAddRemoveAndSettings) {
  Scene s;
  Editor& e = s.e;
  auto& t = push_and_roundtrip(e, std::make_unique<AddTrack>("Bottom", 0));
  EXPECT_EQ(e.doc.timeline.tracks.front().id, t.track_id());
  expect_refused(e, std::make_unique<AddTrack>("Far", 99), "past");
  e.push(std::make_unique<AddMaskTrack>(s.a, "m"));
  push_and_roundtrip(e, std::make_unique<RemoveTrack>(s.v1));
  EXPECT_TRUE(e.doc.timeline.mask_tracks.empty());
  EXPECT_EQ(e.doc.find_clip(s.a), nullptr);
  push_and_roundtrip(e, std::make_unique<SetTrackSettings>(s.v2, TrackSettings{"Top", true, std::nullopt}));
  EXPECT_EQ(e.doc.find_track(s.v2)->name, "Top");
  EXPECT_TRUE(e.doc.find_track(s.v2)->hidden);
}

TEST(Commands, MediaReferencesAndSettings) {
  Scene s;
  Editor& e = s.e;
  expect_refused(e, std::make_unique<RemoveMedia>(s.media), "used by clip");
  MediaItem abs;
  abs.path = "/tmp/outside.mp4";
  expect_refused(e, std::make_unique<AddMedia>(abs), "relative");
  abs.path = "media/../../x.mp4";
  expect_refused(e, std::make_unique<AddMedia>(abs), "relative");
  auto& ref = push_and_roundtrip(e, std::make_unique<AddReference>(s.still, "face"));
  expect_refused(e, std::make_unique<RemoveMedia>(s.still), "reference");
  push_and_roundtrip(e, std::make_unique<RemoveReference>(ref.reference_id()));
  push_and_roundtrip(e, std::make_unique<RemoveMedia>(s.still));
  ProjectSettings ps;
  ps.name = "Renamed";
  ps.style_preset = "ghibli";
  ps.resolution = Resolution{832, 480};
  push_and_roundtrip(e, std::make_unique<SetProjectSettings>(ps));
  EXPECT_EQ(e.doc.style_preset, "ghibli");
  ps.resolution = Resolution{0, 480};
  expect_refused(e, std::make_unique<SetProjectSettings>(ps), "positive");
}

TEST(Commands, InOutMarkersAndStills) {
  Scene s;
  Editor& e = s.e;
  push_and_roundtrip(e, std::make_unique<SetInOut>(FrameRange{5, 50}));
  expect_refused(e, std::make_unique<SetInOut>(FrameRange{50, 5}), "in/out");
  push_and_roundtrip(e, std::make_unique<SetInOut>(std::nullopt));
  auto& m1 = push_and_roundtrip(e, std::make_unique<AddMarker>(20, "beat"));
  push_and_roundtrip(e, std::make_unique<AddMarker>(3, "intro", "#ff0000"));
  EXPECT_EQ(e.doc.timeline.markers.front().label, "intro");
  push_and_roundtrip(e, std::make_unique<RemoveMarker>(m1.marker_id()));
  auto& k = push_and_roundtrip(e, std::make_unique<AddStillKeyframe>(s.still, 30));
  expect_refused(e, std::make_unique<AddStillKeyframe>(s.still, 30), "already");
  expect_refused(e, std::make_unique<AddStillKeyframe>(s.media, 31), "video");
  push_and_roundtrip(e, std::make_unique<AddStillKeyframe>(s.still, 0));
  EXPECT_EQ(e.doc.timeline.keyframes.stills.front().frame, 0);
  push_and_roundtrip(e, std::make_unique<RemoveStillKeyframe>(k.still_id()));
}

TEST(Commands, MarkerAndKeyframeDragsMerge) {
  Scene s;
  Editor& e = s.e;
  const std::string m1 = e.push(std::make_unique<AddMarker>(10, "a")).marker_id();
  e.push(std::make_unique<AddMarker>(20, "b"));
  const std::string k1 = e.push(std::make_unique<AddStillKeyframe>(s.still, 5)).still_id();
  e.push(std::make_unique<AddStillKeyframe>(s.still, 50));
  const std::string before = dump(e.doc);
  const std::size_t count = e.stack.count();
  for (int f = 11; f <= 30; ++f) e.push(std::make_unique<MoveMarker>(m1, f));
  EXPECT_EQ(e.stack.count(), count + 1);
  EXPECT_EQ(e.doc.timeline.markers.back().id, m1);  // re-sorted past marker b
  e.stack.break_merge();
  for (int f = 6; f <= 60; f += 6) e.push(std::make_unique<MoveStillKeyframe>(k1, f));
  EXPECT_EQ(e.stack.count(), count + 2);
  EXPECT_EQ(e.doc.timeline.keyframes.stills.back().id, k1);  // 60, after the still at 50
  expect_refused(e, std::make_unique<MoveStillKeyframe>(k1, 50), "already");
  expect_refused(e, std::make_unique<MoveMarker>(m1, -1), "before frame 0");
  expect_refused(e, std::make_unique<MoveMarker>("marker-404", 3), "marker-404");
  const std::string after = dump(e.doc);
  e.stack.undo();
  e.stack.undo();
  EXPECT_EQ(dump(e.doc), before);
  e.stack.redo();
  e.stack.redo();
  EXPECT_EQ(dump(e.doc), after);
}

TEST(Commands, FrameAndClipMarksValidate) {
  Scene s;
  Editor& e = s.e;
  push_and_roundtrip(e, std::make_unique<SetFrameMark>(MarkSlot::First, FrameMark{s.a, 10}));
  push_and_roundtrip(e, std::make_unique<SetFrameMark>(MarkSlot::Last, FrameMark{s.b, 69}));
  expect_refused(e, std::make_unique<SetFrameMark>(MarkSlot::Last, FrameMark{s.b, 70}), "not inside");
  expect_refused(e, std::make_unique<SetFrameMark>(MarkSlot::Last, FrameMark{"clip-404", 1}), "clip-404");
  push_and_roundtrip(e, std::make_unique<SetClipMark>(MarkSlot::First, ClipRangeMark{s.a, {30, 40}}));
  expect_refused(e, std::make_unique<SetClipMark>(MarkSlot::Last, ClipRangeMark{s.b, {45, 60}}), "not inside");
  push_and_roundtrip(e, std::make_unique<SetFrameMark>(MarkSlot::First, std::nullopt));
  EXPECT_EQ(e.stack.undo_text(), "Clear first frame");
}

TEST(Commands, MaskKeyframesHoldsAndInterpolation) {
  Scene s;
  Editor& e = s.e;
  auto& mt = push_and_roundtrip(e, std::make_unique<AddMaskTrack>(s.a, "sky", MaskInterpolation::Flow));
  const std::string id = mt.mask_track_id();
  push_and_roundtrip(e, std::make_unique<SetMaskKeyframe>(id, 20, "masks/sky/f20-1.png"));
  push_and_roundtrip(e, std::make_unique<SetMaskKeyframe>(id, 12, "masks/sky/f12-1.png"));
  // Repainting a frame replaces its path; undo brings the old one back.
  push_and_roundtrip(e, std::make_unique<SetMaskKeyframe>(id, 20, "masks/sky/f20-2.png"));
  EXPECT_EQ(e.doc.find_mask_track(id)->keyframe_at(20)->path, "masks/sky/f20-2.png");
  e.stack.undo();
  EXPECT_EQ(e.doc.find_mask_track(id)->keyframe_at(20)->path, "masks/sky/f20-1.png");
  e.stack.redo();
  expect_refused(e, std::make_unique<SetMaskKeyframe>(id, 100, "masks/sky/x.png"), "past");
  expect_refused(e, std::make_unique<SetMaskKeyframe>(id, 5, "media/x.png"), "masks/");
  push_and_roundtrip(e, std::make_unique<RemoveMaskKeyframe>(id, 12));
  expect_refused(e, std::make_unique<RemoveMaskKeyframe>(id, 12), "no painted mask");
  push_and_roundtrip(e, std::make_unique<SetMaskHold>(id, FrameRange{20, 30}));
  push_and_roundtrip(e, std::make_unique<SetMaskHold>(id, FrameRange{25, 35}));
  EXPECT_EQ(e.doc.find_mask_track(id)->holds, (std::vector<FrameRange>{{20, 35}}));
  push_and_roundtrip(e, std::make_unique<SetMaskHold>(id, FrameRange{26, 28}, false));
  EXPECT_EQ(e.doc.find_mask_track(id)->holds, (std::vector<FrameRange>{{20, 26}, {28, 35}}));
  expect_refused(e, std::make_unique<SetMaskHold>(id, FrameRange{9, 9}), "non-empty");
  push_and_roundtrip(e, std::make_unique<SetMaskInterpolation>(id, MaskInterpolation::None));
  push_and_roundtrip(e, std::make_unique<RemoveMaskTrack>(id));
  expect_refused(e, std::make_unique<AddMaskTrack>("clip-404", "x"), "clip-404");
}

TEST(Commands, ApplyHoldUnionAndDifference) {
  using V = std::vector<FrameRange>;
  EXPECT_EQ(apply_hold({}, {5, 9}, true), (V{{5, 9}}));
  EXPECT_EQ(apply_hold({{0, 2}, {10, 12}}, {5, 9}, true), (V{{0, 2}, {5, 9}, {10, 12}}));
  EXPECT_EQ(apply_hold({{0, 5}, {9, 12}}, {5, 9}, true), (V{{0, 12}}));  // touching ranges join
  EXPECT_EQ(apply_hold({{0, 20}}, {5, 9}, false), (V{{0, 5}, {9, 20}}));
  EXPECT_EQ(apply_hold({{0, 5}, {6, 8}, {9, 12}}, {4, 10}, false), (V{{0, 4}, {10, 12}}));
  EXPECT_EQ(apply_hold({{0, 5}}, {5, 9}, false), (V{{0, 5}}));
}

TEST(Commands, AddTakeStacksAboveSourceAndGroups) {
  Scene s;
  Editor& e = s.e;
  e.push(std::make_unique<AddClip>(ClipPlacement{s.v2, s.media, {0, 10}, 0, "", "", nullptr}));  // blocks v2 at [0,10)
  TakeRequest req;
  req.source_clip_id = s.a;
  req.media.path = "renders/take1.mp4";
  req.media.name = "take 1";
  req.media.frame_count = 49;
  req.recipe = {{"task", "vedit"}, {"seed", 42}};
  const std::string before = dump(e.doc);
  auto& take = e.push(std::make_unique<AddTake>(req));
  const std::string after = dump(e.doc);
  // v2 is busy at the source's start, so a new "Takes" track appears right above v1.
  ASSERT_EQ(e.doc.timeline.tracks.size(), 3u);
  EXPECT_EQ(e.doc.timeline.tracks[1].name, "Takes");
  const Clip& tc = e.clip(take.clip_id());
  EXPECT_EQ(tc.timeline_start, 0);
  EXPECT_EQ(tc.duration(), 49);
  EXPECT_EQ(tc.recipe["seed"], 42);
  EXPECT_EQ(e.doc.find_media(take.media_id())->recipe["task"], "vedit");
  EXPECT_EQ(e.clip(s.a).take_group, take.take_group());
  EXPECT_EQ(e.doc.take_group_clips(take.take_group()).size(), 2u);
  e.stack.undo();
  EXPECT_EQ(dump(e.doc), before);
  e.stack.redo();
  EXPECT_EQ(dump(e.doc), after);  // same ids on redo
  // A second take joins the same group; the Takes track and v2 are both busy at [0, 49), so another track
  // is inserted right above the source.
  req.media.path = "renders/take2.mp4";
  auto& take2 = e.push(std::make_unique<AddTake>(req));
  EXPECT_EQ(take2.take_group(), take.take_group());
  EXPECT_EQ(e.doc.timeline.tracks.size(), 4u);
  EXPECT_EQ(e.doc.locate_clip(take2.clip_id())->track, 1u);
  EXPECT_EQ(e.doc.take_group_clips(take.take_group()).size(), 3u);
  // Hidden or locked tracks are skipped: v2 is free once its clip is gone, but hidden, so a new track appears.
  ASSERT_EQ(e.doc.timeline.tracks[3].id, s.v2);
  e.push(std::make_unique<RemoveClip>(e.doc.timeline.tracks[3].clips.at(0).id));
  e.push(std::make_unique<SetTrackSettings>(s.v2, TrackSettings{std::nullopt, true, false}));
  req.media.path = "renders/take3.mp4";
  req.source = FrameRange{0, 10};
  auto& take3 = e.push(std::make_unique<AddTake>(req));
  EXPECT_EQ(e.doc.timeline.tracks.size(), 5u);
  EXPECT_EQ(e.doc.locate_clip(take3.clip_id())->track, 1u);
  EXPECT_EQ(e.clip(take3.clip_id()).duration(), 10);
  // A take of a clip that vanished is refused cleanly.
  req.source_clip_id = "clip-404";
  expect_refused(e, std::make_unique<AddTake>(req), "clip-404");
}

// --- the checker itself must catch broken documents ---------------------------------------------------------

namespace {
bool mentions(const std::vector<std::string>& problems, const std::string& part) {
  for (const auto& p : problems)
    if (p.find(part) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(Invariants, CatchEachKindOfDamage) {
  Scene s;
  const Project good = s.e.doc;
  ASSERT_TRUE(check_invariants(good).empty()) << mf::project::testing::join(check_invariants(good));
  auto broken = [&](auto edit, const std::string& part) {
    Project p = good;
    edit(p);
    const auto problems = check_invariants(p);
    EXPECT_TRUE(mentions(problems, part)) << "expected '" << part << "', got:\n" << mf::project::testing::join(problems);
  };
  broken([](Project& p) { p.timeline.tracks[0].clips[1].timeline_start = 20; }, "overlaps");
  broken([](Project& p) { std::swap(p.timeline.tracks[0].clips[0], p.timeline.tracks[0].clips[1]); }, "not sorted");
  broken([](Project& p) { p.timeline.tracks[0].clips[0].source_out = 101; }, "leaves the media");
  broken([](Project& p) { p.timeline.tracks[0].clips[0].source_in = 40; }, "empty or reversed");
  broken([](Project& p) { p.timeline.tracks[1].id = p.timeline.tracks[0].id; }, "already used");
  broken([](Project& p) { p.timeline.tracks[0].clips[0].media_id = "nope"; }, "missing media");
  broken([](Project& p) { p.next_id = 2; }, "next_id");
  broken([](Project& p) { p.media[0].path = "../x.mp4"; }, "relative");
  broken([](Project& p) { p.timeline.in_out = FrameRange{9, 3}; }, "in/out");
  broken([](Project& p) { p.timeline.mask_tracks.push_back(MaskTrack{"mask-1", "", "clip-999", {}, {}, {}}); },
         "missing clip");
  broken([](Project& p) { p.timeline.keyframes.first_frame = FrameMark{p.timeline.tracks[0].clips[0].id, 5}; },
         "outside clip");
  broken([](Project& p) { p.timeline.keyframes.last_clip = ClipRangeMark{"clip-999", {0, 1}}; }, "missing clip");
  broken([](Project& p) { p.references.push_back(ReferenceItem{"ref-2", "media-999", ""}); }, "missing media");
  broken(
      [](Project& p) {
        MaskTrack m{"mask-3", "", p.timeline.tracks[0].clips[0].id, MaskInterpolation::Hold, {}, {}};
        m.keyframes = {{5, "masks/a.png"}, {5, "masks/b.png"}};
        m.holds = {{0, 10}, {8, 12}};
        p.timeline.mask_tracks.push_back(m);
      },
      "not strictly after");
  broken(
      [](Project& p) {
        MaskTrack m{"mask-3", "", p.timeline.tracks[0].clips[0].id, MaskInterpolation::Hold, {}, {}};
        m.holds = {{0, 10}, {8, 12}};
        p.timeline.mask_tracks.push_back(m);
      },
      "overlaps or precedes");
  broken([](Project& p) { p.fps = Rational(-24); }, "fps");
}

TEST(Invariants, ProjectRelativePaths) {
  EXPECT_TRUE(is_project_relative_path("media/a.mp4"));
  EXPECT_TRUE(is_project_relative_path("masks/mask-3/f000012-1.png"));
  for (const char* bad : {"", "/abs", "a/../b", "./a", "a//b", "a\\b", "C:/x", "a/"})
    EXPECT_FALSE(is_project_relative_path(bad)) << bad;
}

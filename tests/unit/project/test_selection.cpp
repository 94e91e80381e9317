// Timeline queries, snapping, mask sampling and selection -> task inputs.
#include <gtest/gtest.h>

#include "mf/core/error.h"
#include "mf/project/selection.h"
#include "mf/project/snapping.h"
#include "project_test_util.h"

using namespace mf::project;
using mf::project::testing::Editor;

namespace {
struct Timeline2 {
  Editor e;
  std::string media, still, v1, v2, a, b, c;
  Timeline2() {
    media = e.add_video("media/a.mp4", 200, {832, 480});
    still = e.add_image("media/still.png");
    v1 = e.add_track("V1");
    v2 = e.add_track("V2");
    a = e.add_clip(v1, media, {0, 50}, 0);      // [0, 50)
    b = e.add_clip(v1, media, {100, 150}, 60);  // [60, 110)
    c = e.add_clip(v2, media, {20, 30}, 40);    // [40, 50) on top
  }
};
}  // namespace

TEST(Timeline, ClipAtAndFreeRanges) {
  Timeline2 t;
  const Track& v1 = *t.e.doc.find_track(t.v1);
  EXPECT_EQ(clip_at(v1, 0)->id, t.a);
  EXPECT_EQ(clip_at(v1, 49)->id, t.a);
  EXPECT_EQ(clip_at(v1, 50), nullptr);
  EXPECT_EQ(clip_at(v1, 60)->id, t.b);
  EXPECT_EQ(clip_at(v1, 110), nullptr);
  EXPECT_EQ(top_clip_at(t.e.doc, 45)->id, t.c);
  EXPECT_EQ(top_clip_at(t.e.doc, 30)->id, t.a);
  t.e.push(std::make_unique<SetTrackSettings>(t.v2, TrackSettings{std::nullopt, true, std::nullopt}));
  EXPECT_EQ(top_clip_at(t.e.doc, 45)->id, t.a);  // hidden tracks do not count
  EXPECT_TRUE(is_range_free(v1, {50, 60}));
  EXPECT_FALSE(is_range_free(v1, {49, 60}));
  EXPECT_TRUE(is_range_free(v1, {0, 50}, t.a));
  EXPECT_FALSE(is_range_free(v1, {-1, 0}));
  EXPECT_EQ(t.e.doc.timeline.end_frame(), 110);
}

TEST(Snapping, FramesSnapToNearestTargetWithinTolerance) {
  Timeline2 t;
  t.e.push(std::make_unique<AddMarker>(80, "beat"));
  t.e.push(std::make_unique<SetInOut>(FrameRange{5, 120}));
  SnapOptions o;
  o.tolerance = 3;
  o.playhead = 70;
  auto r = snap_frame(t.e.doc, 58, o);
  EXPECT_TRUE(r.snapped);
  EXPECT_EQ(r.frame, 60);
  EXPECT_EQ(r.target.kind, SnapKind::ClipStart);
  EXPECT_EQ(r.target.id, t.b);
  r = snap_frame(t.e.doc, 72, o);
  EXPECT_EQ(r.frame, 70);
  EXPECT_EQ(r.target.kind, SnapKind::Playhead);
  r = snap_frame(t.e.doc, 82, o);
  EXPECT_EQ(r.target.kind, SnapKind::Marker);
  r = snap_frame(t.e.doc, 118, o);
  EXPECT_EQ(r.target.kind, SnapKind::Out);
  r = snap_frame(t.e.doc, 95, o);
  EXPECT_FALSE(r.snapped);
  EXPECT_EQ(r.frame, 95);
  o.markers = false;
  EXPECT_FALSE(snap_frame(t.e.doc, 82, o).snapped);
  const auto targets = snap_targets(t.e.doc, o);
  EXPECT_TRUE(std::is_sorted(targets.begin(), targets.end(),
                             [](const SnapTarget& x, const SnapTarget& y) { return x.frame < y.frame; }));
}

TEST(Snapping, ClipMoveSnapsEitherEdgeAndIgnoresItself) {
  Timeline2 t;
  SnapOptions o;
  o.tolerance = 4;
  // Dragging c (10 long): its start near a's end (50) snaps the start...
  auto r = snap_clip_start(t.e.doc, t.c, 52, o);
  EXPECT_TRUE(r.snapped);
  EXPECT_EQ(r.frame, 50);
  // ...and its end near b's start (60) snaps the end: start = 60 - 10.
  r = snap_clip_start(t.e.doc, t.c, 48, o);
  EXPECT_EQ(r.frame, 50);
  r = snap_clip_start(t.e.doc, t.c, 57, o);  // end 67: nothing near; start 57 -> b's start 60
  EXPECT_EQ(r.frame, 60);
  // c's own edges (40, 50) are not targets when dragging c: 41 would otherwise stick to 40.
  o.clip_edges = true;
  r = snap_clip_start(t.e.doc, t.c, 43, o);
  EXPECT_NE(r.target.id, t.c);
  EXPECT_THROW(snap_clip_start(t.e.doc, "clip-404", 0, o), mf::Error);
}

TEST(Masks, SampleFollowsModeAndHolds) {
  MaskTrack m;
  m.keyframes = {{10, "masks/k10.png"}, {20, "masks/k20.png"}};
  m.interpolation = MaskInterpolation::Flow;
  auto s = sample_mask(m, 10);
  EXPECT_EQ(s.kind, MaskSampleKind::Painted);
  EXPECT_EQ(s.path, "masks/k10.png");
  s = sample_mask(m, 15);
  EXPECT_EQ(s.kind, MaskSampleKind::Interpolated);
  EXPECT_EQ(s.path_b, "masks/k20.png");
  EXPECT_DOUBLE_EQ(s.t, 0.5);
  EXPECT_EQ(sample_mask(m, 5).kind, MaskSampleKind::Held);  // before the first: held backward
  EXPECT_EQ(sample_mask(m, 5).frame_a, 10);
  EXPECT_EQ(sample_mask(m, 25).frame_a, 20);
  // A hold range stops interpolation inside it.
  m.holds = {{12, 18}};
  s = sample_mask(m, 15);
  EXPECT_EQ(s.kind, MaskSampleKind::Held);
  EXPECT_EQ(s.frame_a, 10);
  EXPECT_EQ(sample_mask(m, 19).kind, MaskSampleKind::Interpolated);
  m.interpolation = MaskInterpolation::Hold;
  EXPECT_EQ(sample_mask(m, 19).frame_a, 10);
  m.interpolation = MaskInterpolation::None;
  EXPECT_EQ(sample_mask(m, 19).kind, MaskSampleKind::None);
  EXPECT_EQ(sample_mask(m, 15).kind, MaskSampleKind::Held);  // holds apply in every mode
  // Before any painted frame, a hold range holds the first painted mask inside it.
  m.holds = {{0, 12}};
  EXPECT_EQ(sample_mask(m, 3).frame_a, 10);
  MaskTrack empty;
  EXPECT_EQ(sample_mask(empty, 3).kind, MaskSampleKind::None);
}

TEST(Selection, ClipSpanMasksAndPlayhead) {
  Timeline2 t;
  const std::string mask = t.e.push(std::make_unique<AddMaskTrack>(t.b, "sky")).mask_track_id();
  t.e.push(std::make_unique<SetMaskKeyframe>(mask, 110, "masks/sky/a.png"));
  Selection sel;
  sel.clip_ids = {t.b};
  sel.range = FrameRange{70, 80};
  sel.playhead = 45;
  const TaskInputs in = gather_task_inputs(t.e.doc, sel);
  ASSERT_TRUE(in.clip);
  EXPECT_EQ(in.clip->timeline, (FrameRange{70, 80}));
  EXPECT_EQ(in.clip->source, (FrameRange{110, 120}));
  EXPECT_EQ(in.clip->media_path, "media/a.mp4");
  EXPECT_EQ(in.clip->size.width, 832);
  EXPECT_EQ(*in.range, (FrameRange{70, 80}));
  EXPECT_EQ(in.duration_seconds(), Rational(10, 24));
  ASSERT_TRUE(in.mask);
  EXPECT_EQ(in.mask->mask_track_id, mask);
  ASSERT_EQ(in.mask->frames.size(), 10u);
  EXPECT_EQ(in.mask->frames[0].sample.kind, MaskSampleKind::Painted);
  EXPECT_EQ(in.mask->frames[5].sample.kind, MaskSampleKind::Held);
  EXPECT_EQ(in.mask->frames[5].source_frame, 115);
  ASSERT_TRUE(in.playhead_frame);
  EXPECT_EQ(in.playhead_frame->clip_id, t.c);
  EXPECT_EQ(in.playhead_frame->source_frame, 25);
  EXPECT_EQ(in.clip->tail(8).source, (FrameRange{112, 120}));
  EXPECT_EQ(in.clip->head(3).timeline, (FrameRange{70, 73}));
  EXPECT_EQ(in.clip->head(99).frame_count(), 10);
}

TEST(Selection, MarksStillsAndTwoClips) {
  Timeline2 t;
  t.e.push(std::make_unique<SetFrameMark>(MarkSlot::First, FrameMark{t.a, 49}));
  t.e.push(std::make_unique<SetFrameMark>(MarkSlot::Last, FrameMark{t.b, 100}));
  t.e.push(std::make_unique<AddStillKeyframe>(t.still, 55));
  t.e.push(std::make_unique<AddReference>(t.still, "look"));
  Selection sel;
  sel.clip_ids = {t.b, t.a};  // selected right-to-left
  TaskInputs in = gather_task_inputs(t.e.doc, sel);
  ASSERT_TRUE(in.first_frame && in.last_frame);
  EXPECT_EQ(in.first_frame->timeline_frame, 49);
  EXPECT_EQ(in.last_frame->timeline_frame, 60);
  EXPECT_EQ(in.first_frame->media_path, "media/a.mp4");
  // Two selected clips become first/last clip in timeline order.
  ASSERT_TRUE(in.first_clip && in.last_clip);
  EXPECT_EQ(in.first_clip->clip_id, t.a);
  EXPECT_EQ(in.last_clip->clip_id, t.b);
  EXPECT_EQ(in.clip->clip_id, t.b);
  EXPECT_EQ(in.second_clip->clip_id, t.a);
  ASSERT_EQ(in.reference_paths.size(), 1u);
  EXPECT_EQ(in.reference_paths[0], "media/still.png");
  EXPECT_TRUE(in.notes.empty());

  // Explicit clip marks win over the selection order.
  t.e.push(std::make_unique<SetClipMark>(MarkSlot::First, ClipRangeMark{t.b, {140, 150}}));
  t.e.push(std::make_unique<SetClipMark>(MarkSlot::Last, ClipRangeMark{t.a, {0, 8}}));
  in = gather_task_inputs(t.e.doc, sel);
  EXPECT_EQ(in.first_clip->timeline, (FrameRange{100, 110}));
  EXPECT_EQ(in.last_clip->source, (FrameRange{0, 8}));

  // Without marks, a still keyframe at the start of the range becomes the first frame (i2v).
  t.e.push(std::make_unique<SetFrameMark>(MarkSlot::First, std::nullopt));
  Selection range_only;
  range_only.range = FrameRange{55, 81};
  in = gather_task_inputs(t.e.doc, range_only);
  ASSERT_TRUE(in.first_frame);
  EXPECT_TRUE(in.first_frame->clip_id.empty());
  EXPECT_EQ(in.first_frame->media_path, "media/still.png");
  EXPECT_EQ(in.stills.size(), 1u);
  EXPECT_EQ(in.duration_seconds(), Rational(26, 24));
  // The last frame mark (timeline 60) is after the first (55): no complaint.
  EXPECT_TRUE(in.notes.empty());
}

TEST(Selection, ReportsWhatCannotBeResolved) {
  Timeline2 t;
  t.e.push(std::make_unique<SetFrameMark>(MarkSlot::First, FrameMark{t.b, 120}));  // timeline 80
  t.e.push(std::make_unique<SetFrameMark>(MarkSlot::Last, FrameMark{t.a, 10}));    // timeline 10
  Selection sel;
  sel.clip_ids = {"clip-404", t.a};
  sel.range = FrameRange{60, 70};  // a lies outside
  sel.mask_track_id = "mask-404";
  const TaskInputs in = gather_task_inputs(t.e.doc, sel);
  EXPECT_FALSE(in.clip);
  EXPECT_EQ(in.notes.size(), 4u) << mf::project::testing::join(in.notes);
  // No selection at all: the in/out range is used.
  t.e.push(std::make_unique<SetInOut>(FrameRange{0, 49}));
  const TaskInputs none = gather_task_inputs(t.e.doc, Selection{});
  EXPECT_EQ(*none.range, (FrameRange{0, 49}));
  EXPECT_EQ(none.resolution, t.e.doc.resolution);
}

TEST(Selection, FrameMarkAtTopClip) {
  Timeline2 t;
  auto m = frame_mark_at(t.e.doc, 42);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->clip_id, t.c);
  EXPECT_EQ(m->source_frame, 22);
  EXPECT_FALSE(frame_mark_at(t.e.doc, 55));
  // The mark it returns is accepted by SetFrameMark as is.
  t.e.push(std::make_unique<SetFrameMark>(MarkSlot::First, *m));
}

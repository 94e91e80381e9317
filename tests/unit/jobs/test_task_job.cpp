// Jobs for every task from a timeline selection: the inspector's form facts, which inputs a task takes and what is
// missing, the files export_task_job writes (frames, clips, masks incl. flow-propagated ones) and the TaskSpec.
#include <gtest/gtest.h>

#include <set>

#include "mf/core/error.h"
#include "mf/jobs/clip_job.h"
#include "mf/jobs/task_job.h"
#include "mf/media/mask.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"
#include "mf/project/commands.h"
#include "mf/project/session.h"
#include "jobs_test_util.h"

namespace mf::jobs {
namespace {

using namespace mf::jobs::test;
namespace fs = std::filesystem;
namespace proj = mf::project;
using mf::tasks::TaskId;

TaskJobRequest with_prompt(const std::string& p) {
  TaskJobRequest q;
  q.prompt = p;
  return q;
}
TaskJobRequest with_max_frames(int n) {
  TaskJobRequest q;
  q.max_frames = n;
  return q;
}

double mean_in(const media::Image& m, int x0, int x1, int y0, int y1) {
  double s = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) s += m.at(x, y)[0];
  return s / ((x1 - x0) * (y1 - y0));
}

TEST(TaskForm, MatchesTheTaskFacts) {
  for (TaskId t : mf::tasks::all_tasks()) {
    const auto& f = mf::tasks::task_facts(t);
    const TaskForm form = task_form(t);
    EXPECT_EQ(static_cast<int>(form.inputs.size()), f.num_inputs) << f.key;
    EXPECT_EQ(form.mask, f.mask) << f.key;
    EXPECT_EQ(form.frames == TaskForm::Frames::Single, f.image_output) << f.key;
    EXPECT_EQ(form.upscale, t == TaskId::ISR) << f.key;
    EXPECT_FALSE(form.hint.empty()) << f.key;
  }
  EXPECT_EQ(task_form(TaskId::T2V).frames, TaskForm::Frames::Choose);
  EXPECT_EQ(task_form(TaskId::T2V).default_frames, 0);
  for (TaskId t : {TaskId::I2V, TaskId::ITrans, TaskId::VExd, TaskId::VTrans}) {
    EXPECT_EQ(task_form(t).frames, TaskForm::Frames::Choose);  // a chosen length, the official 97 to start
    EXPECT_EQ(task_form(t).default_frames, 97);
  }
  EXPECT_EQ(task_form(TaskId::VInp).frames, TaskForm::Frames::FromClip);
  EXPECT_EQ(task_form(TaskId::T2V).size, TaskForm::Size::Choose);
  EXPECT_EQ(task_form(TaskId::VSR).size, TaskForm::Size::FromInput);
}

TEST(ResolveInputs, SaysWhatIsMissingForEveryTask) {
  Fixture fx;
  const proj::TaskInputs none = fx.inputs({});
  EXPECT_TRUE(resolve_task_inputs(TaskId::T2V, none).ready());
  EXPECT_TRUE(resolve_task_inputs(TaskId::T2I, none).ready());
  for (TaskId t : mf::tasks::all_tasks()) {
    if (t == TaskId::T2V || t == TaskId::T2I) continue;
    const ResolvedInputs r = resolve_task_inputs(t, none);
    EXPECT_FALSE(r.ready()) << mf::tasks::to_string(t);
  }
  EXPECT_EQ(resolve_task_inputs(TaskId::ITrans, none).missing.size(), 2u);
  EXPECT_EQ(resolve_task_inputs(TaskId::VTrans, none).missing.size(), 2u);

  // One clip: the clip tasks without masks are ready, the mask tasks say to paint.
  const proj::TaskInputs one = fx.inputs({fx.clip_id}, 4);
  for (TaskId t : {TaskId::VExd, TaskId::VColor, TaskId::VSR, TaskId::VEdit, TaskId::ISR, TaskId::IColor, TaskId::I2V})
    EXPECT_TRUE(resolve_task_inputs(t, one).ready()) << mf::tasks::to_string(t);
  for (TaskId t : {TaskId::VInp, TaskId::VOutp, TaskId::IInp, TaskId::IOutp}) {
    const ResolvedInputs r = resolve_task_inputs(t, one);
    ASSERT_EQ(r.missing.size(), 1u) << mf::tasks::to_string(t);
    EXPECT_NE(r.missing[0].find("mask brush (B)"), std::string::npos) << r.missing[0];
  }
  const ResolvedInputs i2v = resolve_task_inputs(TaskId::I2V, one);
  ASSERT_EQ(i2v.images.size(), 1u);
  EXPECT_EQ(i2v.images[0].source_frame, 4);  // the playhead frame, with a note that no mark was set
  EXPECT_FALSE(i2v.notes.empty());

  // Two selected clips give vtrans its first and last clip in timeline order.
  const ResolvedInputs vt = resolve_task_inputs(TaskId::VTrans, fx.inputs({fx.clip2_id, fx.clip_id}));
  ASSERT_TRUE(vt.ready());
  EXPECT_EQ(vt.clips[0].clip_id, fx.clip_id);
  EXPECT_EQ(vt.clips[1].clip_id, fx.clip2_id);

  // A still image on the timeline is not a clip for the video tasks.
  const std::string still_clip = fx.add_clip(fx.still_id, {0, 1}, 40, "still");
  const ResolvedInputs vs = resolve_task_inputs(TaskId::VSR, fx.inputs({still_clip}));
  ASSERT_EQ(vs.missing.size(), 1u);
  EXPECT_NE(vs.missing[0].find("still image"), std::string::npos) << vs.missing[0];
}

TEST(ExportTaskJob, ITransWritesBothMarkedFramesExactly) {
  Fixture fx;
  fx.session->push(std::make_unique<proj::SetFrameMark>(proj::MarkSlot::First, proj::FrameMark{fx.clip_id, 2}));
  fx.session->push(std::make_unique<proj::SetFrameMark>(proj::MarkSlot::Last, proj::FrameMark{fx.clip2_id, 9}));
  const TaskJob job = fx.run(TaskId::ITrans, fx.inputs({}), with_prompt("the square moves"));
  ASSERT_EQ(job.spec.images.size(), 2u);
  EXPECT_EQ(media::max_abs_diff(media::read_image(job.spec.images[0]), source_frame(2)), 0);
  EXPECT_EQ(media::max_abs_diff(media::read_image(job.spec.images[1]), source_frame(9)), 0);
  EXPECT_EQ(job.spec.num_frames, 97);
  EXPECT_EQ(job.spec.width, 96);
  EXPECT_EQ(job.spec.height, 64);
  EXPECT_EQ(job.spec.crop, mf::tasks::CropMode::KeepRes);
  EXPECT_EQ(job.spec.prompt, "the square moves");
  EXPECT_EQ(job.source_clip_id, fx.clip_id);
  EXPECT_FALSE(mf::tasks::has_errors(mf::tasks::validate(job.spec)));
  EXPECT_EQ(job.output.parent_path(), fx.session->folder() / "renders");
}

TEST(ExportTaskJob, VideoInpaintingPropagatesMasksAlongTheFlow) {
  Fixture fx;
  fx.paint(0, square_mask(0));
  const std::string track = fx.paint(12, square_mask(12));
  fx.session->push(std::make_unique<proj::SetMaskInterpolation>(track, proj::MaskInterpolation::Flow));
  const TaskJob job = fx.run(TaskId::VInp, fx.inputs({fx.clip_id}), with_max_frames(13));
  ASSERT_EQ(job.spec.clips.size(), 1u);
  EXPECT_EQ(job.spec.num_frames, 13);
  const auto masks = media::read_mask_video(job.spec.mask);
  ASSERT_EQ(masks.size(), 13u);
  // Frame 6: the square is at x 30..50; the painted masks of frames 0 and 12 cover x 10..34 and 46..70.
  const media::Image& m6 = masks[6];
  EXPECT_LT(mean_in(m6, square_x(6) + 2, square_x(6) + 18, 24, 40), 40.0) << "the moving square is regenerated";
  EXPECT_GT(mean_in(m6, 0, 8, 0, kH), 215.0) << "far from the square everything is kept";
  EXPECT_GT(mean_in(m6, square_x(0) - 2, square_x(0) + 6, 24, 40), 200.0) << "frame 0's position is not held";
  // The painted frames keep their own masks.
  EXPECT_LT(mean_in(masks[0], square_x(0), square_x(0) + 20, 22, 42), 10.0);
  EXPECT_LT(mean_in(masks[12], square_x(12), square_x(12) + 20, 22, 42), 10.0);

  // Hold (the default) keeps frame 0's mask until frame 12.
  fx.session->push(std::make_unique<proj::SetMaskInterpolation>(track, proj::MaskInterpolation::Hold));
  const auto held = media::read_mask_video(fx.run(TaskId::VInp, fx.inputs({fx.clip_id}), with_max_frames(13)).spec.mask);
  EXPECT_LT(mean_in(held[6], square_x(0), square_x(0) + 20, 22, 42), 10.0);
}

TEST(ExportTaskJob, ImageInpaintingUsesTheMaskOnThePlayheadFrame) {
  Fixture fx;
  fx.paint(4, square_mask(4));
  // Playhead on timeline frame 4 of the first clip: the painted frame.
  const TaskJob job = fx.run(TaskId::IInp, fx.inputs({fx.clip_id}, 4));
  ASSERT_EQ(job.spec.images.size(), 1u);
  EXPECT_EQ(media::max_abs_diff(media::read_image(job.spec.images[0]), source_frame(4)), 0);
  const media::Image mask = media::read_image(job.spec.mask, media::PixelFormat::Gray8);
  EXPECT_EQ(media::max_abs_diff(mask, square_mask(4)), 0);
  EXPECT_EQ(job.spec.num_frames, 1);
  EXPECT_FALSE(mf::tasks::has_errors(mf::tasks::validate(job.spec)));
}

TEST(ExportTaskJob, GenerationSettingsStylePresetAndBox) {
  Fixture fx;
  mf::tasks::StylePreset style;
  style.name = "Film";
  style.prompt_template = "{prompt}, film grain";
  style.steps = 30;
  style.guidance_scale = 5.0;
  TaskJobRequest q;
  q.prompt = "a red circle";
  q.style = style;
  q.guidance = 2.5;  // explicit settings win over the preset's suggestions
  q.num_frames = 17;
  q.height = 350;
  q.width = 630;
  q.seed = 7;
  const TaskJob job = fx.run(TaskId::T2V, fx.inputs({}), q);
  EXPECT_TRUE(job.input_folder.empty());
  EXPECT_EQ(job.spec.prompt, "a red circle, film grain");
  EXPECT_EQ(job.spec.steps, 30);
  EXPECT_DOUBLE_EQ(job.spec.guidance_scale, 2.5);
  EXPECT_EQ(job.spec.num_frames, 17);
  EXPECT_EQ(job.spec.height, 352);
  EXPECT_EQ(job.spec.width, 624);
  EXPECT_EQ(job.spec.seed, std::optional<uint64_t>(7));
  EXPECT_EQ(job.spec.fps, (mf::tasks::Rational{16, 1}));  // the project's rate
  // A frame count that is not 4k+1 is refused with the validator's message.
  q.num_frames = 20;
  try {
    fx.run(TaskId::T2V, fx.inputs({}), q);
    FAIL() << "20 frames accepted";
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_frames"), std::string::npos) << e.what();
  }
}

TEST(ExportTaskJob, TransitionAndExtensionUseTheEndsOfTheClips) {
  Fixture fx;
  TaskJobRequest q;
  q.max_frames = 9;
  const TaskJob vt = fx.run(TaskId::VTrans, fx.inputs({fx.clip_id, fx.clip2_id}), q);
  ASSERT_EQ(vt.spec.clips.size(), 2u);
  const auto first = media::read_frames(vt.spec.clips[0]);
  const auto last = media::read_frames(vt.spec.clips[1]);
  ASSERT_EQ(first.size(), 9u);
  ASSERT_EQ(last.size(), 9u);
  EXPECT_EQ(media::max_abs_diff(first.back(), source_frame(12)), 0);  // the first clip's tail
  EXPECT_EQ(media::max_abs_diff(last.front(), source_frame(0)), 0);   // the last clip's head
  EXPECT_EQ(vt.spec.num_frames, 97);
  const TaskJob vx = fx.run(TaskId::VExd, fx.inputs({fx.clip_id}), q);
  const auto ext = media::read_frames(vx.spec.clips[0]);
  ASSERT_EQ(ext.size(), 9u);
  EXPECT_EQ(media::max_abs_diff(ext.front(), source_frame(4)), 0);
}

TEST(ExportTaskJob, MissingInputsAndBrokenFilesAreClearErrors) {
  Fixture fx;
  try {
    fx.run(TaskId::ITrans, fx.inputs({}));
    FAIL();
  } catch (const mf::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("first frame (F)"), std::string::npos) << m;
    EXPECT_NE(m.find("last frame (Shift+L)"), std::string::npos) << m;
  }
  fx.paint(0, media::Image::make(32, 32, 1));
  try {
    fx.run(TaskId::VInp, fx.inputs({fx.clip_id}));
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("32x32"), std::string::npos) << e.what();
  }
  fs::remove(fx.session->to_absolute(fx.session->document().find_media(fx.media_id)->path));
  try {
    fx.run(TaskId::VSR, fx.inputs({fx.clip_id}));
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("relink or re-import"), std::string::npos) << e.what();
  }
}

TEST(PreviewTaskSpec, MatchesTheExportedSpecButForPaths) {
  Fixture fx;
  fx.paint(0, square_mask(0));
  for (TaskId t : {TaskId::VInp, TaskId::VSR, TaskId::I2V, TaskId::ISR, TaskId::IInp, TaskId::VExd, TaskId::T2V}) {
    const proj::TaskInputs in = fx.inputs({fx.clip_id}, 0);
    TaskJobRequest q;
    q.task = t;
    q.max_frames = 9;
    q.prompt = "x";
    const ResolvedInputs r = resolve_task_inputs(t, in);
    ASSERT_TRUE(r.ready()) << mf::tasks::to_string(t);
    mf::tasks::TaskSpec preview = preview_task_spec(fx.session->document(), in, r, q);
    mf::tasks::TaskSpec exported = export_task_job(*fx.session, in, q).spec;
    EXPECT_EQ(preview.images.size(), exported.images.size());
    EXPECT_EQ(preview.clips.size(), exported.clips.size());
    EXPECT_EQ(preview.mask.empty(), exported.mask.empty()) << mf::tasks::to_string(t);
    preview.images = exported.images;
    preview.clips = exported.clips;
    preview.mask = exported.mask;
    EXPECT_EQ(mf::tasks::to_json_string(preview), mf::tasks::to_json_string(exported)) << mf::tasks::to_string(t);
  }
}

TEST(ExportClipJob, StillWorksAsBeforeThroughTheTaskJob) {
  Fixture fx;
  fx.paint(0, square_mask(0));
  ClipJobRequest r;
  r.clip_id = fx.clip_id;
  r.task = TaskId::VInp;
  r.max_frames = 12;  // rounded down to 9 (4k+1)
  const ClipJob job = export_clip_job(*fx.session, r);
  EXPECT_EQ(job.spec.num_frames, 9);
  EXPECT_EQ(job.source_clip_id, fx.clip_id);
  EXPECT_EQ(media::read_mask_video(job.spec.mask).size(), 9u);
  r.clip_id = "nope";
  EXPECT_THROW(export_clip_job(*fx.session, r), mf::Error);
}

}  // namespace
}  // namespace mf::jobs

// Geometry and frame plans (mfm-reference.md C.3, C.5, C.9) as pure functions.
#include <gtest/gtest.h>

#include <vector>

#include "mf/core/error.h"
#include "mf/tasks/condition.h"
#include "mf/tasks/geometry.h"

using namespace mf::tasks;

TEST(Geometry, PythonRoundIsHalfToEven) {
  EXPECT_EQ(python_round(2.5), 2);
  EXPECT_EQ(python_round(3.5), 4);
  EXPECT_EQ(python_round(42.6666), 43);
  EXPECT_EQ(python_round(-0.5), 0);
}

TEST(Geometry, LandscapeIntoDriverBox) {
  // 1920x1080 into 640x352: s = 352/1080, 625.8 -> 626 -> 624; letterbox 8 px left and right.
  const auto g = condition_geometry(TaskId::VEdit, {1920, 1080}, {640, 352}, CropMode::KeepRatio, 4);
  EXPECT_FALSE(g.swapped);
  EXPECT_EQ(g.fitted, (Size{624, 352}));
  EXPECT_EQ(g.canvas, (Size{640, 352}));
  EXPECT_EQ(g.offset_x, 8);
  EXPECT_EQ(g.offset_y, 0);
  EXPECT_TRUE(g.letterboxed());
  EXPECT_TRUE(g.output_resize.empty());
  const auto r = condition_geometry(TaskId::VEdit, {1920, 1080}, {640, 352}, CropMode::KeepRes, 4);
  EXPECT_EQ(r.canvas, (Size{624, 352}));
  EXPECT_EQ(r.offset_x, 0);
  EXPECT_FALSE(r.letterboxed());
}

TEST(Geometry, PortraitSwapsTheBoxUnlessKeepRatioH) {
  const auto g = condition_geometry(TaskId::I2V, {1080, 1920}, {640, 352}, CropMode::KeepRatio, 4);
  EXPECT_TRUE(g.swapped);
  EXPECT_EQ(g.box, (Size{352, 640}));
  EXPECT_EQ(g.fitted, (Size{352, 624}));
  EXPECT_EQ(g.offset_y, 8);
  const auto h = condition_geometry(TaskId::I2V, {1080, 1920}, {640, 352}, CropMode::KeepRatioH, 4);
  EXPECT_FALSE(h.swapped);
  EXPECT_EQ(h.fitted, (Size{192, 352}));  // 198 -> 192
  EXPECT_EQ(h.offset_x, 224);
  // A square input is not portrait.
  EXPECT_FALSE(condition_geometry(TaskId::I2V, {500, 500}, {640, 352}, CropMode::KeepRatio, 4).swapped);
}

TEST(Geometry, SuperResolutionAndColorizationSizes) {
  const auto isr = condition_geometry(TaskId::ISR, {300, 200}, {1280, 1280}, CropMode::KeepRatio, 4);
  EXPECT_EQ(isr.output_resize, (Size{1200, 800}));
  EXPECT_EQ(isr.fitted, (Size{1280, 848}));  // 853.3 -> 853 -> 848
  const auto vsr = condition_geometry(TaskId::VSR, {300, 200}, {640, 352}, CropMode::KeepRatio, 4);
  EXPECT_TRUE(vsr.output_resize.empty());  // vsr generates inside the box; upscale is unused
  const auto ic = condition_geometry(TaskId::IColor, {640, 480}, {1024, 1024}, CropMode::KeepRatio, 4);
  EXPECT_EQ(ic.pre_resize, (Size{1024, 1024}));
  EXPECT_EQ(ic.fitted, (Size{1024, 768}));
  EXPECT_EQ(ic.output_resize, (Size{640, 480}));
}

TEST(Geometry, ClearErrorsForImpossibleFits) {
  EXPECT_THROW(condition_geometry(TaskId::VEdit, {2000, 10}, {64, 48}, CropMode::KeepRatio, 4), mf::Error);
  EXPECT_THROW(condition_geometry(TaskId::VEdit, {0, 10}, {64, 48}, CropMode::KeepRatio, 4), mf::Error);
  // Letterbox into a box that is not a multiple of 16 can leave an odd border (PIL paste fails officially).
  EXPECT_THROW(condition_geometry(TaskId::VEdit, {100, 100}, {72, 41}, CropMode::KeepRatio, 4), mf::Error);
}

TEST(FramePlan, KnownFramesPerTask) {
  const auto i2v = plan_frames(TaskId::I2V, 97, 1);
  EXPECT_EQ(i2v.num_frames, 97);
  EXPECT_EQ(i2v.known, (std::vector<int>{0}));
  EXPECT_EQ(i2v.depth_frames, i2v.known);
  const auto it = plan_frames(TaskId::ITrans, 97, 1, 1);
  EXPECT_EQ(it.known, (std::vector<int>{0, 96}));
  EXPECT_EQ(it.input2_at, 96);
  const auto vexd = plan_frames(TaskId::VExd, 97, 30);
  EXPECT_EQ(vexd.known, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(vexd.input_first, 22);
  EXPECT_EQ(vexd.pre_frames, 22);
  const auto vt = plan_frames(TaskId::VTrans, 97, 21, 13);
  ASSERT_EQ(vt.known.size(), 16u);
  EXPECT_EQ(vt.known[8], 89);
  EXPECT_EQ(vt.known[15], 96);
  EXPECT_EQ(vt.post_frames, 5);
  // Another length for the generation tasks (a Manyfold option): the known frames move with it.
  const auto it17 = plan_frames(TaskId::ITrans, 17, 1, 1);
  EXPECT_EQ(it17.num_frames, 17);
  EXPECT_EQ(it17.known, (std::vector<int>{0, 16}));
  EXPECT_EQ(it17.input2_at, 16);
  const auto vexd17 = plan_frames(TaskId::VExd, 17, 8);
  EXPECT_EQ(vexd17.num_frames, 17);
  EXPECT_EQ(vexd17.known.size(), 8u);
  EXPECT_EQ(vexd17.pre_frames, 0);
  const auto vt33 = plan_frames(TaskId::VTrans, 33, 8, 8);
  EXPECT_EQ(vt33.known[8], 25);
  EXPECT_EQ(vt33.known[15], 32);
  EXPECT_THROW(plan_frames(TaskId::VExd, 5, 8), mf::Error);
  EXPECT_THROW(plan_frames(TaskId::ITrans, 16, 1, 1), mf::Error);
  EXPECT_EQ(plan_frames(TaskId::T2V, 49).num_frames, 49);
  EXPECT_TRUE(plan_frames(TaskId::T2V, 49).known.empty());
  EXPECT_EQ(plan_frames(TaskId::T2I, 97).num_frames, 1);
  const auto iinp = plan_frames(TaskId::IInp, 1, 1, 0, true);
  EXPECT_TRUE(iinp.mask_from_file);
  EXPECT_EQ(iinp.mask_frames_needed, 1);
  EXPECT_TRUE(plan_frames(TaskId::VSR, 97, 10).depth_frames.empty());
}

TEST(FramePlan, EditingTasksUseAFourKPlusOnePrefix) {
  EXPECT_EQ(plan_frames(TaskId::VInp, 17, 21, 0, true).num_frames, 17);
  EXPECT_EQ(plan_frames(TaskId::VInp, 17, 21, 0, true).mask_frames_needed, 17);
  EXPECT_EQ(plan_frames(TaskId::VEdit, 97, 21).num_frames, 21);
  EXPECT_EQ(plan_frames(TaskId::VEdit, 97, 20).num_frames, 17);
  EXPECT_EQ(plan_frames(TaskId::VEdit, 97, 1).num_frames, 1);
  EXPECT_EQ(plan_frames(TaskId::VColor, 97, 200).num_frames, 97);
}

TEST(FramePlan, ShortClipsAreRefused) {
  try {
    plan_frames(TaskId::VExd, 97, 5);
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("at least 8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(plan_frames(TaskId::VTrans, 97, 21, 3), mf::Error);
  EXPECT_THROW(plan_frames(TaskId::VEdit, 97, 0), mf::Error);
  EXPECT_NO_THROW(plan_frames(TaskId::VExd, 97, 8));
}

TEST(OutputFrames, DecodeRuleAndDrop3Policies) {
  EXPECT_EQ(latent_frames(97), 25);
  EXPECT_EQ(latent_frames(1), 1);
  EXPECT_EQ(latent_frames(5), 2);
  EXPECT_EQ(decoded_frames(1), 1);
  EXPECT_EQ(decoded_frames(25), 97);
  EXPECT_EQ(decoded_frames(3), 9);
  EXPECT_EQ(decoded_frames(2), 8);  // even latent count: the first latent frame is upsampled x4
  EXPECT_EQ(decoded_frames(4), 16);

  // t2v with 5 frames: 2 latents -> 8 decoded; both policies drop the 3 extra frames.
  const auto t5 = plan_frames(TaskId::T2V, 5);
  EXPECT_EQ(output_frames(t5, Drop3Policy::Driver).final_count, 5);
  EXPECT_EQ(output_frames(t5, Drop3Policy::EvenLatentOnly).final_count, 5);
  EXPECT_EQ(output_frames(t5, Drop3Policy::Never).final_count, 8);
  // t2v 97: nothing dropped.
  EXPECT_EQ(output_frames(plan_frames(TaskId::T2V, 97), Drop3Policy::Driver).final_count, 97);
  // vexd with 23 input frames: 15 + 97 = 112, a multiple of 4: the driver cuts 3 real input frames.
  const auto vexd = plan_frames(TaskId::VExd, 97, 23);
  const auto drv = output_frames(vexd, Drop3Policy::Driver);
  EXPECT_EQ(drv.with_inputs, 112);
  EXPECT_EQ(drv.dropped, 3);
  EXPECT_EQ(drv.dropped_at, 0);
  EXPECT_EQ(output_frames(vexd, Drop3Policy::EvenLatentOnly).final_count, 112);
  // Images: one frame in, one out.
  EXPECT_EQ(output_frames(plan_frames(TaskId::ISR, 1, 1), Drop3Policy::Driver).final_count, 1);
  EXPECT_TRUE(driver_writes_video(97));
  EXPECT_FALSE(driver_writes_video(9));
}

TEST(ConditionFrames, RefusesBadInputsWithClearErrors) {
  ConditionInputs in;
  in.clip1.assign(21, Image8(120, 80, 3, 100));
  // vinp without a mask.
  EXPECT_THROW(build_condition_frames(TaskId::VInp, in, {64, 48}, CropMode::KeepRes, 4, 17), mf::Error);
  // A mask of another size.
  in.mask.assign(21, Image8(60, 40, 1, 255));
  try {
    build_condition_frames(TaskId::VInp, in, {64, 48}, CropMode::KeepRes, 4, 17);
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("masks must have the input's size"), std::string::npos) << e.what();
  }
  // A mask video that is too short.
  in.mask.assign(9, Image8(120, 80, 1, 255));
  EXPECT_THROW(build_condition_frames(TaskId::VInp, in, {64, 48}, CropMode::KeepRes, 4, 17), mf::Error);
  // A video given to an image task.
  ConditionInputs img;
  img.clip1.assign(3, Image8(120, 80, 3));
  EXPECT_THROW(build_condition_frames(TaskId::ISR, img, {64, 64}, CropMode::KeepRes, 2, 1), mf::Error);
  // A mask for a generation task.
  ConditionInputs gen;
  gen.clip1.assign(1, Image8(120, 80, 3));
  gen.mask.assign(1, Image8(120, 80, 1));
  EXPECT_THROW(build_condition_frames(TaskId::I2V, gen, {64, 48}, CropMode::KeepRes, 4, 97), mf::Error);
  // Text tasks: all-zero condition of the requested size.
  const auto t2v = build_condition_frames(TaskId::T2V, {}, {64, 48}, CropMode::KeepRatio, 4, 9);
  EXPECT_EQ(t2v.num_frames(), 9);
  EXPECT_EQ(t2v.width(), 64);
  std::vector<float> pv(4 * 9 * 48 * 64, 1.0f), m(9 * 48 * 64, 1.0f);
  condition_to_float(t2v, ConditionPrecision::Float32, pv.data(), m.data());
  for (float v : pv) ASSERT_EQ(v, 0.0f);
  for (float v : m) ASSERT_EQ(v, 0.0f);
}

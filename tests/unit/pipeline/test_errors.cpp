// Bad inputs and missing models give clear errors with the right mf::ErrorCode (the CLI maps them to exit codes).
#include <gtest/gtest.h>

#include <fstream>

#include "mf/core/error.h"
#include "pipeline_test_util.h"

using namespace mf::pipeline;
using namespace mf::pipeline::testing;
using mf::ErrorCode;
using mf::tasks::TaskId;

namespace {

fs::path dir() {
  static const fs::path d = [] {
    auto p = fs::temp_directory_path() / ("mf_pipeline_err_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

mf::tasks::TaskSpec video_spec(TaskId task) {
  auto s = mf::tasks::official_defaults(task);
  s.prompt = "fix it";
  s.width = 48;
  s.height = 32;
  s.num_frames = 5;
  s.steps = 1;
  s.seed = 1;
  return s;
}

// Runs prepare and returns the error (code + message); fails the test when nothing is thrown.
mf::Error prepare_error(Pipeline& p, const mf::tasks::TaskSpec& s) {
  try {
    p.prepare(s);
  } catch (const mf::Error& e) {
    return e;
  }
  ADD_FAILURE() << "prepare() did not throw";
  return mf::Error(ErrorCode::Internal, "");
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(BadInputs, MissingMaskForInpainting) {
  auto s = video_spec(TaskId::VInp);
  s.clips = {write_clip(dir() / "clip.mkv", make_frames(64, 48, 6))};
  const auto e = prepare_error(*shared_test_pipeline(), s);
  EXPECT_EQ(e.code(), ErrorCode::BadInput);
  EXPECT_TRUE(contains(e.what(), "mask")) << e.what();
}

TEST(BadInputs, MaskOfAnotherSize) {
  auto s = video_spec(TaskId::VInp);
  s.clips = {write_clip(dir() / "clip2.mkv", make_frames(64, 48, 6))};
  s.mask = write_clip(dir() / "mask_small.mkv", make_masks(32, 24, 6));
  const auto e = prepare_error(*shared_test_pipeline(), s);
  EXPECT_EQ(e.code(), ErrorCode::BadInput);
  EXPECT_TRUE(contains(e.what(), "32") && contains(e.what(), "64")) << e.what();
}

TEST(BadInputs, VideoWithZeroFrames) {
  const auto path = dir() / "empty.mkv";
  {
    mf::media::EncodeOptions o;
    o.codec = mf::media::Codec::Ffv1;
    mf::media::VideoWriter w(path, 32, 32, o);
    w.finish();
  }
  auto s = video_spec(TaskId::VSR);
  s.clips = {path.string()};
  const auto e = prepare_error(*shared_test_pipeline(), s);
  EXPECT_TRUE(e.code() == ErrorCode::BadInput || e.code() == ErrorCode::BadFile) << mf::to_string(e.code());
  EXPECT_TRUE(contains(e.what(), "empty.mkv")) << e.what();
}

TEST(BadInputs, CorruptVideo) {
  const auto path = dir() / "corrupt.mp4";
  std::ofstream(path) << "this is not a video file, only text pretending to be one";
  auto s = video_spec(TaskId::VEdit);
  s.clips = {path.string()};
  const auto e = prepare_error(*shared_test_pipeline(), s);
  EXPECT_EQ(e.code(), ErrorCode::BadFile);
  EXPECT_TRUE(contains(e.what(), "corrupt.mp4")) << e.what();
}

TEST(BadInputs, ImageForAVideoTask) {
  // By extension: caught by validation before any file is opened.
  auto s = video_spec(TaskId::VColor);
  const auto png = dir() / "still.png";
  mf::media::write_png(png, make_frames(64, 48, 1)[0]);
  s.clips = {png.string()};
  auto e = prepare_error(*shared_test_pipeline(), s);
  EXPECT_EQ(e.code(), ErrorCode::BadInput);
  EXPECT_TRUE(contains(e.what(), "needs a video")) << e.what();
  // A still image behind a video extension: caught when the file is probed.
  const auto disguised = dir() / "still_disguised.mp4";
  fs::copy_file(png, disguised, fs::copy_options::overwrite_existing);
  s.clips = {disguised.string()};
  e = prepare_error(*shared_test_pipeline(), s);
  EXPECT_EQ(e.code(), ErrorCode::BadInput);
  EXPECT_TRUE(contains(e.what(), "still image")) << e.what();
}

TEST(BadInputs, EveryValidationErrorAtOnce) {
  auto s = video_spec(TaskId::VInp);
  s.width = 50;       // not a multiple of 16
  s.num_frames = 6;   // not 4k+1
  s.clips = {"x.mkv"};  // and no mask
  const auto e = prepare_error(*shared_test_pipeline(), s);
  EXPECT_EQ(e.code(), ErrorCode::BadInput);
  EXPECT_TRUE(contains(e.what(), "width")) << e.what();
  EXPECT_TRUE(contains(e.what(), "num_frames")) << e.what();
  EXPECT_TRUE(contains(e.what(), "mask")) << e.what();
}

TEST(MissingModels, FolderAndComponents) {
  try {
    Pipeline::load((dir() / "no_such_model").string());
    ADD_FAILURE();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::MissingModel);
    EXPECT_TRUE(contains(e.what(), "no_such_model"));
  }
  // A copy of the test folder without vae/.
  const auto broken = dir() / "no_vae";
  fs::remove_all(broken);
  fs::copy(test_pipeline_dir(), broken, fs::copy_options::recursive);
  fs::remove_all(broken / "vae");
  try {
    Pipeline::load(broken.string());
    ADD_FAILURE();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::MissingModel);
    EXPECT_TRUE(contains(e.what(), "vae/")) << e.what();
  }
}

TEST(MissingModels, NoDepthModelFailsOnlyDepthTasks) {
  LoadOptions lo;
  lo.depth_model_dir = (dir() / "no_depth_here").string();
  auto pipe = Pipeline::load(test_pipeline_dir(), lo);
  auto s = video_spec(TaskId::T2V);
  EXPECT_NO_THROW(pipe->prepare(s));
  auto i2v = mf::tasks::official_defaults(TaskId::I2V);
  i2v.width = 48;
  i2v.height = 32;
  i2v.steps = 1;
  const auto png = dir() / "i2v.png";
  mf::media::write_png(png, make_frames(64, 48, 1)[0]);
  i2v.images = {png.string()};
  const auto e = prepare_error(*pipe, i2v);
  EXPECT_EQ(e.code(), ErrorCode::MissingModel);
  EXPECT_TRUE(contains(e.what(), "Depth-Anything")) << e.what();
  EXPECT_TRUE(contains(e.what(), "no_depth_here")) << e.what();
}

}  // namespace

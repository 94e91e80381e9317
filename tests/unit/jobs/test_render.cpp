// Export: the timeline (top visible clip per frame, gaps black, letterboxed into the output size) and single
// clips/takes rendered through the media layer with the recipe embedded; cancelling leaves no file.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "jobs_test_util.h"
#include "mf/core/error.h"
#include "mf/jobs/render.h"
#include "mf/media/metadata.h"

namespace mf::jobs {
namespace {

using namespace mf::jobs::test;

TEST(Render, TimelineFramesFollowTheTopClipWithBlackGaps) {
  Fixture fx;  // clip A at 0-13, clip B at 20-33 (both source 0-13); the project is 1280x720 by default
  RenderOptions o;
  o.codec = media::Codec::Ffv1;
  o.range = proj::FrameRange{10, 24};
  o.width = kW;
  o.height = kH;
  const fs::path out = fs::path(fx.tmp.str()) / "exports" / "cut.mkv";
  const RenderResult r = render(*fx.session, out, o);
  EXPECT_EQ(r.frames, 14);
  const auto frames = media::read_frames(out);
  ASSERT_EQ(frames.size(), 14u);
  EXPECT_EQ(media::max_abs_diff(frames[0], source_frame(10)), 0);  // timeline 10 = A's source 10
  EXPECT_EQ(media::max_abs_diff(frames[2], source_frame(12)), 0);
  EXPECT_EQ(media::max_abs_diff(frames[3], media::Image::make(kW, kH, 3)), 0);  // 13-19: nothing there
  EXPECT_EQ(media::max_abs_diff(frames[10], source_frame(0)), 0);  // timeline 20 = B's source 0
  const auto recipe = nlohmann::json::parse(*media::read_recipe(out));
  const auto& rr = recipe.at("manyfold_render");
  EXPECT_EQ(rr.at("range"), nlohmann::json({10, 24}));
  ASSERT_EQ(rr.at("clips").size(), 2u);
  EXPECT_EQ(rr.at("clips")[0].at("timeline_start"), 10);
  EXPECT_EQ(rr.at("clips")[0].at("timeline_end"), 13);
  EXPECT_EQ(rr.at("clips")[1].at("clip"), "again");
  EXPECT_FALSE(fs::exists(out.parent_path() / "cut.partial.mkv"));
}

TEST(Render, LetterboxesIntoTheOutputSizeAndUsesInOut) {
  Fixture fx;
  fx.session->push(std::make_unique<proj::SetInOut>(proj::FrameRange{2, 6}));
  RenderOptions o;
  o.codec = media::Codec::Ffv1;
  o.width = 192;
  o.height = 192;  // 96x64 fitted: 192x128, bars of 32 above and below
  const fs::path out = fs::path(fx.tmp.str()) / "square.mkv";
  render(*fx.session, out, o);
  const auto frames = media::read_frames(out);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].width, 192);
  EXPECT_EQ(frames[0].height, 192);
  EXPECT_EQ(frames[0].at(100, 10)[0], 0);   // bar
  EXPECT_EQ(frames[0].at(100, 180)[2], 0);  // bar
  EXPECT_GT(frames[0].at(10, 96)[2], 100);  // picture (the gradient's blue)
}

TEST(Render, ATakeCarriesItsJobRecipe) {
  Fixture fx;
  proj::TakeRequest take;
  take.source_clip_id = fx.clip_id;
  take.media = fx.session->document().media.front();
  take.media.id.clear();
  take.recipe = {{"task", "vinp"}, {"seed", 7}, {"prompt", "a square"}};
  fx.session->push(std::make_unique<proj::AddTake>(take));
  std::string take_id;
  for (const auto& t : fx.session->document().timeline.tracks)
    for (const auto& c : t.clips)
      if (!c.recipe.is_null()) take_id = c.id;
  ASSERT_FALSE(take_id.empty());
  RenderOptions o;
  o.clip_id = take_id;
  const fs::path out = fs::path(fx.tmp.str()) / "take.mp4";
  const RenderResult r = render(*fx.session, out, o);
  EXPECT_EQ(r.frames, kFrames);
  const auto recipe = nlohmann::json::parse(*media::read_recipe(out));
  EXPECT_EQ(recipe.at("seed"), 7);
  EXPECT_EQ(recipe.at("task"), "vinp");
  const auto info = media::probe(out);
  EXPECT_EQ(info.width, kW);
  EXPECT_EQ(info.frame_count, kFrames);
  // The take is on a track above its source: the timeline render shows it over the source.
  o.clip_id.clear();
  o.range = proj::FrameRange{0, 2};
  o.width = kW;
  o.height = kH;
  const RenderResult tl = render(*fx.session, fs::path(fx.tmp.str()) / "tl.mp4", o);
  EXPECT_EQ(tl.recipe.at("manyfold_render").at("clips")[0].at("recipe").at("seed"), 7);
}

TEST(Render, CancelLeavesNothingAndErrorsSayWhatToDo) {
  Fixture fx;
  const fs::path out = fs::path(fx.tmp.str()) / "cancelled.mp4";
  RenderOptions o;
  o.width = kW;
  o.height = kH;
  try {
    render(*fx.session, out, o, [](int64_t done, int64_t) { return done < 5; });
    FAIL() << "not cancelled";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Cancelled);
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(fs::path(fx.tmp.str()) / "cancelled.partial.mp4"));
  // An existing file survives a failed export.
  { std::ofstream(out) << "keep me"; }
  fs::remove(fx.session->to_absolute(fx.session->document().find_media(fx.media_id)->path));
  try {
    render(*fx.session, out, o);
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("relink or re-import"), std::string::npos) << e.what();
  }
  std::ifstream kept(out);
  std::string text;
  std::getline(kept, text);
  EXPECT_EQ(text, "keep me");
  o.range = proj::FrameRange{5, 5};
  EXPECT_THROW(render(*fx.session, out, o), mf::Error);
  o.range.reset();
  o.clip_id = "gone";
  EXPECT_THROW(render(*fx.session, out, o), mf::Error);
  EXPECT_THROW(render(*fx.session, fs::path(fx.tmp.str()) / "noext", RenderOptions{}), mf::Error);
}

TEST(Render, DefaultExtensions) {
  EXPECT_EQ(default_extension(media::Codec::H264), ".mp4");
  EXPECT_EQ(default_extension(media::Codec::Vp9), ".webm");
  EXPECT_EQ(default_extension(media::Codec::ProRes4444), ".mov");
  EXPECT_EQ(default_extension(media::Codec::Ffv1), ".mkv");
}

}  // namespace
}  // namespace mf::jobs

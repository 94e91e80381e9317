// The job recipe embedded in outputs (MP4/MOV/MKV/WebM comment tag, PNG tEXt/iTXt) and read back.
#include <nlohmann/json.hpp>

#include "media_test_util.h"
#include "mf/media/metadata.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"

namespace mf::media::test {
namespace {

nlohmann::json sample_recipe() {
  return {{"task", "t2v"}, {"prompt", "a red fox in snow"}, {"seed", 42}, {"steps", 30},
          {"model", {{"name", "mfm"}, {"version", "1.0"}}}, {"manyfold_version", "0.1.0"}};
}

TEST(MediaMetadata, RecipeRoundTripsThroughEveryContainer) {
  TempDir dir;
  const auto recipe = sample_recipe();
  struct C {
    Codec codec;
    const char* file;
  };
  for (const C& c : {C{Codec::H264, "r.mp4"}, C{Codec::H264, "r.mov"}, C{Codec::H265, "r.mkv"},
                     C{Codec::Vp9, "r.webm"}, C{Codec::ProRes422, "r_prores.mov"}, C{Codec::Mjpeg, "r.avi"}}) {
    EncodeOptions o;
    o.codec = c.codec;
    o.recipe_json = recipe.dump();
    write_video(dir / c.file, {pattern_frame(64, 48, 0), pattern_frame(64, 48, 1)}, o);
    auto back = read_recipe(dir / c.file);
    ASSERT_TRUE(back.has_value()) << c.file;
    EXPECT_EQ(nlohmann::json::parse(*back), recipe) << c.file;
    MediaInfo info = probe(dir / c.file);
    ASSERT_TRUE(info.recipe.has_value()) << c.file;
    EXPECT_EQ(nlohmann::json::parse(*info.recipe), recipe) << c.file;
  }
  // Files without a recipe say so.
  write_video(dir / "plain.mp4", {pattern_frame(64, 48, 0)});
  EXPECT_FALSE(read_recipe(dir / "plain.mp4").has_value());
}

TEST(MediaMetadata, LargeAndUnicodeRecipes) {
  TempDir dir;
  nlohmann::json big = sample_recipe();
  big["prompt"] = std::string(100000, 'x') + " \xC3\xA9t\xC3\xA9 \xE2\x9C\x93";  // UTF-8
  for (const char* name : {"big.mp4", "big.mov", "big.mkv"}) {
    EncodeOptions o;
    o.recipe_json = big.dump();
    write_video(dir / name, {pattern_frame(64, 48, 0)}, o);
    auto back = read_recipe(dir / name);
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(nlohmann::json::parse(*back), big) << name;
  }
  write_png(dir / "big.png", pattern_frame(64, 48, 0), big.dump());
  auto back = read_recipe(dir / "big.png");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(nlohmann::json::parse(*back), big);
  // Pixels are untouched by the extra chunk.
  EXPECT_EQ(max_abs_diff(read_image(dir / "big.png"), pattern_frame(64, 48, 0)), 0);
}

TEST(MediaMetadata, PngSingleAndSequence) {
  TempDir dir;
  const auto recipe = sample_recipe();
  write_png(dir / "one.png", pattern_frame(64, 48, 0), recipe.dump());
  const std::string bytes = read_bytes(dir / "one.png");
  auto t = png_text(bytes, kPngRecipeKeyword);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(nlohmann::json::parse(*t), recipe);
  EXPECT_NE(bytes.find("tEXt"), std::string::npos);  // ASCII JSON goes into a plain tEXt chunk

  EncodeOptions o;
  o.codec = Codec::Png;
  o.recipe_json = recipe.dump();
  VideoWriter w(dir / "seq", 64, 48, o);  // a folder: frame_00000.png ...
  for (int i = 0; i < 3; ++i) w.write(pattern_frame(64, 48, i));
  w.finish();
  ASSERT_EQ(w.outputs().size(), 3u);
  for (auto& f : w.outputs()) {
    auto r = read_recipe(f);
    ASSERT_TRUE(r.has_value()) << f;
    EXPECT_EQ(nlohmann::json::parse(*r), recipe);
  }
  EXPECT_EQ(probe(dir / "seq" / "frame_%05d.png").frame_count, 3);
}

TEST(MediaMetadata, WriteRecipeInPlace) {
  TempDir dir;
  std::vector<Image> src;
  for (int t = 0; t < 10; ++t) src.push_back(pattern_frame(64, 48, t));
  EncodeOptions o;
  o.rotation = 90;
  write_video(dir / "take.mp4", src, o);
  write_png(dir / "take.png", src[0]);
  const auto frames_before = read_frames(dir / "take.mp4");
  nlohmann::json r1 = sample_recipe(), r2 = sample_recipe();
  r2["seed"] = 7;
  for (const char* name : {"take.mp4", "take.png"}) {
    EXPECT_FALSE(read_recipe(dir / name).has_value());
    write_recipe(dir / name, r1.dump());
    EXPECT_EQ(nlohmann::json::parse(*read_recipe(dir / name)), r1) << name;
    write_recipe(dir / name, r2.dump());  // replaces, does not append
    EXPECT_EQ(nlohmann::json::parse(*read_recipe(dir / name)), r2) << name;
  }
  // Remuxing kept every frame bit-exact and the rotation.
  const auto frames_after = read_frames(dir / "take.mp4");
  ASSERT_EQ(frames_after.size(), frames_before.size());
  for (size_t i = 0; i < frames_after.size(); ++i) EXPECT_EQ(frames_after[i].data, frames_before[i].data);
  EXPECT_EQ(probe(dir / "take.mp4").rotation, 90);
  EXPECT_EQ(max_abs_diff(read_image(dir / "take.png"), src[0]), 0);
  EXPECT_TRUE(throws_mf([&] { write_recipe(dir / "take.mp4", "[oops"); }, {ErrorCode::BadInput}));
}

TEST(MediaMetadata, MisnamedFilesAreProbedByContent) {
  TempDir dir;
  // An MKV renamed to .png still gives its recipe; a text file renamed to .png is BadFile.
  EncodeOptions o;
  o.recipe_json = sample_recipe().dump();
  write_video(dir / "clip.mkv", {pattern_frame(64, 48, 0)}, o);
  fs::copy_file(dir / "clip.mkv", dir / "clip.png");
  auto r = read_recipe(dir / "clip.png");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(nlohmann::json::parse(*r), sample_recipe());
  write_bytes(dir / "text.png", "hello");
  EXPECT_TRUE(throws_mf([&] { read_recipe(dir / "text.png"); }, {ErrorCode::BadFile}));
}

TEST(MediaMetadata, ForeignCommentIsNotARecipe) {
  TempDir dir;
  write_video(dir / "c.mp4", {pattern_frame(64, 48, 0)});
  // A plain-text comment written by another tool is not mistaken for a recipe.
  const std::string png = read_bytes([&] {
    write_png(dir / "c.png", pattern_frame(64, 48, 0));
    return dir / "c.png";
  }());
  write_bytes(dir / "c2.png", png_with_text(png, "Comment", "made with another tool"));
  EXPECT_FALSE(read_recipe(dir / "c2.png").has_value());
  write_bytes(dir / "c3.png", png_with_text(png, "Comment", "{\"task\":\"t2v\"}"));
  EXPECT_TRUE(read_recipe(dir / "c3.png").has_value());
}

}  // namespace
}  // namespace mf::media::test

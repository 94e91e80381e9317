// Corrupt, truncated, zero-length and non-media files: a clear mf::Error (BadFile/BadInput), never a crash.
// Run under AddressSanitizer with the asan preset.
#include <random>

#include "media_test_util.h"
#include "mf/media/frame_cache.h"
#include "mf/media/metadata.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"

namespace mf::media::test {
namespace {

// Opens, decodes everything and seeks around. Returns "" when the file worked, else the error message.
// Anything other than mf::Error fails the test.
std::string exercise(const fs::path& p) {
  try {
    VideoReader r(p);
    DecodedFrame f;
    int64_t n = 0;
    while (r.read(f)) {
      EXPECT_EQ(f.image.width, r.width());
      ++n;
    }
    if (r.frame_count() > 0) {
      r.frame(r.frame_count() - 1);
      r.frame(0);
      r.frame(r.frame_count() / 2);
    }
    read_recipe(p);
    return "";
  } catch (const mf::Error& e) {
    EXPECT_TRUE(e.code() == ErrorCode::BadFile || e.code() == ErrorCode::BadInput ||
                e.code() == ErrorCode::Unsupported)
        << p << ": " << to_string(e.code()) << " " << e.what();
    EXPECT_NE(std::string(e.what()).find(p.filename().string()), std::string::npos)
        << "the message should name the file: " << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << p << ": escaped as a non-mf exception: " << e.what();
    return e.what();
  }
}

TEST(MediaRobustness, MissingEmptyAndNonMediaFiles) {
  TempDir dir;
  EXPECT_TRUE(throws_mf([&] { VideoReader r(dir / "nope.mp4"); }, {ErrorCode::BadInput}));
  EXPECT_TRUE(throws_mf([&] { VideoReader r(dir.path); }, {ErrorCode::BadInput}));
  write_bytes(dir / "empty.mp4", "");
  EXPECT_TRUE(throws_mf([&] { VideoReader r(dir / "empty.mp4"); }, {ErrorCode::BadFile}));
  EXPECT_TRUE(throws_mf([&] { read_recipe(dir / "empty.mp4"); }, {ErrorCode::BadFile}));
  write_bytes(dir / "empty.png", "");
  EXPECT_TRUE(throws_mf([&] { read_recipe(dir / "empty.png"); }, {ErrorCode::BadFile}));
  write_bytes(dir / "notes.mp4", "these are my notes, not a video\n");
  EXPECT_TRUE(throws_mf([&] { VideoReader r(dir / "notes.mp4"); }, {ErrorCode::BadFile}));
  write_bytes(dir / "notes.png", "these are my notes, not a picture\n");
  EXPECT_TRUE(throws_mf([&] { read_image(dir / "notes.png"); }, {ErrorCode::BadFile}));
  EXPECT_TRUE(throws_mf([&] { read_recipe(dir / "notes.png"); }, {ErrorCode::BadFile}));
  write_bytes(dir / "notes.txt", "plain text\n");
  EXPECT_TRUE(throws_mf([&] { probe(dir / "notes.txt"); }, {ErrorCode::BadFile}));
  std::mt19937 rng(5);
  std::string noise(4096, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  write_bytes(dir / "noise.mkv", noise);
  EXPECT_TRUE(throws_mf([&] { VideoReader r(dir / "noise.mkv"); }, {ErrorCode::BadFile}));
  // Audio only: no video stream.
  write_wav(dir / "tone.wav", 0.2);
  EXPECT_TRUE(throws_mf([&] { VideoReader r(dir / "tone.wav"); }, {ErrorCode::BadInput}));
  EXPECT_TRUE(throws_mf([&] { FrameCache c(dir / "empty.mp4"); }, {ErrorCode::BadFile}));
}

TEST(MediaRobustness, TruncatedFiles) {
  TempDir dir;
  std::vector<Image> src;
  for (int t = 0; t < 30; ++t) src.push_back(pattern_frame(64, 48, t));
  struct C {
    Codec codec;
    const char* file;
  };
  for (const C& c : {C{Codec::H264, "t.mp4"}, C{Codec::H264, "t.mkv"}, C{Codec::Vp9, "t.webm"},
                     C{Codec::ProRes422, "t.mov"}, C{Codec::Mjpeg, "t.avi"}, C{Codec::Gif, "t.gif"}}) {
    EncodeOptions o;
    o.codec = c.codec;
    o.gop = 10;
    write_video(dir / c.file, src, o);
    const std::string full = read_bytes(dir / c.file);
    for (double frac : {0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99}) {
      const fs::path cut = dir / (std::to_string(int(frac * 100)) + "_" + c.file);
      write_bytes(cut, full.substr(0, static_cast<size_t>(full.size() * frac)));
      exercise(cut);
    }
  }
  // MP4 without its index (moov at the end, cut off) cannot be read at all: BadFile, naming the file.
  const std::string mp4 = read_bytes(dir / "t.mp4");
  write_bytes(dir / "half.mp4", mp4.substr(0, mp4.size() / 2));
  EXPECT_TRUE(throws_mf([&] { VideoReader r(dir / "half.mp4"); }, {ErrorCode::BadFile}));
  // Truncated PNG.
  write_png(dir / "a.png", src[0]);
  const std::string png = read_bytes(dir / "a.png");
  write_bytes(dir / "cut.png", png.substr(0, png.size() / 2));
  EXPECT_TRUE(throws_mf([&] { read_image(dir / "cut.png"); }, {ErrorCode::BadFile}));
  EXPECT_TRUE(throws_mf([&] { read_recipe(dir / "cut.png"); }, {ErrorCode::BadFile}));
}

TEST(MediaRobustness, CorruptBytes) {
  TempDir dir;
  std::vector<Image> src;
  for (int t = 0; t < 20; ++t) src.push_back(pattern_frame(64, 48, t));
  std::mt19937 rng(77);
  int errors = 0, survived = 0;
  for (const char* file : {"c.mp4", "c.mkv", "c.webm", "c.mov", "c.gif", "c.png"}) {
    const fs::path p = dir / file;
    if (std::string(file) == "c.png") {
      write_png(p, src[0], "{\"seed\":1}");
    } else {
      EncodeOptions o;
      o.codec = std::string(file) == "c.webm" ? Codec::Vp9 : std::string(file) == "c.gif" ? Codec::Gif
                : std::string(file) == "c.mov" ? Codec::ProRes422 : Codec::H264;
      write_video(p, src, o);
    }
    const std::string good = read_bytes(p);
    for (int trial = 0; trial < 12; ++trial) {
      std::string bad = good;
      // Header region for the first trials (container structures), anywhere afterwards.
      std::uniform_int_distribution<size_t> pos(0, trial < 4 ? std::min<size_t>(bad.size() - 1, 256) : bad.size() - 1);
      const int flips = 1 + trial * 4;
      for (int k = 0; k < flips; ++k) bad[pos(rng)] = static_cast<char>(rng());
      const fs::path q = dir / ("bad" + std::to_string(trial) + "_" + file);
      write_bytes(q, bad);
      (exercise(q).empty() ? survived : errors)++;
    }
  }
  // Both outcomes happen; what matters is that no case crashed or threw something else.
  EXPECT_GT(errors, 0);
  EXPECT_GT(survived + errors, 0);
}

}  // namespace
}  // namespace mf::media::test

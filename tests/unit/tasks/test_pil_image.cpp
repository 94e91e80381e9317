// The PIL-compatible resampler and L conversion against Pillow's own outputs (tests/fixtures/pil_resize).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mf/core/error.h"
#include "mf/tasks/pil_image.h"

namespace fs = std::filesystem;
using mf::tasks::Image8;

namespace {

struct Case {
  std::string name;
  uint32_t kind = 0;  // 0 resize, 1 convert L
  Image8 in, expected;
};

Case load_case(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  char magic[4];
  f.read(magic, 4);
  EXPECT_EQ(std::string(magic, 4), "MFPR") << p;
  uint32_t h[7];
  f.read(reinterpret_cast<char*>(h), sizeof(h));
  Case c;
  c.name = p.stem().string();
  c.kind = h[1];
  const int ch = static_cast<int>(h[2]);
  c.in = Image8(static_cast<int>(h[3]), static_cast<int>(h[4]), ch);
  c.expected = Image8(static_cast<int>(h[5]), static_cast<int>(h[6]), c.kind == 1 ? 1 : ch);
  f.read(reinterpret_cast<char*>(c.in.pixels.data()), static_cast<std::streamsize>(c.in.pixels.size()));
  f.read(reinterpret_cast<char*>(c.expected.pixels.data()), static_cast<std::streamsize>(c.expected.pixels.size()));
  EXPECT_TRUE(f.good()) << "truncated fixture " << p;
  return c;
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  const fs::path dir = fs::path(MF_SOURCE_DIR) / "tests" / "fixtures" / "pil_resize";
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".bin") out.push_back(load_case(e.path()));
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
  return out;
}

}  // namespace

TEST(PilImage, ResizeIsBitExactWithPillow) {
  const auto cases = all_cases();
  int resize_cases = 0;
  for (const Case& c : cases) {
    if (c.kind != 0) continue;
    ++resize_cases;
    const Image8 out = mf::tasks::pil_resize_bicubic(c.in, c.expected.width, c.expected.height);
    ASSERT_EQ(out.width, c.expected.width) << c.name;
    ASSERT_EQ(out.height, c.expected.height) << c.name;
    ASSERT_EQ(out.channels, c.expected.channels) << c.name;
    size_t mismatches = 0, first = 0;
    for (size_t i = 0; i < out.pixels.size(); ++i)
      if (out.pixels[i] != c.expected.pixels[i] && mismatches++ == 0) first = i;
    EXPECT_EQ(mismatches, 0u) << c.name << ": first mismatch at byte " << first << " (" << int(out.pixels[first])
                              << " vs Pillow " << int(c.expected.pixels[first]) << ")";
  }
  EXPECT_GE(resize_cases, 15);
}

TEST(PilImage, ConvertRgbToLIsBitExactWithPillow) {
  int n = 0;
  for (const Case& c : all_cases()) {
    if (c.kind != 1) continue;
    ++n;
    const Image8 out = mf::tasks::pil_rgb_to_l(c.in);
    EXPECT_EQ(out.pixels, c.expected.pixels) << c.name;
  }
  EXPECT_EQ(n, 2);
}

TEST(PilImage, ResizerIsReusableAcrossFramesAndChannels) {
  Image8 a(13, 9, 3), b(13, 9, 1);
  for (size_t i = 0; i < a.pixels.size(); ++i) a.pixels[i] = static_cast<uint8_t>(i * 37 % 251);
  for (size_t i = 0; i < b.pixels.size(); ++i) b.pixels[i] = static_cast<uint8_t>(i * 11 % 253);
  mf::tasks::PilBicubicResizer r(13, 9, 7, 20);
  EXPECT_EQ(r.resize(a).pixels, mf::tasks::pil_resize_bicubic(a, 7, 20).pixels);
  EXPECT_EQ(r.resize(b).pixels, mf::tasks::pil_resize_bicubic(b, 7, 20).pixels);
  // A constant image stays constant (coefficients sum to one in fixed point).
  Image8 white(33, 17, 1, 255), black(33, 17, 3, 0);
  const Image8 w2 = mf::tasks::pil_resize_bicubic(white, 16, 48);
  EXPECT_TRUE(std::all_of(w2.pixels.begin(), w2.pixels.end(), [](uint8_t v) { return v == 255; }));
  const Image8 b2 = mf::tasks::pil_resize_bicubic(black, 64, 5);
  EXPECT_TRUE(std::all_of(b2.pixels.begin(), b2.pixels.end(), [](uint8_t v) { return v == 0; }));
  EXPECT_THROW(mf::tasks::PilBicubicResizer(0, 3, 4, 4), mf::Error);
  EXPECT_THROW(r.resize(Image8(12, 9, 3)), mf::Error);
}

TEST(PilImage, PasteOnBlack) {
  Image8 img(2, 2, 1, 200);
  const Image8 out = mf::tasks::pil_paste_on_black(img, 4, 3, 1, 1);
  EXPECT_EQ(out.at(0, 0), 0);
  EXPECT_EQ(out.at(1, 1), 200);
  EXPECT_EQ(out.at(2, 2), 200);
  EXPECT_EQ(out.at(3, 2), 0);
  const Image8 clipped = mf::tasks::pil_paste_on_black(img, 2, 2, 1, -1);
  EXPECT_EQ(clipped.at(1, 0), 200);
  EXPECT_EQ(clipped.at(0, 0), 0);
  EXPECT_EQ(clipped.at(1, 1), 0);
}

// PIL-exact bicubic resize: byte-for-byte against Pillow's Image.resize on the cases stored in
// tests/fixtures/depth/pil_bicubic.safetensors (upscale, downscale with antialiasing, mixed, one axis unchanged).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "mf/core/error.h"
#include "mf/depth/pil_resample.h"
#include "mf/io/safetensors.h"

using mf::depth::pil_resize_bicubic;

namespace {

const std::string kFixture = std::string(MF_SOURCE_DIR) + "/tests/fixtures/depth/pil_bicubic.safetensors";

}  // namespace

TEST(PilResample, MatchesPillowExactly) {
  auto file = mf::io::SafetensorsFile::open(kFixture);
  int cases = 0;
  for (int k = 0;; ++k) {
    const auto* in = file->find("in.image_" + std::to_string(k));
    const auto* ref = file->find("out.resized_" + std::to_string(k));
    if (!in) break;
    ASSERT_NE(ref, nullptr);
    ASSERT_EQ(in->dtype, mf::io::DType::U8);
    ASSERT_EQ(in->shape.size(), 3u);
    const int h = static_cast<int>(in->shape[0]), w = static_cast<int>(in->shape[1]);
    const int oh = static_cast<int>(ref->shape[0]), ow = static_cast<int>(ref->shape[1]);
    auto got = pil_resize_bicubic(file->data(*in), h, w, 3, oh, ow);
    ASSERT_EQ(got.size(), ref->nbytes());
    size_t mismatches = 0;
    int worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      int d = std::abs(int(got[i]) - int(file->data(*ref)[i]));
      mismatches += d != 0;
      worst = std::max(worst, d);
    }
    EXPECT_EQ(mismatches, 0u) << "case " << k << ": " << h << "x" << w << " -> " << oh << "x" << ow
                              << ", worst difference " << worst;
    ++cases;
  }
  EXPECT_GE(cases, 7);
}

TEST(PilResample, ConstantImageStaysConstant) {
  for (int v : {0, 1, 128, 254, 255}) {
    std::vector<uint8_t> img(13 * 29, static_cast<uint8_t>(v));
    for (auto [oh, ow] : {std::pair{5, 7}, {40, 90}, {13, 3}, {1, 1}}) {
      auto out = pil_resize_bicubic(img.data(), 13, 29, 1, oh, ow);
      for (auto b : out) ASSERT_EQ(b, v) << oh << "x" << ow;
    }
  }
}

TEST(PilResample, SameSizeIsACopyAndChannelsAreIndependent) {
  std::vector<uint8_t> img(6 * 5 * 2);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 37 % 251);
  EXPECT_EQ(pil_resize_bicubic(img.data(), 6, 5, 2, 6, 5), img);
  // Resizing two interleaved channels equals resizing each alone.
  std::vector<uint8_t> c0, c1;
  for (size_t i = 0; i < img.size(); i += 2) {
    c0.push_back(img[i]);
    c1.push_back(img[i + 1]);
  }
  auto both = pil_resize_bicubic(img.data(), 6, 5, 2, 11, 3);
  auto a = pil_resize_bicubic(c0.data(), 6, 5, 1, 11, 3);
  auto b = pil_resize_bicubic(c1.data(), 6, 5, 1, 11, 3);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(both[2 * i], a[i]);
    EXPECT_EQ(both[2 * i + 1], b[i]);
  }
}

TEST(PilResample, RejectsBadSizes) {
  uint8_t px[3] = {1, 2, 3};
  EXPECT_THROW(pil_resize_bicubic(px, 1, 1, 3, 0, 4), mf::Error);
  EXPECT_THROW(pil_resize_bicubic(px, 1, 1, 5, 2, 2), mf::Error);
  EXPECT_THROW(pil_resize_bicubic(px, 0, 1, 3, 2, 2), mf::Error);
}

// Numerical building blocks against independent fp64 formulas written from mfm-reference.md A.4-A.6.
#include <gtest/gtest.h>

#include <cmath>

#include "mf/mfm/ops.h"
#include "mfm_test_util.h"

using namespace mf::mfm;
using mf::mfm::test::rel_l2;

namespace {

torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& bias) {
  auto qd = q.to(torch::kDouble), kd = k.to(torch::kDouble), vd = v.to(torch::kDouble);
  auto s = torch::matmul(qd, kd.transpose(-2, -1)) / std::sqrt(double(q.size(-1)));
  if (bias.defined()) s = s + bias.to(torch::kDouble);
  return torch::matmul(torch::softmax(s, -1), vd);
}

}  // namespace

TEST(MfmOps, AttentionKernelsAgreeWithFp64) {
  torch::manual_seed(1);
  auto q = torch::randn({2, 3, 37, 64}), k = torch::randn({2, 3, 11, 64}), v = torch::randn({2, 3, 11, 64});
  // Padding bias as the model builds it: batch 0 keeps 11 tokens, batch 1 keeps 6.
  auto mask = torch::ones({2, 11});
  mask[1].slice(0, 6).zero_();
  auto bias = ((1 - mask) * -10000.0).view({2, 1, 1, 11});
  auto ref = reference_attention(q, k, v, bias);
  auto fused = attention(q, k, v, bias);
  auto math = attention(q, k, v, bias, false, AttentionKernel::Math);
  EXPECT_LT(rel_l2(fused, ref), 1e-6) << attention_kernel_name();
  EXPECT_LT(rel_l2(math, ref), 1e-6);
  EXPECT_EQ(fused.scalar_type(), torch::kFloat);
  // Padded keys get no weight: changing them changes nothing.
  auto k2 = k.clone(), v2 = v.clone();
  k2[1].slice(1, 6).normal_();
  v2[1].slice(1, 6).normal_();
  EXPECT_LT(rel_l2(attention(q, k2, v2, bias), fused), 1e-6);
  // No mask.
  EXPECT_LT(rel_l2(attention(q, k, v, torch::Tensor()), reference_attention(q, k, v, torch::Tensor())), 1e-6);
}

TEST(MfmOps, AttentionQueryBlocksGiveTheSameResult) {
  torch::manual_seed(2);
  auto q = torch::randn({1, 2, 50, 64}), k = torch::randn({1, 2, 50, 64}), v = torch::randn({1, 2, 50, 64});
  auto whole = attention(q, k, v, torch::Tensor(), false, AttentionKernel::Math);
  for (auto kernel : {AttentionKernel::Math, AttentionKernel::Auto}) {
    // 2 heads x 50 keys = 100 scores per query; a budget of 700 gives blocks of 7 queries.
    auto blocked = attention_with_budget(q, k, v, torch::Tensor(), false, kernel, 700);
    EXPECT_LT(rel_l2(blocked, whole), 1e-6);
  }
}

TEST(MfmOps, AttentionReducedPrecisionAndUpcast) {
  torch::manual_seed(3);
  auto q = torch::randn({1, 2, 40, 64}), k = torch::randn({1, 2, 40, 64}), v = torch::randn({1, 2, 40, 64});
  auto qb = q.to(torch::kBFloat16), kb = k.to(torch::kBFloat16), vb = v.to(torch::kBFloat16);
  auto ref = reference_attention(qb, kb, vb, torch::Tensor());
  auto out = attention(qb, kb, vb, torch::Tensor());
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  EXPECT_LT(rel_l2(out, ref), 1e-2);
  auto up = attention(qb, kb, vb, torch::Tensor(), /*upcast_fp32=*/true);
  EXPECT_EQ(up.scalar_type(), torch::kBFloat16);
  // Upcast: fp32 math on the bf16 values, rounded once.
  EXPECT_LT(rel_l2(up, ref.to(torch::kBFloat16)), 2e-4);
}

TEST(MfmOps, RopeTablesFollowTheFormula) {
  const int64_t T = 3, H = 4, W = 5, Dh = 64;
  auto t = build_rope_tables(T, H, W, Dh);
  ASSERT_EQ(t.cos.sizes(), (std::vector<int64_t>{T * H * W, Dh}));
  auto c = t.cos.accessor<float, 2>(), s = t.sin.accessor<float, 2>();
  const int dims[3] = {16, 24, 24};
  for (int64_t ti = 0; ti < T; ++ti)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const int64_t tok = (ti * H + y) * W + x;
        const int64_t pos[3] = {ti, y, x};
        int off = 0;
        for (int a = 0; a < 3; ++a) {
          for (int ch = 0; ch < dims[a]; ++ch) {
            const int j = ch / 2;  // interleaved pairs share a frequency
            const double ang = pos[a] * std::pow(10000.0, -2.0 * j / dims[a]);
            ASSERT_NEAR(c[tok][off + ch], std::cos(ang), 2e-6) << tok << " " << off + ch;
            ASSERT_NEAR(s[tok][off + ch], std::sin(ang), 2e-6) << tok << " " << off + ch;
          }
          off += dims[a];
        }
      }
}

TEST(MfmOps, RopeRotatesInterleavedPairs) {
  torch::manual_seed(4);
  auto x = torch::randn({2, 3, 6, 16});
  auto tab = build_rope_tables(1, 2, 3, 16);
  auto cos = tab.cos.view({1, 1, 6, 16}), sin = tab.sin.view({1, 1, 6, 16});
  auto out = apply_rope(x, cos, sin);
  auto xd = x.to(torch::kDouble);
  auto expect = torch::empty_like(xd);
  for (int j = 0; j < 8; ++j) {
    auto a = xd.select(-1, 2 * j), b = xd.select(-1, 2 * j + 1);
    auto cj = cos.select(-1, 2 * j).to(torch::kDouble), sj = sin.select(-1, 2 * j).to(torch::kDouble);
    expect.select(-1, 2 * j).copy_(a * cj - b * sj);
    expect.select(-1, 2 * j + 1).copy_(b * cj + a * sj);
  }
  EXPECT_LT(rel_l2(out, expect), 1e-6);
  // bf16 input: rotation in fp32, result rounded to bf16.
  auto outb = apply_rope(x.to(torch::kBFloat16), cos, sin);
  EXPECT_EQ(outb.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(outb.equal(apply_rope(x.to(torch::kBFloat16).to(torch::kFloat), cos, sin).to(torch::kBFloat16)));
}

TEST(MfmOps, RopeCacheBuildsOncePerGrid) {
  RopeCache cache;
  auto a = cache.get(2, 3, 4, 64, torch::kCPU);
  auto b = cache.get(2, 3, 4, 64, torch::kCPU);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(a.first.data_ptr(), b.first.data_ptr());
  EXPECT_EQ(a.first.sizes(), (std::vector<int64_t>{1, 1, 24, 64}));
  cache.get(2, 4, 3, 64, torch::kCPU);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(MfmOps, TimestepSinusoidCosFirstDenominator127) {
  auto t = torch::tensor({0.0f, 1.0f, 437.5f, 999.0f});
  auto e = timestep_sinusoid(t);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{4, 256}));
  for (int i = 0; i < 4; ++i) {
    const double tv = t[i].item<double>();
    for (int k = 0; k < 128; ++k) {
      const double f = std::exp(-std::log(10000.0) * k / 127.0);
      // fp32 arguments up to 1000 rad: allow the argument's rounding.
      EXPECT_NEAR(e[i][k].item<double>(), std::cos(tv * f), 2e-4) << i << " " << k;
      EXPECT_NEAR(e[i][128 + k].item<double>(), std::sin(tv * f), 2e-4) << i << " " << k;
    }
  }
}

TEST(MfmOps, NormsKeepStatisticsInFp32) {
  torch::manual_seed(5);
  auto x = torch::randn({2, 5, 96}) * 3 + 1;
  auto w = torch::rand({96}) + 0.5;
  auto xd = x.to(torch::kDouble);
  auto rms_ref = w.to(torch::kDouble) * xd / torch::sqrt(xd.pow(2).mean(-1, true) + 1e-6);
  EXPECT_LT(rel_l2(rms_norm(x, w), rms_ref), 1e-6);
  auto ln_ref = (xd - xd.mean(-1, true)) / torch::sqrt(xd.var(-1, false, true) + 1e-6);
  EXPECT_LT(rel_l2(layer_norm_noaffine(x), ln_ref), 1e-6);
  auto xb = x.to(torch::kBFloat16);
  auto rb = rms_norm(xb, w.to(torch::kBFloat16));
  EXPECT_EQ(rb.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(rb.equal(rms_norm(xb.to(torch::kFloat), w.to(torch::kBFloat16).to(torch::kFloat)).to(torch::kBFloat16)));
}

TEST(MfmOps, ReducedPrecisionLinearRoundsOnce) {
  torch::manual_seed(6);
  auto x = torch::randn({3, 7, 64}).to(torch::kBFloat16);
  auto w = torch::randn({32, 64}).to(torch::kBFloat16), b = torch::randn({32}).to(torch::kBFloat16);
  auto y = linear(x, w, b);
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  auto ref = torch::linear(x.to(torch::kDouble), w.to(torch::kDouble), b.to(torch::kDouble));
  EXPECT_LT(rel_l2(y, ref), 5e-3);
}

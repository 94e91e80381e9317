// The transformer against fp64 re-implementations of mfm-reference.md A.3-A.6 and B.3 written here from the
// text (not from the module code), for the config branches the parity files do not cover: rmsnorm AdaLN,
// attention bias, other head counts and widths, no RoPE, upcast attention, chunked key naming, images,
// even frame counts, non-square sizes, batches and masks.
#include <gtest/gtest.h>

#include <cmath>

#include "mf/core/error.h"
#include "mf/io/autocast.h"
#include "mf/mfm/transformer.h"
#include "mfm_test_util.h"

using namespace mf::mfm;
using mf::mfm::test::cosine;
using mf::mfm::test::random_inputs;
using mf::mfm::test::rel_l2;
using mf::mfm::test::tiny_config;

namespace {

using Params = torch::OrderedDict<std::string, torch::Tensor>;

torch::Tensor P(const Params& ps, const std::string& name) {
  auto* t = ps.find(name);
  return t ? t->detach().to(torch::kDouble) : torch::Tensor();
}

torch::Tensor ref_linear(const Params& ps, const torch::Tensor& x, const std::string& pre) {
  return torch::linear(x, P(ps, pre + ".weight"), P(ps, pre + ".bias"));
}

torch::Tensor ref_rms(const torch::Tensor& x, const torch::Tensor& w) {
  return w * x / torch::sqrt(x.pow(2).mean(-1, true) + 1e-6);
}

torch::Tensor ref_layernorm(const torch::Tensor& x) {
  return (x - x.mean(-1, true)) / torch::sqrt(x.var(-1, false, true) + 1e-6);
}

// Interleaved-pair rotation with even/odd slices.
torch::Tensor ref_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  using torch::indexing::Slice;
  auto xe = x.index({"...", Slice(0, torch::indexing::None, 2)}), xo = x.index({"...", Slice(1, torch::indexing::None, 2)});
  auto ce = cos.index({"...", Slice(0, torch::indexing::None, 2)}), se = sin.index({"...", Slice(0, torch::indexing::None, 2)});
  return torch::stack({xe * ce - xo * se, xo * ce + xe * se}, -1).flatten(-2);
}

struct RefCtx {
  torch::Tensor temb, text, bias, cos, sin;  // fp64; cos/sin [S, Dh] or undefined
};

torch::Tensor ref_attention(const Params& ps, const Config& c, const std::string& pre, const torch::Tensor& xq,
                            const torch::Tensor& xkv, const torch::Tensor& bias, bool cross, const RefCtx& r) {
  const int64_t B = xq.size(0), S = xq.size(1), L = xkv.size(1), NH = c.num_attention_heads, Dh = c.attention_head_dim;
  auto q = ref_rms(ref_linear(ps, xq, pre + ".q_proj"), P(ps, pre + ".q_norm.weight"));
  auto k = ref_rms(ref_linear(ps, xkv, pre + ".k_proj"), P(ps, pre + ".k_norm.weight"));
  auto v = ref_linear(ps, xkv, pre + ".v_proj");
  q = q.reshape({B, S, NH, Dh}).permute({0, 2, 1, 3});
  k = k.reshape({B, L, NH, Dh}).permute({0, 2, 1, 3});
  v = v.reshape({B, L, NH, Dh}).permute({0, 2, 1, 3});
  if (r.cos.defined()) {
    q = ref_rope(q, r.cos, r.sin);
    if (!cross) k = ref_rope(k, r.cos, r.sin);
  }
  auto s = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(Dh));
  if (bias.defined()) s = s + bias;
  auto o = torch::matmul(torch::softmax(s, -1), v).permute({0, 2, 1, 3}).reshape({B, S, NH * Dh});
  return ref_linear(ps, o, pre + ".o_proj");
}

torch::Tensor ref_block(const Params& ps, const Config& c, const torch::Tensor& x, const RefCtx& r) {
  auto m = ref_linear(ps, torch::silu(r.temb), "norm1.linear").chunk(6, 1);
  auto n = c.adaln_rmsnorm() ? ref_rms(x, P(ps, "norm1.norm.weight")) : ref_layernorm(x);
  auto xm = n * (1 + m[1].unsqueeze(1)) + m[0].unsqueeze(1);
  auto y = x + m[2].unsqueeze(1) * ref_attention(ps, c, "attn1", xm, xm, torch::Tensor(), false, r);
  if (ps.find("attn2.q_proj.weight")) {
    y = y + ref_attention(ps, c, "attn2", ref_rms(y, P(ps, "norm2.weight")), r.text, r.bias, true, r);
  }
  auto h = ref_rms(y, P(ps, "norm3.weight")) * (1 + m[4].unsqueeze(1)) + m[3].unsqueeze(1);
  auto f = ref_linear(ps, torch::gelu(ref_linear(ps, h, "ff.fc1"), "tanh"), "ff.fc2");
  return y + m[5].unsqueeze(1) * f;
}

Transformer3DModel make_model(const Config& c, uint64_t seed, torch::Dtype dt = torch::kFloat) {
  ModelOptions o;
  o.dtype = dt;
  Transformer3DModel m(c, o);
  init_random_weights(*m, seed);
  m->eval();
  return m;
}

int64_t count_for(const Config& c) {  // mfm-reference.md A.2, written out independently of the modules
  const int64_t D = c.inner_dim(), p = c.patch_size, Cin = c.adapter_in_channels();
  int64_t n = 16 * Cin * 9 + 16;
  n += 16 * 16 * 9 + 16 + 32 * 16 * 27 + 32 + 32 * 32 * 9 + 32 + 96 * 32 * 9 + 96 + 96 * 96 * 9 + 96 + 256 * 96 * 27 +
       256 + 256 * 256 * 9 + 256 + 512 * 256 * 9 + 512;
  n += D * 512 * 9 + D;
  n += D * c.in_channels * p * p + D;
  n += (256 * D + D + D * D + D) * (c.add_motion_score ? 2 : 1);
  for (int i = 0; i < c.num_layers; ++i) {
    n += 6 * D * D + 6 * D + (c.adaln_rmsnorm() ? D : 0);
    n += 4 * D * D + (c.attention_bias ? 4 * D : 0) + 2 * D;
    if (c.block_has_cross_attention(i)) {
      const int64_t ct = c.block_cross_dim(i);
      n += 2 * D * D + 2 * D * ct + (c.attention_bias ? 4 * D : 0) + 2 * D + D;
    }
    n += D + 8 * D * D + 5 * D;
  }
  n += 2 * D * D + 2 * D + p * p * c.out_channels_resolved() * (D + 1);
  return n;
}

}  // namespace

TEST(MfmModel, ParameterCounts2BAnd8BWithoutWeights) {
  ModelOptions meta;
  meta.device = torch::kMeta;
  meta.dtype = torch::kBFloat16;
  for (auto c : {Config::mfm_2b(), Config::mfm_8b()}) {
    Transformer3DModel m(c, meta);
    const int64_t n = m->parameter_count();
    EXPECT_EQ(n, count_for(c));
    std::cout << "[ MfM ] D=" << c.inner_dim() << " L=" << c.num_layers << " parameters: " << n << "\n";
  }
  Transformer3DModel m2(Config::mfm_2b(), meta);
  EXPECT_GT(m2->parameter_count(), 2.0e9);
  EXPECT_LT(m2->parameter_count(), 2.2e9);
  Transformer3DModel m8(Config::mfm_8b(), meta);
  EXPECT_GT(m8->parameter_count(), 8.0e9);
  EXPECT_LT(m8->parameter_count(), 8.3e9);
  // Key names and shapes of the released layout (A.2).
  auto ps = m2->named_parameters();
  ASSERT_TRUE(ps.find("transformer_blocks.27.attn2.k_proj.weight"));
  EXPECT_EQ(ps["transformer_blocks.27.attn2.k_proj.weight"].sizes(), (std::vector<int64_t>{1792, 2048}));
  EXPECT_EQ(ps["transformer_blocks.0.ff.fc1.weight"].sizes(), (std::vector<int64_t>{7168, 1792}));
  EXPECT_EQ(ps["cond_conv.blocks.5.weight"].sizes(), (std::vector<int64_t>{256, 96, 3, 3, 3}));
  EXPECT_EQ(ps["proj_out_2.weight"].sizes(), (std::vector<int64_t>{64, 1792}));
}

TEST(MfmModel, KeysOfConfigBranches) {
  auto c = tiny_config();
  c.adaln_norm_type = "rmsnorm";
  c.attention_bias = true;
  c.cross_attention_dim = {48, std::nullopt};
  c.out_channels = 8;
  c.add_motion_score = false;
  ModelOptions meta;
  meta.device = torch::kMeta;
  Transformer3DModel m(c, meta);
  auto ps = m->named_parameters();
  EXPECT_EQ(m->parameter_count(), count_for(c));
  EXPECT_EQ(ps["transformer_blocks.0.norm1.norm.weight"].sizes(), (std::vector<int64_t>{128}));
  for (auto a : {"attn1", "attn2"})
    for (auto pr : {"q_proj", "k_proj", "v_proj", "o_proj"})
      EXPECT_TRUE(ps.find(std::string("transformer_blocks.0.") + a + "." + pr + ".bias")) << a << pr;
  EXPECT_FALSE(ps.find("transformer_blocks.1.attn2.q_proj.weight"));
  EXPECT_FALSE(ps.find("transformer_blocks.1.norm2.weight"));
  EXPECT_FALSE(ps.find("time_embedder.guidance_embedder.linear_1.weight"));
  EXPECT_EQ(ps["proj_out_2.weight"].sizes(), (std::vector<int64_t>{32, 128}));
  auto plain = tiny_config();
  Transformer3DModel m2(plain, meta);
  EXPECT_FALSE(m2->named_parameters().find("transformer_blocks.0.norm1.norm.weight"));
  EXPECT_FALSE(m2->named_parameters().find("transformer_blocks.0.attn1.q_proj.bias"));
}

TEST(MfmModel, BlocksMatchFp64Reference) {
  std::vector<Config> cases;
  cases.push_back(tiny_config());
  auto c1 = tiny_config();  // rmsnorm AdaLN, biases, 3 heads, text width 40
  c1.adaln_norm_type = "rmsnorm";
  c1.attention_bias = true;
  c1.num_attention_heads = 3;
  c1.cross_attention_dim = {40, 40};
  cases.push_back(c1);
  auto c2 = tiny_config();  // 4 heads x 32, upcast attention, no RoPE
  c2.num_attention_heads = 4;
  c2.attention_head_dim = 32;
  c2.upcast_attention = true;
  c2.use_rope = false;
  cases.push_back(c2);
  auto c3 = tiny_config();  // head dim 48 (RoPE split 12/18/18), cross-attention only in block 0
  c3.attention_head_dim = 48;
  c3.cross_attention_dim = {24, std::nullopt};
  cases.push_back(c3);

  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const auto& c = cases[ci];
    auto m = make_model(c, 10 + ci);
    const int64_t B = 2, T = 2, gh = 3, gw = 4, S = T * gh * gw, Lt = 5, D = c.inner_dim();
    torch::manual_seed(ci);
    auto x = torch::randn({B, S, D});
    BlockContext ctx;
    ctx.temb = torch::randn({B, D});
    ctx.text = torch::randn({B, Lt, c.block_cross_dim(0)});
    auto mask = torch::ones({B, Lt});
    mask[1].slice(0, 3).zero_();
    ctx.text_bias = ((1 - mask) * -10000.0).view({B, 1, 1, Lt});
    RefCtx r{ctx.temb.to(torch::kDouble), ctx.text.to(torch::kDouble), ctx.text_bias.to(torch::kDouble), {}, {}};
    if (c.use_rope) {
      auto tab = build_rope_tables(T, gh, gw, c.attention_head_dim);
      ctx.rope_cos = tab.cos.view({1, 1, S, -1});
      ctx.rope_sin = tab.sin.view({1, 1, S, -1});
      r.cos = tab.cos.to(torch::kDouble);
      r.sin = tab.sin.to(torch::kDouble);
    }
    torch::NoGradGuard ng;
    auto xd = x.to(torch::kDouble);
    auto y = x;
    for (int i = 0; i < m->num_blocks(); ++i) {
      y = m->run_block(i, y, ctx);
      xd = ref_block(m->block(i)->named_parameters(), c, xd, r);
      EXPECT_LT(rel_l2(y, xd), 1e-5) << "case " << ci << " block " << i;
    }
  }
}

TEST(MfmModel, EmbedAndHeadMatchFp64Reference) {
  auto c = tiny_config();
  auto m = make_model(c, 21);
  // Non-square, 5 pixel frames -> 2 latent frames; batch 2 with different text masks.
  auto in = random_inputs(c, 2, 5, 48, 80, 6, 22, 4);
  torch::NoGradGuard ng;
  torch::Tensor tokens;
  auto ctx = m->embed(in, &tokens);
  const int64_t B = 2, T = 2, gh = 3, gw = 5, D = c.inner_dim();
  ASSERT_EQ(tokens.sizes(), (std::vector<int64_t>{B, T * gh * gw, D}));
  auto ps = m->named_parameters();

  // Adapter (B.3), frame by frame for the 2D layers.
  auto cond = torch::cat({in.conditional_pixel_values, in.conditional_masks}, 1).to(torch::kDouble);  // [B,5,F,H,W]
  auto conv2 = [&](const torch::Tensor& v, const std::string& pre, int64_t stride) {  // v [B, c, F, H, W]
    std::vector<torch::Tensor> frames;
    for (int64_t f = 0; f < v.size(2); ++f)
      frames.push_back(torch::conv2d(v.select(2, f), P(ps, pre + ".weight"), P(ps, pre + ".bias"), stride, 1));
    return torch::stack(frames, 2);
  };
  auto a = torch::silu(conv2(cond, "cond_conv.conv_in", 1));
  for (int i = 0; i < 8; ++i) {
    const std::string pre = "cond_conv.blocks." + std::to_string(i);
    if (i == 1 || i == 5)
      a = torch::conv3d(a, P(ps, pre + ".weight"), P(ps, pre + ".bias"), 2, 1);
    else
      a = conv2(a, pre, i % 2 == 1 ? 2 : 1);
    a = torch::silu(a);
  }
  a = conv2(a, "cond_conv.conv_out", 1);  // [B, D, T, gh, gw]
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{B, D, T, gh, gw}));
  auto lat = in.hidden_states.to(torch::kDouble);
  auto ref_tokens = torch::empty({B, T * gh * gw, D}, torch::kDouble);
  for (int64_t t = 0; t < T; ++t) {
    auto pe = torch::conv2d(lat.select(2, t), P(ps, "pos_embed.proj.weight"), P(ps, "pos_embed.proj.bias"),
                            std::vector<int64_t>{2, 2}, std::vector<int64_t>{0, 0});
    for (int64_t y = 0; y < gh; ++y)
      for (int64_t x = 0; x < gw; ++x)
        ref_tokens.select(1, (t * gh + y) * gw + x).copy_(pe.select(2, y).select(2, x) + a.select(2, t).select(2, y).select(2, x));
  }
  EXPECT_LT(rel_l2(tokens, ref_tokens), 1e-5);

  // temb (A.4).
  auto sinus = [](const torch::Tensor& t) {
    auto k = torch::arange(0, 128, torch::kDouble);
    auto args = t.to(torch::kDouble).unsqueeze(1) * torch::exp(-std::log(10000.0) * k / 127.0).unsqueeze(0);
    return torch::cat({torch::cos(args), torch::sin(args)}, 1);
  };
  auto mlp = [&](const torch::Tensor& e, const std::string& pre) {
    return ref_linear(ps, torch::silu(ref_linear(ps, e, pre + ".linear_1")), pre + ".linear_2");
  };
  auto temb = mlp(sinus(in.timestep), "time_embedder.timestep_embedder") +
              mlp(sinus(in.motion_score), "time_embedder.guidance_embedder");
  EXPECT_LT(rel_l2(ctx.temb, temb), 1e-4);
  // Text bias rows.
  EXPECT_EQ(ctx.text_bias.sizes(), (std::vector<int64_t>{B, 1, 1, 6}));
  EXPECT_EQ(ctx.text_bias[1][0][0][3].item<float>(), 0.0f);
  EXPECT_EQ(ctx.text_bias[1][0][0][4].item<float>(), -10000.0f);

  // Head (A.3 steps 6-8): (shift, scale) order, then unpatchify.
  auto out = m->head(tokens, ctx);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{B, 16, T, 6, 10}));
  auto e = ref_linear(ps, torch::silu(ctx.temb.to(torch::kDouble)), "proj_out_1");
  auto yh = ref_layernorm(tokens.to(torch::kDouble)) * (1 + e.slice(1, D, 2 * D).unsqueeze(1)) + e.slice(1, 0, D).unsqueeze(1);
  yh = ref_linear(ps, yh, "proj_out_2");  // [B, S, 64]
  auto ref_out = torch::empty({B, 16, T, 6, 10}, torch::kDouble);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t y = 0; y < gh; ++y)
      for (int64_t x = 0; x < gw; ++x)
        for (int64_t py = 0; py < 2; ++py)
          for (int64_t px = 0; px < 2; ++px)
            ref_out.select(2, t).select(2, 2 * y + py).select(2, 2 * x + px).copy_(
                yh.select(1, (t * gh + y) * gw + x).slice(1, (py * 2 + px) * 16, (py * 2 + px + 1) * 16));
  EXPECT_LT(rel_l2(out, ref_out), 1e-5);
}

TEST(MfmModel, ShapesForImagesEvenFramesAndNonSquare) {
  auto c = tiny_config();
  auto m = make_model(c, 31);
  torch::NoGradGuard ng;
  struct Case {
    int64_t frames, H, W, T;
  };
  for (auto k : {Case{1, 48, 64, 1}, Case{9, 32, 48, 3}, Case{8, 32, 32, 2}, Case{4, 16, 48, 1}, Case{17, 16, 16, 5}}) {
    EXPECT_EQ(ConditionAdapterImpl::output_frames(k.frames), k.T);
    auto in = random_inputs(c, 1, k.frames, k.H, k.W, 3, 32);
    auto out = m->forward(in);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 16, k.T, k.H / 8, k.W / 8})) << k.frames;
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
  // Condition frames that do not give the latent frame count are refused with a clear message.
  auto in = random_inputs(c, 1, 9, 32, 32, 3, 33);
  in.hidden_states = in.hidden_states.slice(2, 0, 2);
  try {
    m->forward(in);
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("adapter grid 3x2x2"), std::string::npos) << e.what();
  }
}

TEST(MfmModel, BatchElementsAreIndependentAndPaddingIsMasked) {
  auto c = tiny_config();
  auto m = make_model(c, 41);
  torch::NoGradGuard ng;
  auto in = random_inputs(c, 2, 5, 32, 48, 7, 42, 5);  // tokens 5, 6 are padding
  auto both = m->forward(in);
  for (int b = 0; b < 2; ++b) {
    TransformerInputs one = in;
    for (auto* t : {&one.hidden_states, &one.conditional_pixel_values, &one.conditional_masks,
                    &one.encoder_hidden_states, &one.encoder_attention_mask, &one.timestep, &one.motion_score})
      *t = t->slice(0, b, b + 1);
    EXPECT_LT(rel_l2(m->forward(one), both.slice(0, b, b + 1)), 1e-5) << b;
  }
  auto padded = in;
  padded.encoder_hidden_states = in.encoder_hidden_states.clone();
  padded.encoder_hidden_states.slice(1, 5).normal_();
  EXPECT_LT(rel_l2(m->forward(padded), both), 1e-5);
  auto changed = in;
  changed.encoder_hidden_states = in.encoder_hidden_states.clone();
  changed.encoder_hidden_states.slice(1, 0, 1).normal_();
  EXPECT_GT(rel_l2(m->forward(changed), both), 1e-4);
}

TEST(MfmModel, ChunkedKeyNamingComputesTheSame) {
  auto c = tiny_config();
  c.num_layers = 4;
  auto flat = make_model(c, 51);
  auto cc = c;
  cc.num_block_chunks = 2;
  ModelOptions o;
  Transformer3DModel chunked(cc, o);
  {
    torch::NoGradGuard ng;
    auto src = flat->named_parameters();
    const std::string tb = "transformer_blocks.";
    for (auto& kv : chunked->named_parameters()) {
      std::string name = kv.key();
      if (name.compare(0, tb.size(), tb) == 0) {  // transformer_blocks.{c}.module.{j}.x -> transformer_blocks.{i}.x
        bool mapped = false;
        for (int i = 0; i < 4 && !mapped; ++i) {
          const auto pre = cc.block_prefix(i);
          if (name.compare(0, pre.size(), pre) == 0) {
            name = c.block_prefix(i) + name.substr(pre.size());
            mapped = true;
          }
        }
        ASSERT_TRUE(mapped) << kv.key();
      }
      ASSERT_TRUE(src.find(name)) << name;
      kv.value().copy_(src[name]);
    }
  }
  EXPECT_TRUE(chunked->named_parameters().find("transformer_blocks.1.module.1.ff.fc2.bias"));
  auto in = random_inputs(c, 1, 5, 32, 32, 4, 52);
  torch::NoGradGuard ng;
  EXPECT_TRUE(chunked->forward(in).equal(flat->forward(in)));
}

TEST(MfmModel, RopeTablesCachedOrGivenAndRopeOff) {
  auto c = tiny_config();
  auto m = make_model(c, 61);
  torch::NoGradGuard ng;
  auto in = random_inputs(c, 1, 5, 32, 48, 4, 62);
  auto own = m->forward(in);
  m->forward(in);
  EXPECT_EQ(m->rope_cache().size(), 1u);
  auto tab = build_rope_tables(2, 2, 3, 64);
  auto given = in;
  given.rope_cos = tab.cos;
  given.rope_sin = tab.sin;
  EXPECT_TRUE(m->forward(given).equal(own));
  // RoPE changes the result; without use_rope the same weights run without tables.
  auto c2 = c;
  c2.use_rope = false;
  auto m2 = make_model(c2, 61);
  auto off = m2->forward(in);
  EXPECT_EQ(m2->rope_cache().size(), 0u);
  EXPECT_GT(rel_l2(off, own), 1e-3);
}

TEST(MfmModel, Bf16PolicyTracksFp32) {
  for (bool upcast : {false, true}) {
    auto c = tiny_config();
    c.upcast_attention = upcast;
    auto m32 = make_model(c, 71);
    ModelOptions o;
    o.dtype = torch::kBFloat16;
    Transformer3DModel m16(c, o);
    {
      torch::NoGradGuard ng;
      auto src = m32->named_parameters();
      for (auto& kv : m16->named_parameters()) kv.value().copy_(src[kv.key()]);
    }
    auto in = random_inputs(c, 2, 5, 32, 48, 5, 72, 3);
    torch::NoGradGuard ng;
    auto a = m32->forward(in);
    auto b = m16->forward(in);
    EXPECT_EQ(b.scalar_type(), torch::kBFloat16);
    EXPECT_GT(cosine(b, a), 0.999) << upcast;
    EXPECT_LT(rel_l2(b, a), 3e-2) << upcast;
    // Converting a built model with ->to() gives the same bf16 model.
    auto moved = make_model(c, 71);
    moved->to(torch::kBFloat16);
    EXPECT_TRUE(moved->forward(in).equal(b)) << upcast;
  }
}

TEST(MfmModel, GradientCheckpointingGivesTheSameGradients) {
  torch::manual_seed(3);
  const Config cfg = tiny_config();
  Transformer3DModel model(cfg);
  {
    torch::NoGradGuard ng;  // no zero-initialised layers: every parameter gets a gradient worth comparing
    for (auto& p : model->parameters()) p.normal_(0.0, 0.05);
  }
  auto in = random_inputs(cfg, 2, 5, 32, 32, 6, 11, 4);
  in.encoder_hidden_states.requires_grad_(true);  // as when the text encoder trains jointly
  auto run = [&](bool checkpointing) {
    model->set_gradient_checkpointing(checkpointing);
    model->zero_grad();
    if (in.encoder_hidden_states.grad().defined()) in.encoder_hidden_states.mutable_grad().zero_();
    torch::Tensor out = model->forward(in);
    (out.square().mean() + out.mean()).backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : model->parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    g.push_back(in.encoder_hidden_states.grad().clone());
    return std::make_pair(out.detach(), g);
  };
  const auto [out_plain, g_plain] = run(false);
  const auto [out_ckpt, g_ckpt] = run(true);
  EXPECT_TRUE(torch::equal(out_plain, out_ckpt));
  ASSERT_EQ(g_plain.size(), g_ckpt.size());
  int nonzero = 0;
  for (size_t i = 0; i < g_plain.size(); ++i) {
    const double diff = (g_ckpt[i] - g_plain[i]).norm().item<double>(), ref = g_plain[i].norm().item<double>();
    EXPECT_LE(diff, 1e-5 * ref + 1e-9) << "gradient " << i;
    nonzero += g_plain[i].abs().sum().item<double>() > 0;
  }
  EXPECT_GT(nonzero, static_cast<int>(g_plain.size()) / 2);  // the check sees real gradients
  // Without autograd recording (inference) nothing changes.
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(model->forward(in), out_plain));
}

TEST(MfmModel, CpuAutocastRunsMatmulsInBf16AndRestoresTheState) {
  EXPECT_FALSE(mf::io::cpu_autocast_enabled());
  const auto a = torch::randn({4, 8}), b = torch::randn({8, 3});
  {
    mf::io::CpuAutocastGuard ac(true);
    EXPECT_TRUE(mf::io::cpu_autocast_enabled());
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      mf::io::CpuAutocastGuard off(false);
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
    }
    EXPECT_TRUE(mf::io::cpu_autocast_enabled());
  }
  EXPECT_FALSE(mf::io::cpu_autocast_enabled());
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
}

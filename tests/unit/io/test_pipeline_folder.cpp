// Pipeline-folder reader and config cross-checks (torch-free). The folders are written by the tests
// themselves (tiny shapes); the parity files' configs and weights check the key naming against the
// official code's real output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "mf/core/error.h"
#include "mf/io/checkpoint.h"
#include "mf/io/model_info.h"
#include "mf/io/pipeline_folder.h"
#include "mf/io/safetensors.h"
#include "pipeline_fixture.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using mf::io::ConfigProblem;
using mf::io::ShapeMap;
using mf::io::TransformerConfig;
using namespace mf::io::testing;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("mf_pf_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

bool has_problem(const std::vector<ConfigProblem>& ps, const std::string& key, const std::string& text) {
  for (const auto& p : ps)
    if (p.severity == ConfigProblem::Severity::Error && p.key == key && p.message.find(text) != std::string::npos)
      return true;
  return false;
}

std::string all(const std::vector<ConfigProblem>& ps) {
  std::string s;
  for (const auto& p : ps) s += p.to_string() + "\n";
  return s;
}

ShapeMap shapes_with_prefix(const mf::io::SafetensorsFile& f, const std::string& prefix) {
  ShapeMap m;
  for (const auto& t : f.tensors())
    if (t.name.compare(0, prefix.size(), prefix) == 0) m[t.name.substr(prefix.size())] = t.shape;
  return m;
}

}  // namespace

TEST(PipelineConfigs, CodeDefaults) {
  auto t = TransformerConfig::from_json(json::object(), "t.json");
  EXPECT_EQ(t.num_attention_heads, 16);
  EXPECT_EQ(t.attention_head_dim, 88);
  EXPECT_EQ(t.num_layers, 1);
  EXPECT_EQ(t.in_channels, -1);
  EXPECT_TRUE(t.cross_attention_dim.empty());
  EXPECT_EQ(t.activation_fn, "geglu");
  EXPECT_EQ(t.condition_type, "inpaint_mask");
  EXPECT_EQ(t.adaln_norm_type, "legacy");
  EXPECT_FALSE(t.use_rope);
  auto v = mf::io::VaeConfig::from_json(json::object(), "v.json");
  EXPECT_EQ(v.block_out_channels, (std::vector<int>{128, 256, 256, 512}));
  EXPECT_EQ(v.layers_per_block, 3);
  EXPECT_DOUBLE_EQ(v.scaling_factor, 1.15258426);
  EXPECT_FALSE(v.shift_factor.has_value());
  auto s = mf::io::SchedulerConfig::from_json(json::object(), "s.json");
  EXPECT_EQ(s.num_train_timesteps, 1000);
  EXPECT_DOUBLE_EQ(s.shift, 1.0);
  auto e = mf::io::T5Config::from_json({{"feed_forward_proj", "gated-gelu"}}, "e.json");
  EXPECT_TRUE(e.is_gated_act());
  EXPECT_EQ(e.dense_act_fn(), "gelu_new");
  EXPECT_EQ(mf::io::T5Config().dense_act_fn(), "relu");
}

TEST(PipelineConfigs, TypeErrorsNameFileAndKey) {
  try {
    TransformerConfig::from_json({{"num_layers", "two"}}, "transformer/config.json");
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadFile);
    EXPECT_NE(std::string(e.what()).find("transformer/config.json: key 'num_layers' must be an integer"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(TransformerConfig::from_json({{"cross_attention_dim", {1, 2, 3}}}, "x"), mf::Error);
  EXPECT_THROW(TransformerConfig::from_json(json::array(), "x"), mf::Error);
  EXPECT_THROW(mf::io::VaeConfig::from_json({{"block_out_channels", "wide"}}, "x"), mf::Error);
  // Null keeps the default (the code's None); a 2-list gives alternating widths.
  auto t = TransformerConfig::from_json({{"sequence_parallel_size", nullptr}, {"cross_attention_dim", {32, 48}}}, "x");
  EXPECT_EQ(t.sequence_parallel_size, 1);
  EXPECT_EQ(t.cross_attention_dim_for_block(0), 32);
  EXPECT_EQ(t.cross_attention_dim_for_block(3), 48);
  auto round = TransformerConfig::from_json(t.to_json(), "round");
  EXPECT_EQ(round.cross_attention_dim, t.cross_attention_dim);
}

TEST(PipelineConfigs, UnsupportedSettingsAreNamed) {
  auto t = TransformerConfig::from_json(transformer_json(), "t");
  EXPECT_TRUE(t.unsupported().empty());
  auto j = transformer_json();
  j["sequence_parallel_size"] = 4;
  j["condition_type"] = "latent_concat";
  auto u = TransformerConfig::from_json(j, "t").unsupported();
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u[0].first, "sequence_parallel_size");
  EXPECT_NE(u[0].second.find("set it to 1"), std::string::npos);
  EXPECT_EQ(u[1].first, "condition_type");
  EXPECT_NE(u[1].second.find("inpaint_mask"), std::string::npos);
}

TEST(PipelineChecks, ConsistentTransformerHasNoProblems) {
  auto cfg = TransformerConfig::from_json(transformer_json(), "t");
  auto ps = mf::io::check_transformer_weights(cfg, transformer_shapes(64, 2, 48, false, false, true), "w", 48);
  EXPECT_TRUE(ps.empty()) << all(ps);
}

TEST(PipelineChecks, EachA9MismatchIsReported) {
  auto cfg = TransformerConfig::from_json(transformer_json(), "t");
  using mf::io::check_transformer_weights;
  // L from the max block index.
  EXPECT_TRUE(has_problem(check_transformer_weights(cfg, transformer_shapes(64, 3, 48, false, false, true), "w"),
                          "num_layers", "3 blocks"));
  // D from pos_embed.proj.weight.
  EXPECT_TRUE(has_problem(check_transformer_weights(cfg, transformer_shapes(128, 2, 48, false, false, true), "w"),
                          "pos_embed.proj.weight", "D = 128"));
  // attention_bias from q_proj.bias.
  EXPECT_TRUE(has_problem(check_transformer_weights(cfg, transformer_shapes(64, 2, 48, true, false, true), "w"),
                          "attention_bias", "present"));
  // adaln rmsnorm from norm1.norm.weight.
  EXPECT_TRUE(has_problem(check_transformer_weights(cfg, transformer_shapes(64, 2, 48, false, true, true), "w"),
                          "adaln_norm_type", "present"));
  // motion score from the guidance embedder keys.
  EXPECT_TRUE(has_problem(check_transformer_weights(cfg, transformer_shapes(64, 2, 48, false, false, false), "w"),
                          "add_motion_score", "absent"));
  // Adapter C_in must be 5.
  auto ps = check_transformer_weights(cfg, transformer_shapes(64, 2, 48, false, false, true, 4), "w");
  EXPECT_TRUE(has_problem(ps, "cond_conv.conv_in.weight", "always feeds 5")) << all(ps);
  // Cross-attention width from attn2.k_proj.weight, and against the text encoder width.
  ps = check_transformer_weights(cfg, transformer_shapes(64, 2, 32, false, false, true), "w", 48);
  EXPECT_TRUE(has_problem(ps, "transformer_blocks.0.attn2.k_proj.weight", "width 32")) << all(ps);
  EXPECT_TRUE(has_problem(ps, "cross_attention_dim", "d_model = 48")) << all(ps);
  // num_block_chunks key naming both ways.
  ps = check_transformer_weights(cfg, transformer_shapes(64, 2, 48, false, false, true, 5, 2), "w");
  EXPECT_TRUE(has_problem(ps, "num_block_chunks", "module")) << all(ps);
  auto j = transformer_json();
  j["num_block_chunks"] = 2;
  auto chunked = TransformerConfig::from_json(j, "t");
  EXPECT_TRUE(check_transformer_weights(chunked, transformer_shapes(64, 2, 48, false, false, true, 5, 2), "w").empty());
  EXPECT_TRUE(has_problem(check_transformer_weights(chunked, transformer_shapes(64, 2, 48, false, false, true), "w"),
                          "num_block_chunks", "expects keys"));
  // Not a transformer at all.
  ps = check_transformer_weights(cfg, vae_shapes(), "vae.safetensors");
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].file, "vae.safetensors");
  EXPECT_NE(ps[0].message.find("not a Transformer3DModel"), std::string::npos);
}

TEST(PipelineChecks, InferTransformerConfigFromShapes) {
  auto t = mf::io::infer_transformer_config(transformer_shapes(128, 3, 48, true, true, false, 5, 3));
  EXPECT_EQ(t.inner_dim(), 128);
  EXPECT_EQ(t.num_layers, 3);
  EXPECT_EQ(t.num_block_chunks, 3);
  EXPECT_TRUE(t.attention_bias);
  EXPECT_EQ(t.adaln_norm_type, "rmsnorm");
  EXPECT_FALSE(t.add_motion_score);
  EXPECT_TRUE(t.use_depth_cond);
  EXPECT_EQ(t.cross_attention_dim, (std::vector<int>{48}));
  EXPECT_EQ(t.effective_out_channels(), 16);
}

TEST(PipelineChecks, ParityFilesAgreeWithTheirConfigs) {
  const fs::path root = MF_SHARED_DIR "/parity";
  if (!fs::exists(root)) GTEST_SKIP() << "no ../shared/parity";
  for (const char* name : {"mfm_dit_tiny_fp32", "mfm_dit_tiny_bf16", "mfm_dit_tiny_image_fp32"}) {
    SCOPED_TRACE(name);
    auto f = mf::io::SafetensorsFile::open((root / (std::string(name) + ".safetensors")).string());
    auto cfg = TransformerConfig::from_json(json::parse(f->metadata().at("config")), "metadata config");
    EXPECT_TRUE(cfg.unsupported().empty());
    EXPECT_TRUE(cfg.ignored_keys.empty());
    auto shapes = shapes_with_prefix(*f, "weights.");
    auto ps = mf::io::check_transformer_weights(cfg, shapes, f->path(), 48);
    EXPECT_TRUE(ps.empty()) << all(ps);
    auto inferred = mf::io::infer_transformer_config(shapes);
    EXPECT_EQ(inferred.inner_dim(), cfg.inner_dim());
    EXPECT_EQ(inferred.num_layers, cfg.num_layers);
    EXPECT_EQ(inferred.add_motion_score, cfg.add_motion_score);
    EXPECT_EQ(inferred.cross_attention_dim, cfg.cross_attention_dim);
  }
  for (const char* name : {"cogvideox_vae_tiny", "cogvideox_vae_tiny_tiled"}) {
    SCOPED_TRACE(name);
    auto f = mf::io::SafetensorsFile::open((root / (std::string(name) + ".safetensors")).string());
    auto cfg = mf::io::VaeConfig::from_json(json::parse(f->metadata().at("config")), "metadata config");
    EXPECT_TRUE(cfg.unsupported().empty());
    auto ps = mf::io::check_vae_weights(cfg, shapes_with_prefix(*f, "weights."), f->path());
    EXPECT_TRUE(ps.empty()) << all(ps);
    cfg.layers_per_block = 2;  // a wrong config is caught on the official key layout
    EXPECT_TRUE(has_problem(mf::io::check_vae_weights(cfg, shapes_with_prefix(*f, "weights."), f->path()),
                            "layers_per_block", "holds 2 resnets"));
  }
  auto w = mf::io::SafetensorsFile::open((root / "pipeline" / "mfm_pipeline_tiny_weights.safetensors").string());
  auto tc = TransformerConfig::from_json(json::parse(w->metadata().at("transformer_config")), "m");
  EXPECT_TRUE(mf::io::check_transformer_weights(tc, shapes_with_prefix(*w, "weights.transformer."), w->path()).empty());
  auto vc = mf::io::VaeConfig::from_json(json::parse(w->metadata().at("vae_config")), "m");
  EXPECT_TRUE(mf::io::check_vae_weights(vc, shapes_with_prefix(*w, "weights.vae."), w->path()).empty());
  auto sc = mf::io::SchedulerConfig::from_json(json::parse(w->metadata().at("scheduler_config")), "m");
  EXPECT_DOUBLE_EQ(sc.shift, 5.0);
  EXPECT_TRUE(sc.unsupported().empty());
}

TEST(PipelineFolder, ReadsAConsistentFolder) {
  fs::path root = temp_dir("good");
  write_pipeline(root);
  auto pf = mf::io::read_pipeline_folder(root.string());
  EXPECT_TRUE(pf.ok()) << pf.report();
  EXPECT_EQ(pf.pipeline_class, "MfMPipeline");
  EXPECT_EQ(pf.components.size(), 5u);  // depth_pipe [null, null] is skipped
  ASSERT_TRUE(pf.transformer && pf.vae && pf.text_encoder && pf.tokenizer && pf.scheduler);
  EXPECT_EQ(pf.transformer->inner_dim(), 64);
  EXPECT_EQ(pf.vae->block_out_channels, (std::vector<int>{8, 16}));
  EXPECT_EQ(pf.text_encoder->d_model, 48);
  EXPECT_DOUBLE_EQ(pf.scheduler->shift, 5.0);
  EXPECT_FALSE(pf.tokenizer->spiece_model.empty());
  const auto* t = pf.component("transformer");
  ASSERT_NE(t, nullptr);
  EXPECT_NE(t->weights.find("diffusion_pytorch_model.safetensors"), std::string::npos);
  EXPECT_GT(t->num_parameters, 1000000u);  // the adapter alone has ~2.5 M
  EXPECT_NO_THROW(mf::io::require_ok(pf));
  fs::remove_all(root);
}

TEST(PipelineFolder, ShardedTransformer) {
  fs::path root = temp_dir("sharded");
  write_pipeline(root);
  fs::path tdir = root / "transformer";
  fs::remove(tdir / "diffusion_pytorch_model.safetensors");
  ShapeMap all_shapes = transformer_shapes(64, 2, 48, false, false, true), a, b;
  json wm = json::object();
  for (const auto& [n, s] : all_shapes) {
    bool first = n.rfind("cond_conv", 0) == 0;
    (first ? a : b)[n] = s;
    wm[n] = first ? "diffusion_pytorch_model-00001-of-00002.safetensors"
                  : "diffusion_pytorch_model-00002-of-00002.safetensors";
  }
  write_weights(tdir / "diffusion_pytorch_model-00001-of-00002.safetensors", a);
  write_weights(tdir / "diffusion_pytorch_model-00002-of-00002.safetensors", b);
  write_json(tdir / "diffusion_pytorch_model.safetensors.index.json", {{"metadata", {{"total_size", 1}}}, {"weight_map", wm}});
  auto pf = mf::io::read_pipeline_folder(root.string());
  EXPECT_TRUE(pf.ok()) << pf.report();
  EXPECT_NE(pf.component("transformer")->weights.find("index.json"), std::string::npos);
  EXPECT_EQ(pf.component("transformer")->num_tensors, all_shapes.size());
  fs::remove_all(root);
}

TEST(PipelineFolder, ProblemsNameFileAndKey) {
  fs::path root = temp_dir("bad");
  auto j = transformer_json();
  j["num_layers"] = 3;
  j["sequence_parallel_size"] = 2;
  j["mystery_key"] = 1;
  write_pipeline(root, j);
  auto pf = mf::io::read_pipeline_folder(root.string());
  EXPECT_FALSE(pf.ok());
  const std::string cfg = (root / "transformer" / "config.json").string();
  const std::string w = (root / "transformer" / "diffusion_pytorch_model.safetensors").string();
  bool layers = false, sp = false, mystery = false;
  for (const auto& p : pf.problems) {
    layers = layers || (p.file == w && p.key == "num_layers");
    sp = sp || (p.file == cfg && p.key == "sequence_parallel_size" && p.unsupported);
    mystery = mystery || (p.file == cfg && p.key == "mystery_key" && p.severity == ConfigProblem::Severity::Warning);
  }
  EXPECT_TRUE(layers && sp && mystery) << pf.report();
  try {
    mf::io::require_ok(pf);
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadFile);  // not only unsupported settings
    EXPECT_NE(std::string(e.what()).find("num_layers"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("sequence_parallel_size"), std::string::npos);
  }
  fs::remove_all(root);
}

TEST(PipelineFolder, OnlyUnsupportedSettingsGiveUnsupported) {
  fs::path root = temp_dir("unsup");
  auto j = transformer_json();
  j["sequence_parallel_size"] = 8;
  write_pipeline(root, j);
  auto pf = mf::io::read_pipeline_folder(root.string());
  try {
    mf::io::require_ok(pf);
    FAIL();
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::Unsupported) << e.what();
  }
  fs::remove_all(root);
}

TEST(PipelineFolder, BrokenPieces) {
  fs::path root = temp_dir("broken");
  EXPECT_THROW(
      {
        try {
          mf::io::read_pipeline_folder(root.string());
        } catch (const mf::Error& e) {
          EXPECT_EQ(e.code(), mf::ErrorCode::MissingModel);
          throw;
        }
      },
      mf::Error);
  write_pipeline(root);
  std::ofstream(root / "vae" / "config.json") << "{ broken";
  fs::remove_all(root / "scheduler");
  {  // truncate the text encoder weights
    fs::path p = root / "text_encoder" / "model.safetensors";
    fs::resize_file(p, fs::file_size(p) - 10);
  }
  auto pf = mf::io::read_pipeline_folder(root.string());
  std::string r = pf.report();
  EXPECT_NE(r.find((root / "vae" / "config.json").string() + ": not a well-formed JSON"), std::string::npos) << r;
  EXPECT_NE(r.find((root / "scheduler").string() + ": component folder is missing"), std::string::npos) << r;
  EXPECT_NE(r.find("model.safetensors: not a valid safetensors file"), std::string::npos) << r;
  EXPECT_FALSE(pf.ok());
  fs::remove_all(root);
}

// ---- model kind detection (describe_model) -----------------------------------------------------------

namespace {
mf::io::CheckpointFiles checkpoint_of(const fs::path& file, const ShapeMap& shapes,
                                      const std::map<std::string, std::string>& meta = {}) {
  std::vector<mf::io::TensorBlob> blobs;
  for (const auto& [name, shape] : shapes) {
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    blobs.push_back({name, mf::io::DType::U8, shape, std::vector<uint8_t>(n, 0)});
  }
  mf::io::write_safetensors(file.string(), blobs, meta);
  return mf::io::open_checkpoint(file.string());
}

ShapeMap prefixed(const ShapeMap& m, const std::string& p) {
  ShapeMap out;
  for (const auto& kv : m) out[p + kv.first] = kv.second;
  return out;
}
}  // namespace

TEST(ModelInfo, EverySharedParityFileIsRecognised) {
  const fs::path root = MF_SHARED_DIR "/parity";
  if (!fs::exists(root)) GTEST_SKIP() << "no ../shared/parity";
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(e.path().string());
    const std::string stem = e.path().stem().string();
    auto info = mf::io::describe_model(mf::io::open_checkpoint(e.path().string()), e.path().string());
    for (const auto& p : info.problems) ADD_FAILURE() << p.to_string();
    if (stem.rfind("mfm_dit_tiny", 0) == 0) {
      EXPECT_EQ(info.kind, "parity");
      EXPECT_EQ(info.component, "transformer");
      EXPECT_EQ(info.config["transformer"]["num_layers"], 2);
      EXPECT_EQ(info.config_source["transformer"], "metadata 'config'");
      EXPECT_GT(info.num_parameters, 3000000u);
    } else if (stem.rfind("cogvideox_vae", 0) == 0) {
      EXPECT_EQ(info.kind, "parity");
      EXPECT_EQ(info.component, "vae");
      EXPECT_EQ(info.config["vae"]["block_out_channels"], json({32, 32, 64, 64}));
    } else if (stem == "flowmatch_euler_schedules") {
      EXPECT_EQ(info.kind, "schedules");
    } else if (stem == "mfm_pipeline_tiny_weights") {
      EXPECT_EQ(info.kind, "pipeline_weights");
      EXPECT_TRUE(info.config.contains("transformer") && info.config.contains("vae") && info.config.contains("scheduler"));
      EXPECT_EQ(info.weight_prefixes["vae"], "weights.vae.");
    } else if (stem.rfind("mfm_pipeline_", 0) == 0) {
      EXPECT_EQ(info.kind, "pipeline_golden");
      EXPECT_EQ("mfm_pipeline_" + info.task, stem);
    } else if (stem == "inputs") {
      EXPECT_EQ(info.kind, "pipeline_inputs");
    } else {
      // A parity file added later by another component: it must at least be recognised as one.
      EXPECT_NE(info.kind, "unknown") << stem;
    }
    ++n;
  }
  EXPECT_GE(n, 23);
}

TEST(ModelInfo, BareCheckpointsGetInferredConfigs) {
  fs::path dir = temp_dir("kinds");
  auto t = mf::io::describe_model(checkpoint_of(dir / "t.safetensors", transformer_shapes(128, 3, 48, true, false, true)), "t");
  EXPECT_EQ(t.kind, "checkpoint");
  EXPECT_EQ(t.component, "transformer");
  EXPECT_EQ(t.config_source["transformer"], "inferred from shapes");
  EXPECT_EQ(t.config["transformer"]["num_layers"], 3);
  EXPECT_EQ(t.config["transformer"]["attention_bias"], true);
  EXPECT_TRUE(t.problems.empty());  // an inferred config is consistent by construction

  auto v = mf::io::describe_model(checkpoint_of(dir / "v.safetensors", vae_shapes()), "v");
  EXPECT_EQ(v.component, "vae");
  EXPECT_EQ(v.config["vae"]["block_out_channels"], json({8, 16}));
  EXPECT_EQ(v.config["vae"]["latent_channels"], 4);
  EXPECT_EQ(v.config["vae"]["layers_per_block"], 1);
  auto vc = mf::io::VaeConfig::from_json(v.config["vae"], "inferred");
  EXPECT_TRUE(mf::io::check_vae_weights(vc, vae_shapes(), "v").empty());

  auto e = mf::io::describe_model(checkpoint_of(dir / "e.safetensors", t5_shapes()), "e");
  EXPECT_EQ(e.component, "t5");
  EXPECT_EQ(e.config["t5"]["d_model"], 48);
  EXPECT_EQ(e.config["t5"]["num_heads"], 4);
  EXPECT_EQ(e.config["t5"]["d_kv"], 12);
  EXPECT_EQ(e.config["t5"]["num_layers"], 2);
  EXPECT_EQ(e.config["t5"]["feed_forward_proj"], "gated-gelu");
  auto ec = mf::io::T5Config::from_json(e.config["t5"], "inferred");
  EXPECT_TRUE(mf::io::check_t5_weights(ec, t5_shapes(), "e").empty());

  ShapeMap depth = {{"backbone.embeddings.cls_token", {1, 1, 8}}, {"neck.convs.0.weight", {4, 8, 3, 3}},
                    {"head.conv1.weight", {4, 4, 3, 3}}};
  EXPECT_EQ(mf::io::describe_model(checkpoint_of(dir / "d.safetensors", depth), "d").component, "depth");
  auto u = mf::io::describe_model(checkpoint_of(dir / "u.safetensors", {{"foo", {3}}}), "u");
  EXPECT_EQ(u.kind, "unknown");
  EXPECT_EQ(u.num_parameters, 3u);

  // A parity file of a T5 (weights.*) with a config in metadata that contradicts the weights.
  ShapeMap par = prefixed(t5_shapes(), "weights.");
  par["in.ids"] = {1, 4};
  par["out.hidden"] = {1, 4, 48};
  auto p = mf::io::describe_model(
      checkpoint_of(dir / "p.safetensors", par,
                    {{"config", R"({"vocab_size": 40, "d_model": 48, "d_kv": 12, "d_ff": 64, "num_layers": 3,
                                    "num_heads": 4, "feed_forward_proj": "gated-gelu"})"}}),
      "p");
  EXPECT_EQ(p.kind, "parity");
  EXPECT_EQ(p.component, "t5");
  uint64_t t5_params = 0;  // only weights.* count as parameters, not in.* / out.*
  for (const auto& kv : t5_shapes()) {
    uint64_t m = 1;
    for (auto d : kv.second) m *= static_cast<uint64_t>(d);
    t5_params += m;
  }
  EXPECT_EQ(p.num_parameters, t5_params);
  EXPECT_TRUE(has_problem(p.problems, "num_layers", "2 encoder blocks")) << all(p.problems);
  fs::remove_all(dir);
}

TEST(PipelineConfigs, SharedTokenizerFolder) {
  const fs::path dir = MF_SHARED_DIR "/parity/pipeline/tokenizer";
  if (!fs::exists(dir)) GTEST_SKIP() << "no ../shared/parity/pipeline/tokenizer";
  auto t = mf::io::TokenizerInfo::from_folder(dir.string());
  EXPECT_EQ(t.tokenizer_class, "T5Tokenizer");
  EXPECT_EQ(t.extra_ids, 0);  // the file says 0 (the code default is 100)
  EXPECT_TRUE(t.legacy);
  EXPECT_EQ(t.model_max_length, 512);
  EXPECT_EQ(t.pad_token, "<pad>");
  EXPECT_EQ(t.eos_token, "</s>");
  EXPECT_FALSE(t.spiece_model.empty());
  EXPECT_TRUE(t.tokenizer_json.empty());
}

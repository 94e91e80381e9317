#include "mf/io/model_info.h"

#include <algorithm>

#include "mf/core/error.h"

namespace mf::io {

namespace {

using json = nlohmann::json;

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

bool any_prefix(const ShapeMap& m, const std::string& p) {
  auto it = m.lower_bound(p);
  return it != m.end() && starts_with(it->first, p);
}

ShapeMap strip(const ShapeMap& m, const std::string& prefix) {
  ShapeMap out;
  for (auto it = m.lower_bound(prefix); it != m.end() && starts_with(it->first, prefix); ++it)
    out[it->first.substr(prefix.size())] = it->second;
  return out;
}

uint64_t numel(const std::vector<int64_t>& s) {
  uint64_t n = 1;
  for (auto d : s) n *= static_cast<uint64_t>(d);
  return n;
}

uint64_t count_params(const ShapeMap& m) {
  uint64_t n = 0;
  for (const auto& kv : m) n += numel(kv.second);
  return n;
}

int count_indexed(const ShapeMap& shapes, const std::string& root) {
  int n = 0;
  for (auto it = shapes.lower_bound(root); it != shapes.end() && starts_with(it->first, root); ++it) {
    size_t pos = root.size(), end = it->first.find('.', pos);
    if (end == std::string::npos || end == pos) continue;
    const std::string num = it->first.substr(pos, end - pos);
    if (num.size() > 6 || !std::all_of(num.begin(), num.end(), ::isdigit)) continue;
    n = std::max(n, std::stoi(num) + 1);
  }
  return n;
}

const std::vector<int64_t>* shape_of(const ShapeMap& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : &it->second;
}

// Parses a component config from a metadata string and cross-checks it against `shapes`.
void config_from_metadata(ModelInfo& info, const std::string& component, const std::string& text,
                          const std::string& meta_key, const ShapeMap& shapes, const std::string& file) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    info.problems.push_back({ConfigProblem::Severity::Error, file, meta_key,
                             "__metadata__ '" + meta_key + "' is not a JSON object", false});
    return;
  }
  const std::string where = file + " __metadata__ '" + meta_key + "'";
  std::vector<ConfigProblem> ps;
  try {
    if (component == "transformer") {
      auto c = TransformerConfig::from_json(j, where);
      info.config[component] = c.to_json();
      ps = check_transformer_weights(c, shapes, file);
      info.cross_checked = true;
    } else if (component == "vae") {
      auto c = VaeConfig::from_json(j, where);
      info.config[component] = c.to_json();
      ps = check_vae_weights(c, shapes, file);
      info.cross_checked = true;
    } else if (component == "t5") {
      auto c = T5Config::from_json(j, where);
      info.config[component] = c.to_json();
      ps = check_t5_weights(c, shapes, file);
      info.cross_checked = true;
    } else if (component == "scheduler") {
      info.config[component] = SchedulerConfig::from_json(j, where).to_json();
    } else {
      info.config[component] = j;  // no typed config for this component: shown as stored
    }
    info.config_source[component] = "metadata '" + meta_key + "'";
  } catch (const Error& e) {
    info.problems.push_back({ConfigProblem::Severity::Error, file, meta_key, e.what(), false});
  }
  info.problems.insert(info.problems.end(), ps.begin(), ps.end());
}

void config_inferred(ModelInfo& info, const std::string& component, const ShapeMap& shapes,
                     const std::string& file) {
  // An inferred config agrees with the shapes by construction; still run the checks, which also verify
  // the shapes the inference did not look at (every block, FFN widths, adapter).
  std::vector<ConfigProblem> ps;
  if (component == "transformer") ps = check_transformer_weights(infer_transformer_config(shapes), shapes, file);
  else if (component == "vae") ps = check_vae_weights(infer_vae_config(shapes), shapes, file);
  else if (component == "t5") ps = check_t5_weights(infer_t5_config(shapes), shapes, file);
  info.problems.insert(info.problems.end(), ps.begin(), ps.end());
  info.cross_checked = component == "transformer" || component == "vae" || component == "t5";
  if (component == "transformer") info.config[component] = infer_transformer_config(shapes).to_json();
  else if (component == "vae") info.config[component] = infer_vae_config(shapes).to_json();
  else if (component == "t5") info.config[component] = infer_t5_config(shapes).to_json();
  else return;
  info.config_source[component] = "inferred from shapes";
}

}  // namespace

std::string detect_component(const ShapeMap& s) {
  if (s.count("pos_embed.proj.weight") && any_prefix(s, "transformer_blocks.")) return "transformer";
  if (s.count("decoder.conv_in.conv.weight") || s.count("encoder.conv_in.conv.weight")) return "vae";
  if (s.count("encoder.block.0.layer.0.SelfAttention.q.weight") ||
      (s.count("shared.weight") && any_prefix(s, "encoder.block.")))
    return "t5";
  if (any_prefix(s, "backbone.embeddings.") && (any_prefix(s, "neck.") || any_prefix(s, "head."))) return "depth";
  bool sched = !s.empty();
  for (const auto& kv : s) sched = sched && (ends_with(kv.first, ".sigmas") || ends_with(kv.first, ".timesteps"));
  if (sched) return "scheduler";
  return "";
}

VaeConfig infer_vae_config(const ShapeMap& s) {
  VaeConfig c;
  const int n_up = count_indexed(s, "decoder.up_blocks.");
  if (n_up > 0) {
    std::vector<int> rev;
    for (int b = 0; b < n_up; ++b)
      if (const auto* w = shape_of(s, "decoder.up_blocks." + std::to_string(b) + ".resnets.0.conv1.conv.weight"))
        rev.push_back(static_cast<int>((*w)[0]));
    if (static_cast<int>(rev.size()) == n_up) c.block_out_channels.assign(rev.rbegin(), rev.rend());
    c.layers_per_block = count_indexed(s, "decoder.up_blocks.0.resnets.") - 1;
    c.up_block_types.assign(n_up, "CogVideoXUpBlock3D");
    c.down_block_types.assign(n_up, "CogVideoXDownBlock3D");
  }
  if (const auto* w = shape_of(s, "decoder.conv_in.conv.weight"); w && w->size() >= 2)
    c.latent_channels = static_cast<int>((*w)[1]);
  if (const auto* w = shape_of(s, "decoder.conv_out.conv.weight"); w && !w->empty())
    c.out_channels = static_cast<int>((*w)[0]);
  if (const auto* w = shape_of(s, "encoder.conv_in.conv.weight"); w && w->size() >= 2)
    c.in_channels = static_cast<int>((*w)[1]);
  c.use_post_quant_conv = s.count("post_quant_conv.weight") > 0;
  c.use_quant_conv = s.count("quant_conv.weight") > 0;
  return c;
}

T5Config infer_t5_config(const ShapeMap& s) {
  T5Config c;
  const auto* e = shape_of(s, "shared.weight");
  if (!e) e = shape_of(s, "encoder.embed_tokens.weight");
  if (e && e->size() == 2) {
    c.vocab_size = static_cast<int>((*e)[0]);
    c.d_model = static_cast<int>((*e)[1]);
  }
  c.num_layers = count_indexed(s, "encoder.block.");
  const std::string a = "encoder.block.0.layer.0.SelfAttention.";
  if (const auto* r = shape_of(s, a + "relative_attention_bias.weight"); r && r->size() == 2) {
    c.relative_attention_num_buckets = static_cast<int>((*r)[0]);
    c.num_heads = static_cast<int>((*r)[1]);
  }
  if (const auto* q = shape_of(s, a + "q.weight"); q && q->size() == 2 && c.num_heads > 0)
    c.d_kv = static_cast<int>((*q)[0] / c.num_heads);
  const std::string f = "encoder.block.0.layer.1.DenseReluDense.";
  if (const auto* w = shape_of(s, f + "wi_0.weight"); w && !w->empty()) {
    c.d_ff = static_cast<int>((*w)[0]);
    c.feed_forward_proj = "gated-gelu";
  } else if (const auto* w1 = shape_of(s, f + "wi.weight"); w1 && !w1->empty()) {
    c.d_ff = static_cast<int>((*w1)[0]);
  }
  return c;
}

std::string ModelInfo::summary() const {
  auto comp = [](const std::string& c) {
    if (c == "t5") return std::string("T5 text encoder");
    if (c == "vae") return std::string("CogVideoX VAE");
    if (c == "transformer") return std::string("MfM transformer (Transformer3DModel)");
    if (c == "depth") return std::string("Depth-Anything depth estimator");
    if (c == "scheduler") return std::string("scheduler");
    return c.empty() ? std::string("unrecognised component") : c;
  };
  if (kind == "checkpoint") return comp(component) + " checkpoint";
  if (kind == "parity") return "parity file of the " + comp(component) + " (weights.*, in.*, out.*)";
  if (kind == "schedules") return "scheduler parity tables (FlowMatch Euler sigmas/timesteps)";
  if (kind == "pipeline_golden") return "MfM pipeline golden for task '" + task + "'";
  if (kind == "pipeline_weights") return "tiny transformer + VAE weights of the pipeline goldens";
  if (kind == "pipeline_inputs") return "input videos/images of the pipeline goldens";
  return "unknown safetensors file (no known component)";
}

ModelInfo describe_model(const CheckpointFiles& ck, const std::string& file) {
  ModelInfo info;
  ShapeMap shapes;
  for (const auto& [name, e] : ck.tensors) shapes[name] = e.info->shape;
  static const std::map<std::string, std::string> kEmpty;
  const auto& meta = ck.files.empty() ? kEmpty : ck.files[0]->metadata();
  auto meta_get = [&](const std::string& k) -> const std::string* {
    auto it = meta.find(k);
    return it == meta.end() ? nullptr : &it->second;
  };

  const bool has_out = any_prefix(shapes, "out.");
  const bool has_weights = any_prefix(shapes, "weights.");
  if (meta_get("task") && has_out) {
    info.kind = "pipeline_golden";
    info.task = *meta_get("task");
    info.num_parameters = 0;
    return info;
  }
  if (any_prefix(shapes, "weights.transformer.") || any_prefix(shapes, "weights.vae.")) {
    info.kind = "pipeline_weights";
    for (const char* c : {"transformer", "vae"}) {
      const std::string prefix = std::string("weights.") + c + ".";
      ShapeMap sub = strip(shapes, prefix);
      if (sub.empty()) continue;
      info.weight_prefixes[c] = prefix;
      info.num_parameters += count_params(sub);
      if (const std::string* m = meta_get(std::string(c) + "_config"))
        config_from_metadata(info, c, *m, std::string(c) + "_config", sub, file);
      else
        config_inferred(info, c, sub, file);
    }
    if (const std::string* m = meta_get("scheduler_config"))
      config_from_metadata(info, "scheduler", *m, "scheduler_config", {}, file);
    return info;
  }
  if (has_weights) {
    ShapeMap sub = strip(shapes, "weights.");
    info.kind = "parity";
    info.component = detect_component(sub);
    info.weight_prefixes[info.component] = "weights.";
    info.num_parameters = count_params(sub);
    if (const std::string* m = meta_get("config"))
      config_from_metadata(info, info.component.empty() ? "model" : info.component, *m, "config", sub, file);
    else
      config_inferred(info, info.component, sub, file);
    return info;
  }
  info.component = detect_component(shapes);
  info.num_parameters = count_params(shapes);
  if (info.component == "scheduler") {
    info.kind = "schedules";
    info.component.clear();
    info.num_parameters = 0;
    return info;
  }
  if (info.component.empty()) {
    bool media = !shapes.empty();
    for (const auto& kv : shapes) media = media && (starts_with(kv.first, "video.") || starts_with(kv.first, "image."));
    info.kind = media ? "pipeline_inputs" : "unknown";
    if (media) info.num_parameters = 0;
    return info;
  }
  info.kind = "checkpoint";
  info.weight_prefixes[info.component] = "";
  if (const std::string* m = meta_get("config"))
    config_from_metadata(info, info.component, *m, "config", shapes, file);
  else
    config_inferred(info, info.component, shapes, file);
  return info;
}

}  // namespace mf::io

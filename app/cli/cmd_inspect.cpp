// `manyfold inspect PATH...`: what is in a safetensors file, a sharded checkpoint, a component folder or an
// MfM pipeline folder: tensors, dtypes, shapes, parameter counts, __metadata__, the detected model kind
// and its config, and the cross-check of config against shapes. Reads headers only (never tensor data),
// so it is instant on multi-GB checkpoints and safe on broken files.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "mf/core/error.h"
#include "mf/io/checkpoint.h"
#include "mf/io/model_info.h"
#include "mf/io/pipeline_folder.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Options {
  bool as_json = false;
  bool full = false;      // do not shorten long metadata values
  long max_tensors = -1;  // -1: all
};

std::string human(uint64_t n) {
  std::ostringstream os;
  if (n >= 1000000000ull) os << std::fixed << std::setprecision(2) << n / 1e9 << " B";
  else if (n >= 1000000ull) os << std::fixed << std::setprecision(2) << n / 1e6 << " M";
  else if (n >= 1000ull) os << std::fixed << std::setprecision(1) << n / 1e3 << " K";
  else os << n;
  return os.str();
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

json problems_json(const std::vector<mf::io::ConfigProblem>& ps) {
  json a = json::array();
  for (const auto& p : ps)
    a.push_back({{"severity", p.severity == mf::io::ConfigProblem::Severity::Error ? "error" : "warning"},
                 {"file", p.file},
                 {"key", p.key},
                 {"message", p.message},
                 {"unsupported", p.unsupported}});
  return a;
}

int count_errors(const std::vector<mf::io::ConfigProblem>& ps) {
  int n = 0;
  for (const auto& p : ps) n += p.severity == mf::io::ConfigProblem::Severity::Error;
  return n;
}

void print_problems(const std::vector<mf::io::ConfigProblem>& ps) {
  const int errors = count_errors(ps);
  if (ps.empty()) {
    std::cout << "cross-check: ok\n";
    return;
  }
  std::cout << "cross-check: " << errors << " error(s), " << ps.size() - errors << " warning(s)\n";
  for (const auto& p : ps) std::cout << "  " << p.to_string() << "\n";
}

// A component folder (config.json next to weights) is read with the typed config of its kind.
void check_component_config(const std::string& dir, mf::io::ModelInfo& info, const mf::io::CheckpointFiles& ck) {
  const fs::path cfg = fs::path(dir) / "config.json";
  if (!fs::exists(cfg) || info.kind != "checkpoint") return;
  std::ifstream in(cfg);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    info.problems.push_back({mf::io::ConfigProblem::Severity::Error, cfg.string(), "", "not a well-formed JSON object", false});
    return;
  }
  mf::io::ShapeMap shapes;
  for (const auto& [name, e] : ck.tensors) shapes[name] = e.info->shape;
  std::vector<mf::io::ConfigProblem> ps;
  try {
    if (info.component == "transformer") {
      auto c = mf::io::TransformerConfig::from_json(j, cfg.string());
      info.config[info.component] = c.to_json();
      ps = mf::io::check_transformer_weights(c, shapes, ck.description);
      for (auto& [k, m] : c.unsupported()) ps.push_back({mf::io::ConfigProblem::Severity::Error, cfg.string(), k, m, true});
    } else if (info.component == "vae") {
      auto c = mf::io::VaeConfig::from_json(j, cfg.string());
      info.config[info.component] = c.to_json();
      ps = mf::io::check_vae_weights(c, shapes, ck.description);
      for (auto& [k, m] : c.unsupported()) ps.push_back({mf::io::ConfigProblem::Severity::Error, cfg.string(), k, m, true});
    } else if (info.component == "t5") {
      auto c = mf::io::T5Config::from_json(j, cfg.string());
      info.config[info.component] = c.to_json();
      ps = mf::io::check_t5_weights(c, shapes, ck.description);
    } else {
      return;
    }
    info.config_source[info.component] = cfg.string();
    info.problems = ps;
    info.cross_checked = true;
  } catch (const mf::Error& e) {
    info.problems.push_back({mf::io::ConfigProblem::Severity::Error, cfg.string(), "", e.what(), false});
  }
}

int inspect_checkpoint(const std::string& path, const Options& opt) {
  mf::io::CheckpointFiles ck = mf::io::open_checkpoint(path);
  mf::io::ModelInfo info = mf::io::describe_model(ck, ck.description);
  if (fs::is_directory(path)) check_component_config(path, info, ck);

  uint64_t bytes = 0, numel_total = 0;
  std::map<std::string, int> dtype_counts;
  json files = json::array();
  for (const auto& f : ck.files) {
    bytes += f->file_size();
    files.push_back({{"path", f->path()}, {"bytes", f->file_size()}, {"header_bytes", f->header_size()},
                     {"tensors", f->tensors().size()}});
  }
  json tensors = json::array();
  for (const auto& [name, e] : ck.tensors) {
    numel_total += e.info->numel();
    dtype_counts[mf::io::dtype_name(e.info->dtype)]++;
    tensors.push_back({{"name", name},
                       {"dtype", mf::io::dtype_name(e.info->dtype)},
                       {"shape", e.info->shape},
                       {"numel", e.info->numel()},
                       {"file", ck.files.size() > 1 ? ck.files[e.file]->path() : std::string()}});
  }
  const auto& meta = ck.files.empty() ? std::map<std::string, std::string>() : ck.files[0]->metadata();
  const int errors = count_errors(info.problems);

  if (opt.as_json) {
    json j;
    j["path"] = path;
    j["kind"] = info.kind;
    j["component"] = info.component;
    if (!info.task.empty()) j["task"] = info.task;
    j["summary"] = info.summary();
    j["files"] = files;
    j["bytes"] = bytes;
    j["num_tensors"] = ck.tensors.size();
    j["num_parameters"] = info.num_parameters;
    j["numel_total"] = numel_total;
    j["dtypes"] = dtype_counts;
    j["weight_prefixes"] = info.weight_prefixes;
    j["metadata"] = meta;
    j["config"] = info.config;
    j["config_source"] = info.config_source;
    j["problems"] = problems_json(info.problems);
    j["cross_checked"] = info.cross_checked;
    j["ok"] = errors == 0;
    if (opt.max_tensors >= 0 && static_cast<long>(tensors.size()) > opt.max_tensors)
      tensors.erase(tensors.begin() + opt.max_tensors, tensors.end());
    j["tensors"] = tensors;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << path << "\n";
    std::cout << "  kind        " << info.summary() << "\n";
    std::cout << "  files       " << ck.files.size() << " (" << human(bytes) << "B)";
    if (!ck.index_path.empty()) std::cout << ", index " << ck.index_path;
    std::cout << "\n";
    std::cout << "  tensors     " << ck.tensors.size() << " (";
    bool first = true;
    for (const auto& [d, n] : dtype_counts) {
      std::cout << (first ? "" : ", ") << n << " " << d;
      first = false;
    }
    std::cout << ")\n";
    std::cout << "  parameters  " << info.num_parameters << " (" << human(info.num_parameters) << ")";
    if (!info.weight_prefixes.empty() && info.kind != "checkpoint") {
      std::cout << " in";
      for (const auto& [c, p] : info.weight_prefixes) std::cout << " " << p << "*";
    }
    std::cout << "; all tensors " << numel_total << " elements\n";
    if (!meta.empty()) {
      std::cout << "metadata:\n";
      for (const auto& [k, v] : meta) {
        std::string shown = v;
        if (!opt.full && shown.size() > 160) shown = shown.substr(0, 157) + "...";
        std::cout << "  " << k << " = " << shown << "\n";
      }
    }
    for (auto it = info.config.begin(); it != info.config.end(); ++it) {
      std::cout << "config of the " << it.key() << " (" << info.config_source[it.key()] << "):\n";
      std::cout << "  " << it.value().dump() << "\n";
    }
    if (info.cross_checked || !info.problems.empty())
      print_problems(info.problems);
    else if (info.kind == "checkpoint" || info.kind == "parity")
      std::cout << "cross-check: none (no typed config for this component)\n";
    if (opt.max_tensors != 0) {
      std::cout << "tensors:\n";
      size_t w = 0;
      for (const auto& t : tensors) w = std::max(w, t["name"].get<std::string>().size());
      long shown = 0;
      for (const auto& t : tensors) {
        if (opt.max_tensors >= 0 && shown >= opt.max_tensors) {
          std::cout << "  ... " << tensors.size() - shown << " more (--max-tensors)\n";
          break;
        }
        const std::string name = t["name"].get<std::string>();
        std::cout << "  " << name << std::string(w - name.size() + 2, ' ') << std::setw(7) << std::left
                  << t["dtype"].get<std::string>() << std::right << " "
                  << shape_str(t["shape"].get<std::vector<int64_t>>()) << "  " << t["numel"].get<uint64_t>() << "\n";
        ++shown;
      }
    }
  }
  return errors ? mf::cli::kExitCheckFailed : mf::cli::kExitOk;
}

int inspect_pipeline(const std::string& dir, const Options& opt) {
  mf::io::PipelineFolder pf = mf::io::read_pipeline_folder(dir);
  const int errors = count_errors(pf.problems);
  json configs = json::object();
  if (pf.transformer) configs["transformer"] = pf.transformer->to_json();
  if (pf.vae) configs["vae"] = pf.vae->to_json();
  if (pf.text_encoder) configs["text_encoder"] = pf.text_encoder->to_json();
  if (pf.tokenizer) configs["tokenizer"] = pf.tokenizer->to_json();
  if (pf.scheduler) configs["scheduler"] = pf.scheduler->to_json();
  uint64_t total = 0;
  for (const auto& c : pf.components) total += c.num_parameters;
  if (opt.as_json) {
    json j;
    j["path"] = dir;
    j["kind"] = "pipeline_folder";
    j["pipeline_class"] = pf.pipeline_class;
    j["diffusers_version"] = pf.diffusers_version;
    json comps = json::array();
    for (const auto& c : pf.components)
      comps.push_back({{"name", c.name}, {"library", c.library}, {"class", c.class_name}, {"dir", c.dir},
                       {"config_file", c.config_file}, {"weights", c.weights}, {"num_tensors", c.num_tensors},
                       {"num_parameters", c.num_parameters},
                       {"config", configs.contains(c.name) ? configs[c.name] : json(nullptr)}});
    j["components"] = comps;
    j["num_parameters"] = total;
    j["problems"] = problems_json(pf.problems);
    j["ok"] = errors == 0;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << dir << "\n  kind        MfM pipeline folder (" << (pf.pipeline_class.empty() ? "?" : pf.pipeline_class)
              << (pf.diffusers_version.empty() ? "" : ", diffusers " + pf.diffusers_version) << ")\n"
              << "  parameters  " << total << " (" << human(total) << ")\ncomponents:\n";
    for (const auto& c : pf.components) {
      std::cout << "  " << c.name << ": " << c.class_name << " (" << c.library << ")\n";
      if (!c.weights.empty())
        std::cout << "    weights  " << c.weights << " (" << c.num_tensors << " tensors, " << human(c.num_parameters)
                  << " parameters)\n";
      if (configs.contains(c.name)) std::cout << "    config   " << configs[c.name].dump() << "\n";
    }
    print_problems(pf.problems);
  }
  return errors ? mf::cli::kExitCheckFailed : mf::cli::kExitOk;
}

int inspect_one(const std::string& path, const Options& opt) {
  std::error_code ec;
  if (fs::is_directory(path, ec) && fs::exists(fs::path(path) / "model_index.json", ec)) return inspect_pipeline(path, opt);
  return inspect_checkpoint(path, opt);
}

int run_inspect(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv, {"json", "full"});
  auto unknown = args.unknown({"json", "full", "max-tensors"});
  if (!unknown.empty()) return mf::cli::usage_error("inspect", "unknown option " + unknown[0]);
  if (args.positionals().empty()) return mf::cli::usage_error("inspect", "expects at least one PATH");
  Options opt;
  opt.as_json = args.has("json");
  opt.full = args.has("full");
  opt.max_tensors = args.get_int("max-tensors", -1);
  int worst = mf::cli::kExitOk;
  for (size_t i = 0; i < args.positionals().size(); ++i) {
    const std::string& path = args.positionals()[i];
    if (i > 0 && !opt.as_json) std::cout << "\n";
    int rc;
    try {
      rc = inspect_one(path, opt);
    } catch (const mf::Error& e) {
      // One broken file does not stop the others; the exit code reports the worst.
      std::cerr << "manyfold inspect: " << mf::to_string(e.code()) << ": " << e.what() << "\n";
      if (opt.as_json)
        std::cout << json{{"path", path}, {"error", e.what()}, {"code", mf::to_string(e.code())}}.dump() << "\n";
      rc = mf::exit_code_for(e.code());
    }
    worst = std::max(worst, rc);
  }
  std::cout.flush();
  return worst;
}

}  // namespace

MF_CLI_COMMAND("inspect", "show what a weights file or an MfM pipeline folder holds",
               "manyfold inspect PATH... [--json] [--full] [--max-tensors N]\n"
               "  PATH: a .safetensors file, a *.safetensors.index.json (sharded), a component folder\n"
               "  (config.json + weights) or an MfM pipeline folder (model_index.json).\n"
               "  Prints tensors (dtype, shape, element count), parameter counts, __metadata__, the detected\n"
               "  kind (transformer / VAE / T5 / depth checkpoint, parity file of a component, pipeline golden)\n"
               "  with its config, and the cross-check of config against tensor shapes. Reads headers only.\n"
               "  --json: one JSON object per PATH (a broken PATH gives {\"path\", \"error\", \"code\"}).\n"
               "  --full: do not shorten long metadata values.  --max-tensors N: list at most N tensors.\n"
               "  Exit 0 when everything is consistent, 1 when a cross-check found errors, and the error's\n"
               "  exit code (4 = broken file, 5 = missing) when a PATH cannot be read.",
               run_inspect);

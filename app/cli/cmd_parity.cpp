// `manyfold parity FILE`: compare a component against the official code's recorded outputs.
#include <cmath>
#include <iostream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "mf/core/error.h"
#include "parity.h"

namespace mf::cli {

static std::vector<ParityHandler>& handler_registry() {
  static std::vector<ParityHandler> h;
  return h;
}
void register_parity_handler(ParityHandler h) { handler_registry().push_back(std::move(h)); }
const std::vector<ParityHandler>& parity_handlers() { return handler_registry(); }

namespace {

struct Metrics {
  double rel_l2, max_abs, cosine;
};

Metrics compare(const torch::Tensor& got, const torch::Tensor& ref) {
  auto a = got.to(torch::kFloat64).flatten();
  auto b = ref.to(torch::kFloat64).flatten();
  double nb = b.norm().item<double>();
  double diff = (a - b).norm().item<double>();
  double na = a.norm().item<double>();
  Metrics m;
  m.rel_l2 = nb > 0 ? diff / nb : diff;
  m.max_abs = a.numel() ? (a - b).abs().max().item<double>() : 0.0;
  m.cosine = (na > 0 && nb > 0) ? (a * b).sum().item<double>() / (na * nb) : (na == nb ? 1.0 : 0.0);
  return m;
}

int run_parity(const std::vector<std::string>& argv) {
  Args args(argv, {"verbose"});
  auto unknown = args.unknown({"verbose", "rel-l2", "cosine"});
  if (!unknown.empty()) return usage_error("parity", "unknown option " + unknown[0]);
  if (args.positionals().size() != 1) return usage_error("parity", "expects exactly one FILE");
  const std::string path = args.positionals()[0];

  auto file = mf::io::WeightSource::open(path);
  const ParityHandler* handler = nullptr;
  for (auto& h : parity_handlers()) {
    if (h.detect(file)) {
      handler = &h;
      break;
    }
  }
  if (!handler) {
    std::string known;
    for (auto& h : parity_handlers()) known += (known.empty() ? "" : ", ") + h.component;
    throw mf::Error(mf::ErrorCode::Unsupported,
                    path + " is not a parity file of a component this build knows (known: " + known + ")");
  }
  std::string dtype = "float32";
  auto outputs = handler->run(file, &dtype);
  const bool bf16 = dtype == "bfloat16";
  const double tol_rel = args.get_double("rel-l2", bf16 ? 2e-2 : 1e-4);
  const double tol_cos = args.get_double("cosine", bf16 ? 0.999 : 0.0);

  bool pass = !outputs.empty();
  nlohmann::json j;
  j["file"] = path;
  j["component"] = handler->component;
  j["dtype"] = dtype;
  j["tolerance"] = {{"rel_l2", tol_rel}, {"cosine", tol_cos}};
  double worst_rel = 0, worst_abs = 0, worst_cos = 1;
  nlohmann::json per = nlohmann::json::object();
  for (auto& o : outputs) {
    if (o.got.sizes() != o.reference.sizes()) {
      std::ostringstream msg;
      msg << "output '" << o.name << "' has shape " << o.got.sizes() << " but the reference has "
          << o.reference.sizes();
      throw mf::Error(mf::ErrorCode::Internal, msg.str());
    }
    auto m = compare(o.got, o.reference);
    bool ok = std::isfinite(m.rel_l2) && m.rel_l2 <= tol_rel && m.cosine >= tol_cos;
    pass = pass && ok;
    per[o.name] = {{"rel_l2", m.rel_l2}, {"max_abs", m.max_abs}, {"cosine", m.cosine}, {"pass", ok}};
    worst_rel = std::max(worst_rel, std::isfinite(m.rel_l2) ? m.rel_l2 : INFINITY);
    worst_abs = std::max(worst_abs, m.max_abs);
    worst_cos = std::min(worst_cos, m.cosine);
  }
  j["rel_l2"] = worst_rel;
  j["max_abs"] = worst_abs;
  j["cosine"] = worst_cos;
  j["outputs"] = per;
  j["pass"] = pass;
  std::cout << j.dump() << std::endl;
  return pass ? kExitOk : kExitCheckFailed;
}

}  // namespace
}  // namespace mf::cli

MF_CLI_COMMAND("parity", "compare a component with the official outputs in a parity file",
               "manyfold parity FILE [--rel-l2 X] [--cosine X]\n"
               "  FILE holds weights.*, in.*, out.* and the config in its metadata (see ../shared/parity).\n"
               "  Runs the component on CPU in the file's dtype and prints one JSON line with the relative L2\n"
               "  error, max abs error and cosine similarity of every output. Exit 1 above the tolerances\n"
               "  (float32: rel L2 <= 1e-4; bfloat16: cosine >= 0.999 and rel L2 <= 2e-2).",
               mf::cli::run_parity);

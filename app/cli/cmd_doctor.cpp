// `manyfold doctor`: what this install has, what is missing, and how to fix it.
#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "command.h"
#include "mf/io/runtime.h"

namespace fs = std::filesystem;

namespace {

int run_doctor(const std::vector<std::string>& argv) {
  mf::cli::Args args(argv, {"json"});
  auto unknown = args.unknown({"json"});
  if (!unknown.empty()) return mf::cli::usage_error("doctor", "unknown option " + unknown[0]);

  auto rt = mf::io::describe_runtime();
  std::vector<std::string> problems;
  nlohmann::json j;
  j["manyfold_version"] = MF_VERSION;
  j["torch_version"] = rt.torch_version;
  j["intra_op_threads"] = rt.intra_op_threads;
  j["inter_op_threads"] = rt.inter_op_threads;
  j["blas"] = rt.blas;
  j["cuda_available"] = rt.cuda_available;
  j["cuda_devices"] = rt.cuda_devices;

  if (rt.blas.find("openblas") == std::string::npos && rt.blas.find("mkl") == std::string::npos) {
    problems.push_back(
        "LibTorch is not using an optimised BLAS (found: " + rt.blas +
        "). Install it: sudo apt-get install libopenblas0-openmp  (CPU matrix math is ~30x slower without it)");
  }
  if (rt.intra_op_threads < 2 && std::thread::hardware_concurrency() > 1) {
    problems.push_back("LibTorch runs on 1 thread although the machine has " +
                       std::to_string(std::thread::hardware_concurrency()) +
                       " cores; unset OMP_NUM_THREADS/MF_NUM_THREADS or raise them");
  }
  fs::path default_model = fs::path(MF_SOURCE_DIR) / "resources" / "models" / "manyfold-toy";
  j["default_model"] = default_model.string();
  j["default_model_present"] = fs::exists(default_model / "model_index.json");
  if (!j["default_model_present"].get<bool>()) {
    problems.push_back("the built-in model is not in " + default_model.string() +
                       " (it is not built yet in this version: use --model DIR with an MfM pipeline folder)");
  }
  j["problems"] = problems;

  if (args.has("json")) {
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "Manyfold " << MF_VERSION << "\n"
              << "  LibTorch        " << rt.torch_version << "\n"
              << "  threads         " << rt.intra_op_threads << " intra-op, " << rt.inter_op_threads
              << " inter-op (" << std::thread::hardware_concurrency() << " cores)\n"
              << "  BLAS            " << rt.blas << "\n"
              << "  CUDA            "
              << (rt.cuda_available ? std::to_string(rt.cuda_devices) + " device(s)" : "not available (CPU only)")
              << "\n"
              << "  built-in model  " << (j["default_model_present"].get<bool>() ? "present" : "missing")
              << "\n";
    if (problems.empty()) {
      std::cout << "All checks passed.\n";
    } else {
      std::cout << "\n" << problems.size() << " problem(s):\n";
      for (auto& p : problems) std::cout << "  - " << p << "\n";
    }
  }
  // Only a slow BLAS/threads set-up is a failed install; a missing built-in model is reported, not fatal.
  int hard = 0;
  for (auto& p : problems) hard += p.find("built-in model") == std::string::npos;
  return hard ? mf::cli::kExitCheckFailed : mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND("doctor", "check the install: versions, threads, BLAS, CUDA, models",
               "manyfold doctor [--json]\n  Prints versions, thread counts, the BLAS in use, CUDA availability\n"
               "  and what is missing with how to fix it. Exit 1 when the install is misconfigured.",
               run_doctor);

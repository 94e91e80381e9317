// What the benchmark programs share about --device: resolving it (cpu, cuda or cuda:N) with one message when that
// GPU is missing, and the device as part of a default result file name.
#pragma once

#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "mf/io/runtime.h"

namespace mf::bench {

// The device named by --device, or nullopt after printing "<program>: <why>" to stderr.
inline std::optional<c10::Device> resolve_bench_device(const std::string& program, const std::string& name) {
  try {
    return mf::io::resolve_device(name);
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return std::nullopt;
  }
}

// "cuda:0" -> "cuda_0".
inline std::string device_file_tag(std::string name) {
  for (char& c : name)
    if (c == ':') c = '_';
  return name;
}

}  // namespace mf::bench

// A temporary folder for one test binary's run (removed with the object): <tmp>/<prefix>_<name>_<pid>.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace mf::test {

class TempDir {
 public:
  TempDir(const std::string& prefix, const std::string& name)
      : path_(std::filesystem::temp_directory_path() / (prefix + "_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str(const std::string& sub = "") const { return sub.empty() ? path_.string() : (path_ / sub).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace mf::test

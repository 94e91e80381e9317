#include "mf/io/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "mf/core/error.h"

namespace fs = std::filesystem;

namespace mf::io {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

CheckpointFiles open_index(const std::string& index_path) {
  std::ifstream in(index_path, std::ios::binary);
  if (!in) throw Error(ErrorCode::Io, index_path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error(ErrorCode::BadFile, index_path + ": not a well-formed JSON object");
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object() || wm->empty())
    throw Error(ErrorCode::BadFile, index_path + ": has no \"weight_map\" object mapping tensor names to shard files");
  CheckpointFiles ck;
  ck.index_path = index_path;
  const fs::path dir = fs::path(index_path).parent_path();
  std::map<std::string, size_t> shard_of_file;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      throw Error(ErrorCode::BadFile, index_path + ": weight_map entry '" + it.key() + "' is not a file name");
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "..")
      throw Error(ErrorCode::BadFile, index_path + ": weight_map entry '" + it.key() + "' names '" + shard +
                                          "', which is not a file next to the index");
    auto found = shard_of_file.find(shard);
    size_t fi;
    if (found == shard_of_file.end()) {
      const std::string p = (dir / shard).string();
      if (!fs::exists(p))
        throw Error(ErrorCode::BadFile, index_path + ": shard '" + shard + "' (holding '" + it.key() +
                                            "') does not exist next to the index");
      fi = ck.files.size();
      ck.files.push_back(SafetensorsFile::open(p));
      shard_of_file[shard] = fi;
    } else {
      fi = found->second;
    }
    const TensorInfo* info = ck.files[fi]->find(it.key());
    if (!info)
      throw Error(ErrorCode::BadFile, index_path + ": tensor '" + it.key() + "' should be in shard '" + shard +
                                          "' but that file does not hold it");
    ck.tensors[it.key()] = {fi, info};
  }
  ck.description = index_path + " (" + std::to_string(ck.files.size()) + " shards)";
  return ck;
}

}  // namespace

std::string find_weights_in_folder(const std::string& dir) {
  std::vector<std::string> indexes, files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (ends_with(name, ".safetensors.index.json")) indexes.push_back(name);
    else if (ends_with(name, ".safetensors")) files.push_back(name);
  }
  if (ec) throw Error(ErrorCode::Io, dir + ": cannot list: " + ec.message());
  std::sort(indexes.begin(), indexes.end());
  std::sort(files.begin(), files.end());
  auto pick = [&](const std::vector<std::string>& c, const std::vector<std::string>& preferred,
                  const char* what) -> std::string {
    if (c.size() == 1) return (fs::path(dir) / c[0]).string();
    for (const auto& p : preferred)
      if (std::find(c.begin(), c.end(), p) != c.end()) return (fs::path(dir) / p).string();
    throw Error(ErrorCode::BadInput, dir + ": holds several " + what + " (" + join(c) +
                                         "); point at the one to use");
  };
  if (!indexes.empty())
    return pick(indexes,
                {"diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json"},
                "safetensors index files");
  if (!files.empty())
    return pick(files, {"diffusion_pytorch_model.safetensors", "model.safetensors"}, "safetensors files");
  return "";
}

CheckpointFiles open_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorCode::MissingModel, path + ": no such file or folder");
  std::string target = path;
  if (fs::is_directory(path, ec)) {
    target = find_weights_in_folder(path);
    if (target.empty())
      throw Error(ErrorCode::MissingModel,
                  path + ": the folder holds no *.safetensors file and no *.safetensors.index.json");
  }
  if (ends_with(target, ".json")) return open_index(target);
  CheckpointFiles ck;
  ck.files.push_back(SafetensorsFile::open(target));
  for (const auto& t : ck.files[0]->tensors()) ck.tensors[t.name] = {0, &t};
  ck.description = target;
  return ck;
}

}  // namespace mf::io

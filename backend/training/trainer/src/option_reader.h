// OptionReader: reads the fields of one JSON config object into typed options, recording every problem (wrong
// type, out of range, required but missing, unknown key) instead of throwing, so a config's problems are all
// reported at once. Private to mf_training: config.cpp and the stages' option parsers share it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mf::training {

// Reads fields of one JSON object, recording problems instead of throwing.
class OptionReader {
 public:
  OptionReader(const nlohmann::json& obj, std::string where, std::vector<std::string>& problems)
      : obj_(obj), where_(std::move(where)), problems_(problems) {}

  // A config section (e.g. "mfm") must be a JSON object before its fields can be read: false (and one problem)
  // otherwise.
  static bool section_is_object(const nlohmann::json& j, const std::string& section, std::vector<std::string>& problems) {
    if (j.is_object()) return true;
    problems.push_back("'" + section + "' must be an object, found " + j.dump());
    return false;
  }

  bool has(const std::string& key) {
    seen_.insert(key);
    auto it = obj_.find(key);
    return it != obj_.end() && !it->is_null();
  }
  void problem(const std::string& key, const std::string& what) { problems_.push_back(name(key) + " " + what); }

  template <typename T>
  void integer(const std::string& key, T& out, int64_t lo, int64_t hi, bool required = false) {
    if (!has(key)) {
      if (required) problems_.push_back(name(key) + " is required");
      return;
    }
    const nlohmann::json& v = obj_.at(key);
    if (!v.is_number() || (v.is_number_float() && v.get<double>() != std::floor(v.get<double>()))) {
      problem(key, "must be an integer, found " + v.dump());
      return;
    }
    const double d = v.get<double>();
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
      problem(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], found " + v.dump());
      return;
    }
    out = static_cast<T>(v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>());
  }

  // lo_open / hi_open: the bound itself is excluded.
  void number(const std::string& key, double& out, double lo, double hi, bool lo_open = false, bool hi_open = false) {
    if (!has(key)) return;
    const nlohmann::json& v = obj_.at(key);
    if (!v.is_number()) {
      problem(key, "must be a number, found " + v.dump());
      return;
    }
    const double d = v.get<double>();
    const bool ok = std::isfinite(d) && (lo_open ? d > lo : d >= lo) && (hi_open ? d < hi : d <= hi);
    if (!ok) {
      std::ostringstream os;
      os << "must be in " << (lo_open ? "(" : "[") << lo << ", " << hi << (hi_open ? ")" : "]") << ", found "
         << v.dump();
      problem(key, os.str());
      return;
    }
    out = d;
  }

  // `what` names the expected value in the "is required" problem, e.g. "a folder path".
  void string(const std::string& key, std::string& out, bool required = false, const std::string& what = "") {
    if (!has(key)) {
      if (required) problems_.push_back(name(key) + " is required" + (what.empty() ? "" : " (" + what + ")"));
      return;
    }
    const nlohmann::json& v = obj_.at(key);
    if (!v.is_string()) {
      problem(key, "must be a string, found " + v.dump());
      return;
    }
    out = v.get<std::string>();
  }

  void boolean(const std::string& key, bool& out) {
    if (!has(key)) return;
    const nlohmann::json& v = obj_.at(key);
    if (!v.is_boolean()) {
      problem(key, "must be true or false, found " + v.dump());
      return;
    }
    out = v.get<bool>();
  }

  void choice(const std::string& key, std::string& out, const std::vector<std::string>& allowed,
              bool required = false) {
    if (!has(key)) {
      if (required) problems_.push_back(name(key) + " is required (one of " + join(allowed) + ")");
      return;
    }
    const nlohmann::json& v = obj_.at(key);
    if (!v.is_string() || std::find(allowed.begin(), allowed.end(), v.get<std::string>()) == allowed.end()) {
      problem(key, "must be one of " + join(allowed) + ", found " + v.dump());
      return;
    }
    out = v.get<std::string>();
  }

  void unknown_keys() {
    for (auto it = obj_.begin(); it != obj_.end(); ++it)
      if (!seen_.count(it.key())) {
        std::vector<std::string> known(seen_.begin(), seen_.end());
        problems_.push_back("unknown key " + name(it.key()) + " (known: " + join(known, false) + ")");
      }
  }

  std::string name(const std::string& key) const { return "'" + (where_.empty() ? key : where_ + "." + key) + "'"; }
  const nlohmann::json& at(const std::string& key) const { return obj_.at(key); }

  static std::string join(const std::vector<std::string>& v, bool quote = true) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + (quote ? "\"" + v[i] + "\"" : v[i]);
    return s;
  }

 private:
  const nlohmann::json& obj_;
  std::string where_;
  std::vector<std::string>& problems_;
  std::set<std::string> seen_;
};

}  // namespace mf::training

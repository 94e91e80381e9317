#include "command.h"

#include <cstdlib>
#include <iostream>

namespace mf::cli {

static std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> r;
  return r;
}

void register_command(Command c) { registry()[c.name] = std::move(c); }
const std::map<std::string, Command>& commands() { return registry(); }

Args::Args(const std::vector<std::string>& argv, const std::vector<std::string>& boolean_flags) {
  auto is_bool = [&](const std::string& k) {
    for (auto& b : boolean_flags)
      if (b == k) return true;
    return false;
  };
  bool only_positionals = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (only_positionals || a.size() < 3 || a.rfind("--", 0) != 0) {
      if (a == "--") {
        only_positionals = true;
        continue;
      }
      positionals_.push_back(a);
      continue;
    }
    std::string key = a.substr(2);
    auto eq = key.find('=');
    if (eq != std::string::npos) {
      values_[key.substr(0, eq)].push_back(key.substr(eq + 1));
    } else if (is_bool(key) || i + 1 >= argv.size() ||
               (argv[i + 1].rfind("--", 0) == 0 && argv[i + 1].size() > 2)) {
      values_[key].push_back("");
    } else {
      values_[key].push_back(argv[++i]);
    }
  }
}

bool Args::has(const std::string& key) const { return values_.count(key) > 0; }

std::optional<std::string> Args::get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Args::get_or(const std::string& key, const std::string& fallback) const {
  auto v = get(key);
  return v ? *v : fallback;
}

std::vector<std::string> Args::get_all(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int Args::get_int(const std::string& key, int fallback) const {
  auto v = get(key);
  if (!v || v->empty()) return fallback;
  char* end = nullptr;
  long n = std::strtol(v->c_str(), &end, 10);
  if (*end != '\0') throw std::invalid_argument("--" + key + " expects a whole number, got '" + *v + "'");
  return static_cast<int>(n);
}

double Args::get_double(const std::string& key, double fallback) const {
  auto v = get(key);
  if (!v || v->empty()) return fallback;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (*end != '\0') throw std::invalid_argument("--" + key + " expects a number, got '" + *v + "'");
  return d;
}

std::vector<std::string> Args::unknown(const std::vector<std::string>& known) const {
  std::vector<std::string> out;
  for (auto& [k, v] : values_) {
    bool ok = false;
    for (auto& n : known) ok = ok || n == k;
    if (!ok) out.push_back("--" + k);
  }
  return out;
}

int usage_error(const std::string& name, const std::string& message) {
  std::cerr << "manyfold " << name << ": " << message << "\n(see 'manyfold help " << name << "')\n";
  return kExitUsage;
}

}  // namespace mf::cli

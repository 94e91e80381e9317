#include "mf/project/recent.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/project/persistence.h"

namespace mf::project {

namespace {
std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
// One spelling per folder: absolute, no "." or "..", no trailing separator.
fs::path normalised(const fs::path& p) {
  fs::path n = fs::absolute(p).lexically_normal();
  if (n.has_relative_path() && n.filename().empty()) n = n.parent_path();
  return n;
}
}  // namespace

RecentProjects::RecentProjects(fs::path file, std::size_t max_entries) : file_(std::move(file)), max_(max_entries) {}

fs::path RecentProjects::default_file() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg) return fs::path(xdg) / "manyfold" / "recent.json";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".config" / "manyfold" / "recent.json";
}

std::vector<RecentProject> RecentProjects::list() const {
  problem_.clear();
  std::vector<RecentProject> out;
  std::error_code ec;
  if (!fs::exists(file_, ec)) return out;
  try {
    const auto j = nlohmann::json::parse(read_file(file_));
    for (const auto& e : j.at("projects")) {
      RecentProject r;
      r.folder = fs::path(e.at("folder").get<std::string>());
      r.name = e.value("name", std::string());
      r.opened_at_unix_ms = e.value("opened_at_unix_ms", std::int64_t{0});
      out.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    problem_ = "the recent-projects list " + file_.string() + " is damaged and was ignored (" + e.what() + ")";
    out.clear();
  }
  return out;
}

void RecentProjects::write(const std::vector<RecentProject>& entries) const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : entries)
    arr.push_back({{"folder", r.folder.string()}, {"name", r.name}, {"opened_at_unix_ms", r.opened_at_unix_ms}});
  std::error_code ec;
  fs::create_directories(file_.parent_path(), ec);
  if (ec) throw Error(ErrorCode::Io, "Cannot create '" + file_.parent_path().string() + "': " + ec.message());
  atomic_write_file(file_, nlohmann::json{{"version", 1}, {"projects", arr}}.dump(2) + "\n");
}

void RecentProjects::add(const fs::path& folder, const std::string& name) {
  auto entries = list();
  const fs::path key = normalised(folder);
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const RecentProject& r) { return normalised(r.folder) == key; }),
                entries.end());
  entries.insert(entries.begin(), RecentProject{key, name, now_unix_ms()});
  if (entries.size() > max_) entries.resize(max_);
  write(entries);
}

void RecentProjects::remove(const fs::path& folder) {
  auto entries = list();
  const fs::path key = normalised(folder);
  const auto n = entries.size();
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const RecentProject& r) { return normalised(r.folder) == key; }),
                entries.end());
  if (entries.size() != n) write(entries);
}

std::size_t RecentProjects::prune_missing() {
  auto entries = list();
  const auto n = entries.size();
  std::error_code ec;
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const RecentProject& r) { return !fs::exists(r.folder / kProjectFileName, ec); }),
                entries.end());
  if (entries.size() != n) write(entries);
  return n - entries.size();
}

}  // namespace mf::project

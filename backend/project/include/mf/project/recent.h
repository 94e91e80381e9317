// The recent-projects list shown on the start screen: a small JSON file in the user's config folder
// ($XDG_CONFIG_HOME/manyfold/recent.json, else ~/.config/manyfold/recent.json), most recent first.
//
// The file is re-read on every call (another studio window may have changed it) and rewritten atomically.
// A damaged file reads as an empty list (problem() says why) and is replaced on the next add(): losing the
// list must never stop the studio from starting.
//
// Threading: one object per thread; concurrent processes may race (last writer wins, the file stays valid).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mf::project {

struct RecentProject {
  std::filesystem::path folder;
  std::string name;
  std::int64_t opened_at_unix_ms = 0;
};

class RecentProjects {
 public:
  explicit RecentProjects(std::filesystem::path file = default_file(), std::size_t max_entries = 12);

  // $XDG_CONFIG_HOME/manyfold/recent.json, else $HOME/.config/manyfold/recent.json.
  static std::filesystem::path default_file();

  const std::filesystem::path& file() const { return file_; }
  std::vector<RecentProject> list() const;
  // Moves (or adds) `folder` to the front, with the time now; keeps at most max_entries.
  void add(const std::filesystem::path& folder, const std::string& name);
  void remove(const std::filesystem::path& folder);
  // Drops entries whose folder has no project.json any more; returns how many went.
  std::size_t prune_missing();
  const std::string& problem() const { return problem_; }

 private:
  void write(const std::vector<RecentProject>& entries) const;

  std::filesystem::path file_;
  std::size_t max_;
  mutable std::string problem_;
};

}  // namespace mf::project

#include "mf/project/persistence.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "mf/core/error.h"
#include "mf/project/invariants.h"

namespace mf::project {

namespace {

std::string os_error(int err) { return std::strerror(err); }

[[noreturn]] void io_fail(const std::string& what, const fs::path& path, int err) {
  throw Error(ErrorCode::Io, what + " '" + path.string() + "': " + os_error(err) +
                                 ". Check that the disk is not full and that you may write there");
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // some file systems do not allow opening directories; the rename is still atomic
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void atomic_write_file(const fs::path& path, std::string_view contents) {
  static std::atomic<unsigned> counter{0};
  const fs::path dir = path.parent_path();
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_fail("Cannot create", tmp, errno);
  const char* p = contents.data();
  std::size_t left = contents.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      io_fail("Cannot write", tmp, err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    io_fail("Cannot flush", tmp, err);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("Cannot close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("Cannot replace", path, err);
  }
  fsync_dir(dir);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) io_fail("Cannot read", path, errno ? errno : ENOENT);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) io_fail("Cannot read", path, errno);
  return ss.str();
}

const Migrations& default_migrations() {
  // Version 1 is the first schema. When version 2 arrives, add steps.emplace(1, [](json& d) { ...; }) here;
  // migrate_project_json bumps schema_version after each step.
  static const Migrations m{kSchemaVersion, {}};
  return m;
}

nlohmann::json migrate_project_json(nlohmann::json doc, const std::string& source, const Migrations& migrations) {
  mf::check(doc.is_object(), ErrorCode::BadFile,
            source + ": the top level is not a JSON object, so this is not a Manyfold project file");
  mf::check(doc.contains("schema_version") && doc["schema_version"].is_number_integer(), ErrorCode::BadFile,
            source + ": schema_version is missing or not an integer, so this is not a Manyfold project file "
                     "(or it was damaged); restore a backup");
  int version = doc["schema_version"].get<int>();
  mf::check(version <= migrations.current, ErrorCode::Unsupported,
            source + " uses project schema version " + std::to_string(version) +
                ", written by a newer Manyfold; this build reads versions up to " +
                std::to_string(migrations.current) + ". Update Manyfold to open it (the file was not changed)");
  mf::check(version >= 1, ErrorCode::BadFile, source + ": schema_version " + std::to_string(version) + " is invalid");
  while (version < migrations.current) {
    auto it = migrations.steps.find(version);
    mf::check(it != migrations.steps.end(), ErrorCode::Unsupported,
              source + ": no migration from project schema version " + std::to_string(version) + " to " +
                  std::to_string(version + 1) + " in this build");
    it->second(doc);
    ++version;
    doc["schema_version"] = version;
  }
  return doc;
}

Project parse_project_text(const std::string& text, const std::string& source, const Migrations& migrations) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::BadFile, source + " is not valid JSON (" + e.what() +
                                        "). It may have been cut short by a crash or a full disk: restore a backup, "
                                        "or open the project and accept the autosave recovery if one is offered");
  }
  doc = migrate_project_json(std::move(doc), source, migrations);
  Project p = project_from_json(doc, source);
  require_invariants(p, source + " is inconsistent (damaged or edited by hand)", ErrorCode::BadFile);
  return p;
}

Project load_project_file(const fs::path& file, const Migrations& migrations) {
  std::error_code ec;
  mf::check(fs::exists(file, ec), ErrorCode::Io,
            "No project file at '" + file.string() + "': choose the project folder that contains project.json");
  return parse_project_text(read_file(file), file.string(), migrations);
}

std::string project_to_text(const Project& project) { return to_json(project).dump(2) + "\n"; }

void save_project_file(const fs::path& file, const Project& project) { atomic_write_file(file, project_to_text(project)); }

void create_project_folders(const fs::path& folder) {
  std::error_code ec;
  for (const char* sub : {kMediaDir, kMasksDir, kRendersDir, kJobsDir}) {
    fs::create_directories(folder / sub, ec);
    if (ec) throw Error(ErrorCode::Io, "Cannot create folder '" + (folder / sub).string() + "': " + ec.message());
  }
}

}  // namespace mf::project

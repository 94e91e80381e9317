// Files of a project: the folder layout, atomic writes, reading project.json with schema migration, and
// writing it back.
//
// A project is a folder:
//   project.json   the document (schema_version first; see projects/schema/project.schema.json)
//   media/         imported footage and stills
//   masks/         painted mask PNGs (one per mask keyframe)
//   renders/       finished jobs and exports
//   jobs/          the engine's persisted queue
//   .autosave/     the crash-recovery journal (session.h)
//
// Atomic write = write a temporary file in the same folder, fsync it, rename it over the target, fsync the
// folder: after a crash the target holds either the old or the new contents, never a torn mix.
//
// Threading: free functions without shared state; atomic_write_file may run on any thread (distinct paths).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mf/project/document.h"

namespace mf::project {

namespace fs = std::filesystem;

inline constexpr const char* kProjectFileName = "project.json";
inline constexpr const char* kMediaDir = "media";
inline constexpr const char* kMasksDir = "masks";
inline constexpr const char* kRendersDir = "renders";
inline constexpr const char* kJobsDir = "jobs";
inline constexpr const char* kAutosaveDir = ".autosave";

// Writes `contents` to `path` atomically (see above). Throws mf::Error(Io) naming the path and the OS error.
void atomic_write_file(const fs::path& path, std::string_view contents);
// Reads a whole file. Throws mf::Error(Io) naming the path when it cannot be read.
std::string read_file(const fs::path& path);

// Upgrades a project.json document from schema version N to N+1, in place.
using MigrationStep = std::function<void(nlohmann::json& doc)>;

struct Migrations {
  int current = kSchemaVersion;
  std::map<int, MigrationStep> steps;  // key: the version the step upgrades *from*
};

// The migrations of this build (none yet: version 1 is the first).
const Migrations& default_migrations();

// Brings `doc` to `migrations.current`. `source` names the file in errors:
//   - no integer schema_version -> mf::Error(BadFile)
//   - newer than current -> mf::Error(Unsupported) "written by a newer Manyfold ... update Manyfold"
//   - a version with no step to upgrade it -> mf::Error(Unsupported)
nlohmann::json migrate_project_json(nlohmann::json doc, const std::string& source,
                                    const Migrations& migrations = default_migrations());

// Parses, migrates, converts and checks invariants. Errors name `file` and say what to do:
// not JSON -> BadFile (with the parse position); newer -> Unsupported; invalid fields or broken invariants ->
// BadFile. A missing file -> Io.
Project load_project_file(const fs::path& file, const Migrations& migrations = default_migrations());
// Same, for text already read (`source` names it in errors).
Project parse_project_text(const std::string& text, const std::string& source,
                           const Migrations& migrations = default_migrations());

// The text written to project.json (pretty-printed, keys sorted, trailing newline).
std::string project_to_text(const Project& project);
// Atomic write of project.json.
void save_project_file(const fs::path& file, const Project& project);

// Creates media/, masks/, renders/, jobs/ under `folder` (and the folder itself).
void create_project_folders(const fs::path& folder);

}  // namespace mf::project

#include "mf/project/session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "mf/core/error.h"
#include "mf/project/invariants.h"

namespace mf::project {

namespace {

constexpr const char* kJournalFormat = "manyfold-autosave";
constexpr int kJournalVersion = 1;

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string generic(const fs::path& p) { return p.generic_string(); }

}  // namespace

std::string text_fingerprint(const std::string& text) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

ProjectSession::ProjectSession(fs::path folder, Project doc, std::string saved_text)
    : folder_(std::move(folder)), doc_(std::move(doc)), saved_fingerprint_(text_fingerprint(saved_text)) {
  autosaved_revision_ = stack_.revision();
}

std::unique_ptr<ProjectSession> ProjectSession::create(const fs::path& folder, const NewProjectOptions& options) {
  const fs::path file = folder / kProjectFileName;
  std::error_code ec;
  mf::check(!fs::exists(file, ec), ErrorCode::BadInput,
            "'" + folder.string() + "' already holds a project (project.json); open it, or choose another folder");
  check_frame_rate(options.fps);
  mf::check(options.resolution.width > 0 && options.resolution.height > 0, ErrorCode::BadInput,
            "the project resolution must be positive");
  create_project_folders(folder);
  Project p;
  p.name = options.name.empty() ? folder.filename().string() : options.name;
  p.fps = options.fps;
  p.resolution = options.resolution;
  const std::string text = project_to_text(p);
  atomic_write_file(file, text);
  return std::unique_ptr<ProjectSession>(new ProjectSession(fs::absolute(folder), std::move(p), text));
}

std::unique_ptr<ProjectSession> ProjectSession::open(const fs::path& folder_or_file) {
  std::error_code ec;
  fs::path folder = folder_or_file;
  if (fs::is_regular_file(folder_or_file, ec) || folder_or_file.filename() == kProjectFileName)
    folder = folder_or_file.parent_path();
  folder = fs::absolute(folder);
  const fs::path file = folder / kProjectFileName;
  mf::check(fs::exists(file, ec), ErrorCode::Io,
            "No project file at '" + file.string() + "': choose a Manyfold project folder (it contains project.json)");
  const std::string text = read_file(file);
  Project p = parse_project_text(text, file.string());
  // Re-create sub-folders lost when the folder was copied (git and some sync tools drop empty folders); a
  // read-only project still opens.
  try {
    create_project_folders(folder);
  } catch (const Error&) {
  }
  auto session = std::unique_ptr<ProjectSession>(new ProjectSession(folder, std::move(p), text));
  session->detect_recovery();
  return session;
}

void ProjectSession::detect_recovery() {
  recovery_.reset();
  recovery_problem_.clear();
  const fs::path journal = journal_file();
  std::error_code ec;
  if (!fs::exists(journal, ec)) return;
  try {
    const auto j = nlohmann::json::parse(read_file(journal));
    mf::check(j.is_object() && j.value("format", std::string()) == kJournalFormat, ErrorCode::BadFile,
              "not a Manyfold autosave journal");
    mf::check(j.value("version", 0) <= kJournalVersion, ErrorCode::Unsupported,
              "written by a newer Manyfold");
    if (j.value("base_fingerprint", std::string()) != saved_fingerprint_) {
      recovery_problem_ = "the autosave journal " + journal.string() +
                          " belongs to an older state of project.json (the project was saved since); ignored";
      return;
    }
    nlohmann::json doc = migrate_project_json(j.at("document"), journal.string() + " (document)");
    Project recovered = project_from_json(doc, journal.string());
    require_invariants(recovered, journal.string() + " is inconsistent", ErrorCode::BadFile);
    if (to_json(recovered) == to_json(doc_)) return;  // nothing was lost
    RecoveryInfo info;
    info.journal = journal;
    info.written_at_unix_ms = j.value("written_at_unix_ms", std::int64_t{0});
    const auto& undo = j.contains("undo") ? j.at("undo") : nlohmann::json::object();
    info.undo_index = undo.value("index", std::size_t{0});
    info.undo_count = undo.value("count", std::size_t{0});
    info.document_name = recovered.name;
    recovery_ = PendingRecovery{std::move(info), std::move(recovered)};
  } catch (const std::exception& e) {
    recovery_problem_ = "the autosave journal " + journal.string() + " cannot be used: " + e.what();
  }
}

std::optional<RecoveryInfo> ProjectSession::recovery_info() const {
  if (!recovery_) return std::nullopt;
  return recovery_->info;
}

void ProjectSession::recover() {
  mf::check(recovery_.has_value(), ErrorCode::BadInput, "there is no autosave to recover");
  doc_ = std::move(recovery_->document);
  recovery_.reset();
  stack_.clear(/*clean=*/false);  // the recovered edits are not in project.json: unsaved
  // The journal stays on disk until the next autosave or save replaces it, so a second crash loses nothing.
  journal_written_ = true;
}

void ProjectSession::discard_recovery() {
  mf::check(recovery_.has_value(), ErrorCode::BadInput, "there is no autosave to discard");
  recovery_.reset();
  remove_journal();
}

void ProjectSession::remove_journal() {
  std::error_code ec;
  fs::remove(journal_file(), ec);
  journal_written_ = false;
}

void ProjectSession::save() {
  mf::check(!stack_.in_macro(), ErrorCode::BadInput, "finish the current edit before saving");
  require_invariants(doc_, "refusing to save an inconsistent document (a bug; please report it)");
  const std::string text = project_to_text(doc_);
  create_project_folders(folder_);
  atomic_write_file(project_file(), text);
  saved_fingerprint_ = text_fingerprint(text);
  stack_.set_clean();
  // A pending recovery of the old state is moot once the user saved on top of it.
  recovery_.reset();
  remove_journal();
  autosaved_revision_ = stack_.revision();
}

namespace {
bool is_empty_or_absent(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
}
}  // namespace

void ProjectSession::save_as(const fs::path& new_folder_in) {
  const fs::path new_folder = fs::absolute(new_folder_in);
  mf::check(is_empty_or_absent(new_folder), ErrorCode::BadInput,
            "'" + new_folder.string() + "' is not empty; choose a new or empty folder for the copy of the project");
  std::error_code ec;
  fs::create_directories(new_folder, ec);
  if (ec) throw Error(ErrorCode::Io, "Cannot create folder '" + new_folder.string() + "': " + ec.message());
  for (const char* sub : {kMediaDir, kMasksDir, kRendersDir, kJobsDir}) {
    const fs::path from = folder_ / sub;
    if (!fs::exists(from, ec)) continue;
    fs::copy(from, new_folder / sub, fs::copy_options::recursive, ec);
    if (ec)
      throw Error(ErrorCode::Io, "Cannot copy '" + from.string() + "' to '" + (new_folder / sub).string() +
                                     "': " + ec.message() + ". Check free disk space");
  }
  const fs::path old_journal = journal_file();
  folder_ = new_folder;
  save();
  // The unsaved edits now live in the new folder; the old project stays at its last saved state.
  fs::remove(old_journal, ec);
}

std::optional<ProjectSession::AutosaveWrite> ProjectSession::prepare_autosave() {
  if (recovery_) return std::nullopt;  // keep the crash journal until the user decides
  if (stack_.revision() == autosaved_revision_) return std::nullopt;
  autosaved_revision_ = stack_.revision();
  if (stack_.is_clean()) {
    if (!journal_written_) return std::nullopt;
    journal_written_ = false;
    return AutosaveWrite{journal_file(), {}, true};
  }
  nlohmann::json undo{{"index", stack_.index()}, {"count", stack_.count()}};
  undo["clean_index"] = stack_.clean_index() ? nlohmann::json(*stack_.clean_index()) : nlohmann::json(nullptr);
  nlohmann::json j{{"format", kJournalFormat},
                   {"version", kJournalVersion},
                   {"written_at_unix_ms", now_unix_ms()},
                   {"base_fingerprint", saved_fingerprint_},
                   {"undo", undo},
                   {"document", to_json(doc_)}};
  journal_written_ = true;
  return AutosaveWrite{journal_file(), j.dump() + "\n", false};
}

void ProjectSession::AutosaveWrite::run() const {
  std::error_code ec;
  if (remove) {
    fs::remove(journal, ec);
    return;
  }
  fs::create_directories(journal.parent_path(), ec);
  if (ec) throw Error(ErrorCode::Io, "Cannot create '" + journal.parent_path().string() + "': " + ec.message());
  atomic_write_file(journal, text);
}

bool ProjectSession::autosave() {
  auto write = prepare_autosave();
  if (!write) return false;
  write->run();
  return !write->remove;
}

void ProjectSession::close() {
  recovery_.reset();
  remove_journal();
}

fs::path ProjectSession::to_absolute(const std::string& relative) const {
  mf::check(is_project_relative_path(relative), ErrorCode::BadInput,
            "'" + relative + "' is not a path inside the project folder");
  return folder_ / fs::path(relative);
}

std::string ProjectSession::to_relative(const fs::path& path) const {
  const fs::path abs = fs::weakly_canonical(fs::absolute(path));
  const fs::path root = fs::weakly_canonical(folder_);
  const fs::path rel = abs.lexically_relative(root);
  const std::string s = generic(rel);
  mf::check(!rel.empty() && is_project_relative_path(s), ErrorCode::BadInput,
            "'" + path.string() + "' is outside the project folder '" + folder_.string() + "'; import it first");
  return s;
}

std::string ProjectSession::import_file(const fs::path& source, const std::string& subdir) {
  std::error_code ec;
  mf::check(fs::is_regular_file(source, ec), ErrorCode::Io, "Cannot import '" + source.string() + "': no such file");
  // Already inside the project: reference it where it is.
  {
    const fs::path abs = fs::weakly_canonical(fs::absolute(source));
    const std::string rel = generic(abs.lexically_relative(fs::weakly_canonical(folder_)));
    if (!rel.empty() && is_project_relative_path(rel)) return rel;
  }
  mf::check(is_project_relative_path(subdir), ErrorCode::BadInput, "import folder '" + subdir + "' is not valid");
  const fs::path dir = folder_ / subdir;
  fs::create_directories(dir, ec);
  const std::string stem = source.stem().string();
  const std::string ext = source.extension().string();
  fs::path target = dir / source.filename();
  for (int n = 2; fs::exists(target, ec); ++n) target = dir / (stem + "-" + std::to_string(n) + ext);
  fs::copy_file(source, target, ec);
  if (ec)
    throw Error(ErrorCode::Io, "Cannot copy '" + source.string() + "' into the project (" + target.string() +
                                   "): " + ec.message() + ". Check free disk space");
  return subdir + "/" + target.filename().string();
}

std::vector<std::string> ProjectSession::missing_files() const {
  std::vector<std::string> out;
  std::error_code ec;
  auto check_one = [&](const std::string& rel) {
    if (!fs::exists(folder_ / rel, ec) && std::find(out.begin(), out.end(), rel) == out.end()) out.push_back(rel);
  };
  for (const auto& m : doc_.media) check_one(m.path);
  for (const auto& t : doc_.timeline.mask_tracks)
    for (const auto& k : t.keyframes) check_one(k.path);
  return out;
}

std::string ProjectSession::new_mask_path(const std::string& mask_track_id, std::int64_t frame) const {
  char name[64];
  std::error_code ec;
  for (int n = 1;; ++n) {
    std::snprintf(name, sizeof name, "f%06lld-%d.png", static_cast<long long>(frame), n);
    const std::string rel = std::string(kMasksDir) + "/" + mask_track_id + "/" + name;
    bool used = fs::exists(folder_ / rel, ec);
    for (const auto& m : doc_.timeline.mask_tracks)
      for (const auto& k : m.keyframes) used = used || k.path == rel;
    if (!used) return rel;
  }
}

}  // namespace mf::project

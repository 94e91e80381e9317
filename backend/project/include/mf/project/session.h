// An open project: the folder, the document, its undo stack, save/save-as, autosave and crash recovery.
//
// Autosave: the app calls autosave() every few seconds. When the document changed since the last call and is
// not clean, a journal (.autosave/journal.json: the whole document, the undo position, and a fingerprint of
// the project.json it was based on) is rewritten atomically. save() and close() remove the journal, so a
// journal found by open() means the last session ended without saving or closing: a crash.
//
// Recovery: open() offers the journal (has_recovery()) when it parses, was based on the project.json that is
// on disk now (same fingerprint: nothing saved the project since) and differs from it. recover() loads the
// journal's document (the undo history itself is not journaled; the document is marked unsaved);
// discard_recovery() deletes the journal. While a recovery is pending, autosave() writes nothing, so the
// journal survives until the user decides.
//
// Threading: one owner thread (the UI thread). Dropping the object neither saves nor touches the journal.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mf/project/document.h"
#include "mf/project/persistence.h"
#include "mf/project/undo.h"

namespace mf::project {

struct NewProjectOptions {
  std::string name;
  Rational fps{24};
  Resolution resolution{1280, 720};
};

struct RecoveryInfo {
  fs::path journal;
  std::int64_t written_at_unix_ms = 0;  // when the journal was written
  std::size_t undo_index = 0;           // the undo position at that time
  std::size_t undo_count = 0;
  std::string document_name;
};

class ProjectSession {
 public:
  // Creates `folder` (it must not contain a project.json already) with its sub-folders and project.json.
  static std::unique_ptr<ProjectSession> create(const fs::path& folder, const NewProjectOptions& options);
  // Opens a project folder (or its project.json). Errors name the file and say what to do (persistence.h).
  static std::unique_ptr<ProjectSession> open(const fs::path& folder_or_file);

  ProjectSession(const ProjectSession&) = delete;
  ProjectSession& operator=(const ProjectSession&) = delete;

  const fs::path& folder() const { return folder_; }
  fs::path project_file() const { return folder_ / kProjectFileName; }
  fs::path journal_file() const { return folder_ / kAutosaveDir / "journal.json"; }

  const Project& document() const { return doc_; }
  UndoStack& undo_stack() { return stack_; }
  const UndoStack& undo_stack() const { return stack_; }
  // Shorthand for undo_stack().push(...).
  template <class C>
  C& push(std::unique_ptr<C> command) {
    return stack_.push(std::move(command));
  }

  // Unsaved changes (including a recovered document that was not saved yet).
  bool is_dirty() const { return !stack_.is_clean(); }

  void save();
  // Copies the folder's media/, masks/, renders/ and jobs/ into `new_folder` (which must be empty or absent),
  // writes project.json there and continues there. The old folder keeps its last saved state.
  void save_as(const fs::path& new_folder);

  // Writes the journal when the document changed since the last call; returns true when it wrote.
  bool autosave();

  // The same in two halves, for an app that keeps disk I/O off the UI thread: prepare_autosave() runs on the
  // owner thread (it serialises the document, only when it changed) and AutosaveWrite::run() on a worker.
  // Run the writes in order on one worker. A write still in flight after save() leaves a journal tied to
  // the previous project.json, which open() recognises as stale and does not offer.
  struct AutosaveWrite {
    fs::path journal;
    std::string text;     // the journal contents
    bool remove = false;  // the document is clean again: delete the journal instead
    void run() const;     // throws mf::Error(Io)
  };
  std::optional<AutosaveWrite> prepare_autosave();

  bool has_recovery() const { return recovery_.has_value(); }
  std::optional<RecoveryInfo> recovery_info() const;
  // Why a journal that exists was not offered (unreadable, stale), empty otherwise.
  const std::string& recovery_problem() const { return recovery_problem_; }
  void recover();
  void discard_recovery();

  // The user closed the project (after saving or choosing not to): removes the journal.
  void close();

  // Project-relative paths ('/' separators) <-> absolute paths.
  fs::path to_absolute(const std::string& relative) const;
  // Throws mf::Error(BadInput) when `path` is outside the project folder.
  std::string to_relative(const fs::path& path) const;
  // Copies a file into <folder>/<subdir>/ under a name not used yet (files already inside the project are not
  // copied) and returns its project-relative path, ready for a MediaItem.
  std::string import_file(const fs::path& source, const std::string& subdir = kMediaDir);
  // Project-relative paths that the document references (media items, mask keyframes) but that are missing
  // on disk, e.g. after copying a project folder without its media; the UI offers to relink them.
  std::vector<std::string> missing_files() const;
  // A fresh path masks/<mask_track_id>/f<frame>-<n>.png for a new painting. Paintings never overwrite an
  // older file, so undoing a stroke can point back at the previous image.
  std::string new_mask_path(const std::string& mask_track_id, std::int64_t frame) const;

 private:
  ProjectSession(fs::path folder, Project doc, std::string saved_text);
  void detect_recovery();
  void remove_journal();

  fs::path folder_;
  Project doc_;
  UndoStack stack_{doc_};
  std::string saved_fingerprint_;       // fingerprint of the project.json text on disk
  std::uint64_t autosaved_revision_ = 0;
  bool journal_written_ = false;

  struct PendingRecovery {
    RecoveryInfo info;
    Project document;
  };
  std::optional<PendingRecovery> recovery_;
  std::string recovery_problem_;
};

// FNV-1a 64 of a text as 16 hex digits (stable across builds; used to tie a journal to its project.json).
std::string text_fingerprint(const std::string& text);

}  // namespace mf::project

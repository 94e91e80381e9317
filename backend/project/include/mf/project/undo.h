// Undo machinery for the document: Command (redo/undo, optional merge), MacroCommand, UndoStack.
//
// Contract of a Command:
//   - The first redo() validates against the current document and throws mf::Error (BadInput for an impossible
//     edit) leaving the document unchanged. It may allocate ids (Project::make_id); undo restores next_id.
//   - undo() restores the document exactly as it was before redo() (to_json equality); a later redo() restores
//     exactly the state after the first redo(). History is linear, so redo always runs on the state undo left.
//   - merge_with(next) is called on the top command after `next` was applied; returning true folds `next`
//     into this command (a drag of 60 moves becomes one undo step).
//
// Threading: an UndoStack and its document are owned by one thread; nothing here locks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "mf/project/document.h"

namespace mf::project {

class Command {
 public:
  virtual ~Command() = default;
  virtual std::string text() const = 0;  // for the Edit menu: "Move clip"
  virtual void redo(Project& doc) = 0;
  virtual void undo(Project& doc) = 0;
  // Commands with the same non-negative merge id are of the same class and may merge.
  virtual int merge_id() const { return -1; }
  virtual bool merge_with(const Command& next) { return false; }
};

// A group of commands that undo/redo as one (e.g. "Add take" = add media + add track + add clip).
class MacroCommand : public Command {
 public:
  explicit MacroCommand(std::string text) : text_(std::move(text)) {}
  // Children given before the first redo() are applied in order by redo(); if one refuses, the ones already
  // applied are undone (so the document is unchanged) and the error propagates.
  void add(std::unique_ptr<Command> child) { children_.push_back(std::move(child)); }
  // For UndoStack::begin_macro: a child that was applied already.
  void add_applied(std::unique_ptr<Command> child);
  std::size_t size() const { return children_.size(); }
  const Command& child(std::size_t i) const { return *children_[i]; }

  std::string text() const override { return text_; }
  void redo(Project& doc) override;
  void undo(Project& doc) override;

 private:
  std::string text_;
  std::vector<std::unique_ptr<Command>> children_;
};

class UndoStack {
 public:
  explicit UndoStack(Project& doc) : doc_(doc) {}
  UndoStack(const UndoStack&) = delete;
  UndoStack& operator=(const UndoStack&) = delete;

  Project& document() { return doc_; }
  const Project& document() const { return doc_; }

  // Applies `command` and records it (discarding the redo branch). If the command refuses, it throws and the
  // document and history are unchanged. Returns the command now holding the edit: the new one, or the top
  // command it merged into (of the same class, since merge ids identify classes).
  Command& push_command(std::unique_ptr<Command> command);
  template <class C, class = std::enable_if_t<std::is_base_of_v<Command, C>>>
  C& push(std::unique_ptr<C> command) {
    return static_cast<C&>(push_command(std::unique_ptr<Command>(std::move(command))));
  }

  bool can_undo() const { return macro_depth_ == 0 && index_ > 0; }
  bool can_redo() const { return macro_depth_ == 0 && index_ < commands_.size(); }
  void undo();  // throws mf::Error(BadInput) when there is nothing to undo or a macro is open
  void redo();
  std::string undo_text() const { return can_undo() ? commands_[index_ - 1]->text() : std::string(); }
  std::string redo_text() const { return can_redo() ? commands_[index_]->text() : std::string(); }

  std::size_t index() const { return index_; }   // number of commands applied
  std::size_t count() const { return commands_.size(); }

  // Clean = the document equals the last saved state (the app shows no '*' and may skip saving).
  bool is_clean() const { return macro_depth_ == 0 && clean_index_ && *clean_index_ == index_; }
  void set_clean() { clean_index_ = index_; ++revision_; notify(); }
  // Marks the document as differing from every state in history (e.g. after recovering an autosave).
  void set_dirty() { clean_index_.reset(); ++revision_; notify(); }
  std::optional<std::size_t> clean_index() const { return clean_index_; }

  // Drops the whole history (after open or recover); the document is considered clean iff `clean`.
  void clear(bool clean = true);

  // While a macro is open, pushes apply immediately and are gathered into one undo step by end_macro().
  // Macros nest. abort_macro() undoes what the open macro applied and discards it.
  void begin_macro(const std::string& text);
  void end_macro();
  void abort_macro();
  bool in_macro() const { return macro_depth_ > 0; }

  // Oldest commands are dropped past this many (0 = unlimited).
  void set_undo_limit(std::size_t limit);

  // Increments on every change to the document or the clean state; autosave compares it to skip idle writes.
  std::uint64_t revision() const { return revision_; }

  // Called after every push, undo, redo, clear and clean-state change (tests check invariants here; the UI
  // refreshes). The callback must not push commands.
  void set_on_changed(std::function<void()> callback) { on_changed_ = std::move(callback); }

  // Merging is suppressed for the next push (e.g. a new drag starts after the mouse was released).
  void break_merge() { merge_barrier_ = true; }

 private:
  void notify();
  void enforce_limit();

  Project& doc_;
  std::vector<std::unique_ptr<Command>> commands_;
  std::size_t index_ = 0;
  std::optional<std::size_t> clean_index_ = std::size_t{0};
  std::size_t limit_ = 0;
  std::uint64_t revision_ = 0;
  bool merge_barrier_ = false;
  std::function<void()> on_changed_;
  // Open macros, innermost last.
  std::vector<std::unique_ptr<MacroCommand>> open_macros_;
  int macro_depth_ = 0;
};

}  // namespace mf::project

#include "mf/project/undo.h"

#include "mf/core/error.h"

namespace mf::project {

void MacroCommand::add_applied(std::unique_ptr<Command> child) { children_.push_back(std::move(child)); }

void MacroCommand::redo(Project& doc) {
  std::size_t applied = 0;
  try {
    for (; applied < children_.size(); ++applied) children_[applied]->redo(doc);
  } catch (...) {
    // Keep the strong guarantee: roll back the children that did apply.
    while (applied > 0) children_[--applied]->undo(doc);
    throw;
  }
}

void MacroCommand::undo(Project& doc) {
  for (std::size_t i = children_.size(); i > 0; --i) children_[i - 1]->undo(doc);
}

Command& UndoStack::push_command(std::unique_ptr<Command> command) {
  mf::check(command != nullptr, ErrorCode::Internal, "UndoStack::push: null command");
  command->redo(doc_);  // throws without side effects when refused
  ++revision_;
  if (macro_depth_ > 0) {
    Command& ref = *command;
    open_macros_.back()->add_applied(std::move(command));
    notify();
    return ref;
  }
  // A new edit after undo discards the redo branch; a clean state in that branch can no longer be reached.
  if (index_ < commands_.size()) {
    commands_.erase(commands_.begin() + static_cast<std::ptrdiff_t>(index_), commands_.end());
    if (clean_index_ && *clean_index_ > index_) clean_index_.reset();
  }
  // Merge into the top command unless that would swallow the saved state or a barrier was set.
  const bool top_is_clean = clean_index_ && *clean_index_ == index_;
  if (!merge_barrier_ && index_ > 0 && !top_is_clean && command->merge_id() >= 0 &&
      commands_[index_ - 1]->merge_id() == command->merge_id() && commands_[index_ - 1]->merge_with(*command)) {
    notify();
    return *commands_[index_ - 1];
  }
  merge_barrier_ = false;
  commands_.push_back(std::move(command));
  ++index_;
  enforce_limit();
  notify();
  return *commands_.back();
}

void UndoStack::undo() {
  mf::check(macro_depth_ == 0, ErrorCode::BadInput, "cannot undo while a grouped edit is in progress");
  mf::check(index_ > 0, ErrorCode::BadInput, "nothing to undo");
  commands_[index_ - 1]->undo(doc_);
  --index_;
  merge_barrier_ = true;  // an undone-then-new drag must not merge into an older command
  ++revision_;
  notify();
}

void UndoStack::redo() {
  mf::check(macro_depth_ == 0, ErrorCode::BadInput, "cannot redo while a grouped edit is in progress");
  mf::check(index_ < commands_.size(), ErrorCode::BadInput, "nothing to redo");
  commands_[index_]->redo(doc_);
  ++index_;
  merge_barrier_ = true;
  ++revision_;
  notify();
}

void UndoStack::clear(bool clean) {
  mf::check(macro_depth_ == 0, ErrorCode::BadInput, "cannot clear the history while a grouped edit is in progress");
  commands_.clear();
  index_ = 0;
  if (clean) clean_index_ = std::size_t{0};
  else clean_index_.reset();
  merge_barrier_ = false;
  ++revision_;
  notify();
}

void UndoStack::begin_macro(const std::string& text) {
  open_macros_.push_back(std::make_unique<MacroCommand>(text));
  ++macro_depth_;
}

void UndoStack::end_macro() {
  mf::check(macro_depth_ > 0, ErrorCode::Internal, "end_macro without begin_macro");
  std::unique_ptr<MacroCommand> macro = std::move(open_macros_.back());
  open_macros_.pop_back();
  --macro_depth_;
  if (macro->size() == 0) return;  // nothing happened: no empty undo step
  if (macro_depth_ > 0) {
    open_macros_.back()->add_applied(std::move(macro));
    return;
  }
  if (index_ < commands_.size()) {
    commands_.erase(commands_.begin() + static_cast<std::ptrdiff_t>(index_), commands_.end());
    if (clean_index_ && *clean_index_ > index_) clean_index_.reset();
  }
  commands_.push_back(std::move(macro));
  ++index_;
  merge_barrier_ = true;
  enforce_limit();
  ++revision_;
  notify();
}

void UndoStack::abort_macro() {
  mf::check(macro_depth_ > 0, ErrorCode::Internal, "abort_macro without begin_macro");
  std::unique_ptr<MacroCommand> macro = std::move(open_macros_.back());
  open_macros_.pop_back();
  --macro_depth_;
  macro->undo(doc_);
  ++revision_;
  notify();
}

void UndoStack::set_undo_limit(std::size_t limit) {
  limit_ = limit;
  enforce_limit();
}

void UndoStack::enforce_limit() {
  if (limit_ == 0 || commands_.size() <= limit_) return;
  // Only applied commands at the bottom can go; keep the redo branch intact.
  std::size_t drop = std::min(commands_.size() - limit_, index_);
  commands_.erase(commands_.begin(), commands_.begin() + static_cast<std::ptrdiff_t>(drop));
  index_ -= drop;
  if (clean_index_) {
    if (*clean_index_ < drop) clean_index_.reset();
    else *clean_index_ -= drop;
  }
}

void UndoStack::notify() {
  if (on_changed_) on_changed_();
}

}  // namespace mf::project

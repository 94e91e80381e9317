// Prompt building as the official driver and pipeline do it (mfm-reference.md C.2, C.4).
//
//   final prompt = user prompt + " " + added prompt + " " + "#task: " + task name
//   negative     = the task's negative prompt (or the user's)
// and, inside the pipeline, both are lower-cased and stripped (`_text_preprocessing` with clean_caption=False)
// before the 77-token T5 tokenization (done by models/text).
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "mf/tasks/task_id.h"
#include "mf/tasks/task_spec.h"

namespace mf::tasks {

struct PromptPair {
  std::string positive;
  std::string negative;
};

// user + " " + added + " " + "#task: " + task name, exactly as the driver concatenates (no trimming).
std::string build_prompt(const std::string& user_prompt, const std::string& added_prompt, TaskId task);

// The strings the driver hands to the pipeline for `spec` (what the parity files record as metadata).
PromptPair build_prompts(const TaskSpec& spec);

// Python's str.lower().strip() on UTF-8 text: lower-cases ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
// capitals (other scripts are left unchanged) and strips Unicode white space at both ends.
std::string text_preprocess(const std::string& text);

// build_prompts() followed by text_preprocess() on both: what the tokenizer receives.
PromptPair preprocessed_prompts(const TaskSpec& spec);

}  // namespace mf::tasks

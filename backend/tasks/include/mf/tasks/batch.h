// Batch inputs in the official driver's formats (mfm-reference.md C.2), turned into TaskSpecs:
//  - prompt files for t2v/t2i: one prompt per non-blank line (stripped);
//  - `.jsonl` rows {"prompt", "image" (image tasks) or "video" (video tasks), optional "mask"}; itrans/vtrans give
//    two paths joined by ";". A row that has a "task" field is read as a full Manyfold job instead;
//  - `.csv` rows prompt,path,mask_path with a header line (skipped), RFC 4180 quoting.
// Each returned spec is `base` with the row's prompt/inputs/mask filled in. Rows are not validated here (call
// validate()); malformed rows throw mf::Error(BadInput) naming the source and every bad line at once.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "mf/tasks/task_spec.h"

namespace mf::tasks {

std::vector<TaskSpec> specs_from_prompt_lines(const std::string& text, const TaskSpec& base);
std::vector<TaskSpec> specs_from_jsonl(const std::string& text, const TaskSpec& base,
                                       const std::string& source = "batch.jsonl");
std::vector<TaskSpec> specs_from_csv(const std::string& text, const TaskSpec& base,
                                     const std::string& source = "batch.csv");

// Puts `paths` (";"-joined for two-input tasks) into spec.images or spec.clips according to the task.
void set_inputs_from_official_path(TaskSpec& spec, const std::string& joined_paths);

// The driver's output name: "<task>_<index:03d>_<prompt with spaces as '_', first 200 chars>" (without extension).
std::string official_output_stem(TaskId task, int index, const std::string& user_prompt);

}  // namespace mf::tasks

// Style presets: named looks a creator picks in the task inspector instead of retyping prompt boilerplate.
// A preset is a JSON data file (resources/presets/styles/*.json, or any folder the user adds):
//
//   {
//     "schema_version": 1,
//     "name": "Cinematic",                        // shown in the picker (required)
//     "description": "Film look ...",            // tooltip (optional)
//     "prompt_template": "{prompt}, cinematic lighting, 35mm film",  // must contain {prompt} once or more
//     "negative_prompt": "cartoon, ...",          // optional: replaces the task's negative prompt
//     "suggested": {"steps": 30, "guidance_scale": 6.5, "motion_score": 5},  // optional, each optional
//     "tasks": ["t2v", "i2v"],                    // optional: the tasks it is offered for (absent = all)
//     "lora": {"path": "film.safetensors", "strength": 0.8}  // optional; a relative path is relative to the file
//   }
//
// Loading lists every problem of a file at once (unknown keys, wrong types, a template without {prompt}, unknown
// tasks, a LoRA file that does not exist) and names the file; a broken file never hides the good ones.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mf/tasks/task_spec.h"

namespace mf::tasks {

struct StylePreset {
  static constexpr int kSchemaVersion = 1;
  std::string id;  // the file name without .json ("cinematic")
  std::string name;
  std::string description;
  std::string prompt_template = "{prompt}";
  std::optional<std::string> negative_prompt;
  std::optional<int> steps;
  std::optional<double> guidance_scale;
  std::optional<double> motion_score;
  std::vector<TaskId> tasks;  // empty = every task
  std::optional<LoraRef> lora;
  std::filesystem::path file;  // where it was read from ("" for presets made in code)

  bool offered_for(TaskId task) const;
};

// Parses one preset. `source` names it in messages; `base_dir` resolves a relative LoRA path. Throws
// mf::Error(BadInput) listing every problem.
StylePreset style_preset_from_json(const nlohmann::json& j, const std::string& id, const std::string& source,
                                   const std::filesystem::path& base_dir);
StylePreset read_style_preset(const std::filesystem::path& file);

struct StylePresetList {
  std::vector<StylePreset> presets;   // sorted by name
  std::vector<std::string> problems;  // one sentence per file that could not be used
};
// Every *.json of the folders (missing folders are skipped); a later folder's preset with the same id replaces an
// earlier one (user presets over the built-in ones).
StylePresetList load_style_presets(const std::vector<std::filesystem::path>& folders);

// The template with every "{prompt}" replaced by `prompt` (surrounding ", " and spaces tidied when the prompt is
// empty, so "{prompt}, film look" with "" gives "film look").
std::string apply_prompt_template(const std::string& prompt_template, const std::string& prompt);

// Applies the preset to a spec whose prompt is the user's text: the prompt through the template, the negative
// prompt, the suggested settings, and the LoRA appended to spec.loras (not twice).
void apply_style_preset(TaskSpec& spec, const StylePreset& preset);

}  // namespace mf::tasks

#include "mf/tasks/style_preset.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace mf::tasks {

namespace fs = std::filesystem;
using nlohmann::json;

bool StylePreset::offered_for(TaskId task) const {
  return tasks.empty() || std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

StylePreset style_preset_from_json(const json& j, const std::string& id, const std::string& source,
                                   const fs::path& base_dir) {
  std::vector<std::string> problems;
  auto bad = [&](const std::string& field, const std::string& msg) { problems.push_back(field + ": " + msg); };
  StylePreset p;
  p.id = id;
  if (!j.is_object()) {
    throw Error(ErrorCode::BadInput, source + ": a style preset must be a JSON object");
  }
  static const std::set<std::string> known = {"schema_version", "name",  "description", "prompt_template",
                                              "negative_prompt", "suggested", "tasks",     "lora"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) bad(it.key(), "unknown field (known: name, description, prompt_template, "
                                              "negative_prompt, suggested, tasks, lora)");
  if (j.contains("schema_version")) {
    if (!j["schema_version"].is_number_integer()) bad("schema_version", "must be an integer");
    else if (j["schema_version"].get<int>() > StylePreset::kSchemaVersion)
      bad("schema_version", "this preset was written by a newer Manyfold (schema " +
                                std::to_string(j["schema_version"].get<int>()) + "); update Manyfold");
  }
  auto str = [&](const char* k, std::string& out, bool required) {
    if (!j.contains(k)) {
      if (required) bad(k, "missing");
      return;
    }
    if (j[k].is_string()) out = j[k].get<std::string>();
    else bad(k, "must be a string, found " + std::string(j[k].type_name()));
  };
  str("name", p.name, true);
  if (j.contains("name") && j["name"].is_string() && p.name.empty()) bad("name", "must not be empty");
  str("description", p.description, false);
  str("prompt_template", p.prompt_template, false);
  if (p.prompt_template.find("{prompt}") == std::string::npos)
    bad("prompt_template", "must contain {prompt} where the user's text goes (found \"" + p.prompt_template + "\")");
  if (j.contains("negative_prompt")) {
    std::string neg;
    str("negative_prompt", neg, false);
    if (j["negative_prompt"].is_string()) p.negative_prompt = neg;
  }
  if (j.contains("suggested")) {
    const json& s = j["suggested"];
    if (!s.is_object()) {
      bad("suggested", "must be an object with steps, guidance_scale and/or motion_score");
    } else {
      for (auto it = s.begin(); it != s.end(); ++it) {
        const std::string k = it.key();
        const json& v = it.value();
        if (k == "steps") {
          if (v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= 1000) p.steps = v.get<int>();
          else bad("suggested.steps", "must be an integer from 1 to 1000, found " + v.dump());
        } else if (k == "guidance_scale") {
          if (v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0 && v.get<double>() <= 50)
            p.guidance_scale = v.get<double>();
          else bad("suggested.guidance_scale", "must be a number from 0 to 50, found " + v.dump());
        } else if (k == "motion_score") {
          if (v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0 && v.get<double>() <= 100)
            p.motion_score = v.get<double>();
          else bad("suggested.motion_score", "must be a number from 0 to 100, found " + v.dump());
        } else {
          bad("suggested." + k, "unknown setting (known: steps, guidance_scale, motion_score)");
        }
      }
    }
  }
  if (j.contains("tasks")) {
    const json& t = j["tasks"];
    if (!t.is_array()) {
      bad("tasks", "must be a list of task keys such as [\"t2v\", \"i2v\"]");
    } else {
      for (size_t i = 0; i < t.size(); ++i) {
        std::optional<TaskId> id_ = t[i].is_string() ? parse_task_id(t[i].get<std::string>()) : std::nullopt;
        if (id_) p.tasks.push_back(*id_);
        else bad("tasks[" + std::to_string(i) + "]", t[i].dump() + " is not a task (one of " + task_key_list() + ")");
      }
    }
  }
  if (j.contains("lora")) {
    const json& l = j["lora"];
    if (!l.is_object() || !l.contains("path") || !l["path"].is_string()) {
      bad("lora", "must be {\"path\": \"FILE.safetensors\", \"strength\": 1.0}");
    } else {
      LoraRef ref;
      fs::path path = l["path"].get<std::string>();
      if (path.is_relative()) path = base_dir / path;
      ref.path = path.lexically_normal().string();
      if (l.contains("strength")) {
        if (l["strength"].is_number() && std::isfinite(l["strength"].get<double>())) ref.scale = l["strength"].get<double>();
        else bad("lora.strength", "must be a number, found " + l["strength"].dump());
      }
      for (auto it = l.begin(); it != l.end(); ++it)
        if (it.key() != "path" && it.key() != "strength") bad("lora." + it.key(), "unknown field (path, strength)");
      std::error_code ec;
      if (!fs::is_regular_file(path, ec))
        bad("lora.path", "the LoRA file " + path.string() + " does not exist (put it next to the preset or fix the path)");
      p.lora = ref;
    }
  }
  if (!problems.empty()) {
    std::ostringstream msg;
    msg << source << " is not a usable style preset:";
    for (const auto& s : problems) msg << "\n  " << s;
    throw Error(ErrorCode::BadInput, msg.str());
  }
  return p;
}

StylePreset read_style_preset(const fs::path& file) {
  std::ifstream in(file);
  check(in.good(), ErrorCode::BadInput, "cannot read the style preset " + file.string());
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::BadInput, file.string() + " is not valid JSON: " + e.what());
  }
  StylePreset p = style_preset_from_json(j, file.stem().string(), file.string(), file.parent_path());
  p.file = file;
  return p;
}

StylePresetList load_style_presets(const std::vector<fs::path>& folders) {
  std::map<std::string, StylePreset> by_id;
  StylePresetList out;
  for (const auto& folder : folders) {
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(folder, ec))
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      try {
        StylePreset p = read_style_preset(f);
        by_id[p.id] = std::move(p);
      } catch (const Error& e) {
        out.problems.push_back(e.what());
      }
    }
  }
  for (auto& [id, p] : by_id) out.presets.push_back(std::move(p));
  std::sort(out.presets.begin(), out.presets.end(), [](const StylePreset& a, const StylePreset& b) {
    return a.name != b.name ? a.name < b.name : a.id < b.id;
  });
  return out;
}

std::string apply_prompt_template(const std::string& tmpl, const std::string& prompt) {
  static const std::string key = "{prompt}";
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t at = tmpl.find(key, pos);
    if (at == std::string::npos) {
      out += tmpl.substr(pos);
      break;
    }
    out += tmpl.substr(pos, at - pos);
    out += prompt;
    pos = at + key.size();
  }
  if (prompt.find_first_not_of(" \t") == std::string::npos) {
    // An empty prompt leaves separators behind ("{prompt}, film look" -> ", film look"): keep the non-empty
    // comma-separated parts.
    std::string tidy, part;
    std::istringstream parts(out);
    while (std::getline(parts, part, ',')) {
      const size_t b = part.find_first_not_of(" \t"), e = part.find_last_not_of(" \t");
      if (b == std::string::npos) continue;
      if (!tidy.empty()) tidy += ", ";
      tidy += part.substr(b, e - b + 1);
    }
    out = tidy;
  }
  return out;
}

void apply_style_preset(TaskSpec& spec, const StylePreset& preset) {
  spec.prompt = apply_prompt_template(preset.prompt_template, spec.prompt);
  if (preset.negative_prompt) spec.negative_prompt = preset.negative_prompt;
  if (preset.steps) spec.steps = *preset.steps;
  if (preset.guidance_scale) spec.guidance_scale = *preset.guidance_scale;
  if (preset.motion_score && !task_facts(spec.task).image_output) spec.motion_score = *preset.motion_score;
  if (preset.lora) {
    const bool present = std::any_of(spec.loras.begin(), spec.loras.end(),
                                     [&](const LoraRef& l) { return l.path == preset.lora->path; });
    if (!present) spec.loras.push_back(*preset.lora);
  }
}

}  // namespace mf::tasks

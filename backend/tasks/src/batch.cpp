#include "mf/tasks/batch.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/tasks/prompt.h"

namespace mf::tasks {

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      if (!cur.empty() && cur.back() == '\r') cur.pop_back();
      lines.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) {
    if (cur.back() == '\r') cur.pop_back();
    lines.push_back(cur);
  }
  return lines;
}

std::string strip_ascii(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// RFC 4180 records (quoted fields may contain commas, quotes as "" and newlines).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        row.push_back(field);
        rows.push_back(row);
      }
      row.clear();
      field.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (any || !field.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

void throw_if_problems(const std::vector<std::string>& problems, const std::string& source) {
  if (problems.empty()) return;
  std::string msg = source + ": " + std::to_string(problems.size()) + " bad row" + (problems.size() > 1 ? "s" : "") + ":";
  for (const auto& p : problems) msg += "\n" + p;
  throw Error(ErrorCode::BadInput, msg);
}

}  // namespace

void set_inputs_from_official_path(TaskSpec& spec, const std::string& joined) {
  const TaskFacts& f = task_facts(spec.task);
  std::vector<std::string> parts;
  if (f.num_inputs == 2) {
    size_t b = 0;
    while (true) {
      const size_t e = joined.find(';', b);
      parts.push_back(joined.substr(b, e == std::string::npos ? std::string::npos : e - b));
      if (e == std::string::npos) break;
      b = e + 1;
    }
  } else {
    parts.push_back(joined);
  }
  spec.images.clear();
  spec.clips.clear();
  if (f.input == InputKind::Image) spec.images = parts;
  else if (f.input == InputKind::Video) spec.clips = parts;
}

std::vector<TaskSpec> specs_from_prompt_lines(const std::string& text, const TaskSpec& base) {
  std::vector<TaskSpec> out;
  for (const std::string& line : split_lines(text)) {
    const std::string p = strip_ascii(line);
    if (p.empty()) continue;
    TaskSpec s = base;
    s.prompt = p;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<TaskSpec> specs_from_jsonl(const std::string& text, const TaskSpec& base, const std::string& source) {
  const TaskFacts& f = task_facts(base.task);
  const char* path_key = f.input == InputKind::Image ? "image" : "video";
  std::vector<TaskSpec> out;
  std::vector<std::string> problems;
  const auto lines = split_lines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string line = strip_ascii(lines[n]);
    if (line.empty()) continue;
    const std::string where = "line " + std::to_string(n + 1);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error&) {
      problems.push_back(where + ": not valid JSON");
      continue;
    }
    if (!j.is_object()) {
      problems.push_back(where + ": expected an object like {\"prompt\": ..., \"" + path_key + "\": ...}");
      continue;
    }
    if (j.contains("task")) {
      try {
        out.push_back(task_spec_from_json(j, source + " " + where));
      } catch (const Error& e) {
        problems.push_back(e.what());
      }
      continue;
    }
    TaskSpec s = base;
    if (!j.contains("prompt") || !j["prompt"].is_string()) {
      problems.push_back(where + ": \"prompt\" (a string) is missing");
      continue;
    }
    s.prompt = strip_ascii(j["prompt"].get<std::string>());
    if (f.input != InputKind::None) {
      if (!j.contains(path_key) || !j[path_key].is_string()) {
        problems.push_back(where + ": \"" + path_key + "\" (the input path) is missing for " + f.key);
        continue;
      }
      set_inputs_from_official_path(s, j[path_key].get<std::string>());
    }
    if (j.contains("mask") && !j["mask"].is_null()) {
      if (!j["mask"].is_string()) {
        problems.push_back(where + ": \"mask\" must be a path string or null");
        continue;
      }
      s.mask = j["mask"].get<std::string>();
    }
    out.push_back(std::move(s));
  }
  throw_if_problems(problems, source);
  return out;
}

std::vector<TaskSpec> specs_from_csv(const std::string& text, const TaskSpec& base, const std::string& source) {
  const auto rows = parse_csv(text);
  std::vector<TaskSpec> out;
  std::vector<std::string> problems;
  for (size_t i = 1; i < rows.size(); ++i) {  // the driver skips the header row
    const auto& r = rows[i];
    if (r.size() < 3) {
      problems.push_back("row " + std::to_string(i + 1) + ": expected prompt,path,mask_path (3 columns), found " +
                         std::to_string(r.size()));
      continue;
    }
    TaskSpec s = base;
    s.prompt = strip_ascii(r[0]);
    set_inputs_from_official_path(s, r[1]);
    s.mask = r[2];
    out.push_back(std::move(s));
  }
  throw_if_problems(problems, source);
  return out;
}

std::string official_output_stem(TaskId task, int index, const std::string& user_prompt) {
  char num[16];
  std::snprintf(num, sizeof(num), "%03d", index);
  std::string name = user_prompt;
  for (char& c : name)
    if (c == ' ') c = '_';
  // Python slices 200 code points; cut at a UTF-8 boundary after 200 code points.
  size_t cps = 0, i = 0;
  while (i < name.size() && cps < 200) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    i += c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    ++cps;
  }
  name = name.substr(0, std::min(i, name.size()));
  return std::string(to_string(task)) + "_" + num + "_" + name;
}

}  // namespace mf::tasks

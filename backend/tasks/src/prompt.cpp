#include "mf/tasks/prompt.h"

#include <cstdint>
#include <vector>

namespace mf::tasks {

namespace {

// Decodes one UTF-8 code point at s[i]; returns its length, or 0 for an invalid sequence.
size_t decode_utf8(const std::string& s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len = 0;
  uint32_t v = 0;
  if ((c & 0xE0) == 0xC0) { len = 2; v = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; v = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; v = c & 0x07; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  *cp = v;
  return len;
}

void encode_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Python's str.isspace() set.
bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Appends the lower-case form of cp (Unicode simple + the one special case of U+0130).
void append_lower(uint32_t cp, std::string& out) {
  uint32_t l = cp;
  if (cp >= 'A' && cp <= 'Z') l = cp + 32;
  else if ((cp >= 0xC0 && cp <= 0xDE) && cp != 0xD7) l = cp + 32;
  else if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE -> "i" + COMBINING DOT ABOVE
    out += 'i';
    encode_utf8(0x307, out);
    return;
  } else if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) l = (cp % 2 == 0) ? cp + 1 : cp;
  else if (cp >= 0x139 && cp <= 0x148) l = (cp % 2 == 1) ? cp + 1 : cp;
  else if (cp == 0x178) l = 0xFF;
  else if (cp >= 0x179 && cp <= 0x17E) l = (cp % 2 == 1) ? cp + 1 : cp;
  else if (cp == 0x386) l = 0x3AC;
  else if (cp >= 0x388 && cp <= 0x38A) l = cp + 37;
  else if (cp == 0x38C) l = 0x3CC;
  else if (cp == 0x38E || cp == 0x38F) l = cp + 63;
  else if ((cp >= 0x391 && cp <= 0x3A1) || (cp >= 0x3A3 && cp <= 0x3AB)) l = cp + 32;
  else if (cp >= 0x400 && cp <= 0x40F) l = cp + 80;
  else if (cp >= 0x410 && cp <= 0x42F) l = cp + 32;
  encode_utf8(l, out);
}

}  // namespace

std::string build_prompt(const std::string& user_prompt, const std::string& added_prompt, TaskId task) {
  return user_prompt + " " + added_prompt + " " + "#task: " + task_facts(task).task_name;
}

PromptPair build_prompts(const TaskSpec& spec) {
  return {build_prompt(spec.prompt, spec.effective_added_prompt(), spec.task), spec.effective_negative_prompt()};
}

std::string text_preprocess(const std::string& text) {
  // Decode to (code point, byte span) units; invalid bytes pass through as themselves.
  struct Unit {
    uint32_t cp;
    size_t pos, len;
    bool valid;
  };
  std::vector<Unit> units;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    size_t n = decode_utf8(text, i, &cp);
    if (n == 0) {
      units.push_back({0xFFFFFFFFu, i, 1, false});
      i += 1;
    } else {
      units.push_back({cp, i, n, true});
      i += n;
    }
  }
  size_t b = 0, e = units.size();
  while (b < e && units[b].valid && is_py_space(units[b].cp)) ++b;
  while (e > b && units[e - 1].valid && is_py_space(units[e - 1].cp)) --e;
  std::string out;
  out.reserve(text.size());
  for (size_t k = b; k < e; ++k) {
    if (!units[k].valid) out += text[units[k].pos];
    else append_lower(units[k].cp, out);
  }
  return out;
}

PromptPair preprocessed_prompts(const TaskSpec& spec) {
  PromptPair p = build_prompts(spec);
  return {text_preprocess(p.positive), text_preprocess(p.negative)};
}

}  // namespace mf::tasks

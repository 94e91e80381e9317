// Style presets: parsing with every problem listed, the shipped presets, folders overriding each other, prompt
// templates and applying a preset to a TaskSpec.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/tasks/style_preset.h"
#include "temp_dir.h"

using namespace mf::tasks;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string error_of(const json& j, const fs::path& base = ".") {
  try {
    style_preset_from_json(j, "x", "x.json", base);
  } catch (const mf::Error& e) {
    return e.what();
  }
  return "";
}

TEST(StylePreset, ShippedPresetsAllLoad) {
  const fs::path dir = fs::path(MF_SOURCE_DIR) / "resources" / "presets" / "styles";
  const StylePresetList list = load_style_presets({dir});
  EXPECT_TRUE(list.problems.empty()) << list.problems.front();
  ASSERT_GE(list.presets.size(), 4u);
  for (const auto& p : list.presets) {
    EXPECT_FALSE(p.name.empty()) << p.id;
    EXPECT_NE(p.prompt_template.find("{prompt}"), std::string::npos) << p.id;
    EXPECT_EQ(p.file.parent_path(), dir);
  }
  EXPECT_TRUE(std::is_sorted(list.presets.begin(), list.presets.end(),
                             [](const StylePreset& a, const StylePreset& b) { return a.name < b.name; }));
}

TEST(StylePreset, EveryProblemIsListedWithTheFile) {
  const std::string e = error_of({{"prompt_template", "no placeholder"},
                                  {"colour", "red"},
                                  {"suggested", {{"steps", 0}, {"cfg", 3}}},
                                  {"tasks", {"t2v", "t3v"}},
                                  {"schema_version", 9}});
  EXPECT_NE(e.find("x.json"), std::string::npos) << e;
  EXPECT_NE(e.find("name: missing"), std::string::npos) << e;
  EXPECT_NE(e.find("prompt_template: must contain {prompt}"), std::string::npos) << e;
  EXPECT_NE(e.find("colour: unknown field"), std::string::npos) << e;
  EXPECT_NE(e.find("suggested.steps"), std::string::npos) << e;
  EXPECT_NE(e.find("suggested.cfg: unknown setting"), std::string::npos) << e;
  EXPECT_NE(e.find("tasks[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("newer Manyfold"), std::string::npos) << e;
  EXPECT_NE(error_of(json::array()).find("JSON object"), std::string::npos);
  EXPECT_EQ(error_of({{"name", "ok"}}), "");
}

TEST(StylePreset, LoraPathIsResolvedAndMustExist) {
  mf::test::TempDir tmp("mf_presets", "lora");
  const fs::path dir = tmp.str("styles");
  write(dir / "film.safetensors", "not checked here");
  const json ok = {{"name", "Film"}, {"prompt_template", "{prompt}"}, {"lora", {{"path", "film.safetensors"}, {"strength", 0.7}}}};
  const StylePreset p = style_preset_from_json(ok, "film", "film.json", dir);
  ASSERT_TRUE(p.lora);
  EXPECT_EQ(fs::path(p.lora->path), (dir / "film.safetensors").lexically_normal());
  EXPECT_DOUBLE_EQ(p.lora->scale, 0.7);
  json missing = ok;
  missing["lora"]["path"] = "gone.safetensors";
  EXPECT_NE(error_of(missing, dir).find("does not exist"), std::string::npos);
}

TEST(StylePreset, LaterFoldersOverrideAndBrokenFilesAreReported) {
  mf::test::TempDir tmp("mf_presets", "folders");
  write(fs::path(tmp.str("a")) / "film.json", R"({"name": "Film A", "prompt_template": "{prompt}, a"})");
  write(fs::path(tmp.str("a")) / "other.json", R"({"name": "Other"})");
  write(fs::path(tmp.str("b")) / "film.json", R"({"name": "Film B", "prompt_template": "{prompt}, b"})");
  write(fs::path(tmp.str("b")) / "broken.json", R"({"name": )");
  write(fs::path(tmp.str("b")) / "notes.txt", "ignored");
  const StylePresetList list = load_style_presets({tmp.str("a"), tmp.str("b"), tmp.str("missing")});
  ASSERT_EQ(list.presets.size(), 2u);
  EXPECT_EQ(list.presets[0].name, "Film B");
  EXPECT_EQ(list.presets[1].name, "Other");
  ASSERT_EQ(list.problems.size(), 1u);
  EXPECT_NE(list.problems[0].find("broken.json"), std::string::npos);
  EXPECT_NE(list.problems[0].find("not valid JSON"), std::string::npos);
}

TEST(StylePreset, PromptTemplates) {
  EXPECT_EQ(apply_prompt_template("{prompt}, film look", "a red car"), "a red car, film look");
  EXPECT_EQ(apply_prompt_template("{prompt}, film look", ""), "film look");
  EXPECT_EQ(apply_prompt_template("style: {prompt}; again {prompt}", "x"), "style: x; again x");
  EXPECT_EQ(apply_prompt_template("a, {prompt} ,  b", " "), "a, b");
  EXPECT_EQ(apply_prompt_template("{prompt}", ""), "");
}

TEST(StylePreset, ApplyToSpec) {
  StylePreset p;
  p.name = "Slow";
  p.prompt_template = "{prompt}, slow motion";
  p.negative_prompt = "fast";
  p.steps = 30;
  p.guidance_scale = 4.5;
  p.motion_score = 2;
  p.lora = LoraRef{"/loras/slow.safetensors", 0.5};
  p.tasks = {TaskId::T2V};
  EXPECT_TRUE(p.offered_for(TaskId::T2V));
  EXPECT_FALSE(p.offered_for(TaskId::VInp));

  TaskSpec s = official_defaults(TaskId::T2V);
  s.prompt = "a cat";
  apply_style_preset(s, p);
  EXPECT_EQ(s.prompt, "a cat, slow motion");
  EXPECT_EQ(s.effective_negative_prompt(), "fast");
  EXPECT_EQ(s.steps, 30);
  EXPECT_DOUBLE_EQ(s.guidance_scale, 4.5);
  EXPECT_DOUBLE_EQ(s.motion_score, 2);
  ASSERT_EQ(s.loras.size(), 1u);
  apply_style_preset(s, p);  // the LoRA is not added twice
  EXPECT_EQ(s.loras.size(), 1u);

  TaskSpec img = official_defaults(TaskId::T2I);  // image tasks keep motion score 0
  apply_style_preset(img, p);
  EXPECT_DOUBLE_EQ(img.motion_score, 0);
}

}  // namespace

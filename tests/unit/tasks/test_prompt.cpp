// Prompt building vs the strings the official driver built for each pipeline golden (metadata `prompt` and
// `negative_prompt` of ../shared/parity/pipeline/mfm_pipeline_<task>.safetensors).
#include <gtest/gtest.h>

#include <string>

#include "mf/tasks/prompt.h"
#include "tiny_safetensors.h"

using namespace mf::tasks;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST(Prompt, ReproducesOfficialStringsForEveryTask) {
  int checked = 0;
  for (TaskId id : all_tasks()) {
    const TaskFacts& f = task_facts(id);
    SCOPED_TRACE(f.key);
    mf::testing::TinySafetensors file(std::string(MF_SHARED_DIR) + "/parity/pipeline/mfm_pipeline_" + f.key +
                                      ".safetensors");
    const auto& md = file.metadata();
    ASSERT_EQ(md.at("task"), f.key);
    const std::string recorded = md.at("prompt");
    // The recorded string must end with the task's added prompt and task tag; what precedes is the user prompt.
    const std::string tail = std::string(" ") + f.added_prompt + " #task: " + f.task_name;
    ASSERT_TRUE(ends_with(recorded, tail)) << "recorded: \"" << recorded << "\" expected suffix \"" << tail << "\"";
    const std::string user = recorded.substr(0, recorded.size() - tail.size());
    EXPECT_FALSE(user.empty());
    TaskSpec spec = official_defaults(id);
    spec.prompt = user;
    const PromptPair p = build_prompts(spec);
    EXPECT_EQ(p.positive, recorded);
    EXPECT_EQ(p.negative, md.at("negative_prompt"));
    // What the tokenizer sees: lower-cased and stripped.
    const PromptPair pre = preprocessed_prompts(spec);
    for (char ch : pre.positive) EXPECT_FALSE(ch >= 'A' && ch <= 'Z');
    EXPECT_EQ(pre.positive.size(), recorded.size());
    ++checked;
  }
  EXPECT_EQ(checked, 15);
}

TEST(Prompt, TaskOverridesAndUserOverrides) {
  TaskSpec s = official_defaults(TaskId::VColor);
  s.prompt = "a street";
  EXPECT_EQ(build_prompts(s).positive, "a street natural, vibrant #task: video colorization");
  EXPECT_EQ(build_prompts(s).negative, "over-saturated, grayscale, b&w, color bleeding, plain");
  s = official_defaults(TaskId::ISR);
  s.prompt = "x";
  EXPECT_EQ(build_prompts(s).positive, "x clean, extremely detailed, high-resolution, 4k #task: image super-resolution");
  s = official_defaults(TaskId::T2V);
  s.prompt = "A Cat";
  EXPECT_EQ(build_prompts(s).positive, "A Cat #FPS: 16. #task: text-to-video");
  EXPECT_EQ(build_prompts(s).negative, kDefaultNegativePrompt);
  s.added_prompt = "";
  s.negative_prompt = "blurry";
  EXPECT_EQ(build_prompts(s).positive, "A Cat  #task: text-to-video");  // the driver's concatenation, verbatim
  EXPECT_EQ(build_prompts(s).negative, "blurry");
  EXPECT_EQ(preprocessed_prompts(s).positive, "a cat  #task: text-to-video");
}

TEST(Prompt, TextPreprocessIsPythonLowerStrip) {
  EXPECT_EQ(text_preprocess("  Hello World \n"), "hello world");
  EXPECT_EQ(text_preprocess("\t\xC2\xA0" "ABC\xE3\x80\x80"), "abc");  // NBSP and ideographic space are stripped
  EXPECT_EQ(text_preprocess("\xC3\x89T\xC3\x89"), "\xC3\xA9t\xC3\xA9");  // ÉTÉ -> été
  EXPECT_EQ(text_preprocess("\xD0\x9C\xD0\x98\xD0\xA0"), "\xD0\xBC\xD0\xB8\xD1\x80");  // МИР -> мир
  EXPECT_EQ(text_preprocess("\xCE\xA9"), "\xCF\x89");  // Ω -> ω
  EXPECT_EQ(text_preprocess("\xC4\xB0"), "i\xCC\x87");  // İ -> i + combining dot, as Python
  EXPECT_EQ(text_preprocess("\xE6\x97\xA5\xE6\x9C\xAC"), "\xE6\x97\xA5\xE6\x9C\xAC");  // CJK unchanged
  EXPECT_EQ(text_preprocess("ok\xFF"), "ok\xFF");  // invalid UTF-8 passes through
  EXPECT_EQ(text_preprocess("   "), "");
}

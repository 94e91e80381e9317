// Batch inputs in the official driver's formats.
#include <gtest/gtest.h>

#include <string>

#include "mf/core/error.h"
#include "mf/tasks/batch.h"

using namespace mf::tasks;

TEST(Batch, PromptLines) {
  const auto specs = specs_from_prompt_lines("  a cat \n\n\r\nA dog\r\n", official_defaults(TaskId::T2V));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].prompt, "a cat");
  EXPECT_EQ(specs[1].prompt, "A dog");
  EXPECT_EQ(specs[1].task, TaskId::T2V);
}

TEST(Batch, JsonlRowsAndFullJobs) {
  TaskSpec base = official_defaults(TaskId::VTrans);
  base.steps = 30;
  const std::string text =
      R"({"prompt": " bridge ", "video": "a.mp4;b.mp4"})" "\n\n"
      R"({"task": "i2v", "prompt": "p", "images": ["x.png"]})" "\n";
  const auto specs = specs_from_jsonl(text, base);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].prompt, "bridge");
  EXPECT_EQ(specs[0].clips, (std::vector<std::string>{"a.mp4", "b.mp4"}));
  EXPECT_EQ(specs[0].steps, 30);
  EXPECT_EQ(specs[1].task, TaskId::I2V);
  EXPECT_EQ(specs[1].images, std::vector<std::string>{"x.png"});

  TaskSpec inp = official_defaults(TaskId::IInp);
  const auto rows = specs_from_jsonl(R"({"prompt": "fill", "image": "i.png", "mask": "m.png"})", inp);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].images, std::vector<std::string>{"i.png"});
  EXPECT_EQ(rows[0].mask, "m.png");
}

TEST(Batch, JsonlReportsEveryBadLine) {
  try {
    specs_from_jsonl("{\"prompt\": \"ok\", \"video\": \"v.mp4\"}\nnot json\n{\"video\": \"v.mp4\"}\n"
                     "{\"prompt\": \"p\", \"image\": \"i.png\"}\n",
                     official_defaults(TaskId::VEdit), "edits.jsonl");
    FAIL();
  } catch (const mf::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("edits.jsonl"), std::string::npos);
    EXPECT_NE(m.find("line 2"), std::string::npos);
    EXPECT_NE(m.find("line 3"), std::string::npos);
    EXPECT_NE(m.find("line 4"), std::string::npos) << m;  // "image" given to a video task
  }
}

TEST(Batch, CsvWithHeaderAndQuotes) {
  const std::string text = "prompt,path,mask_path\n\"a, quoted \"\"prompt\"\"\",clip.mp4,mask.mp4\nplain,c2.mp4,\n";
  const auto specs = specs_from_csv(text, official_defaults(TaskId::VInp));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].prompt, "a, quoted \"prompt\"");
  EXPECT_EQ(specs[0].clips, std::vector<std::string>{"clip.mp4"});
  EXPECT_EQ(specs[0].mask, "mask.mp4");
  EXPECT_EQ(specs[1].mask, "");
  EXPECT_THROW(specs_from_csv("h\nonly,two\n", official_defaults(TaskId::VInp)), mf::Error);
}

TEST(Batch, OfficialOutputStem) {
  EXPECT_EQ(official_output_stem(TaskId::T2V, 3, "a red block"), "t2v_003_a_red_block");
  EXPECT_EQ(official_output_stem(TaskId::ISR, 12, std::string(300, 'x')).size(), std::string("isr_012_").size() + 200);
}

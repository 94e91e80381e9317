// TaskSpec: per-task facts, official defaults, validation (every error at once), JSON round trip, helpers.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"
#include "mf/tasks/task_spec.h"

using namespace mf::tasks;

namespace {

bool has_issue(const std::vector<ValidationIssue>& v, const std::string& field,
               ValidationIssue::Severity sev = ValidationIssue::Severity::Error) {
  return std::any_of(v.begin(), v.end(),
                     [&](const ValidationIssue& i) { return i.field == field && i.severity == sev; });
}

std::string message_for(const std::vector<ValidationIssue>& v, const std::string& field) {
  for (const auto& i : v)
    if (i.field == field) return i.message;
  return "";
}

// A valid spec for every task (inputs named, masks where needed).
TaskSpec valid_spec(TaskId id) {
  TaskSpec s = official_defaults(id);
  const TaskFacts& f = task_facts(id);
  s.prompt = "a red block";
  for (int i = 0; i < f.num_inputs; ++i) {
    if (f.input == InputKind::Image) s.images.push_back("in" + std::to_string(i) + ".png");
    if (f.input == InputKind::Video) s.clips.push_back("in" + std::to_string(i) + ".mp4");
  }
  if (f.mask == MaskUse::Required) s.mask = f.input == InputKind::Video ? "mask.mp4" : "mask.png";
  return s;
}

}  // namespace

TEST(TaskFactsTable, MatchesTheOfficialDriver) {
  EXPECT_EQ(all_tasks().size(), 15u);
  std::set<std::string> keys;
  for (TaskId id : all_tasks()) {
    const TaskFacts& f = task_facts(id);
    EXPECT_EQ(f.id, id);
    keys.insert(f.key);
    EXPECT_EQ(parse_task_id(f.key), id);
    // Image tasks start with "i" or are t2i; their frame count is fixed to 1.
    EXPECT_EQ(f.image_output, f.official_num_frames == 1) << f.key;
  }
  EXPECT_EQ(keys.size(), 15u);
  EXPECT_EQ(parse_task_id(" VEXD "), TaskId::VExd);
  EXPECT_FALSE(parse_task_id("v2v").has_value());
  EXPECT_STREQ(task_facts(TaskId::VTrans).task_name, "video-to-video transition");
  EXPECT_STREQ(task_facts(TaskId::IOutp).task_name, "image outpainting");
  EXPECT_EQ(task_facts(TaskId::VExd).trans_nums[0], 8);
  EXPECT_EQ(task_facts(TaskId::ITrans).num_trans, 2);
  EXPECT_EQ(task_facts(TaskId::VColor).guidance_override, 7.0);
  EXPECT_FALSE(task_facts(TaskId::VSR).guidance_override.has_value());
  EXPECT_EQ(task_facts(TaskId::ISR).forced_height, 1280);
  EXPECT_TRUE(task_facts(TaskId::I2V).generation);
  EXPECT_FALSE(task_facts(TaskId::VEdit).generation);
}

TEST(TaskSpecDefaults, FollowTheDriver) {
  const TaskSpec t2v = official_defaults(TaskId::T2V);
  EXPECT_EQ(t2v.height, 352);
  EXPECT_EQ(t2v.width, 640);
  EXPECT_EQ(t2v.num_frames, 97);
  EXPECT_EQ(t2v.steps, 25);
  EXPECT_EQ(t2v.guidance_scale, 6.0);
  EXPECT_EQ(t2v.motion_score, 5.0);
  EXPECT_EQ(t2v.fps, (Rational{24, 1}));
  EXPECT_EQ(t2v.crop, CropMode::KeepRatio);
  EXPECT_EQ(t2v.upscale, 4);
  EXPECT_EQ(t2v.noise_aug_strength, 0.0);
  EXPECT_FALSE(t2v.seed.has_value());
  const TaskSpec t2i = official_defaults(TaskId::T2I);
  EXPECT_EQ(t2i.num_frames, 1);
  EXPECT_EQ(t2i.motion_score, 0.0);
  EXPECT_EQ(t2i.height, 1024);
  EXPECT_EQ(t2i.width, 1024);
  EXPECT_EQ(official_defaults(TaskId::ISR).height, 1280);
  EXPECT_EQ(official_defaults(TaskId::IColor).guidance_scale, 7.0);
  EXPECT_EQ(official_defaults(TaskId::VColor).guidance_scale, 7.0);
  EXPECT_EQ(official_defaults(TaskId::VColor).motion_score, 5.0);
  const TaskSpec iinp = official_defaults(TaskId::IInp);  // keeps the 352x640 box
  EXPECT_EQ(iinp.height, 352);
  EXPECT_EQ(iinp.num_frames, 1);
  EXPECT_EQ(official_defaults(TaskId::ISR).effective_added_prompt(),
            "clean, extremely detailed, high-resolution, 4k");
  EXPECT_EQ(official_defaults(TaskId::I2V).effective_added_prompt(), "#FPS: 16.");
}

TEST(TaskSpecValidation, ValidSpecsHaveNoErrors) {
  for (TaskId id : all_tasks()) {
    const auto issues = validate(valid_spec(id));
    EXPECT_FALSE(has_errors(issues)) << to_string(id) << ":\n" << format_issues(issues, true);
    EXPECT_NO_THROW(check_valid(valid_spec(id)));
  }
}

TEST(TaskSpecValidation, ReportsEveryErrorAtOnce) {
  TaskSpec s = official_defaults(TaskId::VInp);
  s.prompt = "";
  s.height = 350;
  s.width = 8;
  s.num_frames = 50;
  s.steps = 0;
  s.guidance_scale = -1;
  s.fps = {0, 1};
  s.noise_aug_strength = -0.5;
  s.upscale = 0;
  const auto issues = validate(s);
  for (const char* field : {"clips", "mask", "height", "width", "num_frames", "steps", "guidance_scale", "fps",
                            "noise_aug_strength", "upscale"})
    EXPECT_TRUE(has_issue(issues, field)) << field << "\n" << format_issues(issues);
  EXPECT_NE(message_for(issues, "height").find("use 352"), std::string::npos) << message_for(issues, "height");
  EXPECT_NE(message_for(issues, "num_frames").find("49 or 53"), std::string::npos);
  EXPECT_NE(message_for(issues, "mask").find("nothing is generated"), std::string::npos);
  try {
    check_valid(s);
    FAIL() << "invalid spec accepted";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
    const std::string m = e.what();
    EXPECT_NE(m.find("height:"), std::string::npos);
    EXPECT_NE(m.find("steps:"), std::string::npos);
  }
}

TEST(TaskSpecValidation, InputsOfTheRightKindAndCount) {
  TaskSpec s = valid_spec(TaskId::VExd);
  s.clips = {"still.png"};
  EXPECT_TRUE(has_issue(validate(s), "clips[0]"));  // an image for a video task
  s = valid_spec(TaskId::VExd);
  s.images = {"a.png"};
  s.clips.clear();
  auto issues = validate(s);
  EXPECT_TRUE(has_issue(issues, "images"));
  EXPECT_TRUE(has_issue(issues, "clips"));
  s = valid_spec(TaskId::ITrans);
  s.images.pop_back();
  EXPECT_NE(message_for(validate(s), "images").find("exactly 2 images"), std::string::npos);
  s = valid_spec(TaskId::T2V);
  s.images = {"a.png"};
  EXPECT_TRUE(has_issue(validate(s), "images"));
  s = valid_spec(TaskId::T2V);
  s.prompt = "  ";
  EXPECT_TRUE(has_issue(validate(s), "prompt"));
  s = valid_spec(TaskId::I2V);
  s.mask = "m.png";
  EXPECT_TRUE(has_issue(validate(s), "mask"));  // generation tasks take no mask
  s = valid_spec(TaskId::IInp);
  s.mask = "m.mp4";
  EXPECT_TRUE(has_issue(validate(s), "mask"));  // a video as an image mask
  s = valid_spec(TaskId::VSR);
  s.mask = "m.mp4";
  EXPECT_FALSE(has_errors(validate(s)));  // optional mask
}

TEST(TaskSpecValidation, FrameRules) {
  // Generation tasks: the official 97 by default; another 4k+1 length is allowed with a warning, as long as it
  // leaves at least one frame to generate besides the known ones.
  TaskSpec s = valid_spec(TaskId::I2V);
  EXPECT_EQ(s.num_frames, 97);
  EXPECT_FALSE(has_issue(validate(s), "num_frames"));
  s.num_frames = 49;
  EXPECT_TRUE(has_issue(validate(s), "num_frames", ValidationIssue::Severity::Warning));
  EXPECT_FALSE(has_errors(validate(s)));
  EXPECT_NE(message_for(validate(s), "num_frames").find("97"), std::string::npos);
  s.num_frames = 48;
  EXPECT_TRUE(has_errors(validate(s)));
  EXPECT_EQ(min_generation_frames(TaskId::I2V), 5);
  EXPECT_EQ(min_generation_frames(TaskId::ITrans), 5);
  EXPECT_EQ(min_generation_frames(TaskId::VExd), 9);
  EXPECT_EQ(min_generation_frames(TaskId::VTrans), 17);
  EXPECT_EQ(min_generation_frames(TaskId::VSR), 0);
  EXPECT_EQ(known_generation_frames(TaskId::I2V), 1);
  EXPECT_EQ(known_generation_frames(TaskId::ITrans), 2);
  EXPECT_EQ(known_generation_frames(TaskId::VExd), 8);
  EXPECT_EQ(known_generation_frames(TaskId::VTrans), 16);
  EXPECT_EQ(known_generation_frames(TaskId::VInp), 0);
  s = valid_spec(TaskId::VExd);
  s.num_frames = 5;  // 8 known frames: nothing left to generate
  EXPECT_NE(message_for(validate(s), "num_frames").find("at least 9"), std::string::npos);
  s.num_frames = 9;
  EXPECT_FALSE(has_errors(validate(s)));
  s = valid_spec(TaskId::ITrans);
  s.num_frames = 1;
  EXPECT_TRUE(has_errors(validate(s)));
  s.num_frames = 17;
  EXPECT_FALSE(has_errors(validate(s)));
  s = valid_spec(TaskId::ISR);
  s.num_frames = 5;
  EXPECT_TRUE(has_issue(validate(s), "num_frames"));
  s = valid_spec(TaskId::VEdit);
  for (int n : {1, 5, 9, 49, 97}) {
    s.num_frames = n;
    EXPECT_FALSE(has_issue(validate(s), "num_frames")) << n;
  }
  for (int n : {0, -3, 2, 96, 98}) {
    s.num_frames = n;
    EXPECT_TRUE(has_issue(validate(s), "num_frames")) << n;
  }
  s.num_frames = 121;
  EXPECT_TRUE(has_issue(validate(s), "num_frames", ValidationIssue::Severity::Warning));
  EXPECT_FALSE(has_errors(validate(s)));
}

TEST(TaskSpecValidation, WarningsForDeviationsFromTheDriver) {
  TaskSpec s = valid_spec(TaskId::T2I);
  s.height = 512;
  s.motion_score = 3;
  const auto issues = validate(s);
  EXPECT_FALSE(has_errors(issues));
  EXPECT_TRUE(has_issue(issues, "height", ValidationIssue::Severity::Warning));
  EXPECT_TRUE(has_issue(issues, "motion_score", ValidationIssue::Severity::Warning));
  EXPECT_EQ(format_issues(issues), "");
  EXPECT_NE(format_issues(issues, true).find("warning: height:"), std::string::npos);
}

TEST(TaskSpecJson, RoundTripsEveryTask) {
  for (TaskId id : all_tasks()) {
    TaskSpec s = valid_spec(id);
    s.seed = 18446744073709551615ull;
    s.fps = {30000, 1001};
    s.negative_prompt = "ugly";
    s.crop = CropMode::KeepRes;
    s.use_t_schedule = true;
    s.output = "out/x.mp4";
    s.model = "MfM-2B";
    const std::string text = to_json_string(s);
    const TaskSpec back = task_spec_from_json_string(text, "round-trip");
    EXPECT_EQ(back, s) << text;
    EXPECT_EQ(nlohmann::json::parse(text)["schema_version"], TaskSpec::kSchemaVersion);
  }
}

TEST(TaskSpecJson, KeepKnownPixelsOnlyForInpaintingAndOutpainting) {
  TaskSpec s = valid_spec(TaskId::VInp);
  EXPECT_FALSE(to_json(s).contains("keep_known_pixels"));  // written only when on
  s.keep_known_pixels = true;
  const TaskSpec back = task_spec_from_json_string(to_json(s).dump());
  EXPECT_TRUE(back.keep_known_pixels);
  EXPECT_EQ(back, s);
  EXPECT_FALSE(has_errors(validate(s)));
  s = valid_spec(TaskId::VSR);
  s.keep_known_pixels = true;
  EXPECT_NE(message_for(validate(s), "keep_known_pixels").find("inpainting and outpainting"), std::string::npos);
  EXPECT_THROW(task_spec_from_json_string(R"({"task": "vinp", "keep_known_pixels": "yes"})"), mf::Error);
}

TEST(TaskSpecJson, MissingFieldsTakeTaskDefaults) {
  const TaskSpec s = task_spec_from_json_string(R"({"task": "icolor", "images": "old.jpg", "fps": 29.97})");
  EXPECT_EQ(s.task, TaskId::IColor);
  EXPECT_EQ(s.images, std::vector<std::string>{"old.jpg"});
  EXPECT_EQ(s.height, 1024);
  EXPECT_EQ(s.guidance_scale, 7.0);
  EXPECT_EQ(s.num_frames, 1);
  EXPECT_EQ(s.fps, (Rational{30000, 1001}));
  EXPECT_FALSE(s.negative_prompt.has_value());
  EXPECT_EQ(task_spec_from_json_string(R"({"task":"t2v","fps":"25"})").fps, (Rational{25, 1}));
  EXPECT_EQ(task_spec_from_json_string(R"({"task":"t2v","fps":{"num":50,"den":2}})").fps, (Rational{50, 2}));
}

TEST(TaskSpecJson, ReportsEveryMalformedField) {
  try {
    task_spec_from_json_string(
        R"({"task": "i2v", "schema_version": 9, "steps": "many", "stepz": 3, "crop_type": "fill",
            "seed": -4, "images": 5, "fps": "fast"})",
        "job.json");
    FAIL() << "malformed job accepted";
  } catch (const mf::Error& e) {
    EXPECT_EQ(e.code(), mf::ErrorCode::BadInput);
    const std::string m = e.what();
    for (const char* field : {"job.json", "schema_version:", "steps:", "stepz:", "crop_type:", "seed:", "images:",
                              "fps:"})
      EXPECT_NE(m.find(field), std::string::npos) << field << " not in:\n" << m;
  }
  EXPECT_THROW(task_spec_from_json_string(R"({"task": "x2y"})"), mf::Error);
  EXPECT_THROW(task_spec_from_json_string(R"({"prompt": "no task"})"), mf::Error);
  EXPECT_THROW(task_spec_from_json_string("{not json"), mf::Error);
  EXPECT_THROW(task_spec_from_json_string("[1,2]"), mf::Error);
}

TEST(TaskSpecHelpers, DurationAndSizeSnapping) {
  EXPECT_EQ(frames_for_duration(4.0, {24, 1}), 97);
  EXPECT_EQ(frames_for_duration(2.0, {24, 1}), 49);
  EXPECT_EQ(frames_for_duration(0.0, {24, 1}), 1);
  EXPECT_EQ(frames_for_duration(1.0, {30000, 1001}), 29);  // 29.97 -> 4k+1 nearest: 29
  for (double sec : {0.1, 0.7, 1.3, 3.9, 6.0})
    EXPECT_TRUE(is_valid_frame_count(frames_for_duration(sec, {25, 1}))) << sec;
  EXPECT_DOUBLE_EQ(duration_seconds(97, {24, 1}), 97.0 / 24.0);
  EXPECT_EQ(snap_to_16(350), 352);
  EXPECT_EQ(snap_to_16(8), 16);
  EXPECT_EQ(snap_to_16(24), 32);  // ties go up
  EXPECT_EQ(snap_to_16(23), 16);
  EXPECT_EQ(snap_to_16(640), 640);
  EXPECT_EQ(snap_to_16(-5), 16);
  EXPECT_THROW(frames_for_duration(-1.0, {24, 1}), mf::Error);
}

TEST(TaskSpecDefaults, DriverOverridesWinOverUserValues) {
  TaskSpec s = official_defaults(TaskId::IColor);
  s.height = 480;
  s.width = 640;
  s.num_frames = 49;
  s.motion_score = 5;
  s.guidance_scale = 9;
  s.negative_prompt = "mine";
  s.added_prompt = "mine too";
  apply_driver_overrides(s);
  EXPECT_EQ(s.height, 1024);
  EXPECT_EQ(s.width, 1024);
  EXPECT_EQ(s.num_frames, 1);
  EXPECT_EQ(s.motion_score, 0.0);
  EXPECT_EQ(s.guidance_scale, 7.0);
  EXPECT_EQ(s.effective_negative_prompt(), "over-saturated, grayscale, b&w, color bleeding, plain");
  EXPECT_EQ(s.effective_added_prompt(), "natural, vibrant");
  // A task without overrides keeps the user's prompts and box; i2v gets 97 frames.
  TaskSpec v = official_defaults(TaskId::I2V);
  v.height = 480;
  v.num_frames = 49;
  v.negative_prompt = "mine";
  apply_driver_overrides(v);
  EXPECT_EQ(v.height, 480);
  EXPECT_EQ(v.num_frames, 97);
  EXPECT_EQ(v.effective_negative_prompt(), "mine");
  // Applying official_defaults' own values changes nothing.
  for (TaskId id : all_tasks()) {
    TaskSpec d = official_defaults(id);
    const TaskSpec before = d;
    apply_driver_overrides(d);
    EXPECT_EQ(d, before) << to_string(id);
  }
}

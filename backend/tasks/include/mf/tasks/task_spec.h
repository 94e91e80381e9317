// TaskSpec: one generation job as pure data (what the UI, the CLI `--job FILE.json` and the engine exchange).
//
// Defaults follow the official driver `infer_mfm_pipeline.py` (mfm-reference.md C.2): official_defaults(task)
// applies its per-task overrides (image tasks: 1 frame and motion score 0; t2i/icolor 1024x1024, isr 1280x1280;
// colorization guidance 7 and its own added/negative prompts; super-resolution prompts). JSON round-trips with a
// schema_version; fields absent from a JSON file take the official defaults of its task.
//
// validate() returns EVERY problem at once, each naming the field and saying what to do. It checks what can be
// checked without opening files (counts and kinds of inputs, sizes, frame counts, numeric ranges); media-level
// checks (a mask of another size, a clip too short) happen where the files are read (see geometry.h for the
// rules).
//
// Thread-safety: value type; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mf/tasks/task_id.h"

namespace mf::tasks {

// Frames per second as a rational (24/1, 30000/1001, ...).
struct Rational {
  int64_t num = 24;
  int64_t den = 1;
  double value() const { return static_cast<double>(num) / static_cast<double>(den); }
  bool operator==(const Rational& o) const { return num == o.num && den == o.den; }
};

// How an input is fitted into the requested box (C.3 step 2).
enum class CropMode {
  KeepRes,     // "keep_res": generate at the aspect-fit, 16-aligned size (no padding)
  KeepRatio,   // "keep_ratio": letterbox into the box; the border has mask 0 and is outpainted
  KeepRatioH,  // "keep_ratio_h": as keep_ratio, but portrait inputs do not swap the box
};
const char* to_string(CropMode m);
std::optional<CropMode> parse_crop_mode(const std::string& s);

// A LoRA adapter applied to the transformer for one job (models/lora): a safetensors file and its strength.
struct LoraRef {
  std::string path;
  double scale = 1.0;
  bool operator==(const LoraRef& o) const { return path == o.path && scale == o.scale; }
};

struct TaskSpec {
  static constexpr int kSchemaVersion = 1;

  TaskId task = TaskId::T2V;

  // Prompts. `prompt` is the user's text; the model sees build_prompts() (prompt.h). Absent optional fields take
  // the task's official text (TaskFacts::added_prompt / negative_prompt).
  std::string prompt;
  std::optional<std::string> added_prompt;     // "#FPS: 16." unless the task overrides it
  std::optional<std::string> negative_prompt;  // the driver's negative prompt for the task

  // Inputs: image tasks (i2v, itrans, isr, icolor, iinp, ioutp) read `images` (two for itrans); video tasks
  // (vexd, vtrans, vinp, voutp, vcolor, vsr, vedit) read `clips` (two for vtrans). `mask` is a mask image for
  // image tasks and a mask video for video tasks (white = keep, black = generate).
  std::vector<std::string> images;
  std::vector<std::string> clips;
  std::string mask;

  // Geometry and timing. height/width are the requested box (portrait inputs swap it, see geometry.h).
  int height = kDefaultHeight;
  int width = kDefaultWidth;
  int num_frames = kDefaultNumFrames;  // 4k+1 for video; editing tasks use min(num_frames, input length)
  Rational fps{24, 1};                 // of the written video (the driver's --fps default is 24)
  CropMode crop = CropMode::KeepRatio;  // driver default "keep_ratio" (README/scripts use keep_res)
  int upscale = 4;                      // isr: output = input size x upscale

  // Sampling.
  int steps = 25;
  double guidance_scale = 6.0;
  double motion_score = 5.0;
  std::optional<uint64_t> seed;  // absent: a random seed is drawn and recorded at run time
  double noise_aug_strength = 0.0;
  bool use_t_schedule = false;
  // Inpainting / outpainting (vinp, iinp, voutp, ioutp): the output keeps the input's pixels where the mask keeps
  // them, blended into the model's over a few pixels inside the kept region (see mf::pipeline's decode), so only
  // the regenerated region comes from the model. Not part of the official pipeline; off by default (JSON
  // "keep_known_pixels", written only when true).
  bool keep_known_pixels = false;

  // Model and output.
  std::string model;   // a model id from the registry or a pipeline folder path; empty = the default model
  std::vector<LoraRef> loras;  // applied to the loaded model for this job only (JSON "loras", absent = none)
  std::string output;  // output file; empty = chosen by the caller

  bool operator==(const TaskSpec& o) const;
  bool operator!=(const TaskSpec& o) const { return !(*this == o); }

  // The added/negative prompt in effect (the override, else the task's official text).
  std::string effective_added_prompt() const;
  std::string effective_negative_prompt() const;
};

// The official driver's settings for `task` (C.2), everything else at the TaskSpec defaults.
TaskSpec official_defaults(TaskId task);

// What infer_mfm_pipeline.py does to its arguments AFTER parsing them, whatever the user passed: image tasks get
// 1 frame and motion score 0; t2i/icolor a 1024x1024 box, isr 1280x1280; colorization guidance 7 and, like
// super-resolution, its own added and negative prompts (replacing user-given ones); i2v/itrans/vexd/vtrans 97
// frames (the pipeline's default_num_frames). For a CLI that mirrors the official script exactly.
void apply_driver_overrides(TaskSpec& spec);

struct ValidationIssue {
  enum class Severity { Error, Warning };
  Severity severity = Severity::Error;
  std::string field;    // JSON field name, e.g. "num_frames", "images", "mask"
  std::string message;  // what is wrong and what to do
};

// Every problem with `spec`, errors first in field order, then warnings (deviations from what the model was
// trained/driven with that still run). Empty = valid.
std::vector<ValidationIssue> validate(const TaskSpec& spec);
bool has_errors(const std::vector<ValidationIssue>& issues);
// "field: message" lines joined with '\n' (errors only unless include_warnings).
std::string format_issues(const std::vector<ValidationIssue>& issues, bool include_warnings = false);
// Throws mf::Error(BadInput) listing every error when validate() finds any.
void check_valid(const TaskSpec& spec);

// JSON (schema_version 1). to_json writes every field; from_json starts from official_defaults(task) and
// overrides what is present. from_json throws mf::Error(BadInput) naming every malformed field at once (wrong
// type, unknown task/crop mode, unknown field, newer schema_version); `source` names the file in messages.
nlohmann::json to_json(const TaskSpec& spec);
TaskSpec task_spec_from_json(const nlohmann::json& j, const std::string& source = "job");
std::string to_json_string(const TaskSpec& spec, int indent = 2);
TaskSpec task_spec_from_json_string(const std::string& text, const std::string& source = "job");

// ---- helpers for UIs and the CLI ----

// True if n is a valid video frame count for the model (4k + 1, k >= 0).
inline bool is_valid_frame_count(int n) { return n >= 1 && (n - 1) % 4 == 0; }
// The 4k+1 frame count nearest to seconds * fps (ties go up), at least 1; e.g. 4 s at 24 fps -> 97.
int frames_for_duration(double seconds, Rational fps);
// The duration of n frames at fps, in seconds (n / fps).
double duration_seconds(int num_frames, Rational fps);
// The nearest multiple of 16 (ties go up), at least 16.
int snap_to_16(int pixels);

}  // namespace mf::tasks

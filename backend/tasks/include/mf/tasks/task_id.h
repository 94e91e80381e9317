// The 15 official MfM tasks and the per-task facts of the official driver and pipeline
// (mfm-reference.md C.2, C.3): the task name used in the prompt suffix, what the task reads, the prompt and
// guidance overrides, forced sizes, frame counts and known frames.
//
// Pure data, no LibTorch. Thread-safety: the table is immutable; all functions are safe to call concurrently.
#pragma once

#include <array>
#include <optional>
#include <string>

namespace mf::tasks {

enum class TaskId {
  T2V,     // text-to-video
  T2I,     // text-to-image
  I2V,     // image-to-video
  ITrans,  // image-to-image transition
  VExd,    // video extending
  VTrans,  // video-to-video transition
  VInp,    // video inpainting
  IInp,    // image inpainting
  VOutp,   // video outpainting
  IOutp,   // image outpainting
  VColor,  // video colorization
  IColor,  // image colorization
  VSR,     // video super-resolution
  ISR,     // image super-resolution
  VEdit,   // video editing
};

inline constexpr int kNumTasks = 15;

// What a task reads from the user.
enum class InputKind { None, Image, Video };

// Whether a task takes a mask (white = keep, black = generate).
enum class MaskUse {
  Forbidden,  // the official code ignores or overwrites any mask (generation tasks): giving one is an error
  Optional,   // used if given, else everything is known (isr, icolor, vsr, vcolor, vedit)
  Required,   // inpainting/outpainting: without a mask the official code keeps every pixel and regenerates nothing
};

// The official defaults (driver `infer_mfm_pipeline.py` and `MfMPipeline.__call__`).
inline constexpr const char* kDefaultAddedPrompt = "#FPS: 16.";
inline constexpr const char* kDefaultNegativePrompt =
    "static, watermark, subtitles, scene change, flickering, distorted, discontinuous, bad anatomy, bad hands, "
    "missing fingers, cropped, ugly, blurry, low resolution, low quality, motionless, cartoon, animation, oil "
    "painting, #reverse, #motion: super-fast, #backplay, human distortion, unnatural movement";
inline constexpr int kDefaultNumFrames = 97;   // `default_num_frames` of the pipeline; the driver's default
inline constexpr int kDefaultHeight = 352;     // driver box when --height/--width are not both given
inline constexpr int kDefaultWidth = 640;

struct TaskFacts {
  TaskId id;
  const char* key;        // "t2v": the id in job files and on the command line
  const char* task_name;  // "text-to-video": the prompt suffix "#task: <task_name>"
  bool image_output;      // a still image (num_frames 1, motion score 0 in the driver) vs a video
  InputKind input;        // what the task reads
  int num_inputs;         // 0, 1, or 2 (itrans, vtrans: two paths)
  MaskUse mask;
  // trans_nums of the driver: i2v [1], vexd [8], itrans [1, 1], vtrans [8, 8], others [].
  int num_trans;
  std::array<int, 2> trans_nums;
  const char* added_prompt;     // replaces kDefaultAddedPrompt for colorization / super-resolution
  const char* negative_prompt;  // the driver's negative prompt for this task
  std::optional<double> guidance_override;  // colorization forces 7
  int forced_height;  // 0 = not forced; t2i/icolor 1024, isr 1280 (the driver overrides any CLI size)
  int forced_width;
  // What the official driver always uses: 1 for image tasks; 97 (default_num_frames) for i2v/itrans/vexd/vtrans;
  // 0 = the user's num_frames. Manyfold honours a user's num_frames for the generation tasks (97 by default; at
  // least min_generation_frames); only apply_driver_overrides forces 97 there, as the official script does.
  int official_num_frames;
  bool generation;       // depth on the known frames (i2v, itrans, vexd, vtrans)
  bool grayscale_input;  // colorization: the condition is converted to grayscale
  bool uses_upscale;     // isr: the output is resized to input * upscale
  bool keeps_input_frames;  // vexd/vtrans: untouched input frames are prepended (and appended for vtrans)
  bool reads_mask_as_video() const { return input == InputKind::Video; }
};

const TaskFacts& task_facts(TaskId id);
const std::array<TaskId, kNumTasks>& all_tasks();

// How many frames a generation task takes from its inputs (trans_nums[0] + trans_nums[1]: i2v 1, itrans 2,
// vexd 8, vtrans 16); 0 for the other tasks.
int known_generation_frames(TaskId id);

// The shortest num_frames a generation task can make: the smallest 4k+1 with at least one generated frame
// besides its known ones (i2v 5, itrans 5, vexd 9, vtrans 17); 0 for the other tasks.
int min_generation_frames(TaskId id);

// "t2v" etc. (TaskFacts::key).
const char* to_string(TaskId id);
// Parses a task key (case-insensitive, surrounding spaces ignored). Returns nullopt for unknown keys.
std::optional<TaskId> parse_task_id(const std::string& key);
// Comma-separated list of every task key, for error messages ("t2v, t2i, ...").
std::string task_key_list();

}  // namespace mf::tasks

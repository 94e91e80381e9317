#include "mf/tasks/task_id.h"

#include <algorithm>
#include <cctype>

namespace mf::tasks {

namespace {

constexpr const char* kColorAdded = "natural, vibrant";
constexpr const char* kColorNegative = "over-saturated, grayscale, b&w, color bleeding, plain";
constexpr const char* kSrAdded = "clean, extremely detailed, high-resolution, 4k";
constexpr const char* kSrNegative =
    "blurry, dotted, noise, jpeg compression, raster lines, unclear, lowres, over-smoothed";

using I = InputKind;
using M = MaskUse;

// Order follows TaskId. Columns: id, key, task_name, image_output, input, num_inputs, mask, num_trans,
// trans_nums, added, negative, guidance override, forced H, forced W, official frames, generation, grayscale,
// uses_upscale, keeps_input_frames.
const std::array<TaskFacts, kNumTasks> kFacts = {{
    {TaskId::T2V, "t2v", "text-to-video", false, I::None, 0, M::Forbidden, 0, {0, 0}, kDefaultAddedPrompt,
     kDefaultNegativePrompt, std::nullopt, 0, 0, 0, false, false, false, false},
    {TaskId::T2I, "t2i", "text-to-image", true, I::None, 0, M::Forbidden, 0, {0, 0}, kDefaultAddedPrompt,
     kDefaultNegativePrompt, std::nullopt, 1024, 1024, 1, false, false, false, false},
    {TaskId::I2V, "i2v", "image-to-video", false, I::Image, 1, M::Forbidden, 1, {1, 0}, kDefaultAddedPrompt,
     kDefaultNegativePrompt, std::nullopt, 0, 0, kDefaultNumFrames, true, false, false, false},
    {TaskId::ITrans, "itrans", "image-to-image transition", false, I::Image, 2, M::Forbidden, 2, {1, 1},
     kDefaultAddedPrompt, kDefaultNegativePrompt, std::nullopt, 0, 0, kDefaultNumFrames, true, false, false,
     false},
    {TaskId::VExd, "vexd", "video extending", false, I::Video, 1, M::Forbidden, 1, {8, 0}, kDefaultAddedPrompt,
     kDefaultNegativePrompt, std::nullopt, 0, 0, kDefaultNumFrames, true, false, false, true},
    {TaskId::VTrans, "vtrans", "video-to-video transition", false, I::Video, 2, M::Forbidden, 2, {8, 8},
     kDefaultAddedPrompt, kDefaultNegativePrompt, std::nullopt, 0, 0, kDefaultNumFrames, true, false, false,
     true},
    {TaskId::VInp, "vinp", "video inpainting", false, I::Video, 1, M::Required, 0, {0, 0}, kDefaultAddedPrompt,
     kDefaultNegativePrompt, std::nullopt, 0, 0, 0, false, false, false, false},
    {TaskId::IInp, "iinp", "image inpainting", true, I::Image, 1, M::Required, 0, {0, 0}, kDefaultAddedPrompt,
     kDefaultNegativePrompt, std::nullopt, 0, 0, 1, false, false, false, false},
    {TaskId::VOutp, "voutp", "video outpainting", false, I::Video, 1, M::Required, 0, {0, 0},
     kDefaultAddedPrompt, kDefaultNegativePrompt, std::nullopt, 0, 0, 0, false, false, false, false},
    {TaskId::IOutp, "ioutp", "image outpainting", true, I::Image, 1, M::Required, 0, {0, 0}, kDefaultAddedPrompt,
     kDefaultNegativePrompt, std::nullopt, 0, 0, 1, false, false, false, false},
    {TaskId::VColor, "vcolor", "video colorization", false, I::Video, 1, M::Optional, 0, {0, 0}, kColorAdded,
     kColorNegative, 7.0, 0, 0, 0, false, true, false, false},
    {TaskId::IColor, "icolor", "image colorization", true, I::Image, 1, M::Optional, 0, {0, 0}, kColorAdded,
     kColorNegative, 7.0, 1024, 1024, 1, false, true, false, false},
    {TaskId::VSR, "vsr", "video super-resolution", false, I::Video, 1, M::Optional, 0, {0, 0}, kSrAdded,
     kSrNegative, std::nullopt, 0, 0, 0, false, false, false, false},
    {TaskId::ISR, "isr", "image super-resolution", true, I::Image, 1, M::Optional, 0, {0, 0}, kSrAdded,
     kSrNegative, std::nullopt, 1280, 1280, 1, false, false, true, false},
    {TaskId::VEdit, "vedit", "video editing", false, I::Video, 1, M::Optional, 0, {0, 0}, kDefaultAddedPrompt,
     kDefaultNegativePrompt, std::nullopt, 0, 0, 0, false, false, false, false},
}};

const std::array<TaskId, kNumTasks> kAll = {
    TaskId::T2V,   TaskId::T2I,   TaskId::I2V,    TaskId::ITrans, TaskId::VExd,
    TaskId::VTrans, TaskId::VInp, TaskId::IInp,   TaskId::VOutp,  TaskId::IOutp,
    TaskId::VColor, TaskId::IColor, TaskId::VSR,  TaskId::ISR,    TaskId::VEdit};

}  // namespace

int known_generation_frames(TaskId id) {
  const TaskFacts& f = task_facts(id);
  return f.generation ? f.trans_nums[0] + f.trans_nums[1] : 0;
}

int min_generation_frames(TaskId id) {
  const int known = known_generation_frames(id);  // >= 1 for every generation task
  if (known == 0) return 0;
  return (known + 3) / 4 * 4 + 1;  // the smallest 4k+1 >= known + 1
}

const TaskFacts& task_facts(TaskId id) { return kFacts[static_cast<size_t>(id)]; }

const std::array<TaskId, kNumTasks>& all_tasks() { return kAll; }

const char* to_string(TaskId id) { return task_facts(id).key; }

std::optional<TaskId> parse_task_id(const std::string& key) {
  std::string k;
  for (char c : key)
    if (!std::isspace(static_cast<unsigned char>(c))) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const TaskFacts& f : kFacts)
    if (k == f.key) return f.id;
  return std::nullopt;
}

std::string task_key_list() {
  std::string out;
  for (const TaskFacts& f : kFacts) {
    if (!out.empty()) out += ", ";
    out += f.key;
  }
  return out;
}

}  // namespace mf::tasks

#include "mf/tasks/task_spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mf/core/error.h"

namespace mf::tasks {

namespace {

std::string lower_ext(const std::string& path) {
  const size_t slash = path.find_last_of("/\\");
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot + 1);
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

bool looks_like_image(const std::string& path) {
  static const std::set<std::string> k = {"png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif"};
  return k.count(lower_ext(path)) > 0;
}

bool looks_like_video(const std::string& path) {
  static const std::set<std::string> k = {"mp4", "mkv", "mov", "avi", "webm", "m4v", "mpg", "mpeg", "ts", "y4m"};
  return k.count(lower_ext(path)) > 0;
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

std::string num_str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string nearest_frames_hint(int n) {
  if (n < 1) return "use 1 (a single frame) or 4k+1 such as 49 or 97";
  const int lo = ((n - 1) / 4) * 4 + 1;
  const int hi = lo + 4;
  return "use " + std::to_string(lo) + " or " + std::to_string(hi);
}

}  // namespace

const char* to_string(CropMode m) {
  switch (m) {
    case CropMode::KeepRes: return "keep_res";
    case CropMode::KeepRatio: return "keep_ratio";
    case CropMode::KeepRatioH: return "keep_ratio_h";
  }
  return "keep_ratio";
}

std::optional<CropMode> parse_crop_mode(const std::string& s) {
  if (s == "keep_res") return CropMode::KeepRes;
  if (s == "keep_ratio") return CropMode::KeepRatio;
  if (s == "keep_ratio_h") return CropMode::KeepRatioH;
  return std::nullopt;
}

bool TaskSpec::operator==(const TaskSpec& o) const {
  return task == o.task && prompt == o.prompt && added_prompt == o.added_prompt &&
         negative_prompt == o.negative_prompt && images == o.images && clips == o.clips && mask == o.mask &&
         height == o.height && width == o.width && num_frames == o.num_frames && fps == o.fps && crop == o.crop &&
         upscale == o.upscale && steps == o.steps && guidance_scale == o.guidance_scale &&
         motion_score == o.motion_score && seed == o.seed && noise_aug_strength == o.noise_aug_strength &&
         use_t_schedule == o.use_t_schedule && keep_known_pixels == o.keep_known_pixels && model == o.model && loras == o.loras && output == o.output;
}

std::string TaskSpec::effective_added_prompt() const {
  return added_prompt ? *added_prompt : std::string(task_facts(task).added_prompt);
}

std::string TaskSpec::effective_negative_prompt() const {
  return negative_prompt ? *negative_prompt : std::string(task_facts(task).negative_prompt);
}

TaskSpec official_defaults(TaskId task) {
  const TaskFacts& f = task_facts(task);
  TaskSpec s;
  s.task = task;
  if (f.official_num_frames > 0) s.num_frames = f.official_num_frames;
  if (f.image_output) s.motion_score = 0.0;
  if (f.forced_height > 0) {
    s.height = f.forced_height;
    s.width = f.forced_width;
  }
  if (f.guidance_override) s.guidance_scale = *f.guidance_override;
  return s;
}

void apply_driver_overrides(TaskSpec& s) {
  const TaskFacts& f = task_facts(s.task);
  if (f.official_num_frames > 0) s.num_frames = f.official_num_frames;
  if (f.image_output) s.motion_score = 0.0;
  if (f.forced_height > 0) {
    s.height = f.forced_height;
    s.width = f.forced_width;
  }
  if (f.guidance_override) s.guidance_scale = *f.guidance_override;
  if (std::string(f.added_prompt) != kDefaultAddedPrompt) {  // colorization / super-resolution replace both
    s.added_prompt.reset();
    s.negative_prompt.reset();
  }
}

// ------------------------------------------------------------------------------------------------ validation

std::vector<ValidationIssue> validate(const TaskSpec& s) {
  std::vector<ValidationIssue> errors, warnings;
  auto err = [&](const std::string& field, const std::string& msg) {
    errors.push_back({ValidationIssue::Severity::Error, field, msg});
  };
  auto warn = [&](const std::string& field, const std::string& msg) {
    warnings.push_back({ValidationIssue::Severity::Warning, field, msg});
  };
  const TaskFacts& f = task_facts(s.task);
  const std::string key = f.key;
  const std::string what = key + " (" + f.task_name + ")";

  // prompt
  if (f.input == InputKind::None && is_blank(s.prompt))
    err("prompt", what + " generates from text alone: write a prompt describing the " +
                      (f.image_output ? std::string("image") : std::string("video")));

  // inputs
  const char* noun = f.input == InputKind::Video ? "video clip" : "image";
  const std::string plural = f.num_inputs == 2 ? "2 " + std::string(noun) + "s" : std::string("1 ") + noun;
  if (f.input == InputKind::None) {
    if (!s.images.empty())
      err("images", key + " takes no input image; remove it, or use i2v to animate an image");
    if (!s.clips.empty())
      err("clips", key + " takes no input video; remove it, or use vedit/vexd to work from a video");
  } else if (f.input == InputKind::Image) {
    if (!s.clips.empty())
      err("clips", what + " reads images, not video clips: put the " + plural + " in \"images\"");
    if (s.images.size() != static_cast<size_t>(f.num_inputs))
      err("images", what + " needs exactly " + plural +
                        (s.task == TaskId::ITrans ? " (the first and the last frame)" : "") + ", found " +
                        std::to_string(s.images.size()));
    for (size_t i = 0; i < s.images.size(); ++i) {
      const std::string fld = "images[" + std::to_string(i) + "]";
      if (is_blank(s.images[i]))
        err(fld, "the image path is empty: give the path of a PNG or JPEG file");
      else if (looks_like_video(s.images[i]))
        err(fld, "\"" + s.images[i] + "\" looks like a video, but " + key +
                     " needs an image; use a still image (or the video task of the same kind)");
    }
  } else {
    if (!s.images.empty())
      err("images", what + " reads video clips, not images: put the " + plural + " in \"clips\"");
    if (s.clips.size() != static_cast<size_t>(f.num_inputs))
      err("clips", what + " needs exactly " + plural +
                       (s.task == TaskId::VTrans ? " (the clip before and the clip after the transition)" : "") +
                       ", found " + std::to_string(s.clips.size()));
    for (size_t i = 0; i < s.clips.size(); ++i) {
      const std::string fld = "clips[" + std::to_string(i) + "]";
      if (is_blank(s.clips[i]))
        err(fld, "the video path is empty: give the path of a video file (mp4, mkv, mov)");
      else if (looks_like_image(s.clips[i]))
        err(fld, "\"" + s.clips[i] + "\" looks like an image, but " + key +
                     " needs a video; use the image task of the same kind or a video file");
    }
  }

  // mask
  const std::string mask_noun = f.input == InputKind::Video ? "mask video" : "mask image";
  if (f.mask == MaskUse::Required && is_blank(s.mask)) {
    err("mask", what + " needs a " + mask_noun +
                    " (white = keep, black = generate); without one every pixel is kept and nothing is generated");
  } else if (f.mask == MaskUse::Forbidden && !s.mask.empty()) {
    err("mask", key + " does not take a mask (the official pipeline ignores it); remove \"mask\"" +
                    (f.input == InputKind::Video ? std::string(", or use vinp/voutp to regenerate a masked region")
                                                 : std::string(", or use iinp/ioutp to regenerate a masked region")));
  } else if (!s.mask.empty()) {
    if (f.input == InputKind::Video && looks_like_image(s.mask))
      err("mask", "\"" + s.mask + "\" looks like an image, but " + key +
                      " needs a mask video with one mask frame per input frame");
    if (f.input == InputKind::Image && looks_like_video(s.mask))
      err("mask", "\"" + s.mask + "\" looks like a video, but " + key + " needs a mask image");
  }

  // size
  auto check_dim = [&](const char* field, int v) {
    if (v < 16)
      err(field, std::to_string(v) + " is too small: use at least 16 pixels (a multiple of 16)");
    else if (v > 4096)
      err(field, std::to_string(v) + " is larger than 4096 pixels: use a smaller multiple of 16");
    else if (v % 16 != 0)
      err(field, std::to_string(v) + " is not a multiple of 16 (the VAE and the 2x2 patches need it): use " +
                     std::to_string(snap_to_16(v)));
  };
  check_dim("height", s.height);
  check_dim("width", s.width);
  if (f.forced_height > 0 && (s.height != f.forced_height || s.width != f.forced_width))
    warn("height", "the official driver always runs " + key + " in a " + std::to_string(f.forced_width) + "x" +
                       std::to_string(f.forced_height) + " box; " + std::to_string(s.width) + "x" +
                       std::to_string(s.height) + " differs from how the model is normally used");

  // frames
  if (f.official_num_frames == 1) {
    if (s.num_frames != 1)
      err("num_frames", key + " makes a single image: set num_frames to 1 (found " +
                            std::to_string(s.num_frames) + ")");
  } else if (f.generation && s.num_frames >= 1 && s.num_frames < min_generation_frames(s.task)) {
    const int lo = min_generation_frames(s.task);
    const int known = known_generation_frames(s.task);
    err("num_frames", key + " keeps " + std::to_string(known) + " known frame(s), so it needs at least " +
                          std::to_string(lo) + " frames to generate any (found " + std::to_string(s.num_frames) +
                          "): use " + std::to_string(lo) + " or more (4k+1; the official pipeline uses " +
                          std::to_string(f.official_num_frames) + ")");
  } else if (s.num_frames < 1) {
    err("num_frames", std::to_string(s.num_frames) + " frames is not possible: " + nearest_frames_hint(s.num_frames));
  } else if (!is_valid_frame_count(s.num_frames)) {
    err("num_frames", std::to_string(s.num_frames) +
                          " is not of the form 4k+1 (the VAE packs 4 frames per latent after the first): " +
                          nearest_frames_hint(s.num_frames));
  } else if (s.num_frames > 4 * 64 + 1) {
    err("num_frames", std::to_string(s.num_frames) + " frames is more than the 257 this build allows: use 97 "
                                                     "(what the model was trained with) or fewer");
  } else if (s.num_frames > kDefaultNumFrames) {
    warn("num_frames", std::to_string(s.num_frames) + " frames is longer than the 97 the model was trained with");
  } else if (f.generation && s.num_frames != f.official_num_frames) {
    warn("num_frames", "the official pipeline always makes " + std::to_string(f.official_num_frames) + " frames for " +
                           key + "; " + std::to_string(s.num_frames) +
                           " is a Manyfold option that the released MfM weights were not trained for");
  }

  // fps
  if (s.fps.num <= 0 || s.fps.den <= 0)
    err("fps", std::to_string(s.fps.num) + "/" + std::to_string(s.fps.den) +
                   " is not a valid frame rate: use a positive rate such as 24 or 30000/1001");
  else if (s.fps.value() > 1000.0)
    err("fps", num_str(s.fps.value()) + " frames per second is not plausible: use a rate such as 24");

  // upscale
  if (s.upscale < 1 || s.upscale > 16)
    err("upscale", std::to_string(s.upscale) + " is out of range: use an integer factor from 1 to 16");

  // sampling
  if (s.steps < 1)
    err("steps", std::to_string(s.steps) + " steps cannot sample anything: use at least 1 (25-30 is typical)");
  else if (s.steps > 1000)
    err("steps", std::to_string(s.steps) + " steps is more than the 1000 training timesteps: use 1000 or fewer");
  if (!std::isfinite(s.guidance_scale) || s.guidance_scale < 0.0)
    err("guidance_scale", num_str(s.guidance_scale) +
                              " is not a valid guidance scale: use a number >= 0 (6 is the default; <= 1 disables "
                              "classifier-free guidance)");
  else if (s.guidance_scale > 50.0)
    warn("guidance_scale", num_str(s.guidance_scale) + " is far above the usual 6-9 and will likely oversaturate");
  if (!std::isfinite(s.motion_score))
    err("motion_score", "the motion score must be a finite number (5 is the default for video)");
  else if (f.image_output && s.motion_score != 0.0)
    warn("motion_score", "the official driver uses motion score 0 for image tasks; found " +
                             num_str(s.motion_score));
  for (const auto& l : s.loras) {
    if (l.path.empty()) err("loras", "a LoRA entry has no path: give the .safetensors file");
    if (!std::isfinite(l.scale)) err("loras", "the scale of LoRA " + l.path + " is not a finite number");
  }
  if (!std::isfinite(s.noise_aug_strength) || s.noise_aug_strength < 0.0)
    err("noise_aug_strength", num_str(s.noise_aug_strength) + " is not valid: use a number >= 0 (0 = off)");
  else if (s.noise_aug_strength > 0.0 && f.input == InputKind::None)
    warn("noise_aug_strength", key + " has no input condition, so noise augmentation has no effect");
  if (s.keep_known_pixels && f.mask != MaskUse::Required)
    err("keep_known_pixels", "keeps the input's pixels outside the mask, so it applies to inpainting and "
                             "outpainting (vinp, iinp, voutp, ioutp), not to " + key + ": turn it off");

  errors.insert(errors.end(), warnings.begin(), warnings.end());
  return errors;
}

bool has_errors(const std::vector<ValidationIssue>& issues) {
  return std::any_of(issues.begin(), issues.end(),
                     [](const ValidationIssue& i) { return i.severity == ValidationIssue::Severity::Error; });
}

std::string format_issues(const std::vector<ValidationIssue>& issues, bool include_warnings) {
  std::string out;
  for (const auto& i : issues) {
    const bool is_err = i.severity == ValidationIssue::Severity::Error;
    if (!is_err && !include_warnings) continue;
    if (!out.empty()) out += '\n';
    out += (is_err ? "" : "warning: ") + i.field + ": " + i.message;
  }
  return out;
}

void check_valid(const TaskSpec& spec) {
  const auto issues = validate(spec);
  if (has_errors(issues))
    throw Error(ErrorCode::BadInput, std::string("the ") + to_string(spec.task) + " job is not valid:\n" +
                                         format_issues(issues));
}

// ------------------------------------------------------------------------------------------------ JSON

nlohmann::json to_json(const TaskSpec& s) {
  nlohmann::json j;
  j["schema_version"] = TaskSpec::kSchemaVersion;
  j["task"] = to_string(s.task);
  j["prompt"] = s.prompt;
  j["added_prompt"] = s.added_prompt ? nlohmann::json(*s.added_prompt) : nlohmann::json(nullptr);
  j["negative_prompt"] = s.negative_prompt ? nlohmann::json(*s.negative_prompt) : nlohmann::json(nullptr);
  j["images"] = s.images;
  j["clips"] = s.clips;
  j["mask"] = s.mask;
  j["height"] = s.height;
  j["width"] = s.width;
  j["num_frames"] = s.num_frames;
  j["fps"] = {{"num", s.fps.num}, {"den", s.fps.den}};
  j["crop_type"] = to_string(s.crop);
  j["upscale"] = s.upscale;
  j["steps"] = s.steps;
  j["guidance_scale"] = s.guidance_scale;
  j["motion_score"] = s.motion_score;
  j["seed"] = s.seed ? nlohmann::json(*s.seed) : nlohmann::json(nullptr);
  j["noise_aug_strength"] = s.noise_aug_strength;
  j["use_t_schedule"] = s.use_t_schedule;
  if (s.keep_known_pixels) j["keep_known_pixels"] = true;
  j["model"] = s.model;
  if (!s.loras.empty()) {
    auto arr = nlohmann::json::array();
    for (const auto& l : s.loras) arr.push_back({{"path", l.path}, {"scale", l.scale}});
    j["loras"] = arr;
  }
  j["output"] = s.output;
  return j;
}

namespace {

// Parses "24", "29.97", "30000/1001" into a rational.
std::optional<Rational> rational_from_double(double v) {
  if (!std::isfinite(v) || v <= 0.0 || v > 1e6) return std::nullopt;
  const double r = std::round(v);
  if (std::fabs(v - r) < 1e-9) return Rational{static_cast<int64_t>(r), 1};
  // Common NTSC rates are exact x/1001.
  const double ntsc = v * 1001.0 / 1000.0;
  if (std::fabs(ntsc - std::round(ntsc)) < 1e-3) return Rational{static_cast<int64_t>(std::round(ntsc)) * 1000, 1001};
  return Rational{static_cast<int64_t>(std::llround(v * 1000.0)), 1000};
}

}  // namespace

TaskSpec task_spec_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object())
    throw Error(ErrorCode::BadInput, source + ": a job must be a JSON object with at least a \"task\" field");
  std::vector<std::string> problems;
  auto bad = [&](const std::string& field, const std::string& msg) { problems.push_back(field + ": " + msg); };

  if (j.contains("schema_version")) {
    const auto& v = j["schema_version"];
    if (!v.is_number_integer())
      bad("schema_version", "must be an integer (this build writes " + std::to_string(TaskSpec::kSchemaVersion) + ")");
    else if (v.get<int64_t>() > TaskSpec::kSchemaVersion || v.get<int64_t>() < 1)
      bad("schema_version", "version " + v.dump() + " is not supported; this build reads version " +
                                std::to_string(TaskSpec::kSchemaVersion) + " (update Manyfold to read newer jobs)");
  }

  TaskId task = TaskId::T2V;
  if (!j.contains("task")) {
    bad("task", "missing: name the task, one of " + task_key_list());
  } else if (!j["task"].is_string()) {
    bad("task", "must be a string, one of " + task_key_list());
  } else if (auto t = parse_task_id(j["task"].get<std::string>())) {
    task = *t;
  } else {
    bad("task", "unknown task \"" + j["task"].get<std::string>() + "\": use one of " + task_key_list());
  }
  TaskSpec s = official_defaults(task);

  static const std::set<std::string> known = {
      "schema_version", "task",   "prompt", "added_prompt", "negative_prompt", "images",         "clips",
      "mask",           "height", "width",  "num_frames",   "fps",             "crop_type",      "upscale",
      "steps",          "guidance_scale", "motion_score", "seed",     "noise_aug_strength", "use_t_schedule",
      "model",          "output", "loras",  "keep_known_pixels"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) bad(it.key(), "unknown field (check the spelling; see docs for the job format)");

  auto get_string = [&](const char* k, std::string& out) {
    if (!j.contains(k)) return;
    if (j[k].is_string()) out = j[k].get<std::string>();
    else bad(k, "must be a string, found " + std::string(j[k].type_name()));
  };
  auto get_opt_string = [&](const char* k, std::optional<std::string>& out) {
    if (!j.contains(k) || j[k].is_null()) return;
    if (j[k].is_string()) out = j[k].get<std::string>();
    else bad(k, "must be a string or null, found " + std::string(j[k].type_name()));
  };
  auto get_string_list = [&](const char* k, std::vector<std::string>& out) {
    if (!j.contains(k)) return;
    const auto& v = j[k];
    if (v.is_string()) {  // a single path is accepted for convenience
      out = {v.get<std::string>()};
      return;
    }
    if (!v.is_array()) {
      bad(k, "must be a list of paths, found " + std::string(v.type_name()));
      return;
    }
    out.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].is_string()) out.push_back(v[i].get<std::string>());
      else bad(std::string(k) + "[" + std::to_string(i) + "]", "must be a path string");
    }
  };
  auto get_int = [&](const char* k, int& out) {
    if (!j.contains(k)) return;
    const auto& v = j[k];
    if (v.is_number_integer() && v.get<int64_t>() >= -2147483647 && v.get<int64_t>() <= 2147483647)
      out = v.get<int>();
    else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() && std::fabs(v.get<double>()) < 2e9)
      out = static_cast<int>(v.get<double>());
    else
      bad(k, "must be an integer, found " + v.dump());
  };
  auto get_double = [&](const char* k, double& out) {
    if (!j.contains(k)) return;
    if (j[k].is_number()) out = j[k].get<double>();
    else bad(k, "must be a number, found " + j[k].dump());
  };

  get_string("prompt", s.prompt);
  get_opt_string("added_prompt", s.added_prompt);
  get_opt_string("negative_prompt", s.negative_prompt);
  get_string_list("images", s.images);
  get_string_list("clips", s.clips);
  get_string("mask", s.mask);
  get_int("height", s.height);
  get_int("width", s.width);
  get_int("num_frames", s.num_frames);
  if (j.contains("fps")) {
    const auto& v = j["fps"];
    std::optional<Rational> r;
    if (v.is_number()) {
      r = rational_from_double(v.get<double>());
    } else if (v.is_string()) {
      const std::string t = v.get<std::string>();
      const size_t slash = t.find('/');
      try {
        if (slash == std::string::npos) r = rational_from_double(std::stod(t));
        else r = Rational{std::stoll(t.substr(0, slash)), std::stoll(t.substr(slash + 1))};
      } catch (...) {
        r.reset();
      }
    } else if (v.is_object() && v.contains("num") && v["num"].is_number_integer()) {
      r = Rational{v["num"].get<int64_t>(), v.contains("den") && v["den"].is_number_integer() ? v["den"].get<int64_t>() : 1};
    }
    if (r) s.fps = *r;
    else bad("fps", "must be a frame rate such as 24, 29.97, \"30000/1001\" or {\"num\": 24, \"den\": 1}; found " + v.dump());
  }
  if (j.contains("crop_type")) {
    const auto& v = j["crop_type"];
    std::optional<CropMode> m;
    if (v.is_string()) m = parse_crop_mode(v.get<std::string>());
    if (m) s.crop = *m;
    else bad("crop_type", "must be \"keep_res\", \"keep_ratio\" or \"keep_ratio_h\", found " + v.dump());
  }
  get_int("upscale", s.upscale);
  get_int("steps", s.steps);
  get_double("guidance_scale", s.guidance_scale);
  get_double("motion_score", s.motion_score);
  if (j.contains("seed") && !j["seed"].is_null()) {
    const auto& v = j["seed"];
    if (v.is_number_unsigned()) s.seed = v.get<uint64_t>();
    else if (v.is_number_integer() && v.get<int64_t>() >= 0) s.seed = static_cast<uint64_t>(v.get<int64_t>());
    else bad("seed", "must be a non-negative integer or null (random), found " + v.dump());
  }
  get_double("noise_aug_strength", s.noise_aug_strength);
  if (j.contains("use_t_schedule")) {
    if (j["use_t_schedule"].is_boolean()) s.use_t_schedule = j["use_t_schedule"].get<bool>();
    else bad("use_t_schedule", "must be true or false");
  }
  if (j.contains("keep_known_pixels")) {
    if (j["keep_known_pixels"].is_boolean()) s.keep_known_pixels = j["keep_known_pixels"].get<bool>();
    else bad("keep_known_pixels", "must be true or false");
  }
  get_string("model", s.model);
  get_string("output", s.output);
  if (j.contains("loras")) {
    const auto& v = j["loras"];
    if (!v.is_array()) bad("loras", "must be a list of {\"path\": FILE, \"scale\": NUMBER}");
    else
      for (const auto& e : v) {
        if (!e.is_object() || !e.contains("path") || !e["path"].is_string()) {
          bad("loras", "each entry needs \"path\" (a LoRA .safetensors file), found " + e.dump());
          continue;
        }
        LoraRef l;
        l.path = e["path"].get<std::string>();
        if (e.contains("scale")) {
          if (e["scale"].is_number()) l.scale = e["scale"].get<double>();
          else bad("loras", "\"scale\" must be a number, found " + e["scale"].dump());
        }
        s.loras.push_back(l);
      }
  }

  if (!problems.empty()) {
    std::string msg = source + ": the job file has " + std::to_string(problems.size()) + " problem" +
                      (problems.size() > 1 ? "s" : "") + ":";
    for (const auto& p : problems) msg += "\n" + p;
    throw Error(ErrorCode::BadInput, msg);
  }
  return s;
}

std::string to_json_string(const TaskSpec& spec, int indent) { return to_json(spec).dump(indent); }

TaskSpec task_spec_from_json_string(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::BadInput, source + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  return task_spec_from_json(j, source);
}

// ------------------------------------------------------------------------------------------------ helpers

int frames_for_duration(double seconds, Rational fps) {
  check(std::isfinite(seconds) && seconds >= 0.0 && fps.num > 0 && fps.den > 0, ErrorCode::BadInput,
        "duration: needs a non-negative duration and a positive frame rate");
  const double raw = seconds * fps.value();
  const double k = std::floor((raw - 1.0) / 4.0 + 0.5);
  const double n = std::max(0.0, k) * 4.0 + 1.0;
  check(n < 1e6, ErrorCode::BadInput, "duration: " + num_str(seconds) + " s is too long");
  return static_cast<int>(n);
}

double duration_seconds(int num_frames, Rational fps) {
  return fps.num > 0 ? static_cast<double>(num_frames) * static_cast<double>(fps.den) / static_cast<double>(fps.num)
                     : 0.0;
}

int snap_to_16(int pixels) {
  const int r = ((pixels + 8) / 16) * 16;  // ties (x.5 * 16) go up
  return std::max(16, r);
}

}  // namespace mf::tasks

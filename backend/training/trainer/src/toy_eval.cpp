// evaluate_toy_model: per-task quality on held-out toy clips against mf_eval's baselines (see toy_eval.h).
#include "mf/training/toy_eval.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iomanip>
#include <filesystem>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mf/core/error.h"
#include "mf/eval/eval.h"
#include "mf/tasks/geometry.h"
#include "mf/tasks/task_spec.h"
#include "mf/training/dataset.h"
#include "mf/training/mfm_stage.h"

namespace mf::training {

using tasks::TaskId;

std::vector<TaskId> ToyEvalOptions::default_tasks() {
  return {TaskId::VInp, TaskId::IInp,  TaskId::VOutp,  TaskId::IOutp, TaskId::VColor, TaskId::IColor,
          TaskId::VSR,  TaskId::ISR,   TaskId::ITrans, TaskId::VExd,  TaskId::T2V};
}

bool ToyEvalOptions::needs_depth() const {
  return std::any_of(tasks.begin(), tasks.end(), [](TaskId t) { return tasks::task_facts(t).generation; });
}

namespace {

// [3, T, H, W] float in [-1, 1] -> RGB8 frames (as the pipeline writes videos).
std::vector<cv::Mat> to_mats(const torch::Tensor& chw) {
  const auto u8 = torch::round(torch::clamp(chw / 2 + 0.5, 0, 1) * 255).to(torch::kUInt8).permute({1, 2, 3, 0}).contiguous();
  std::vector<cv::Mat> out;
  for (int64_t t = 0; t < u8.size(0); ++t) {
    cv::Mat m(static_cast<int>(u8.size(1)), static_cast<int>(u8.size(2)), CV_8UC3);
    std::memcpy(m.data, u8[t].data_ptr<uint8_t>(), m.total() * 3);
    out.push_back(m);
  }
  return out;
}

std::vector<tasks::Image8> to_images(const std::vector<cv::Mat>& mats) {
  std::vector<tasks::Image8> out;
  for (const auto& m : mats) {
    tasks::Image8 im(m.cols, m.rows, m.channels());
    for (int y = 0; y < m.rows; ++y) std::memcpy(im.row(y), m.ptr(y), static_cast<size_t>(m.cols) * m.channels());
    out.push_back(std::move(im));
  }
  return out;
}

std::vector<cv::Mat> to_mats(const std::vector<tasks::Image8>& ims) {
  std::vector<cv::Mat> out;
  for (const auto& im : ims) {
    cv::Mat m(im.height, im.width, im.channels == 1 ? CV_8UC1 : CV_8UC3);
    std::memcpy(m.data, im.pixels.data(), im.pixels.size());
    out.push_back(m);
  }
  return out;
}

// Runs one task through the pipeline; returns RGB8 output frames.
std::vector<cv::Mat> run_task(mf::pipeline::Pipeline& pipe, tasks::TaskSpec spec,
                              const std::optional<tasks::ConditionInputs>& inputs) {
  mf::pipeline::PrepareOverrides ov;
  if (inputs) ov.inputs = *inputs;
  const auto prep = pipe.prepare(spec, ov);
  const auto r = pipe.denoise(prep, prep.initial_latents, 0);
  return to_mats(pipe.decode_video(prep, r.latents)[0]);
}

// Frames first, middle, last of a clip (all of them for up to three: an image, itrans's two inputs).
std::vector<cv::Mat> pick_frames(const std::vector<cv::Mat>& v) {
  if (v.size() <= 3) return v;
  return {v.front(), v[v.size() / 2], v.back()};
}

// A sample sheet (ToyEvalOptions::render_dir): rows x columns frames in one PNG.
void write_sample_sheet(const std::string& path, const std::vector<std::vector<cv::Mat>>& rows) {
  int cols = 0, cw = 0, ch = 0;
  for (const auto& r : rows) {
    cols = std::max(cols, static_cast<int>(r.size()));
    for (const auto& m : r) {
      cw = std::max(cw, m.cols);
      ch = std::max(ch, m.rows);
    }
  }
  mf::check(cols > 0 && cw > 0, mf::ErrorCode::Internal, "empty sample sheet " + path);
  const int gap = 2;
  cv::Mat sheet(static_cast<int>(rows.size()) * (ch + gap), cols * (cw + gap), CV_8UC3, cv::Scalar(40, 40, 40));
  for (size_t y = 0; y < rows.size(); ++y)
    for (size_t x = 0; x < rows[y].size(); ++x) {
      cv::Mat m = rows[y][x];
      if (m.channels() == 1) cv::cvtColor(m, m, cv::COLOR_GRAY2RGB);
      if (m.cols != cw || m.rows != ch) cv::resize(m, m, cv::Size(cw, ch), 0, 0, cv::INTER_NEAREST);
      m.copyTo(sheet(cv::Rect(static_cast<int>(x) * (cw + gap), static_cast<int>(y) * (ch + gap), cw, ch)));
    }
  cv::Mat bgr;
  cv::cvtColor(sheet, bgr, cv::COLOR_RGB2BGR);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  mf::check(cv::imwrite(path, bgr), mf::ErrorCode::Io, "cannot write " + path);
}

// Colorization's SSIM is measured on R, G and B ("ssim_rgb"): its input is the luma, so luma SSIM scores any
// colouring of it, right or wrong, the same. Every other task's SSIM is on the luma ("ssim").
mf::eval::SsimOn ssim_on(TaskId task) {
  return task == TaskId::VColor || task == TaskId::IColor ? mf::eval::SsimOn::Rgb : mf::eval::SsimOn::Luma;
}

struct Scores {
  explicit Scores(mf::eval::SsimOn on) : ssim_on(on), model(on) {}
  mf::eval::ScoreAccumulator& baseline(const std::string& name) {
    return baselines.try_emplace(name, ssim_on).first->second;
  }
  mf::eval::SsimOn ssim_on;
  mf::eval::ScoreAccumulator model;
  std::map<std::string, mf::eval::ScoreAccumulator> baselines;
};

}  // namespace

mf::eval::EvalReport evaluate_toy_model(mf::pipeline::Pipeline& pipe, const ToyEvalOptions& o,
                                        const ToyEvalProgress& progress) {
  mf::check(o.clips >= 1, mf::ErrorCode::BadInput, "evaluation needs at least one clip per task");
  const ToyVideoDataset data(DatasetOptions::toy(o.width, o.height, o.frames, o.dataset_seed, o.clips, 0, o.max_shapes));
  const auto t_start = std::chrono::steady_clock::now();

  // Mean chroma of training clips (what the grey-to-mean-colour baseline may know).
  std::vector<std::vector<cv::Mat>> chroma_src;
  for (int i = 0; i < o.chroma_clips; ++i) chroma_src.push_back(to_mats(data.range(Split::Train, i, 1).video[0]));
  const auto chroma = mf::eval::mean_chroma(chroma_src);

  mf::eval::EvalReport report;
  report.model = pipe.model_id();
  nlohmann::json per_task = nlohmann::json::object();
  for (TaskId task : o.tasks) {
    const auto& facts = tasks::task_facts(task);
    const bool image = facts.image_output;
    const std::string key = facts.key;
    Scores sc(ssim_on(task));
    mf::eval::CaptionAccuracy acc, chance, truth_acc;
    for (int i = 0; i < o.clips; ++i) {
      if (progress) progress(key, i, o.clips);
      const auto clip = data.range(Split::Validation, i, 1);
      auto truth = to_mats(clip.video[0]);
      if (image) truth = {truth[truth.size() / 2]};  // image tasks: the middle frame
      auto spec = tasks::official_defaults(task);
      spec.width = o.width;
      spec.height = o.height;
      spec.num_frames = image ? 1 : o.frames;
      spec.upscale = o.sr_factor;
      spec.steps = o.steps;
      spec.seed = o.seed + static_cast<uint64_t>(i);
      if (o.guidance) spec.guidance_scale = *o.guidance;
      spec.prompt = clip.captions[0];
      if (task == TaskId::T2V) {
        const auto out = run_task(pipe, spec, std::nullopt);
        if (i == 0 && !o.render_dir.empty())
          write_sample_sheet((std::filesystem::path(o.render_dir) / (key + ".png")).string(),
                             {pick_frames(out), pick_frames(truth)});
        const auto scene = data.scene(Split::Validation, i);
        acc.add(mf::eval::check_caption(out, scene));
        truth_acc.add(mf::eval::check_caption(truth, scene));
        const auto other = to_mats(data.range(Split::Validation, (i + 1) % o.clips, 1).video[0]);
        chance.add(mf::eval::check_caption(other, scene));
        continue;
      }
      const auto inputs = make_task_inputs(task, to_images(truth), mix_seed(0x65u, static_cast<uint64_t>(i)), o.sr_factor);
      if (!inputs.mask.empty()) spec.mask = image ? "eval-mask.png" : "eval-mask.mkv";
      if (task == TaskId::ITrans) spec.images = {"eval-first.png", "eval-last.png"};
      else if (image || facts.input == tasks::InputKind::Image) spec.images = {"eval-input.png"};
      else spec.clips = {"eval-input.mkv"};
      const auto out = run_task(pipe, spec, inputs);
      mf::check(out.size() == truth.size(), mf::ErrorCode::Internal,
                key + ": the model returned " + std::to_string(out.size()) + " frames for " +
                    std::to_string(truth.size()));
      const auto masks = to_mats(inputs.mask);  // empty: the whole frame
      const auto in_frames = to_mats(inputs.clip1);
      const auto in2_frames = to_mats(inputs.clip2);  // itrans: the last frame; empty otherwise
      if (i == 0 && !o.render_dir.empty()) {
        auto shown_in = in_frames;  // itrans: the first and the last frame
        shown_in.insert(shown_in.end(), in2_frames.begin(), in2_frames.end());
        write_sample_sheet((std::filesystem::path(o.render_dir) / (key + ".png")).string(),
                           {pick_frames(shown_in), pick_frames(out), pick_frames(truth)});
      }
      if (facts.generation) {
        // The generated frames only: the known ones are the inputs themselves.
        const auto plan = tasks::plan_frames(task, spec.num_frames, static_cast<int>(inputs.clip1.size()),
                                             static_cast<int>(inputs.clip2.size()));
        std::vector<cv::Mat> baseline;
        if (task == TaskId::ITrans)
          baseline = mf::eval::interpolate_linear(in_frames.front(), in2_frames.front(), plan.num_frames);
        else if (task == TaskId::VExd)
          baseline = mf::eval::extend_repeat_last(in_frames, plan.num_frames);
        else
          throw mf::Error(mf::ErrorCode::BadInput, std::string("the toy evaluation has no metric for ") + key);
        std::vector<cv::Mat> out_gen, truth_gen, base_gen;
        for (int t = 0; t < plan.num_frames; ++t) {
          if (std::find(plan.known.begin(), plan.known.end(), t) != plan.known.end()) continue;
          out_gen.push_back(out[static_cast<size_t>(t)]);
          truth_gen.push_back(truth[static_cast<size_t>(t)]);
          base_gen.push_back(baseline[static_cast<size_t>(t)]);
        }
        sc.model.add_clip(out_gen, truth_gen, {});
        sc.baseline(task == TaskId::ITrans ? "linear_blend" : "repeat_last_frame").add_clip(base_gen, truth_gen, {});
        continue;
      }
      sc.model.add_clip(out, truth, masks);
      switch (task) {
        case TaskId::VInp:
        case TaskId::IInp:
          sc.baseline("telea_inpaint").add_clip(mf::eval::inpaint_telea(in_frames, masks), truth, masks);
          break;
        case TaskId::VOutp:
        case TaskId::IOutp:
          sc.baseline("edge_replicate").add_clip(mf::eval::outpaint_replicate(in_frames, masks), truth, masks);
          break;
        case TaskId::VColor:
        case TaskId::IColor:
          sc.baseline("grey_mean_chroma").add_clip(
              mf::eval::colorize_mean_chroma(mf::eval::to_grey_rgb(in_frames), chroma), truth);
          break;
        case TaskId::VSR:
        case TaskId::ISR: {
          const cv::Size size(o.width, o.height);
          sc.baseline("nearest_upscale").add_clip(mf::eval::upscale_nearest(in_frames, size), truth);
          sc.baseline("bicubic_upscale").add_clip(mf::eval::upscale_bicubic(in_frames, size), truth);
          break;
        }
        default:
          throw mf::Error(mf::ErrorCode::BadInput, std::string("the toy evaluation has no metric for ") + key);
      }
    }
    if (task == TaskId::T2V) {
      report.add(key, "caption_accuracy", acc.accuracy(), "other_scene_clips", chance.accuracy());
      per_task[key] = {{"clips", acc.clips},
                       {"colour_found", acc.colour_found},
                       {"direction_ok", acc.direction_ok},
                       {"ground_truth_accuracy", truth_acc.accuracy()}};
      continue;
    }
    const auto m = sc.model.result();
    for (const auto& [name, b] : sc.baselines) {
      const auto r = b.result();
      report.add(key, "psnr_db", m.psnr, name, r.psnr);
      report.add(key, sc.ssim_on == mf::eval::SsimOn::Rgb ? "ssim_rgb" : "ssim", m.ssim, name, r.ssim);
    }
    per_task[key] = {{"clips", o.clips}, {"frames_measured", m.frames}, {"pixels_measured", m.pixels}};
  }
  report.info = {{"held_out", "validation split of the toy dataset (scene seeds disjoint from training)"},
                 {"dataset_seed", o.dataset_seed},
                 {"clips_per_task", o.clips},
                 {"size", {{"width", o.width}, {"height", o.height}, {"frames", o.frames}}},
                 {"steps", o.steps},
                 {"guidance", o.guidance ? nlohmann::json(*o.guidance) : nlohmann::json("official per task")},
                 {"sr_factor", o.sr_factor},
                 {"tasks", per_task},
                 {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()},
                 {"model_info", pipe.model_info()}};
  return report;
}

std::string report_markdown(const mf::eval::EvalReport& r) {
  std::ostringstream os;
  os << "| task | metric | model | baseline | baseline value | model better |\n";
  os << "|---|---|---|---|---|---|\n";
  os << std::fixed;
  for (const auto& row : r.rows) {
    const int prec = row.metric == "psnr_db" ? 2 : 3;
    os << "| " << row.task << " | " << row.metric << " | " << std::setprecision(prec) << row.model_value << " | "
       << row.baseline << " | " << row.baseline_value << " | " << (row.model_beats_baseline ? "yes" : "**no**")
       << " |\n";
  }
  return os.str();
}

}  // namespace mf::training

// `manyfold make-demo-project DIR`: writes the demo project from the toy world (a clip, a painted mask held over
// it, a first-frame mark and the demo job in demo.json). `manyfold demo`: runs the demo's inpainting job headless
// on a copy of the project (the project in the repository is never modified), writes the inpainted clip and a
// side-by-side comparison image, reports the error inside the regenerated region against the original frames,
// and lands the result as a take in the copied project (open it with manyfold-studio).
#if defined(MF_PIPELINE_AVAILABLE) && defined(MF_ENGINE_AVAILABLE) && defined(MF_TOYWORLD_AVAILABLE) && \
    defined(MF_JOBS_AVAILABLE)

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "command.h"
#include "engine_run.h"
#include "mf/core/error.h"
#include "mf/jobs/clip_job.h"
#include "mf/media/mask.h"
#include "mf/media/reader.h"
#include "mf/media/writer.h"
#include "mf/project/commands.h"
#include "mf/project/session.h"
#include "mf/tasks/task_id.h"
#include "mf/toyworld/toyworld.h"

namespace fs = std::filesystem;
namespace proj = mf::project;

namespace {

constexpr const char* kDemoFile = "demo.json";

mf::media::Image from_mat(const cv::Mat& m) {
  auto im = mf::media::Image::make(m.cols, m.rows, m.channels());
  for (int y = 0; y < m.rows; ++y) std::copy(m.ptr<uint8_t>(y), m.ptr<uint8_t>(y) + m.cols * m.channels(), im.row(y));
  return im;
}

fs::path default_project() { return fs::path(MF_SOURCE_DIR) / "projects" / "demo"; }
fs::path default_model() { return fs::path(MF_SOURCE_DIR) / "resources" / "models" / "manyfold-toy"; }

int run_make_demo(const std::vector<std::string>& argv) {
  mf::cli::Args a(argv);
  const auto unknown = a.unknown({"seed", "frames", "width", "height"});
  if (!unknown.empty()) return mf::cli::usage_error("make-demo-project", "unknown option " + unknown[0]);
  if (a.positionals().size() != 1) return mf::cli::usage_error("make-demo-project", "give the project folder to write");
  const fs::path dir = a.positionals()[0];
  mf::check(!fs::exists(dir / "project.json"), mf::ErrorCode::BadInput,
            dir.string() + " already holds a project; remove it or choose another folder");
  mf::toyworld::SamplerOptions so;
  so.width = a.get_int("width", 96);
  so.height = a.get_int("height", 64);
  so.frames = a.get_int("frames", 17);
  so.min_shapes = 2;
  so.max_shapes = 2;
  so.p_pan = 0;
  so.p_enter_leave = 0;
  so.allow_star_ring = false;
  const uint64_t seed = static_cast<uint64_t>(a.get_int("seed", 7));
  const auto scene = mf::toyworld::sample_scene(seed, so);
  const auto clip = mf::toyworld::render(scene);

  proj::NewProjectOptions po;
  po.name = "Manyfold demo";
  po.fps = proj::Rational(16);
  po.resolution = {so.width, so.height};
  auto session = proj::ProjectSession::create(dir, po);

  // The clip, as a creator would import it: H.264 at high quality.
  std::vector<mf::media::Image> frames;
  for (const auto& f : clip.frames) frames.push_back(from_mat(f));
  mf::media::EncodeOptions eo;
  eo.codec = mf::media::Codec::H264;
  eo.fps = {16, 1};
  eo.crf = 10;
  const fs::path media_file = dir / "media" / "toy_clip.mp4";
  fs::create_directories(media_file.parent_path());
  mf::media::write_video(media_file, frames, eo);
  proj::MediaItem item;
  item.path = session->to_relative(media_file);
  item.name = "toy_clip.mp4";
  item.kind = proj::MediaKind::Video;
  item.frame_count = static_cast<int64_t>(frames.size());
  item.fps = proj::Rational(16);
  item.size = {so.width, so.height};
  const std::string media_id = session->push(std::make_unique<proj::AddMedia>(item)).media_id();
  const std::string track = session->push(std::make_unique<proj::AddTrack>("V1")).track_id();
  proj::ClipPlacement place;
  place.track_id = track;
  place.media_id = media_id;
  place.source = {0, item.frame_count};
  place.name = "toy clip";
  const std::string clip_id = session->push(std::make_unique<proj::AddClip>(place)).clip_id();

  // The painted mask: regenerate (black) a box in the middle of the frame, held over the whole clip.
  const std::string mask_track = session->push(std::make_unique<proj::AddMaskTrack>(clip_id, "Regenerate")).mask_track_id();
  auto mask = mf::media::Image::make(so.width, so.height, 1);
  const int x0 = so.width * 5 / 16, x1 = so.width * 11 / 16, y0 = so.height / 4, y1 = so.height * 3 / 4;
  for (int y = 0; y < so.height; ++y)
    for (int x = 0; x < so.width; ++x) *mask.at(x, y) = (x >= x0 && x < x1 && y >= y0 && y < y1) ? 0 : 255;
  const std::string mask_rel = session->new_mask_path(mask_track, 0);
  fs::create_directories(session->to_absolute(mask_rel).parent_path());
  mf::media::write_png(session->to_absolute(mask_rel), mask);
  session->push(std::make_unique<proj::SetMaskKeyframe>(mask_track, 0, mask_rel));
  session->push(std::make_unique<proj::SetFrameMark>(proj::MarkSlot::First, proj::FrameMark{clip_id, 0}));
  session->save();

  nlohmann::json demo{{"task", "vinp"},       {"clip_id", clip_id}, {"prompt", clip.caption},
                      {"seed", 42},           {"steps", 20},        {"guidance", 1.0}, {"toy_seed", seed},
                      {"scene", mf::toyworld::scene_to_json(scene)}};
  std::ofstream(dir / kDemoFile) << demo.dump(2) << "\n";
  std::cout << dir.string() << "\n";
  std::cerr << "demo project written: " << clip.frames.size() << " frames " << so.width << "x" << so.height
            << ", caption: " << clip.caption << "\n";
  return mf::cli::kExitOk;
}

// [input | input with the regenerated region tinted | output], the middle frame.
// input | input with the regenerated region tinted red | result, each enlarged kComparisonZoom times (nearest
// neighbour: the toy model's 96x64 frames are too small to judge at their own size), kComparisonGap apart.
constexpr int kComparisonZoom = 3;
constexpr int kComparisonGap = 12;

mf::media::Image side_by_side(const mf::media::Image& in, const mf::media::Image& mask, const mf::media::Image& out) {
  const int w = in.width, h = in.height, z = kComparisonZoom, panel = w * z + kComparisonGap;
  auto im = mf::media::Image::make(3 * w * z + 2 * kComparisonGap, h * z, 3);
  std::fill(im.data.begin(), im.data.end(), uint8_t{40});
  for (int y = 0; y < h * z; ++y)
    for (int x = 0; x < w * z; ++x) {
      const int sx = x / z, sy = y / z;
      const uint8_t* s = in.at(sx, sy);
      const bool regen = *mask.at(std::min(sx, mask.width - 1), std::min(sy, mask.height - 1)) < 128;
      const uint8_t* o = out.at(std::min(sx, out.width - 1), std::min(sy, out.height - 1));
      for (int c = 0; c < 3; ++c) {
        im.at(x, y)[c] = s[c];
        const int tint = c == 0 ? 255 : 40;
        im.at(panel + x, y)[c] = regen ? static_cast<uint8_t>((s[c] + tint) / 2) : s[c];
        im.at(2 * panel + x, y)[c] = o[c];
      }
    }
  return im;
}

int run_demo(const std::vector<std::string>& argv) {
  mf::cli::Args a(argv, {"quiet"});
  const auto unknown = a.unknown({"project", "model", "out", "steps", "seed", "guidance", "quiet"});
  if (!unknown.empty()) return mf::cli::usage_error("demo", "unknown option " + unknown[0]);
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path project = a.get_or("project", default_project().string());
  const fs::path model = a.get_or("model", default_model().string());
  const fs::path out = fs::absolute(a.get_or("out", "manyfold-demo-output"));
  mf::cli::Progress progress;
  progress.quiet = a.has("quiet");
  mf::check(fs::exists(project / kDemoFile), mf::ErrorCode::BadInput,
            project.string() + " is not a demo project (no " + kDemoFile +
                "); write one with `manyfold make-demo-project DIR`");
  mf::check(fs::exists(model / "model_index.json"), mf::ErrorCode::MissingModel,
            "no model at " + model.string() +
                (model == default_model() ? " (the built-in model is not in this checkout yet)" : std::string()) +
                "; pass --model DIR with an MfM pipeline folder");
  std::ifstream df(project / kDemoFile);
  const auto demo = nlohmann::json::parse(df, nullptr, false);
  mf::check(demo.is_object(), mf::ErrorCode::BadFile, (project / kDemoFile).string() + " is not valid JSON");

  // Work on a copy: the demo project (in the repository) stays as it is.
  // A previous run's copy is kept (renamed with a number), never deleted: it may hold the user's edits.
  const fs::path work = out / "project";
  if (fs::exists(work)) {
    int n = 1;
    while (fs::exists(out / ("project." + std::to_string(n)))) ++n;
    fs::rename(work, out / ("project." + std::to_string(n)));
  }
  fs::create_directories(out);
  fs::copy(project, work, fs::copy_options::recursive);
  fs::remove_all(work / "jobs" / "queue");
  auto session = proj::ProjectSession::open(work);

  mf::jobs::ClipJobRequest rq;
  rq.clip_id = demo.value("clip_id", "");
  rq.task = mf::tasks::parse_task_id(demo.value("task", "vinp")).value_or(mf::tasks::TaskId::VInp);
  rq.prompt = demo.value("prompt", "");
  rq.model = model.string();
  rq.steps = a.get_int("steps", demo.value("steps", 0));
  rq.seed = static_cast<uint64_t>(a.get_int("seed", demo.value("seed", 42)));
  if (a.has("guidance")) rq.guidance = a.get_double("guidance", 6.0);
  else if (demo.contains("guidance") && demo["guidance"].is_number()) rq.guidance = demo["guidance"].get<double>();
  auto job = mf::jobs::export_clip_job(*session, rq);
  // Like an inpainting tool's paste-back: the output keeps the clip outside the mask (TaskSpec::keep_known_pixels;
  // the demo file may turn it off with "keep_known_pixels": false to see the model's whole frame).
  if (mf::tasks::task_facts(rq.task).mask == mf::tasks::MaskUse::Required)
    job.spec.keep_known_pixels = demo.value("keep_known_pixels", true);
  progress.line("demo: " + std::string(mf::tasks::to_string(rq.task)) + " on '" + rq.prompt + "' with " + model.string());
  {
    std::ifstream mi(model / "model_index.json");
    const auto idx = nlohmann::json::parse(mi, nullptr, false);
    if (idx.is_object() && idx.value("_manyfold_test_fixture", false))
      std::cerr << "warning: " << model.string()
                << " is a TEST FIXTURE with random weights: the output is noise, not an inpainting\n";
  }
  const fs::path result = out / "inpainted.mp4";
  mf::pipeline::LoadOptions lo;
  lo.dtype = torch::kFloat32;
  const auto files = mf::cli::run_jobs_on_engine(model.string(), "fp32", lo, mf::tasks::Drop3Policy::EvenLatentOnly,
                                                 {job.spec}, {result.string()}, progress);

  // Comparison and the error inside the regenerated region (the original clip is the ground truth).
  const auto inputs = mf::media::read_frames(job.spec.clips[0]);
  const auto outputs = mf::media::read_frames(result);
  mf::check(!outputs.empty(), mf::ErrorCode::Internal, "the demo output " + result.string() + " has no frames");
  std::vector<mf::media::Image> masks;
  if (mf::media::probe(job.spec.mask).is_image) masks.push_back(mf::media::read_image(job.spec.mask, mf::media::PixelFormat::Gray8));
  else masks = mf::media::read_mask_video(job.spec.mask);
  const size_t mid = outputs.size() / 2;
  const auto& mask_mid = masks[std::min(mid, masks.size() - 1)];
  const fs::path comparison = out / "comparison.png";
  mf::media::write_png(comparison, side_by_side(inputs[std::min(mid, inputs.size() - 1)], mask_mid, outputs[mid]));
  double se = 0;
  int64_t n = 0;
  const size_t frames = std::min(inputs.size(), outputs.size());
  for (size_t t = 0; t < frames; ++t) {
    const auto& m = masks[std::min(t, masks.size() - 1)];
    for (int y = 0; y < std::min(outputs[t].height, inputs[t].height); ++y)
      for (int x = 0; x < std::min(outputs[t].width, inputs[t].width); ++x) {
        if (*m.at(x, y) >= 128) continue;
        for (int c = 0; c < 3; ++c) {
          const double d = double(outputs[t].at(x, y)[c]) - double(inputs[t].at(x, y)[c]);
          se += d * d;
          ++n;
        }
      }
  }
  const double psnr = n > 0 && se > 0 ? 10 * std::log10(255.0 * 255.0 / (se / n)) : INFINITY;

  // The result lands as a take in the copied project.
  const auto info = mf::media::probe(result);
  proj::TakeRequest take;
  take.source_clip_id = job.source_clip_id;
  const fs::path in_project = work / "renders" / "demo_inpainted.mp4";
  fs::create_directories(in_project.parent_path());
  fs::copy_file(result, in_project, fs::copy_options::overwrite_existing);
  take.media.path = session->to_relative(in_project);
  take.media.name = "demo_inpainted.mp4";
  take.media.kind = proj::MediaKind::Video;
  take.media.frame_count = info.frame_count;
  take.media.fps = proj::Rational(info.fps.num, info.fps.den);
  take.media.size = {info.width, info.height};
  session->push(std::make_unique<proj::AddTake>(take));
  session->save();

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json summary{{"output", result.string()},
                         {"comparison", comparison.string()},
                         {"project", work.string()},
                         {"frames", outputs.size()},
                         {"width", info.width},
                         {"height", info.height},
                         {"psnr_regenerated_region_db", std::isfinite(psnr) ? nlohmann::json(psnr) : nlohmann::json("inf")},
                         {"seconds", secs}};
  std::ofstream(out / "demo_summary.json") << summary.dump(2) << "\n";
  std::cout << result.string() << "\n" << comparison.string() << "\n";
  progress.line("demo: " + std::to_string(outputs.size()) + " frames in " + std::to_string(secs).substr(0, 5) +
                " s; PSNR in the regenerated region " + std::to_string(psnr).substr(0, 5) +
                " dB; open the result in the studio: manyfold-studio " + work.string());
  (void)files;
  return mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND("make-demo-project", "write the demo project (toy clip, painted mask, demo job) into a folder",
               "manyfold make-demo-project DIR [--seed N] [--frames 17] [--width 96] [--height 64]\n"
               "  A toy-world clip of two shapes with its caption as the prompt, a mask held over its middle and\n"
               "  demo.json naming the vinp job `manyfold demo` runs (20 steps). The defaults match the size the built-in\n"
               "  model was trained at (96x64, 17 frames).",
               run_make_demo);

MF_CLI_COMMAND("demo", "run the demo project's inpainting job headless and write the clip and a comparison",
               "manyfold demo [--project projects/demo] [--model resources/models/manyfold-toy] [--out DIR]\n"
               "              [--steps N] [--seed S] [--guidance G] [--quiet]\n"
               "  Copies the project to DIR/project (default ./manyfold-demo-output; an earlier copy is kept as\n"
               "  DIR/project.N), runs its vinp job through the\n"
               "  engine and writes DIR/inpainted.mp4, DIR/comparison.png (input | mask | result, middle frame, 3x) and\n"
               "  DIR/demo_summary.json (PSNR inside the regenerated region against the original clip). The result\n"
               "  also lands as a take in DIR/project. The result keeps the clip outside the mask (keep_known_pixels,\n"
               "  as an inpainting tool pastes its result back; \"keep_known_pixels\": false in the project's demo.json\n"
               "  shows the model's whole frame).",
               run_demo);

#endif

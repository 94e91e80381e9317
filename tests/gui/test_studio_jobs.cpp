// Studio jobs: the Generate flow end to end on the offscreen platform. A project with a video clip and a painted
// mask queues a vinp job through the real engine (EngineBridge over mf_engine) on a tiny random-weight test
// pipeline (a test fixture); the jobs panel follows it with previews, and the result lands as a take above the
// clip. Also the errors a creator meets: no mask painted, no model configured.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTest>

#include "mf/media/reader.h"
#include "mf/media/writer.h"
#include "mf/pipeline/test_pipeline.h"
#include "mf/project/commands.h"
#include "mf/project/document.h"
#include "mf/project/session.h"
#include "mf/ui/bridge/engine_bridge.h"
#include "mf/ui/canvas_widget.h"
#include "mf/ui/timeline_widget.h"
#include "mf/jobs/clip_job.h"
#include "mf/ui/jobs_panel.h"
#include "mf/ui/task_inspector.h"
#include "mf/jobs/task_job.h"
#include "mf/jobs/render.h"
#include "mf/media/mask.h"
#include "mf/media/metadata.h"
#include "mf/ui/export_dialog.h"
#include <nlohmann/json.hpp>
#include "gui_test_util.h"
#include "mf/ui/main_window.h"

namespace fs = std::filesystem;
namespace proj = mf::project;

namespace {

QApplication& app() { return mf::test::gui_app(); }

fs::path temp_dir(const std::string& tag) {
  fs::path p = mf::test::fresh_temp_path(tag);
  fs::create_directories(p);
  return p;
}

// 13 frames of a white square moving right over a dark blue background, 96x64, losslessly.
fs::path write_source_clip(const fs::path& dir) {
  std::vector<mf::media::Image> frames;
  for (int t = 0; t < 13; ++t) {
    auto im = mf::media::Image::make(96, 64, 3);
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 96; ++x) {
        uint8_t* p = im.at(x, y);
        const bool sq = x >= 10 + 4 * t && x < 26 + 4 * t && y >= 24 && y < 40;
        p[0] = sq ? 240 : 20;
        p[1] = sq ? 240 : 30;
        p[2] = sq ? 240 : 120;
      }
    frames.push_back(std::move(im));
  }
  mf::media::EncodeOptions eo;
  eo.codec = mf::media::Codec::Ffv1;
  eo.fps = {16, 1};
  const fs::path out = dir / "square.mkv";
  mf::media::write_video(out, frames, eo);
  return out;
}

const fs::path& test_model() {
  static const fs::path dir = [] {
    fs::path d = temp_dir("model") / "pipeline";
    mf::pipeline::TestPipelineOptions o;
    o.tokenizer_dir = (fs::path(MF_SOURCE_DIR) / "tests" / "fixtures" / "text" / "spm_nfkc_unigram").string();
    mf::pipeline::make_test_pipeline(d.string(), o);
    return d;
  }();
  return dir;
}

struct Studio {
  fs::path root = temp_dir("proj");
  mf::ui::MainWindow window;
  std::string clip_id;

  explicit Studio(const std::string& model) {
    window.set_job_service_factory([model](const fs::path& project) {
      mf::ui::EngineBridgeOptions o;
      o.queue_dir = project / "jobs" / "queue";
      o.model = model;
      o.device = "cpu";
      o.dtype = "fp32";
      return std::unique_ptr<mf::ui::JobService>(std::make_unique<mf::ui::EngineBridge>(o));
    });
    EXPECT_TRUE(window.new_project(root / "p", true));
    EXPECT_TRUE(window.import_media(write_source_clip(root), true));
    auto* s = window.session();
    const std::string track = s->push(std::make_unique<proj::AddTrack>("V1")).track_id();
    proj::ClipPlacement place;
    place.track_id = track;
    place.media_id = s->document().media.front().id;
    place.source = {0, 13};
    place.timeline_start = 0;
    place.name = "square";
    clip_id = s->push(std::make_unique<proj::AddClip>(place)).clip_id();
  }

  // A mask painted on source frame `frame`: black (regenerate) over the left half.
  void paint_mask(int64_t frame) {
    auto* s = window.session();
    std::string track;
    for (const auto* t : s->document().mask_tracks_for_clip(clip_id)) track = t->id;
    if (track.empty()) track = s->push(std::make_unique<proj::AddMaskTrack>(clip_id, "Mask")).mask_track_id();
    auto m = mf::media::Image::make(96, 64, 1);
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 96; ++x) *m.at(x, y) = x < 48 ? 0 : 255;
    const fs::path rel = fs::path("masks") / ("test_f" + std::to_string(frame) + ".png");
    fs::create_directories(s->folder() / "masks");
    mf::media::write_png(s->folder() / rel, m);
    s->push(std::make_unique<proj::SetMaskKeyframe>(track, frame, rel.generic_string()));
  }

  QString wait_terminal(const QString& id, int timeout_ms = 120000) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < timeout_ms) {
      app().processEvents(QEventLoop::AllEvents, 50);
      const QString st = window.jobs_panel()->state_of(id);
      if (st == "finished" || st == "failed" || st == "cancelled") {
        // The state change arrives before the finished event that lands the take: wait for that too.
        const auto* src = window.session()->document().find_clip(clip_id);
        QElapsedTimer t2;
        t2.start();
        while (st == "finished" && src && src->take_group.empty() && t2.elapsed() < 20000) {
          app().processEvents(QEventLoop::AllEvents, 20);
          src = window.session()->document().find_clip(clip_id);
        }
        return st;
      }
    }
    return "timeout";
  }
};

}  // namespace

TEST(StudioJobs, InpaintSelectedClipRunsOnTheEngineAndLandsAsATake) {
  app();
  Studio st(test_model().string());
  st.paint_mask(0);
  st.paint_mask(8);  // two different keyframes: the mask goes to the pipeline as a video
  mf::jobs::ClipJobRequest r;
  r.clip_id = st.clip_id;
  r.task = mf::tasks::TaskId::VInp;
  r.prompt = "a white square moves right";
  r.steps = 3;
  r.seed = 7;
  const QString id = st.window.queue_clip_job(r, true);
  ASSERT_FALSE(id.isEmpty()) << st.window.last_error().toStdString();
  EXPECT_GE(st.window.jobs_panel()->row_count(), 1);
  const QString state = st.wait_terminal(id);
  ASSERT_EQ(state.toStdString(), "finished");
  EXPECT_GE(st.window.jobs_panel()->previews_received(), 1) << "no preview reached the jobs panel";
  EXPECT_FALSE(st.window.jobs_panel()->last_preview().isNull());
  // The dock plays the preview's frames (13 frames -> 4 latent frames), not one still.
  EXPECT_GT(st.window.jobs_panel()->preview_frame_count(), 1);
  {
    const int shown = st.window.jobs_panel()->preview_frames_shown();
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < 600) app().processEvents(QEventLoop::AllEvents, 20);
    EXPECT_GT(st.window.jobs_panel()->preview_frames_shown(), shown) << "the preview does not play";
  }

  // The take: a clip in the same take group as the source, on a track above, with its media on disk.
  const proj::Project& doc = st.window.session()->document();
  const proj::Clip* source = doc.find_clip(st.clip_id);
  ASSERT_NE(source, nullptr);
  ASSERT_FALSE(source->take_group.empty()) << "the finished job did not land as a take";
  const proj::Clip* take = nullptr;
  for (const auto& tr : doc.timeline.tracks)
    for (const auto& c : tr.clips)
      if (c.id != st.clip_id && c.take_group == source->take_group) take = &c;
  ASSERT_NE(take, nullptr);
  EXPECT_FALSE(take->recipe.is_null());
  const proj::MediaItem& m = proj::require_media(doc, take->media_id);
  const fs::path out = st.window.session()->to_absolute(m.path);
  ASSERT_TRUE(fs::exists(out)) << out;
  const auto info = mf::media::probe(out);
  EXPECT_EQ(info.frame_count, 13);
  EXPECT_EQ(info.width, 96);
  EXPECT_EQ(info.height, 64);
  // The inputs the job read were written into the project (nothing outside it is needed to rerun it).
  EXPECT_TRUE(fs::exists(st.window.session()->folder() / "jobs" / "inputs"));
  EXPECT_EQ(m.path.rfind("renders/", 0), 0u) << m.path;
}

TEST(StudioJobs, InpaintWithoutAMaskSaysToPaintOne) {
  app();
  Studio st(test_model().string());
  mf::jobs::ClipJobRequest r;
  r.clip_id = st.clip_id;
  r.task = mf::tasks::TaskId::VInp;
  EXPECT_TRUE(st.window.queue_clip_job(r, true).isEmpty());
  EXPECT_NE(st.window.last_error().toStdString().find("paint"), std::string::npos)
      << st.window.last_error().toStdString();
  EXPECT_EQ(st.window.jobs_panel()->row_count(), 0);
}

TEST(StudioJobs, NoModelConfiguredIsReportedWithWhatToDo) {
  app();
  Studio st("");
  st.paint_mask(0);
  mf::jobs::ClipJobRequest r;
  r.clip_id = st.clip_id;
  r.task = mf::tasks::TaskId::VInp;
  EXPECT_TRUE(st.window.queue_clip_job(r, true).isEmpty());
  EXPECT_NE(st.window.last_error().toStdString().find("--model"), std::string::npos)
      << st.window.last_error().toStdString();
}

TEST(StudioJobs, MaskOfAnotherSizeIsRefused) {
  app();
  Studio st(test_model().string());
  auto* s = st.window.session();
  const std::string track = s->push(std::make_unique<proj::AddMaskTrack>(st.clip_id, "Mask")).mask_track_id();
  auto m = mf::media::Image::make(32, 32, 1);
  fs::create_directories(s->folder() / "masks");
  mf::media::write_png(s->folder() / "masks" / "small.png", m);
  s->push(std::make_unique<proj::SetMaskKeyframe>(track, 0, "masks/small.png"));
  mf::jobs::ClipJobRequest r;
  r.clip_id = st.clip_id;
  r.task = mf::tasks::TaskId::VInp;
  EXPECT_TRUE(st.window.queue_clip_job(r, true).isEmpty());
  EXPECT_NE(st.window.last_error().toStdString().find("32x32"), std::string::npos)
      << st.window.last_error().toStdString();
}

TEST(StudioJobs, OnionSkinShowsTheNeighbouringFrames) {
  app();
  Studio st(test_model().string());
  st.window.set_playhead(5);
  auto* canvas = st.window.canvas();
  EXPECT_TRUE(canvas->onion_previous().isNull());
  canvas->set_onion_skin(true);
  ASSERT_FALSE(canvas->onion_previous().isNull());
  ASSERT_FALSE(canvas->onion_next().isNull());
  // The square is at x = 10 + 4t: frame 4 covers x 26..41, frame 6 covers 34..49 (y 24..39).
  EXPECT_GT(qGray(canvas->onion_previous().pixel(27, 30)), 200);
  EXPECT_LT(qGray(canvas->onion_next().pixel(27, 30)), 100);
  EXPECT_GT(qGray(canvas->onion_next().pixel(48, 30)), 200);
  // At the clip's first frame there is no previous frame.
  st.window.set_playhead(0);
  EXPECT_TRUE(canvas->onion_previous().isNull());
  EXPECT_FALSE(canvas->onion_next().isNull());
  canvas->set_onion_skin(false);
  EXPECT_TRUE(canvas->onion_next().isNull());
}

TEST(StudioJobs, TimelineDrawsClipThumbnailsWithoutBlocking) {
  app();
  Studio st(test_model().string());
  auto* tl = st.window.timeline();
  tl->resize(900, 200);
  QElapsedTimer t;
  t.start();
  tl->grab();  // the first paint only requests thumbnails
  int drawn = 0;
  while (t.elapsed() < 10000 && drawn == 0) {
    app().processEvents(QEventLoop::AllEvents, 30);
    tl->grab();
    drawn = tl->thumbnails_drawn();
  }
  EXPECT_GT(drawn, 0) << "no clip thumbnail appeared";
  // A thumbnail of the clip shows the dark blue background with the square.
  const QImage shot = tl->grab().toImage();
  EXPECT_FALSE(shot.isNull());
}

// ---- the task inspector ------------------------------------------------------------------------------------------

namespace {

bool mentions(const QStringList& lines, const std::string& text) {
  for (const auto& l : lines)
    if (l.toStdString().find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(TaskInspector, BuildsTheTaskSpecFromTheSelection) {
  app();
  Studio st(test_model().string());
  auto* insp = st.window.task_inspector();
  ASSERT_NE(insp, nullptr);
  st.window.timeline()->select_clip(st.clip_id);

  // vinp without a mask: the form says what to do and cannot submit.
  insp->set_task(mf::tasks::TaskId::VInp);
  insp->refresh();
  EXPECT_FALSE(insp->can_submit());
  EXPECT_TRUE(mentions(insp->errors(), "mask brush (B)")) << insp->errors().join("|").toStdString();
  EXPECT_FALSE(insp->submit_button()->isEnabled());

  st.paint_mask(0);
  insp->refresh();
  EXPECT_TRUE(insp->can_submit()) << insp->errors().join("|").toStdString();
  mf::tasks::TaskSpec spec = insp->preview_spec();
  EXPECT_EQ(spec.task, mf::tasks::TaskId::VInp);
  ASSERT_EQ(spec.clips.size(), 1u);
  EXPECT_FALSE(spec.mask.empty());
  EXPECT_EQ(spec.num_frames, 13);  // the whole 13-frame clip (4k+1)
  EXPECT_EQ(spec.width, 96);
  EXPECT_EQ(spec.height, 64);
  EXPECT_EQ(spec.fps, (mf::tasks::Rational{16, 1}));
  EXPECT_TRUE(insp->memory_text().startsWith("Memory: Peak")) << insp->memory_text().toStdString();
  // Fewer frames: 4k+1 of the limit.
  insp->max_frames_box()->setValue(10);
  EXPECT_EQ(insp->preview_spec().num_frames, 9);
  // Keep the picture outside the mask (off by default, as the official pipeline).
  EXPECT_FALSE(insp->preview_spec().keep_known_pixels);
  insp->keep_known_box()->setChecked(true);
  EXPECT_TRUE(insp->preview_spec().keep_known_pixels);

  // itrans needs both frame marks; marking them fills the form.
  insp->set_task(mf::tasks::TaskId::ITrans);
  EXPECT_TRUE(mentions(insp->errors(), "first frame (F)"));
  EXPECT_TRUE(mentions(insp->errors(), "last frame (Shift+L)"));
  auto* s = st.window.session();
  s->push(std::make_unique<proj::SetFrameMark>(proj::MarkSlot::First, proj::FrameMark{st.clip_id, 1}));
  s->push(std::make_unique<proj::SetFrameMark>(proj::MarkSlot::Last, proj::FrameMark{st.clip_id, 11}));
  EXPECT_TRUE(insp->can_submit()) << insp->errors().join("|").toStdString();
  spec = insp->preview_spec();
  ASSERT_EQ(spec.images.size(), 2u);
  EXPECT_NE(spec.images[0].find("#frame1"), std::string::npos) << spec.images[0];
  EXPECT_NE(spec.images[1].find("#frame11"), std::string::npos) << spec.images[1];
  EXPECT_EQ(spec.num_frames, 97);  // the official length to start with
  EXPECT_FALSE(spec.keep_known_pixels);  // still checked, but itrans has no mask
  EXPECT_TRUE(insp->frames_label()->text().contains("97 frames")) << insp->frames_label()->text().toStdString();
  // A shorter transition (a Manyfold option): 0.67 s at the project's 24 fps is 16 frames -> 4k+1: 17.
  insp->duration_box()->setValue(0.67);
  EXPECT_EQ(insp->preview_spec().num_frames, 17);
  EXPECT_TRUE(insp->can_submit()) << insp->errors().join("|").toStdString();

  // iinp follows the playhead: frame 0 has the painted mask, frame 5 holds it.
  insp->set_task(mf::tasks::TaskId::IInp);
  st.window.set_playhead(5);
  insp->refresh();
  ASSERT_TRUE(insp->can_submit()) << insp->errors().join("|").toStdString();
  ASSERT_EQ(insp->resolved().images.size(), 1u);
  EXPECT_EQ(insp->resolved().images[0].source_frame, 5);
  EXPECT_TRUE(insp->resolved().image_mask.has_value());
}

TEST(TaskInspector, DurationSnapsSizesSnapAndSeedsLock) {
  app();
  Studio st(test_model().string());
  auto* insp = st.window.task_inspector();
  insp->set_task(mf::tasks::TaskId::T2V);
  // The project runs at 24 fps: 2 s -> 48 frames -> the nearest 4k+1 is 49, and the box shows 49 / 24 s.
  insp->duration_box()->setValue(2.0);
  EXPECT_EQ(insp->request().num_frames, 49);
  EXPECT_TRUE(insp->frames_label()->text().contains("49 frames")) << insp->frames_label()->text().toStdString();
  QMetaObject::invokeMethod(insp->duration_box(), "editingFinished");
  EXPECT_NEAR(insp->duration_box()->value(), 49.0 / 24.0, 0.006);
  // A custom size snaps to multiples of 16.
  insp->size_box()->setCurrentIndex(insp->size_box()->count() - 1);
  insp->width_box()->setValue(630);
  insp->height_box()->setValue(350);
  QMetaObject::invokeMethod(insp->width_box(), "editingFinished");
  EXPECT_EQ(insp->width_box()->value(), 624);
  EXPECT_EQ(insp->height_box()->value(), 352);
  const mf::tasks::TaskSpec spec = insp->preview_spec();
  EXPECT_EQ(spec.width, 624);
  EXPECT_EQ(spec.height, 352);
  // t2v without a prompt: the validator's message inline, then fixed by typing one.
  EXPECT_FALSE(insp->can_submit());
  EXPECT_TRUE(mentions(insp->errors(), "write a prompt")) << insp->errors().join("|").toStdString();
  insp->prompt_edit()->setPlainText("a red circle moves left");
  EXPECT_TRUE(insp->can_submit()) << insp->errors().join("|").toStdString();
  // A style preset fills its suggested settings and templates the prompt.
  const int toy = insp->style_box()->findData("toy-world");
  ASSERT_GE(toy, 0) << "the built-in presets were not loaded";
  insp->style_box()->setCurrentIndex(toy);
  EXPECT_EQ(insp->steps_box()->value(), 20);
  EXPECT_DOUBLE_EQ(insp->guidance_box()->value(), 1.0);
  EXPECT_EQ(insp->request().style->id, "toy-world");
  EXPECT_EQ(insp->preview_spec().prompt, "a red circle moves left");

  // Seeds: unlocked, each submission draws a new seed; locked, it stays.
  insp->seed_box()->setValue(1234);
  insp->seed_lock()->setChecked(true);
  EXPECT_EQ(insp->take_seed_for_submit().seed, std::optional<uint64_t>(1234));
  insp->seed_lock()->setChecked(false);
  const auto a = insp->take_seed_for_submit().seed, b = insp->take_seed_for_submit().seed;
  EXPECT_NE(a, b);
  EXPECT_EQ(b, std::optional<uint64_t>(static_cast<uint64_t>(insp->seed_box()->value())));
}

TEST(TaskInspector, SubmitQueuesTheJobAndTheTakeLands) {
  app();
  Studio st(test_model().string());
  auto* insp = st.window.task_inspector();
  st.window.timeline()->select_clip(st.clip_id);
  st.paint_mask(0);
  insp->set_task(mf::tasks::TaskId::VInp);
  insp->prompt_edit()->setPlainText("a white square moves right");
  insp->steps_box()->setValue(2);
  insp->refresh();
  ASSERT_TRUE(insp->submit_button()->isEnabled()) << insp->errors().join("|").toStdString();
  QTest::mouseClick(insp->submit_button(), Qt::LeftButton);
  ASSERT_EQ(st.window.jobs_panel()->row_count(), 1) << st.window.last_error().toStdString();
  const QList<mf::ui::JobRow> rows = st.window.job_service()->jobs();
  ASSERT_EQ(rows.size(), 1);
  EXPECT_EQ(rows[0].task, "vinp");
  EXPECT_EQ(rows[0].prompt, "a white square moves right");
  ASSERT_EQ(st.wait_terminal(rows[0].id).toStdString(), "finished");
  const proj::Clip* src = st.window.session()->document().find_clip(st.clip_id);
  ASSERT_FALSE(src->take_group.empty());

  // Export the take: the file carries the job's recipe (seed, task), so it can be rerun from the file alone.
  std::string take_id;
  for (const auto& t : st.window.session()->document().timeline.tracks)
    for (const auto& c : t.clips)
      if (c.id != st.clip_id && c.take_group == src->take_group) take_id = c.id;
  ASSERT_FALSE(take_id.empty());
  mf::jobs::RenderOptions o;
  o.clip_id = take_id;
  const fs::path file = st.window.session()->folder() / "renders" / "exported_take.mp4";
  ASSERT_TRUE(st.window.export_render(file, o, true)) << st.window.last_error().toStdString();
  const auto recipe = nlohmann::json::parse(mf::media::read_recipe(file).value_or("{}"));
  EXPECT_EQ(recipe.dump().find("vinp") != std::string::npos, true) << recipe.dump();
  EXPECT_EQ(mf::media::probe(file).frame_count, 13);
  // Same settings again: the take's job with a new seed lands as another take in the same group.
  const QString again = st.window.same_settings_again(take_id, false, true);
  ASSERT_FALSE(again.isEmpty()) << st.window.last_error().toStdString();
  ASSERT_EQ(st.wait_terminal(again).toStdString(), "finished");
  {
    QElapsedTimer t2;
    t2.start();
    int takes = 0;
    while (t2.elapsed() < 20000) {
      takes = 0;
      for (const auto& t : st.window.session()->document().timeline.tracks)
        for (const auto& c : t.clips) takes += c.take_group == src->take_group && c.id != st.clip_id;
      if (takes >= 2) break;
      app().processEvents(QEventLoop::AllEvents, 20);
    }
    EXPECT_EQ(takes, 2);
  }
  const auto first_row = st.window.job_service()->jobs();
  ASSERT_EQ(first_row.size(), 2);
  EXPECT_EQ(first_row[1].prompt, first_row[0].prompt);
  EXPECT_TRUE(st.window.same_settings_again(st.clip_id, false, true).isEmpty());  // footage has no recipe
  EXPECT_NE(st.window.last_error().toStdString().find("not a generated take"), std::string::npos);
  src = st.window.session()->document().find_clip(st.clip_id);

  // And the timeline: its in/out default is the whole timeline here.
  mf::jobs::RenderOptions tl;
  tl.codec = mf::media::Codec::Ffv1;
  const fs::path tl_file = st.window.session()->folder() / "renders" / "timeline.mkv";
  ASSERT_TRUE(st.window.export_render(tl_file, tl, true)) << st.window.last_error().toStdString();
  EXPECT_EQ(mf::media::probe(tl_file).frame_count, st.window.session()->document().timeline.end_frame());
}

TEST(StudioJobs, CanvasShowsTheMaskTheJobWillUse) {
  app();
  Studio st(test_model().string());
  st.paint_mask(0);
  st.paint_mask(12);
  st.window.set_playhead(6);
  auto* canvas = st.window.canvas();
  EXPECT_EQ(canvas->mask_kind(), proj::MaskSampleKind::Held);  // the default: hold
  st.window.set_mask_interpolation(proj::MaskInterpolation::Flow);
  st.window.set_playhead(6);
  EXPECT_EQ(canvas->mask_kind(), proj::MaskSampleKind::Interpolated);
  EXPECT_EQ(canvas->mask().size(), QSize(96, 64));
  // The flow runs on a worker; the canvas then shows exactly what the job's mask export computes.
  QElapsedTimer wait;
  wait.start();
  while (canvas->mask_pending() && wait.elapsed() < 20000) app().processEvents(QEventLoop::AllEvents, 10);
  ASSERT_FALSE(canvas->mask_pending()) << "the propagated mask never arrived";
  {
    const auto* s = st.window.session();
    const proj::Clip* clip = s->document().find_clip(st.clip_id);
    mf::media::VideoReader reader(s->to_absolute(s->document().find_media(clip->media_id)->path));
    const int64_t at = clip->source_frame_at(6);
    const auto fa = reader.frame(0).image, fb = reader.frame(12).image, ft = reader.frame(at).image;
    const auto mask_file = s->folder() / "masks" / "test_f0.png";
    const auto ma = mf::media::read_image(mask_file, mf::media::PixelFormat::Gray8);
    const auto expected = mf::media::interpolate_mask_flow(fa, ma, fb, ma, ft, (at - 0) / 12.0);
    const QImage shown = canvas->mask();
    int differ = 0;
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 96; ++x) differ += std::abs(int(shown.constScanLine(y)[x]) - int(*expected.at(x, y))) > 1;
    EXPECT_EQ(differ, 0);
    int moved = 0;  // the propagated mask is not just frame 0's held over (the clip's content moves)
    for (size_t i = 0; i < ma.data.size(); ++i) moved += std::abs(int(ma.data[i]) - int(expected.data[i])) > 1;
    EXPECT_GT(moved, 0);
  }
  st.window.set_playhead(7);
  st.window.set_playhead(6);  // back again: from the cache, at once
  EXPECT_FALSE(canvas->mask_pending());
  st.window.set_mask_interpolation(proj::MaskInterpolation::None);
  st.window.set_playhead(6);
  EXPECT_EQ(canvas->mask_kind(), proj::MaskSampleKind::None);
  // Holding over in/out carries frame 0's mask even with interpolation none.
  st.window.session()->push(std::make_unique<proj::SetInOut>(proj::FrameRange{0, 8}));
  st.window.hold_mask_over_in_out(true);
  st.window.set_playhead(6);
  EXPECT_EQ(canvas->mask_kind(), proj::MaskSampleKind::Held);
  st.window.undo();
  st.window.set_playhead(6);
  EXPECT_EQ(canvas->mask_kind(), proj::MaskSampleKind::None);
}

TEST(StudioJobs, CanvasStopsWaitingWhenTheMaskCannotBePropagated) {
  app();
  fs::path project;
  {
    Studio st(test_model().string());
    st.paint_mask(0);
    st.paint_mask(12);
    st.window.set_playhead(6);
    st.window.set_mask_interpolation(proj::MaskInterpolation::Flow);
    ASSERT_TRUE(st.window.save_project()) << st.window.last_error().toStdString();
    const auto* s = st.window.session();
    project = s->folder();
    // The clip's file is damaged after the masks were painted (a failing drive, a truncated copy).
    std::ofstream(s->to_absolute(s->document().media.front().path), std::ios::trunc) << "not a video any more";
  }
  mf::ui::MainWindow w;
  ASSERT_TRUE(w.open_project(project, true)) << w.last_error().toStdString();
  w.set_playhead(6);
  auto* canvas = w.canvas();
  EXPECT_EQ(canvas->mask_kind(), proj::MaskSampleKind::Interpolated);
  QElapsedTimer wait;
  wait.start();
  while (canvas->mask_pending() && wait.elapsed() < 10000) app().processEvents(QEventLoop::AllEvents, 10);
  // The propagation cannot decode the frames: the canvas says so and keeps the nearest painted mask (frame 0's:
  // the left half regenerated) instead of waiting forever (and retrying on every paint).
  EXPECT_FALSE(canvas->mask_pending()) << "the canvas still waits for a propagation that failed";
  // (The frame itself cannot be shown either, so the canvas is at the project's resolution: compare in fractions.)
  const QImage m = canvas->mask();
  ASSERT_FALSE(m.isNull());
  EXPECT_EQ(qGray(m.pixel(m.width() * 10 / 96, m.height() / 2)), 0);
  EXPECT_EQ(qGray(m.pixel(m.width() * 80 / 96, m.height() / 2)), 255);
}

TEST(ExportDialog, OffersTheSourcesAndFollowsTheCodec) {
  app();
  mf::ui::ExportDialog d(false, "take 1", 96, 64, "/tmp/renders");
  EXPECT_EQ(d.source(), mf::ui::ExportDialog::Source::Timeline);  // no in/out: the whole timeline first
  d.set_source(mf::ui::ExportDialog::Source::Clip);
  EXPECT_EQ(d.source(), mf::ui::ExportDialog::Source::Clip);
  d.set_codec(mf::media::Codec::Ffv1);
  EXPECT_EQ(d.file().extension(), ".mkv");
  EXPECT_EQ(d.file().parent_path(), fs::path("/tmp/renders"));
  EXPECT_EQ(d.options().codec, mf::media::Codec::Ffv1);
  EXPECT_EQ(d.options().width, 0);  // a clip renders at its own size
  d.set_source(mf::ui::ExportDialog::Source::Timeline);
  EXPECT_EQ(d.options().width, 96);
  EXPECT_EQ(d.options().height, 64);
}

// studio_screenshots: drives the real studio window (MainWindow + EngineBridge) through what a creator does and
// grabs it to PNG, for look checks and the docs. Run it under a display (tests/gui/screenshots.sh uses xvfb-run):
//
//   studio_screenshots --project projects/demo --out docs/screenshots [--model DIR]
//
// Shots: 1_project_open.png (the demo project, clip selected, inspector on vinp), 2_mask_painting.png (the brush
// mid-stroke on the canvas), 3_job_running.png (a job in progress with its live preview in the Jobs dock),
// 4_diagnostics_overlay.png (the ImGui diagnostics overlay, F12, during that job).
// The project is copied first (the original is not touched). Without --model, jobs run on a tiny random-weight
// test pipeline written to a temporary folder: its preview is noise, which is what such a fixture makes.
#include <cstdio>
#include <filesystem>
#include <string>

#include <QApplication>
#include <QElapsedTimer>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTest>

#include "mf/pipeline/test_pipeline.h"
#include "mf/project/session.h"
#include "mf/ui/bridge/engine_bridge.h"
#include "mf/ui/canvas_widget.h"
#include "mf/ui/jobs_panel.h"
#include "mf/ui/main_window.h"
#include "mf/ui/style.h"
#include "mf/ui/task_inspector.h"
#include "mf/ui/timeline_widget.h"

namespace fs = std::filesystem;

namespace {

void pump(int ms) {
  QElapsedTimer t;
  t.start();
  while (t.elapsed() < ms) QApplication::processEvents(QEventLoop::AllEvents, 20);
}

bool grab(QWidget& w, const fs::path& file) {
  pump(300);
  const bool ok = w.grab().save(QString::fromStdString(file.string()));
  std::printf("%s %s\n", ok ? "wrote" : "FAILED to write", file.string().c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  fs::path project = "projects/demo", out = "docs/screenshots", model;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--project") project = argv[i + 1];
    else if (k == "--out") out = argv[i + 1];
    else if (k == "--model") model = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: studio_screenshots [--project DIR] [--out DIR] [--model DIR]\n");
      return 2;
    }
  }
  if (!fs::exists(project / "project.json")) {
    std::fprintf(stderr, "no project at %s (run from the repository root or pass --project)\n", project.string().c_str());
    return 2;
  }
  const fs::path work = fs::temp_directory_path() / ("mf_screenshots_" + std::to_string(QCoreApplication::applicationPid()));
  fs::remove_all(work);
  fs::create_directories(work);
  fs::copy(project, work / "project", fs::copy_options::recursive);
  if (model.empty()) {
    model = work / "test_pipeline";
    mf::pipeline::TestPipelineOptions o;
    o.tokenizer_dir = (fs::path(MF_SOURCE_DIR) / "resources" / "models" / "manyfold-toy" / "tokenizer").string();
    mf::pipeline::make_test_pipeline(model.string(), o);
  }
  fs::create_directories(out);

  mf::ui::apply_dark_style(app);
  mf::ui::MainWindow window;
  window.set_job_service_factory([model](const fs::path& p) {
    mf::ui::EngineBridgeOptions o;
    o.queue_dir = p / "jobs" / "queue";
    o.model = model.string();
    o.device = "cpu";
    o.dtype = "fp32";
    return std::unique_ptr<mf::ui::JobService>(std::make_unique<mf::ui::EngineBridge>(o));
  });
  window.resize(1600, 1000);
  window.show();
  if (!window.open_project(work / "project", true)) {
    std::fprintf(stderr, "cannot open the project: %s\n", window.last_error().toStdString().c_str());
    return 1;
  }
  const auto& doc = window.session()->document();
  if (doc.timeline.tracks.empty() || doc.timeline.tracks.front().clips.empty()) {
    std::fprintf(stderr, "the project has no clip on its timeline\n");
    return 1;
  }
  const std::string clip = doc.timeline.tracks.front().clips.front().id;
  window.timeline()->select_clip(clip);
  window.set_playhead(8);
  auto* insp = window.task_inspector();
  insp->set_task(mf::tasks::TaskId::VInp);
  insp->prompt_edit()->setPlainText(
      "a purple square moves right over cyan and orange diagonal stripes as the light dims");
  insp->refresh();
  bool ok = grab(window, out / "1_project_open.png");

  // Mid-stroke: press, drag across the frame, grab before releasing.
  auto* canvas = window.canvas();
  canvas->set_tool(mf::ui::MaskTool::Brush);
  canvas->set_brush_size(10);
  const QImage& frame = canvas->frame_image();
  const QPointF a = canvas->image_to_widget(QPointF(frame.width() * 0.55, frame.height() * 0.25));
  const QPointF b = canvas->image_to_widget(QPointF(frame.width() * 0.85, frame.height() * 0.75));
  QTest::mousePress(canvas, Qt::LeftButton, {}, a.toPoint());
  for (int i = 1; i <= 12; ++i) QTest::mouseMove(canvas, (a + (b - a) * (i / 12.0)).toPoint());
  ok = grab(window, out / "2_mask_painting.png") && ok;
  QTest::mouseRelease(canvas, Qt::LeftButton, {}, b.toPoint());

  // A job: queue from the inspector and grab once a few steps and a preview have arrived.
  insp->steps_box()->setValue(30);
  insp->refresh();
  QTest::mouseClick(insp->submit_button(), Qt::LeftButton);
  QElapsedTimer t;
  t.start();
  bool running = false;
  while (t.elapsed() < 180000) {
    QApplication::processEvents(QEventLoop::AllEvents, 50);
    const auto jobs = window.job_service() ? window.job_service()->jobs() : QList<mf::ui::JobRow>{};
    if (!jobs.isEmpty() && jobs.front().state == "running" && jobs.front().step >= 3 &&
        window.jobs_panel()->previews_received() > 0) {
      running = true;
      break;
    }
    if (!jobs.isEmpty() && jobs.front().terminal()) break;
  }
  if (!running) std::fprintf(stderr, "the job did not reach step 3 with a preview: %s\n", window.last_error().toStdString().c_str());
  ok = grab(window, out / "3_job_running.png") && ok && running;
  // The diagnostics overlay (F12) over the canvas while the job runs.
  window.set_diagnostics_visible(true);
  pump(800);
  ok = grab(window, out / "4_diagnostics_overlay.png") && ok;
  if (window.job_service()) window.job_service()->set_paused(true);
  window.session()->save();
  window.close();
  fs::remove_all(work);
  return ok ? 0 : 1;
}

// manyfold-studio: the desktop application's entry point (composition root).
// Usage: manyfold-studio [PROJECT_FOLDER] [--model DIR] [--recover] [--screenshot PNG]
//   --recover   recover an autosave journal left by a crash without asking;
//   PROJECT_FOLDER opens the project (offering crash recovery when a journal is found);
//   --model DIR the MfM pipeline folder jobs run on (else $MF_MODEL, else the built-in model when it is installed);
//   --screenshot grabs the window to PNG after start-up and quits (for docs and look checks under Xvfb).
#include <QApplication>
#include <QLabel>
#include <QMainWindow>
#include <QStatusBar>
#include <QTimer>

#include <cstdlib>
#include <filesystem>

#ifdef MF_UI_AVAILABLE
#include "mf/ui/main_window.h"
#include "mf/ui/style.h"
#endif
#ifdef MF_UI_BRIDGE_AVAILABLE
#include "mf/ui/bridge/engine_bridge.h"
#endif

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("Manyfold Studio");
  QApplication::setOrganizationName("Manyfold");
  QApplication::setApplicationVersion(MF_VERSION);
#ifdef MF_UI_AVAILABLE
  mf::ui::apply_dark_style(app);
  mf::ui::MainWindow window;
  QStringList args = QApplication::arguments();
  QString screenshot;
  const int shot = args.indexOf("--screenshot");
  if (shot > 0 && shot + 1 < args.size()) {
    screenshot = args.at(shot + 1);
    args.remove(shot, 2);
  }
  QString model;
  const int m = args.indexOf("--model");
  if (m > 0 && m + 1 < args.size()) {
    model = args.at(m + 1);
    args.remove(m, 2);
  } else if (const char* env = std::getenv("MF_MODEL"); env && *env) {
    model = env;
  } else if (std::filesystem::exists(MF_BUILTIN_MODEL_DIR "/model_index.json")) {
    model = MF_BUILTIN_MODEL_DIR;
  }
#ifdef MF_UI_BRIDGE_AVAILABLE
  window.set_job_service_factory([model](const std::filesystem::path& project) {
    mf::ui::EngineBridgeOptions o;
    o.queue_dir = project / "jobs" / "queue";
    o.model = model.toStdString();
    return std::unique_ptr<mf::ui::JobService>(std::make_unique<mf::ui::EngineBridge>(o));
  });
#endif
  if (const int r = args.indexOf("--recover"); r > 0) {
    window.set_recovery(mf::ui::MainWindow::Recovery::Recover);
    args.remove(r);
  }
  if (args.size() > 1) window.open_project(args.at(1).toStdString());
  if (!screenshot.isEmpty()) {
    QTimer::singleShot(800, &window, [&window, screenshot] {
      const bool ok = window.grab().save(screenshot);
      QApplication::exit(ok ? 0 : 1);
    });
  }
#else
  QMainWindow window;
  window.setWindowTitle("Manyfold Studio");
  auto* label = new QLabel("Manyfold Studio " MF_VERSION);
  label->setAlignment(Qt::AlignCenter);
  window.setCentralWidget(label);
  window.statusBar()->showMessage("No model loaded");
  window.resize(1280, 800);
#endif
  window.show();
  return app.exec();
}

// manyfold-studio: the desktop application's entry point (composition root).
// Usage: manyfold-studio [PROJECT_FOLDER] [--screenshot PNG]
//   PROJECT_FOLDER opens the project (offering crash recovery when a journal is found);
//   --screenshot grabs the window to PNG after start-up and quits (for docs and look checks under Xvfb).
#include <QApplication>
#include <QLabel>
#include <QMainWindow>
#include <QStatusBar>
#include <QTimer>

#ifdef MF_UI_AVAILABLE
#include "mf/ui/main_window.h"
#include "mf/ui/style.h"
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

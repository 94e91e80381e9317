// manyfold-studio: the desktop application's entry point (composition root).
// Usage: manyfold-studio [PROJECT_FOLDER]   (opens the project; offers crash recovery when a journal is found)
#include <QApplication>
#include <QLabel>
#include <QMainWindow>
#include <QStatusBar>

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
  const QStringList args = QApplication::arguments();
  if (args.size() > 1) window.open_project(args.at(1).toStdString());
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

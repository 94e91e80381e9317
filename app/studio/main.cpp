// manyfold-studio: the desktop application's entry point (composition root).
#include <QApplication>
#include <QLabel>
#include <QMainWindow>
#include <QStatusBar>

#ifdef MF_UI_AVAILABLE
#include "mf/ui/main_window.h"
#endif

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("Manyfold Studio");
  QApplication::setOrganizationName("Manyfold");
  QApplication::setApplicationVersion(MF_VERSION);
#ifdef MF_UI_AVAILABLE
  mf::ui::MainWindow window;
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

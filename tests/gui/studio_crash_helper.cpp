// studio_crash_helper PROJECT: opens the project in the studio window (offscreen), makes an edit (a marker named
// "unsaved edit" at frame 7) without saving, waits until the 5 s autosave has written the journal, then kills
// itself with SIGKILL, as a crash or `kill -9` would. test_studio_recovery starts it and reopens the project.
#include <csignal>
#include <cstdio>
#include <filesystem>

#include <QApplication>
#include <QElapsedTimer>

#include "mf/project/commands.h"
#include "mf/project/session.h"
#include "mf/ui/main_window.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: studio_crash_helper PROJECT\n");
    return 2;
  }
  qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  mf::ui::MainWindow w;
  if (!w.open_project(argv[1], true)) return 3;
  w.session()->push(std::make_unique<mf::project::AddMarker>(7, "unsaved edit"));
  const auto journal = w.session()->journal_file();
  QElapsedTimer t;
  t.start();
  while (!std::filesystem::exists(journal) && t.elapsed() < 20000) app.processEvents(QEventLoop::AllEvents, 50);
  if (!std::filesystem::exists(journal)) return 4;
  std::raise(SIGKILL);
  return 5;
}

// Shared by the GUI tests: one QApplication for the process (xcb on an X display, else offscreen, unless
// QT_QPA_PLATFORM says otherwise)
// and fresh temporary folders.
#pragma once

#include <filesystem>
#include <random>
#include <string>

#include <QApplication>

namespace mf::test {

inline QApplication& gui_app() {
  static int argc = 1;
  static char name[] = "manyfold_gui_test";
  static char* argv[] = {name, nullptr};
  // On an X display (./setup.sh test runs the suite under xvfb-run) the real xcb platform; without one, offscreen.
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
    qputenv("QT_QPA_PLATFORM", qEnvironmentVariableIsEmpty("DISPLAY") ? "offscreen" : "xcb");
  // Never destroyed: a static QApplication would be torn down after Qt's own globals at exit.
  static QApplication* a = new QApplication(argc, argv);
  return *a;
}

// A path under the temp folder that does not exist yet.
inline std::filesystem::path fresh_temp_path(const std::string& tag) {
  std::mt19937_64 rng(std::random_device{}());
  auto p = std::filesystem::temp_directory_path() / ("mf_gui_" + tag + "_" + std::to_string(rng() % 1000000000));
  std::filesystem::remove_all(p);
  return p;
}

}  // namespace mf::test

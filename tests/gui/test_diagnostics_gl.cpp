// The diagnostics overlay in a real OpenGL view: Dear ImGui drawn over the canvas on the xcb platform (under
// xvfb-run, as ./setup.sh test runs the suite). Skipped where there is no X display; the offscreen fallback
// (numbers in the status bar) is covered by test_studio_gui.
#include <gtest/gtest.h>

#include <cstdlib>

#include <QElapsedTimer>
#include <QImage>

#include "gui_test_util.h"
#include "mf/ui/canvas_widget.h"
#include "mf/ui/diagnostics_overlay.h"
#include "mf/ui/main_window.h"

namespace {

void pump(int ms) {
  QElapsedTimer t;
  t.start();
  while (t.elapsed() < ms) QApplication::processEvents(QEventLoop::AllEvents, 20);
}

// Pixels of the canvas area (in window coordinates) that differ from the canvas's empty background.
int non_background(const QImage& img, QRect r) {
  int n = 0;
  const QColor bg(18, 18, 20);
  for (int y = r.top(); y <= r.bottom(); ++y)
    for (int x = r.left(); x <= r.right(); ++x) {
      const QColor c = img.pixelColor(x, y);
      n += std::abs(c.red() - bg.red()) + std::abs(c.green() - bg.green()) + std::abs(c.blue() - bg.blue()) > 30;
    }
  return n;
}

TEST(DiagnosticsGl, ImGuiOverlayDrawsOverTheCanvas) {
  const char* display = std::getenv("DISPLAY");
  if (!display || !*display) GTEST_SKIP() << "needs an X display (./setup.sh test runs the tests under xvfb-run)";
  qputenv("QT_QPA_PLATFORM", "xcb");
  mf::test::gui_app();
  ASSERT_TRUE(mf::ui::DiagnosticsOverlay::supported());
  mf::ui::MainWindow w;
  w.resize(1200, 800);
  w.show();
  ASSERT_TRUE(w.new_project(mf::test::fresh_temp_path("diag_gl"), true));
  pump(300);
  const QRect area(w.canvas()->mapTo(&w, QPoint(12, 12)), QSize(200, 60));
  const int before = non_background(w.grab().toImage(), area);

  w.set_diagnostics_visible(true);
  ASSERT_NE(w.diagnostics_overlay(), nullptr);
  QElapsedTimer t;
  t.start();
  while (w.diagnostics_overlay()->frames_rendered() < 3 && t.elapsed() < 15000) pump(50);
  ASSERT_GE(w.diagnostics_overlay()->frames_rendered(), 3) << "the overlay never painted";
  EXPECT_EQ(w.diagnostics_overlay()->geometry(), w.canvas()->rect());
  EXPECT_GT(w.diagnostics_overlay()->last_snapshot().rss_bytes, 0);
  const int with_overlay = non_background(w.grab().toImage(), area);
  EXPECT_GT(with_overlay, before + 2000) << "no ImGui panel in the canvas's top-left corner";

  w.set_diagnostics_visible(false);
  pump(300);
  EXPECT_FALSE(w.diagnostics_overlay()->isVisible());
  EXPECT_LT(non_background(w.grab().toImage(), area), before + 200);
}

}  // namespace

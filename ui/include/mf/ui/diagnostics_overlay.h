// Diagnostics overlay: a Dear ImGui panel drawn in an OpenGL view stacked over the canvas (toggled with F12):
// canvas paint and frame-load times with a history plot, decode cache hits/misses/frames/bytes, the running
// job's step time and progress, and this process's memory (resident and peak).
//
// The view is a QOpenGLWidget child of the canvas with Qt::WA_AlwaysStackOnTop, a transparent clear and
// WA_TransparentForMouseEvents, so painting on the canvas goes on underneath it. ImGui runs with its OpenGL 3
// backend only (no platform backend: the display size and time step are set from Qt each frame; no input).
// OpenGL is unavailable on the offscreen/minimal platforms (QOpenGLWidget crashes there): `supported()` says so
// and the main window then shows the same numbers as text in the status bar instead.
//
// Threading: UI thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include <QOpenGLWidget>
#include <QString>

struct ImGuiContext;
class QTimer;

namespace mf::ui {

struct DiagnosticsSnapshot {
  double paint_ms = 0, load_ms = 0;          // the canvas's last paint and last frame fetch
  int64_t cache_hits = 0, cache_misses = 0;  // decode cache (all media of the canvas)
  int64_t cache_frames = 0, cache_bytes = 0;
  QString job;                               // the running job ("" when idle)
  int step = 0, total = 0;
  double step_seconds = 0;                   // engine time per denoising step
  int64_t rss_bytes = 0, peak_rss_bytes = 0;
};

// Lines of text for a snapshot (the overlay's content without ImGui; also the status bar fallback).
QStringList format_diagnostics(const DiagnosticsSnapshot& s);
// Resident / peak resident memory of this process (/proc/self/status; 0 when unknown).
int64_t current_rss_bytes();
int64_t peak_rss_bytes_now();

class DiagnosticsOverlay : public QOpenGLWidget {
  Q_OBJECT
 public:
  using Source = std::function<DiagnosticsSnapshot()>;
  DiagnosticsOverlay(QWidget* canvas, Source source);
  ~DiagnosticsOverlay() override;

  // False on platforms without OpenGL windows (offscreen, minimal).
  static bool supported();
  int frames_rendered() const { return frames_; }
  const DiagnosticsSnapshot& last_snapshot() const { return last_; }

 protected:
  void initializeGL() override;
  void paintGL() override;
  bool eventFilter(QObject* watched, QEvent* event) override;  // follows the canvas's size

 private:
  Source source_;
  ImGuiContext* ctx_ = nullptr;
  bool gl_ready_ = false;
  int frames_ = 0;
  double last_time_ = 0;
  DiagnosticsSnapshot last_;
  std::deque<float> paint_history_;
  QTimer* timer_ = nullptr;
};

}  // namespace mf::ui

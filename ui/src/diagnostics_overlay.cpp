#include "mf/ui/diagnostics_overlay.h"

#include <fstream>
#include <string>

#include <imgui.h>
#include <backends/imgui_impl_opengl3.h>

#include <QElapsedTimer>
#include <QEvent>
#include <QGuiApplication>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QSurfaceFormat>
#include <QTimer>

namespace mf::ui {

namespace {

int64_t status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) return std::stoll(line.substr(k.size())) * 1024;
  return 0;
}

QString mib(int64_t bytes) { return QString::number(static_cast<double>(bytes) / (1024.0 * 1024.0), 'f', 1) + " MiB"; }

double now_seconds() {
  static QElapsedTimer t = [] {
    QElapsedTimer e;
    e.start();
    return e;
  }();
  return static_cast<double>(t.nsecsElapsed()) * 1e-9;
}

}  // namespace

int64_t current_rss_bytes() { return status_kb("VmRSS"); }
int64_t peak_rss_bytes_now() { return status_kb("VmHWM"); }

QStringList format_diagnostics(const DiagnosticsSnapshot& s) {
  QStringList l;
  l << QString("canvas paint %1 ms, frame fetch %2 ms").arg(s.paint_ms, 0, 'f', 2).arg(s.load_ms, 0, 'f', 2);
  const int64_t lookups = s.cache_hits + s.cache_misses;
  l << QString("decode cache %1 hits / %2 misses (%3%), %4 frames, %5")
           .arg(s.cache_hits)
           .arg(s.cache_misses)
           .arg(lookups ? 100.0 * static_cast<double>(s.cache_hits) / static_cast<double>(lookups) : 0.0, 0, 'f', 0)
           .arg(s.cache_frames)
           .arg(mib(s.cache_bytes));
  if (s.job.isEmpty()) l << "engine idle";
  else
    l << QString("engine job %1 step %2/%3, %4 s/step").arg(s.job).arg(s.step).arg(s.total).arg(s.step_seconds, 0, 'f', 3);
  l << QString("memory %1 resident, peak %2").arg(mib(s.rss_bytes), mib(s.peak_rss_bytes));
  return l;
}

bool DiagnosticsOverlay::supported() {
  const QString p = QGuiApplication::platformName();
  return p != "offscreen" && p != "minimal" && p != "vnc";
}

DiagnosticsOverlay::DiagnosticsOverlay(QWidget* canvas, Source source) : QOpenGLWidget(canvas), source_(std::move(source)) {
  setAttribute(Qt::WA_AlwaysStackOnTop);
  setAttribute(Qt::WA_TransparentForMouseEvents);
  QSurfaceFormat fmt = format();
  fmt.setAlphaBufferSize(8);
  setFormat(fmt);
  setGeometry(canvas->rect());
  canvas->installEventFilter(this);
  timer_ = new QTimer(this);
  timer_->setInterval(250);
  connect(timer_, &QTimer::timeout, this, [this] { update(); });
  timer_->start();
}

DiagnosticsOverlay::~DiagnosticsOverlay() {
  if (ctx_) {
    makeCurrent();
    ImGui::SetCurrentContext(ctx_);
    if (gl_ready_) ImGui_ImplOpenGL3_Shutdown();
    ImGui::DestroyContext(ctx_);
    doneCurrent();
  }
}

bool DiagnosticsOverlay::eventFilter(QObject* watched, QEvent* event) {
  if (watched == parentWidget() && event->type() == QEvent::Resize) setGeometry(parentWidget()->rect());
  return QOpenGLWidget::eventFilter(watched, event);
}

void DiagnosticsOverlay::initializeGL() {
  ctx_ = ImGui::CreateContext();
  ImGui::SetCurrentContext(ctx_);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // nothing written to the working folder
  io.LogFilename = nullptr;
  ImGui::StyleColorsDark();
  ImGui::GetStyle().WindowRounding = 4.0f;
  ImGui::GetStyle().Alpha = 0.92f;
  gl_ready_ = ImGui_ImplOpenGL3_Init("#version 130");
  last_time_ = now_seconds();
}

void DiagnosticsOverlay::paintGL() {
  QOpenGLFunctions* gl = context()->functions();
  gl->glClearColor(0, 0, 0, 0);
  gl->glClear(GL_COLOR_BUFFER_BIT);
  if (!ctx_ || !gl_ready_) return;
  last_ = source_ ? source_() : DiagnosticsSnapshot{};
  paint_history_.push_back(static_cast<float>(last_.paint_ms));
  while (paint_history_.size() > 120) paint_history_.pop_front();

  ImGui::SetCurrentContext(ctx_);
  ImGuiIO& io = ImGui::GetIO();
  const double t = now_seconds();
  io.DeltaTime = static_cast<float>(std::max(1e-3, t - last_time_));
  last_time_ = t;
  const qreal dpr = devicePixelRatioF();
  io.DisplaySize = ImVec2(static_cast<float>(width()), static_cast<float>(height()));
  io.DisplayFramebufferScale = ImVec2(static_cast<float>(dpr), static_cast<float>(dpr));
  ImGui_ImplOpenGL3_NewFrame();
  ImGui::NewFrame();
  ImGui::SetNextWindowPos(ImVec2(10, 10), ImGuiCond_Always);
  ImGui::SetNextWindowBgAlpha(0.75f);
  ImGui::Begin("Diagnostics (F12)", nullptr,
               ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                   ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_NoNav);
  for (const QString& line : format_diagnostics(last_)) ImGui::TextUnformatted(line.toUtf8().constData());
  std::vector<float> h(paint_history_.begin(), paint_history_.end());
  ImGui::PlotLines("paint ms", h.data(), static_cast<int>(h.size()), 0, nullptr, 0.0f, FLT_MAX, ImVec2(220, 40));
  if (last_.total > 0) ImGui::ProgressBar(static_cast<float>(last_.step) / static_cast<float>(last_.total), ImVec2(220, 0));
  ImGui::End();
  ImGui::Render();
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  ++frames_;
}

}  // namespace mf::ui

// The progress line of a training run.
#include "mf/training/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace mf::training {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof(buf), "%llds", s);
  else if (s < 3600) std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
  else std::snprintf(buf, sizeof(buf), "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  return buf;
}

Progress::Progress(std::ostream& out, std::string label, int64_t total_steps, int64_t every, Mode mode)
    : out_(out), label_(std::move(label)), total_(total_steps), every_(std::max<int64_t>(every, 1)), mode_(mode) {
  if (mode_ == Mode::Auto) {
    bool tty = false;
    if (&out_ == &std::cerr) tty = ::isatty(STDERR_FILENO) != 0;
    else if (&out_ == &std::cout) tty = ::isatty(STDOUT_FILENO) != 0;
    mode_ = tty ? Mode::Bar : Mode::Lines;
  }
}

std::string Progress::line(int64_t step, double loss, double steps_per_second) const {
  char buf[256];
  const double eta = steps_per_second > 0 ? static_cast<double>(total_ - step) / steps_per_second : -1.0;
  std::string bar;
  if (mode_ == Mode::Bar) {
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * std::min<int64_t>(step, total_) / total_) : 0;
    bar = "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.') + "] ";
  }
  std::snprintf(buf, sizeof(buf), "%s %s%lld/%lld  loss %.5f  %.2f steps/s  ETA %s", label_.c_str(), bar.c_str(),
                static_cast<long long>(step), static_cast<long long>(total_), loss, steps_per_second,
                format_duration(eta).c_str());
  return buf;
}

void Progress::update(int64_t step, double loss, double steps_per_second) {
  if (mode_ == Mode::Off) return;
  if (mode_ == Mode::Bar) {
    const auto now = std::chrono::steady_clock::now();
    // redraw at most 10 times a second, and always at the end
    if (step < total_ && bar_open_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    out_ << "\r" << line(step, loss, steps_per_second) << "\x1b[K" << std::flush;
    bar_open_ = true;
    return;
  }
  if (step % every_ == 0 || step == total_) out_ << line(step, loss, steps_per_second) << "\n" << std::flush;
}

void Progress::message(const std::string& text) {
  if (mode_ == Mode::Off) return;
  if (bar_open_) out_ << "\r\x1b[K";
  out_ << text << "\n" << std::flush;
  bar_open_ = false;  // redrawn at the next update
}

void Progress::finish() {
  if (bar_open_) out_ << "\n" << std::flush;
  bar_open_ = false;
}

}  // namespace mf::training

// The training progress line: step/total, loss, steps/s and ETA. On a terminal one line redrawn with '\r'
// (a bar); elsewhere (logs, CI) a plain line every `every` steps and at the end.
//
// Threading: one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace mf::training {

// "45s", "3m07s", "2h05m".
std::string format_duration(double seconds);

class Progress {
 public:
  enum class Mode { Auto, Bar, Lines, Off };
  // `label` starts each line (e.g. "train vae"). Auto: Bar when `out` is std::cerr/std::cout on a TTY.
  Progress(std::ostream& out, std::string label, int64_t total_steps, int64_t every, Mode mode = Mode::Auto);

  // Call after each step; steps_per_second is measured over this session (it gives the ETA).
  void update(int64_t step, double loss, double steps_per_second);
  void message(const std::string& line);  // a line of its own (the bar is redrawn below it)
  void finish();                          // ends the bar line

  Mode mode() const { return mode_; }
  // The text of a line without '\r' / newline (exposed for tests).
  std::string line(int64_t step, double loss, double steps_per_second) const;

 private:
  std::ostream& out_;
  std::string label_;
  int64_t total_;
  int64_t every_;
  Mode mode_;
  bool bar_open_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace mf::training

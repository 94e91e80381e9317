// Shared by the commands that run generation jobs (`generate`, `demo`): a progress display on stderr and a
// helper that runs a list of jobs through an in-memory mf_engine queue, as the studio does.
#pragma once

#if defined(MF_PIPELINE_AVAILABLE) && defined(MF_ENGINE_AVAILABLE)

#include <string>
#include <vector>

#include "mf/pipeline/pipeline.h"
#include "mf/tasks/task_spec.h"

namespace mf::cli {

// Progress on stderr: a bar with ETA on a terminal, plain lines otherwise.
struct Progress {
  bool tty = false;
  bool quiet = false;
  Progress();
  void step(int done, int total, double step_s, double elapsed);
  void line(const std::string& s);
};

// Runs `specs` one after another (each with `model`, written to paths[i]) and returns every written file.
// The first failure cancels the rest and is thrown as its mf::Error, so the exit code says what went wrong.
std::vector<std::string> run_jobs_on_engine(const std::string& model, const std::string& dtype,
                                            const mf::pipeline::LoadOptions& load, mf::tasks::Drop3Policy drop3,
                                            const std::vector<mf::tasks::TaskSpec>& specs,
                                            const std::vector<std::string>& paths, Progress& progress);

}  // namespace mf::cli

#endif

// engine_crash_helper DIR STEP_MS N_JOBS: opens an engine on DIR with the test model (STEP_MS per step), submits
// N_JOBS tiny jobs with step checkpoints (seeds 1000, 1001, ...) and runs until the queue is empty. The kill -9
// test starts it, kills it mid-job and restarts the queue in its own process.
#include <cstdlib>
#include <iostream>

#include "engine_test_util.h"

int main(int argc, char** argv) {
  using namespace mf::engine;
  if (argc != 4) {
    std::cerr << "usage: engine_crash_helper DIR STEP_MS N_JOBS\n";
    return 2;
  }
  TestBackendOptions o;
  o.step_delay_ms = std::atoi(argv[2]);
  EngineOptions eo;
  eo.dir = argv[1];
  eo.loader = testing::test_loader(o);
  Engine engine(eo);
  JobOptions jo;
  jo.step_checkpoints = true;
  for (int i = 0; i < std::atoi(argv[3]); ++i) engine.submit(testing::tiny_spec(1000 + i, 12), jo);
  engine.wait_idle(std::chrono::minutes(5));
  return 0;
}

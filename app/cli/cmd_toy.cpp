// `manyfold toy-prompts`: the text the built-in model's text encoder sees, as the pipeline builds it (caption of
// a toy-world scene + added prompt + " #task: <name>", lower-cased; and each task's negative prompt), one per
// line. The corpus from which tests/tools/train_toy_tokenizer.py trains the toy tokenizer.
#if defined(MF_TOYWORLD_AVAILABLE)

#include <iostream>
#include <set>

#include "command.h"
#include "mf/tasks/prompt.h"
#include "mf/tasks/task_id.h"
#include "mf/toyworld/toyworld.h"

namespace {

int run_toy_prompts(const std::vector<std::string>& argv) {
  mf::cli::Args a(argv);
  const auto unknown = a.unknown({"count", "seed"});
  if (!unknown.empty()) return mf::cli::usage_error("toy-prompts", "unknown option " + unknown[0]);
  const int count = a.get_int("count", 2000);
  if (count < 1) return mf::cli::usage_error("toy-prompts", "--count must be positive");
  const uint64_t seed = static_cast<uint64_t>(a.get_int("seed", 1));
  mf::toyworld::SamplerOptions so;
  std::set<std::string> negatives;
  const auto& tasks = mf::tasks::all_tasks();
  for (int i = 0; i < count; ++i) {
    const auto scene = mf::toyworld::sample_scene(seed * 1000003ull + static_cast<uint64_t>(i), so);
    mf::tasks::TaskSpec spec = mf::tasks::official_defaults(tasks[static_cast<size_t>(i) % tasks.size()]);
    spec.prompt = mf::toyworld::caption(scene);
    const auto p = mf::tasks::preprocessed_prompts(spec);
    std::cout << p.positive << "\n";
    negatives.insert(p.negative);
  }
  for (const auto& n : negatives) std::cout << n << "\n";
  return mf::cli::kExitOk;
}

}  // namespace

MF_CLI_COMMAND("toy-prompts", "print toy-world prompts as the pipeline builds them (the toy tokenizer's corpus)",
               "manyfold toy-prompts [--count 2000] [--seed 1]\n"
               "  One prompt per line: captions of sampled toy scenes with each task's suffix in turn, lower-cased as\n"
               "  the pipeline does, then every task's negative prompt once.",
               run_toy_prompts);

#endif

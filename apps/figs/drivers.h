// The drivers behind `figs search`, `figs retrain`, `figs eval`, `figs run` and `figs sweep`:
// architecture learning on a supernet, export, retraining the exported network from scratch,
// evaluation, and studies of many runs. Each writes its logs, checkpoints and outputs into a run
// folder (docs/cli.md) and can continue an interrupted run from its last checkpoint (resume =
// true) with the same result as an uninterrupted one.
#pragma once

#include <string>

#include "nas/architecture.h"
#include "run_support.h"

namespace figs::app {

struct SearchResult {
  nas::Architecture arch;
  double val_accuracy = 0;  // supernet under eval masks, BN re-estimated
  double seconds = 0, images_per_s = 0;
  int64_t steps = 0;
};
// Trains the supernet under lambda * cost, exports the widths, writes search.csv/.jsonl,
// search_layers.jsonl, search.ckpt and arch.json into run_dir. With resume, continues from
// search.ckpt (or returns the finished search's arch.json).
SearchResult run_search(const json& config, const Datasets& data, const std::string& run_dir, bool resume = false);

struct RetrainResult {
  double test_accuracy = 0, val_accuracy = 0;
  double seconds = 0, images_per_s = 0;
  int64_t params = 0, macs = 0, steps = 0;
};
// Trains the architecture from scratch (no masks), evaluates on the validation and test sets,
// writes retrain.csv, retrain.ckpt and results.json into run_dir. With resume, continues from
// retrain.ckpt (or returns the finished run's results.json).
RetrainResult run_retrain(const json& config, const Datasets& data, const nas::Architecture& arch,
                          const std::string& run_dir, bool resume = false);

struct EvalReport {
  std::string network;  // "retrained" (retrain.ckpt) or "supernet" (search.ckpt, eval masks)
  std::string split;    // test, val or train
  double accuracy = 0, images_per_s = 0;
  int64_t images = 0, params = 0, macs = 0, step = 0;  // macs: of the retrained network only
};
// Evaluates the newest network of a run folder on a split, on `device` ("cpu" or "cuda"; empty:
// the device of the run's config.json).
EvalReport evaluate_run(const std::string& run_dir, const std::string& split, const std::string& device = "");

// `figs sweep`: every (method, budget, seed) of config["sweep"] as a run folder under
// study_dir/runs/, then results.csv, summary.csv and the Pareto plots in study_dir. Finished runs
// are skipped and a started one resumes, so calling it again continues a stopped sweep.
void run_sweep(const json& config, const std::string& study_dir, const Datasets& data);
// The tables and plots of a study from its finished runs alone (runs nothing; lists the runs
// still missing): what `figs sweep --resume STUDY --report` prints.
void report_sweep(const json& config, const std::string& study_dir);
// The checks run_sweep starts with (methods, budgets below the supernet), to run before a study
// folder is created.
void check_sweep(const json& config);

}  // namespace figs::app

// The drivers behind `figs search`, `figs retrain` and `figs run`: architecture learning on a
// supernet, export, and retraining the exported network from scratch. Each writes its logs,
// checkpoint and outputs into a run folder (docs/cli.md).
#pragma once

#include <memory>
#include <string>

#include "config.h"
#include "data/dataset.h"
#include "nas/architecture.h"

namespace figs::app {

struct Datasets {
  std::shared_ptr<const data::Dataset> train, val, test;
  std::vector<float> mean, std;  // per-channel normalisation from the training split
};
Datasets load_datasets(const json& config);

struct SearchResult {
  nas::Architecture arch;
  double val_accuracy = 0;  // supernet under eval masks, BN re-estimated
  double seconds = 0, images_per_s = 0;
  int64_t steps = 0;
};
// Trains the supernet under lambda * cost, exports the widths, writes search.csv/.jsonl,
// search.ckpt and arch.json into run_dir.
SearchResult run_search(const json& config, const Datasets& data, const std::string& run_dir);

struct RetrainResult {
  double test_accuracy = 0;
  double seconds = 0, images_per_s = 0;
  int64_t params = 0, macs = 0, steps = 0;
};
// Trains the architecture from scratch (no masks), evaluates on the test set, writes
// retrain.csv, retrain.ckpt and results.json into run_dir.
RetrainResult run_retrain(const json& config, const Datasets& data, const nas::Architecture& arch,
                          const std::string& run_dir);

}  // namespace figs::app

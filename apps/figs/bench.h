// `figs bench`: the speed of a search step and a retrain step of any space / preset / batch /
// device on synthetic data, without a dataset, so that speed is measured the same way on every
// machine and compared across commits (docs/cli.md, "Benchmarking").
//
//   figs bench                                   the main job's supernet at batch 128
//   figs bench --preset study --batch 256 --json bench.json
//   figs bench --set space.name=fbnet --set space.preset=imagenet --set space.options={} --batch 64
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace figs::app {

struct BenchOptions {
  std::string preset, config_file, json_out, stages = "both";  // both (search and retrain) | search | retrain | infer | all
  std::vector<std::string> sets;
  int64_t batch = 128, warmup = 3, steps = 10;
};

CLI::App* add_bench_command(CLI::App& app, BenchOptions& o);
// Times the stages on the config's device and threads; prints a table and writes o.json_out.
// `config` is the effective configuration (its space, device, threads and search recipe).
void run_bench(const BenchOptions& o, const json& config);

}  // namespace figs::app

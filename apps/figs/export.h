// `figs export RUN_DIR --onnx OUT.onnx`: a run's network as an ONNX model (deploy/onnx_export.h),
// with the architecture and the input normalisation in its metadata (docs/cli.md, "Export").
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace figs::app {

struct ExportOptions {
  std::string run_dir, onnx;
  std::string batch = "1";  // N >= 1, or "dynamic"
  bool fold_bn = false;
  bool supernet = false;   // the searched supernet under its eval masks instead of the retrained network
  int64_t reference = 0;   // > 0: also write the first N test images and figs's logits as .npy
};

// Adds the subcommand to `app`; parsing fills `o`.
CLI::App* add_export_command(CLI::App& app, ExportOptions& o);
// Runs it (errors are figs::Error naming what is wrong; nothing is written then) and prints
// one line saying what was written.
void run_export(const ExportOptions& o);

}  // namespace figs::app

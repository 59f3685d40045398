// What a run shows and leaves behind while it trains: a progress line on the terminal and
// per-step log files (CSV, JSONL) that survive an interruption and continue on --resume.
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "nn/divergence.h"

namespace figs::app {

// A status line: redrawn in place on a terminal, printed every `every` steps otherwise.
class Progress {
 public:
  Progress(std::string stage, int64_t total, int64_t every);
  void update(int64_t step, const std::string& text);

 private:
  std::string stage_;
  int64_t total_, every_;
  bool tty_;
};

// An append-only log of one line per step: CSV lines that start with the step number ("12,...")
// or JSON objects with a "step" key.
// Opening it for a run resumed after step `resume_step` drops the lines written after that
// step (they belong to the lost part of the interrupted run); a fresh run (resume_step < 0)
// starts the file with `header` (may be empty).
class StepLog {
 public:
  StepLog(const std::string& path, const std::string& header, int64_t resume_step);
  ~StepLog();
  StepLog(const StepLog&) = delete;
  StepLog& operator=(const StepLog&) = delete;
  // One line (without the newline); flushed, so a killed run keeps every line it logged. A
  // failed write throws, naming the file.
  void write(const std::string& line);

 private:
  std::FILE* out_ = nullptr;
  std::string path_;
};

// Stopping a run cleanly: SIGINT/SIGTERM (Ctrl-C, a batch system's notice) ask the running
// stage to finish its step, write its checkpoint and throw Interrupted, so that
// `figs ... --resume RUN_DIR` continues from exactly there. `--stop-after-step N` asks the same
// after step N of any stage (a time-sliced job's stop, and how the tests interrupt a run).
void install_stop_handlers();
void set_stop_after_step(int64_t step);
// Collective in a data-parallel run (every rank calls it after the same step; true on all when
// any was asked to stop).
bool stop_requested(int64_t step_done);
// Whether SIGINT/SIGTERM arrived (for work without steps, e.g. an evaluation).
bool stop_signal_received();
struct Interrupted {
  std::string stage;
  int64_t step = 0;
};

// A training stage's divergence guard (nn/divergence.h): check() after every update, before the
// step is logged or checkpointed, so the checkpoint on disk always holds finite weights. A
// non-finite loss, gradient or weight throws nn::Diverged naming the stage, the step, the first
// tensor that went bad and the checkpoint kept (`checkpoint` at `last_checkpoint_step`).
class StageGuard {
 public:
  // Warns of an exploding loss only above chance level, ln(num_classes) (nn/divergence.h).
  StageGuard(const std::string& stage, const nn::Model& model, double warn_factor, int64_t num_classes,
             std::string checkpoint);
  void check(int64_t step, double loss, int64_t last_checkpoint_step);

 private:
  nn::DivergenceGuard guard_;
  std::string stage_, checkpoint_;
};

// "%.*g" of v.
std::string fmt(double v, int precision = 4);

}  // namespace figs::app

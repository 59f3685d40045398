#include "run_log.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/distributed.h"
#include "core/error.h"
#include "nas/architecture.h"

namespace figs::app {

using json = nlohmann::json;

Progress::Progress(std::string stage, int64_t total, int64_t every)
    : stage_(std::move(stage)), total_(total), every_(std::max<int64_t>(every, 1)), tty_(isatty(2)) {}

void Progress::update(int64_t step, const std::string& text) {
  if (tty_) {
    std::fprintf(stderr, "\r[%s] %lld/%lld %s\033[K", stage_.c_str(), static_cast<long long>(step),
                 static_cast<long long>(total_), text.c_str());
    if (step == total_) std::fprintf(stderr, "\n");
  } else if (step % every_ == 0 || step == total_) {
    std::fprintf(stderr, "[%s] %lld/%lld %s\n", stage_.c_str(), static_cast<long long>(step),
                 static_cast<long long>(total_), text.c_str());
  }
  std::fflush(stderr);
}

namespace {

// The step of a log line, or -1 (a header, or a line cut short by the interruption). CSV lines
// start with it; JSONL lines are objects with a "step" key, wherever the writer put it
// (nlohmann::json sorts keys, so it is rarely first).
int64_t step_of(const std::string& line) {
  if (!line.empty() && line[0] == '{') {
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    return j.is_object() && j.contains("step") && j["step"].is_number_integer() ? j["step"].get<int64_t>() : -1;
  }
  size_t i = 0;
  int64_t step = 0;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9') step = step * 10 + (line[i++] - '0');
  const bool complete = i > 0 && i < line.size() && line[i] == ',';
  return complete ? step : -1;
}

}  // namespace

StepLog::StepLog(const std::string& path, const std::string& header, int64_t resume_step) {
  if (!dist::world().is_root()) return;  // rank 0 alone writes a run's files
  std::string kept = header.empty() ? "" : header + "\n";
  if (resume_step >= 0 && std::filesystem::exists(path)) {
    std::ifstream in(path);
    kept.clear();
    std::string line;
    for (bool first = true; std::getline(in, line); first = false) {
      const int64_t step = step_of(line);
      if ((first && step < 0 && line == header) || (step >= 0 && step <= resume_step)) kept += line + "\n";
    }
  }
  write_file_atomically(path, kept);
  out_ = std::fopen(path.c_str(), "ab");
  FIGS_CHECK(out_ != nullptr, "cannot write the log '", path, "': ", std::strerror(errno));
  path_ = path;
}

StepLog::~StepLog() {
  if (out_) std::fclose(out_);
}

void StepLog::write(const std::string& line) {
  // Checked: a full disk or a lost mount stops the run naming the file, instead of a run that
  // "succeeds" with its logs cut short.
  if (out_ == nullptr) return;  // not rank 0
  const std::string text = line + '\n';
  if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() || std::fflush(out_) != 0)
    fail("writing the log '", path_, "' failed: ", std::strerror(errno), "; the run stops here (--resume continues "
         "from its last checkpoint)");
}

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int) { g_stop_signal = 1; }
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

namespace {
int64_t g_stop_after_step = -1;  // --stop-after-step; -1: none
}  // namespace

void set_stop_after_step(int64_t step) {
  FIGS_CHECK(step >= 1, "--stop-after-step must be >= 1, got ", step);
  g_stop_after_step = step;
}

bool stop_requested(int64_t step_done) {
  double stop = g_stop_signal != 0 || step_done == g_stop_after_step ? 1.0 : 0.0;
  // A data-parallel run stops at the same step on every rank: a signal may reach them between
  // different steps, and a rank that stopped alone would leave the others waiting.
  dist::world().all_reduce_sum(&stop, 1);
  return stop > 0;
}

StageGuard::StageGuard(const std::string& stage, const nn::Model& model, double warn_factor, int64_t num_classes,
                       std::string checkpoint)
    : guard_(stage, model, {.warn_factor = warn_factor, .warn_floor = std::log(static_cast<double>(std::max<int64_t>(num_classes, 2)))}),
      stage_(stage),
      checkpoint_(std::move(checkpoint)) {}

void StageGuard::check(int64_t step, double loss, int64_t last_checkpoint_step) {
  try {
    guard_.check(step, loss);
  } catch (const nn::Diverged& d) {
    throw nn::Diverged(stage_, step,
                       d.what_went_bad() + (last_checkpoint_step > 0
                                                ? "; " + checkpoint_ + " (step " + std::to_string(last_checkpoint_step) +
                                                      ", before it) is kept"
                                                : "; no checkpoint was written before it"));
  }
}

bool stop_signal_received() { return g_stop_signal != 0; }

std::string fmt(double v, int precision) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

}  // namespace figs::app

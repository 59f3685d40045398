// Divergence: a training loop that goes on after its loss, gradients or weights stopped being
// finite produces nothing but NaN (a retrain "finishes" at chance accuracy, an export reads
// widths from NaN probabilities). DivergenceGuard stops it at the first bad step instead.
//
//   nn::DivergenceGuard guard("retrain", model, {.warn_factor = 10});
//   for (...) { ...; opt.step(); guard.check(step, loss_value); }   // throws nn::Diverged
//
// check() is one pass over each arena (x * 0 summed: 0 exactly when every element is finite, NaN
// otherwise; a plain sum could overflow on large but finite weights); only when that fails are
// the arenas copied to the host to name the first tensor that went bad. It also warns, once per
// 100 steps at most, when the loss exceeds warn_factor times its running mean and also warn_floor:
// an exploding but still finite loss is worth a look, not a stop. The floor keeps quiet the
// spikes of a nearly fitted loss (0.4 after a mean of 0.03 on a small dataset is noise, not
// divergence); callers pass the chance-level cross-entropy, ln(classes).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "nn/model.h"

namespace figs::nn {

// Thrown by DivergenceGuard::check: the stage, the step and what went non-finite first.
class Diverged : public std::runtime_error {
 public:
  Diverged(std::string stage, int64_t step, std::string what);
  const std::string& stage() const { return stage_; }
  int64_t step() const { return step_; }
  const std::string& what_went_bad() const { return what_; }

 private:
  std::string stage_;
  int64_t step_;
  std::string what_;
};

// The first parameter, gradient or buffer of `model` (arena order) holding a NaN or an infinity,
// described ("the gradient of 'cell0.sep3.weight' (NaN at element 12)"); "" when all are finite.
std::string first_non_finite(const Model& model);

struct DivergenceGuardOptions {
  double warn_factor = 10;  // warn when loss > warn_factor * running mean; 0: never
  double warn_floor = 0;    // ... and loss > warn_floor
  double mean_decay = 0.98;  // the running mean's: about the last 50 steps
};

class DivergenceGuard {
 public:
  DivergenceGuard(std::string stage, const Model& model, const DivergenceGuardOptions& options = {});
  // After the update of `step`: `loss` (what the step minimised) and the model must be finite.
  void check(int64_t step, double loss);

 private:
  std::string stage_;
  const Model* model_;
  DivergenceGuardOptions options_;
  double mean_ = 0;
  int64_t seen_ = 0, last_warning_ = -1000000;
};

}  // namespace figs::nn

#include "nn/divergence.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include "autograd/ops.h"
#include "core/autograd_meta.h"
#include "core/error.h"

namespace figs::nn {

namespace {

// x * 0 is +-0 for every finite x and NaN for NaN and +-inf, so the sum is 0 exactly when every
// element is finite.
Tensor non_finite_probe(const Tensor& arena) {
  NoGradGuard no_grad;
  return sum(mul_scalar(arena, 0.0));
}
bool all_finite(const Tensor& arena) {
  return !arena.defined() || arena.numel() == 0 || std::isfinite(non_finite_probe(arena).item<double>());
}

std::string describe_first(const std::vector<ArenaSlot>& slots, const Tensor& arena, const char* what) {
  const std::vector<float> values = arena.to_vector<float>();
  for (const ArenaSlot& s : slots)
    for (int64_t i = 0; i < s.numel; ++i) {
      const float v = values[static_cast<size_t>(s.offset + i)];
      if (!std::isfinite(v))
        return str_cat(what, "'", s.name, "' (", std::isnan(v) ? "NaN" : "infinity", " at element ", i, ")");
    }
  return str_cat(what, "arena (a non-finite value in its padding)");
}

}  // namespace

Diverged::Diverged(std::string stage, int64_t step, std::string what)
    : std::runtime_error(stage + " diverged at step " + std::to_string(step) + ": " + what),
      stage_(std::move(stage)), step_(step), what_(std::move(what)) {}

std::string first_non_finite(const Model& model) {
  // One read of one scalar in the common case (a device synchronisation on a GPU).
  {
    NoGradGuard no_grad;
    Tensor probe;
    for (const Tensor* arena : {&model.grads(), &model.params(), &model.buffers()})
      if (arena->defined() && arena->numel() > 0)
        probe = probe.defined() ? add(probe, non_finite_probe(*arena)) : non_finite_probe(*arena);
    if (!probe.defined() || std::isfinite(probe.item<double>())) return "";
  }
  // Gradients first: a bad gradient is usually the cause, the weights it updated the effect.
  if (!all_finite(model.grads())) return describe_first(model.param_slots(), model.grads(), "the gradient of ");
  if (!all_finite(model.params())) return describe_first(model.param_slots(), model.params(), "the parameter ");
  if (!all_finite(model.buffers())) return describe_first(model.buffer_slots(), model.buffers(), "the buffer ");
  return "";
}

DivergenceGuard::DivergenceGuard(std::string stage, const Model& model, const DivergenceGuardOptions& options)
    : stage_(std::move(stage)), model_(&model), options_(options) {
  FIGS_CHECK(options.warn_factor == 0 || options.warn_factor > 1, "DivergenceGuard: warn_factor must be 0 (off) or > 1, "
             "got ", options.warn_factor);
  FIGS_CHECK(options.mean_decay >= 0 && options.mean_decay < 1, "DivergenceGuard: mean_decay must be in [0, 1)");
}

void DivergenceGuard::check(int64_t step, double loss) {
  const std::string bad = first_non_finite(*model_);
  if (!std::isfinite(loss))
    throw Diverged(stage_, step, str_cat("the loss is ", std::isnan(loss) ? "NaN" : "infinite",
                                         bad.empty() ? "" : "; first non-finite: " + bad));
  if (!bad.empty()) throw Diverged(stage_, step, bad);
  // The running mean starts from the first losses themselves (no bias towards 0).
  if (options_.warn_factor > 0 && seen_ >= 1 && loss > options_.warn_factor * mean_ && loss > options_.warn_floor &&
      mean_ > 0 &&
      step - last_warning_ >= 100) {
    std::fprintf(stderr, "\n%s: warning: the loss at step %lld is %.4g, %.1fx its running mean %.4g (exploding? a "
                 "smaller lr may help)\n", stage_.c_str(), static_cast<long long>(step), loss, loss / mean_, mean_);
    last_warning_ = step;
  }
  mean_ = seen_ == 0 ? loss : options_.mean_decay * mean_ + (1 - options_.mean_decay) * loss;
  ++seen_;
}

}  // namespace figs::nn

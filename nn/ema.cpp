#include "nn/ema.h"

#include <algorithm>
#include <utility>

#include "core/backend.h"
#include "core/parallel.h"
#include "core/view.h"

namespace figs::nn {

namespace {

constexpr int64_t kGrain = 1 << 14;

// shadow = decay * shadow + (1 - decay) * live, in float32. On the CPU one fused loop; on another
// device three Backend kernels with the same roundings (shadow * decay, live * (1 - decay), their
// sum: float products and a float sum, as the loop computes them), so the averages agree bit
// for bit across devices. The extra pass and temporary are small next to a training step.
void average_into(const Tensor& shadow, const Tensor& live, float decay) {
  if (shadow.numel() == 0) return;
  const float keep = decay, take = 1.0f - decay;
  if (!shadow.device().is_cpu()) {
    Backend& b = backend_of(shadow);
    const Tensor taken = empty_like(live);
    b.unary(UnaryOp::MulScalar, keep, shadow, shadow);
    b.unary(UnaryOp::MulScalar, take, live, taken);
    b.binary(BinaryOp::Add, shadow, taken, shadow);
    return;
  }
  float* s = shadow.data<float>();
  const float* x = live.data<float>();
  parallel_for(0, shadow.numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) s[i] = keep * s[i] + take * x[i];
  });
}

// Exchanges the values of two arenas: in place on the CPU, through a temporary copy elsewhere.
void swap_values(const Tensor& a, const Tensor& b) {
  if (a.numel() == 0) return;
  if (!a.device().is_cpu()) {
    const Tensor saved = raw::clone(a);
    raw::copy_(a, b);
    raw::copy_(b, saved);
    return;
  }
  float* x = a.data<float>();
  float* y = b.data<float>();
  parallel_for(0, a.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) std::swap(x[i], y[i]);
  });
}

}  // namespace

Ema::Ema(Model& model, const EmaOptions& options) : model_(&model), options_(options) {
  FIGS_CHECK(options.decay >= 0 && options.decay <= 1, "ema: decay must be in [0, 1], got ", options.decay);
  shadow_params_ = raw::clone(model.params());
  shadow_buffers_ =
      options.include_buffers ? raw::clone(model.buffers()) : zeros({0}, {DType::Float32, model.device()});
}

void Ema::check_device(const char* op) const {
  FIGS_CHECK(shadow_params_.device() == model_->device(), "ema: ", op, "(): the model is on ", model_->device(),
             " but its averages are on ", shadow_params_.device(),
             " (the model moved after this Ema was built); build the Ema after Model::to()");
}

double Ema::decay_at(int64_t n) const {
  if (!options_.warmup) return options_.decay;
  return std::min(options_.decay, (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n)));
}

void Ema::update() {
  FIGS_CHECK(!applied_, "ema: update() while the averages are applied to the model; call restore() first");
  check_device("update");
  const float d = static_cast<float>(decay_at(num_updates_));
  average_into(shadow_params_, model_->params(), d);
  if (options_.include_buffers) average_into(shadow_buffers_, model_->buffers(), d);
  ++num_updates_;
}

void Ema::apply() {
  FIGS_CHECK(!applied_, "ema: apply() twice without restore()");
  check_device("apply");
  swap_values(shadow_params_, model_->params());
  if (options_.include_buffers) swap_values(shadow_buffers_, model_->buffers());
  applied_ = true;
}

void Ema::restore() {
  FIGS_CHECK(applied_, "ema: restore() without apply()");
  check_device("restore");
  swap_values(shadow_params_, model_->params());
  if (options_.include_buffers) swap_values(shadow_buffers_, model_->buffers());
  applied_ = false;
}

void Ema::set_num_updates(int64_t n) {
  FIGS_CHECK(n >= 0, "ema: num_updates must be >= 0, got ", n);
  num_updates_ = n;
}

}  // namespace figs::nn

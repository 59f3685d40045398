#include "nn/init.h"

#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/view.h"

namespace figs::nn {

Fans compute_fans(const Shape& shape) {
  FIGS_CHECK(shape.rank() >= 2, "init: fans need a weight of rank >= 2, got shape ", shape);
  int64_t receptive = 1;
  for (int d = 2; d < shape.rank(); ++d) receptive *= shape[d];
  return {shape[1] * receptive, shape[0] * receptive};
}

namespace {

void check_target(const Tensor& t, const char* op) {
  FIGS_CHECK(t.defined() && is_floating(t.dtype()), op, ": needs a defined floating tensor, got ",
             t.defined() ? t.describe() : std::string("undefined"));
}

int64_t fan_of(const Tensor& t, FanMode mode, const char* op) {
  check_target(t, op);
  const Fans f = compute_fans(t.shape());
  const int64_t fan = mode == FanMode::FanIn ? f.fan_in : f.fan_out;
  FIGS_CHECK(fan > 0, op, ": zero fan for ", t.describe());
  return fan;
}

// The draw happens in a fresh tensor (one counter per element, Note [RNG layout]) and is then
// copied into t, so t may be any view (e.g. into a Model's arena).
void assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  raw::copy_(t, values);
}

}  // namespace

void kaiming_normal_(const Tensor& t, Generator& gen, FanMode mode, double gain) {
  const double stddev = gain / std::sqrt(static_cast<double>(fan_of(t, mode, "kaiming_normal_")));
  assign(t, normal(t.shape(), 0.0, stddev, gen, {t.dtype(), t.device()}));
}

void kaiming_uniform_(const Tensor& t, Generator& gen, FanMode mode, double gain) {
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_of(t, mode, "kaiming_uniform_")));
  assign(t, uniform(t.shape(), -bound, bound, gen, {t.dtype(), t.device()}));
}

void xavier_normal_(const Tensor& t, Generator& gen, double gain) {
  check_target(t, "xavier_normal_");
  const Fans f = compute_fans(t.shape());
  const double stddev = gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out));
  assign(t, normal(t.shape(), 0.0, stddev, gen, {t.dtype(), t.device()}));
}

void xavier_uniform_(const Tensor& t, Generator& gen, double gain) {
  check_target(t, "xavier_uniform_");
  const Fans f = compute_fans(t.shape());
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
  assign(t, uniform(t.shape(), -bound, bound, gen, {t.dtype(), t.device()}));
}

void constant_(const Tensor& t, double value) {
  check_target(t, "constant_");
  backend_of(t).fill(t, value);
}

}  // namespace figs::nn

// The CPU optimizer kernels (Backend::sgd_step, adam_step, sum_squares; core/params.h has the
// formulas): the loops nn/optim ran before these moved behind the Backend interface, unchanged,
// so CPU training produces the same bits as before.
//
// Bit-exactness rests on evaluating each float32 expression as written: this file is compiled
// without -mfma (only cpu/fast/ is), and the build is ISO C++ (-std=c++20, where GCC does not
// contract a * b + c). The CUDA kernels (cuda/optim.cu) spell out the same operations with
// round-to-nearest intrinsics and match these bit for bit.
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "cpu/reference_backend.h"

namespace figs::cpu {

namespace {

constexpr int64_t kGrain = 1 << 14;

}  // namespace

void ReferenceBackend::sgd_step(const SgdStepParams& given, const Tensor& params, const Tensor& grads,
                                const Tensor& momentum, int64_t begin, int64_t end) {
  float* __restrict p = params.data<float>();
  const float* __restrict grad = grads.data<float>();
  const SgdStepParams o = resolved(given);  // Note [Step values on the device]
  const float lr = o.lr, wd = o.weight_decay, mu = o.momentum;
  if (!momentum.defined()) {
    parallel_for(begin, end, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] -= lr * (grad[i] + wd * p[i]);
    });
    return;
  }
  float* __restrict v = momentum.data<float>();
  const bool nesterov = o.nesterov;
  parallel_for(begin, end, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float g = grad[i] + wd * p[i];
      v[i] = mu * v[i] + g;
      p[i] -= lr * (nesterov ? g + mu * v[i] : v[i]);
    }
  });
}

void ReferenceBackend::adam_step(const AdamStepParams& given, const Tensor& params, const Tensor& grads,
                                 const Tensor& exp_avg, const Tensor& exp_avg_sq, int64_t begin, int64_t end) {
  float* __restrict p = params.data<float>();
  const float* __restrict grad = grads.data<float>();
  float* __restrict m = exp_avg.data<float>();
  float* __restrict v = exp_avg_sq.data<float>();
  const AdamStepParams o = resolved(given);  // Note [Step values on the device]
  const float step = o.step_size, inv_sqrt_bc2 = o.inv_sqrt_bc2, b1 = o.beta1, b2 = o.beta2, eps = o.eps;
  const float wd = o.weight_decay, decay = o.decay;
  const bool decoupled = o.decoupled;
  parallel_for(begin, end, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float g = grad[i];
      if (decoupled)
        p[i] *= decay;
      else
        g += wd * p[i];
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      p[i] -= step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
  });
}

// Summed in fixed blocks of kGrain elements (each in order, in float64), then the blocks in
// order: the result does not depend on the thread count.
double ReferenceBackend::sum_squares(const Tensor& x) {
  const float* g = x.data<float>();
  const int64_t n = x.numel();
  const int64_t blocks = (n + kGrain - 1) / kGrain;
  std::vector<double> partial(blocks, 0.0);
  parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0;
      for (int64_t i = b * kGrain, e = std::min(n, i + kGrain); i < e; ++i) s += static_cast<double>(g[i]) * g[i];
      partial[b] = s;
    }
  });
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace figs::cpu

// Typed parameters of the ops whose kernels live in backends. The autograd op (autograd/ops/)
// validates them; the Backend kernels (core/backend.h) receive them already checked.
#pragma once

#include <cstdint>

namespace figs {

// Kernel size comes from the weight's shape (C_out, C_in / groups, KH, KW).
struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
};

struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
  // Average pooling only: whether zero padding counts in the divisor (PyTorch's default: true).
  bool count_include_pad = true;
};

struct BatchNormParams {
  bool training = true;    // batch statistics (and running-statistics update) vs running statistics
  double momentum = 0.1;   // running = (1 - momentum) * running + momentum * batch (PyTorch's convention)
  double eps = 1e-5;
  bool relu = false;       // fused ReLU: y = max(0, BN(x)); the backward passes gy where y > 0
};

// One optimizer update over a range of a parameter arena (Backend::sgd_step / adam_step;
// nn/optim/ computes these from its options and the step count). The hyperparameters arrive
// already rounded to the float32 constants the update multiplies by, so every backend
// evaluates the same float32 expression.
//   SGD (nn/optim/sgd.h):   g = grad + weight_decay * p
//                           without momentum:  p = p - lr * g
//                           with momentum:     v = momentum * v + g;  p = p - lr * (nesterov ? g + momentum * v : v)
//
// Note [Step values on the device]: a CUDA graph (cuda/graph.h) replays launches with the
// arguments they were captured with, so the numbers that change every step cannot travel as
// arguments. When `step_values` is set, the kernel reads them from there instead, in the memory
// of the tensors' device, when it runs; the caller writes them before each step
// (nn::Optimizer::set_step_values_on_device, nas::MaskLayer::read_step_from). Every backend honours
// it, so the CPU tests the same path a graph replays.
struct SgdStepParams {
  float lr = 0;
  float weight_decay = 0;
  float momentum = 0;     // read only when a momentum buffer is passed
  bool nesterov = false;  // likewise
  const float* step_values = nullptr;  // {lr}, Note [Step values on the device]
};

//   Adam (nn/optim/adam.h): g = grad (+ weight_decay * p unless decoupled)
//                           p = p * decay                           (decoupled only)
//                           m = beta1 * m + (1 - beta1) * g
//                           v = beta2 * v + (1 - beta2) * g * g
//                           p = p - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
// (1 - beta) is computed in float32 from the float32 beta.
struct AdamStepParams {
  float step_size = 0;     // lr / (1 - beta1^t); TF epsilon: lr * sqrt(1 - beta2^t) / (1 - beta1^t)
  float inv_sqrt_bc2 = 1;  // 1 / sqrt(1 - beta2^t); TF epsilon: 1
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0;  // L2 in the gradient (Adam); unused when decoupled
  float decay = 1;         // AdamW: 1 - lr * weight_decay
  bool decoupled = false;
  const float* step_values = nullptr;  // {step_size, inv_sqrt_bc2, decay}, Note [Step values on the device]
};

// The update's numbers with those at step_values (read where the kernel runs) in place.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline SgdStepParams resolved(SgdStepParams o) {
  if (o.step_values) o.lr = o.step_values[0];
  return o;
}
#if defined(__CUDACC__)
__host__ __device__
#endif
inline AdamStepParams resolved(AdamStepParams o) {
  if (o.step_values) {
    o.step_size = o.step_values[0];
    o.inv_sqrt_bc2 = o.step_values[1];
    o.decay = o.step_values[2];
  }
  return o;
}

// Elementwise ops of one input. `alpha` is the op's scalar where it has one.
enum class UnaryOp : uint8_t {
  Neg,
  Exp,
  Log,
  Sqrt,
  Pow,        // x^alpha
  Sigmoid,
  Relu,
  Relu6,
  AddScalar,  // x + alpha
  MulScalar,  // x * alpha
};

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div };

// The FiGS mask's per-channel values (nas/mask.h has the formulas):
//   Relaxed          m = sigmoid(a), a = (logit + noise) / tau      (training default)
//   StraightThrough  m = 1[a > 0], backward as Relaxed              (training option)
//   EvalHard         m = 1[logit >= 0]                               (evaluation default)
//   EvalScaled       m = 1[logit >= 0] * sigmoid(logit)              (evaluation option)
enum class MaskMode : uint8_t { Relaxed, StraightThrough, EvalHard, EvalScaled };

// One mask layer's values at one step. The noise of channel c is Logistic(0, 1) from
// philox_draw(seed, stream, counter + c) (nas/mask.h, Note [mask noise]), drawn by the kernel
// on the tensor's device unless the caller passes a noise tensor.
// With step_values = {step, tau} set (Note [Step values on the device]), the kernels use tau
// and counter = step * C from there.
struct MaskParams {
  MaskMode mode = MaskMode::Relaxed;
  double tau = 1e-3;
  uint64_t seed = 0, stream = 0, counter = 0;
  const double* step_values = nullptr;
};

// p's tau and counter for a layer of `channels` channels with those at step_values in place.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline MaskParams resolved(MaskParams p, int64_t channels) {
  if (p.step_values) {
    p.counter = static_cast<uint64_t>(p.step_values[0]) * static_cast<uint64_t>(channels);
    p.tau = p.step_values[1];
  }
  return p;
}

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

// Output size of a convolution or pooling window along one axis; <= 0 means "no valid output".
inline int64_t window_output_size(int64_t in, int kernel, int stride, int pad, int dilation) {
  const int64_t span = static_cast<int64_t>(dilation) * (kernel - 1) + 1;
  return (in + 2 * static_cast<int64_t>(pad) - span) / stride + 1;
}

}  // namespace figs

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
};

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

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

// Output size of a convolution or pooling window along one axis; <= 0 means "no valid output".
inline int64_t window_output_size(int64_t in, int kernel, int stride, int pad, int dilation) {
  const int64_t span = static_cast<int64_t>(dilation) * (kernel - 1) + 1;
  return (in + 2 * static_cast<int64_t>(pad) - span) / stride + 1;
}

}  // namespace figs

// The elementwise ops' scalar math, one definition for the reference kernels (cpu/reference/
// elementwise.h) and the CUDA kernels (cuda/elementwise.cu): each op's value and derivative, and
// the binary ops. The own AVX2 kernels (cpu/fast/elementwise.cpp) vectorise the same formulas
// and are tested against these through the reference (tests/backend_ops).
//
// The math functions are std:: on the host (float overloads for float: expf, not exp) and CUDA's
// global overloads in device code, chosen per compilation pass; qualified, because figs:: has
// tensor functions of the same names.
#pragma once

#include <cmath>

#include "core/params.h"
#include "core/rng.h"  // FIGS_HOST_DEVICE

namespace figs::elementwise_math {

#if defined(__CUDA_ARCH__)
#define FIGS_SCALAR_MATH(fn) ::fn
#else
#define FIGS_SCALAR_MATH(fn) std::fn
#endif

template <class T>
FIGS_HOST_DEVICE inline T unary_value(UnaryOp op, T alpha, T x) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return FIGS_SCALAR_MATH(exp)(x);
    case UnaryOp::Log: return FIGS_SCALAR_MATH(log)(x);
    case UnaryOp::Sqrt: return FIGS_SCALAR_MATH(sqrt)(x);
    case UnaryOp::Pow: return FIGS_SCALAR_MATH(pow)(x, alpha);
    case UnaryOp::Sigmoid:  // no overflow on either side
      return x >= 0 ? T(1) / (T(1) + FIGS_SCALAR_MATH(exp)(-x))
                    : FIGS_SCALAR_MATH(exp)(x) / (T(1) + FIGS_SCALAR_MATH(exp)(x));
    case UnaryOp::Relu: return x > 0 ? x : T(0);
    case UnaryOp::Relu6: return x <= 0 ? T(0) : (x >= 6 ? T(6) : x);
    case UnaryOp::AddScalar: return x + alpha;
    case UnaryOp::MulScalar: return x * alpha;
  }
  return x;
}

// Which of x and y = op(x) the derivative below reads: one of them at most, so the autograd op
// keeps only that one for its backward (relu's input is often a tensor nothing else keeps: a
// block's input, a pool's output).
enum class UnaryDerivativeReads : uint8_t { Nothing, Input, Output };
FIGS_HOST_DEVICE inline UnaryDerivativeReads unary_derivative_reads(UnaryOp op) {
  switch (op) {
    case UnaryOp::Log:
    case UnaryOp::Pow: return UnaryDerivativeReads::Input;
    case UnaryOp::Exp:
    case UnaryOp::Sqrt:
    case UnaryOp::Sigmoid:
    case UnaryOp::Relu:
    case UnaryOp::Relu6: return UnaryDerivativeReads::Output;
    case UnaryOp::Neg:
    case UnaryOp::AddScalar:
    case UnaryOp::MulScalar: return UnaryDerivativeReads::Nothing;
  }
  return UnaryDerivativeReads::Input;
}

// d op(x) / dx, from x or y = op(x) (unary_derivative_reads says which; the other is not read).
// relu and relu6 read y: y > 0 exactly where x > 0, and 0 < y < 6 exactly where 0 < x < 6, so
// the derivative is that of x: 0 at the kinks, and 0 at NaN either way.
template <class T>
FIGS_HOST_DEVICE inline T unary_derivative(UnaryOp op, T alpha, T x, T y) {
  switch (op) {
    case UnaryOp::Neg: return T(-1);
    case UnaryOp::Exp: return y;
    case UnaryOp::Log: return T(1) / x;
    case UnaryOp::Sqrt: return T(0.5) / y;
    case UnaryOp::Pow: return alpha * FIGS_SCALAR_MATH(pow)(x, alpha - T(1));
    case UnaryOp::Sigmoid: return y * (T(1) - y);
    case UnaryOp::Relu: return y > 0 ? T(1) : T(0);
    case UnaryOp::Relu6: return (y > 0 && y < 6) ? T(1) : T(0);
    case UnaryOp::AddScalar: return T(1);
    case UnaryOp::MulScalar: return alpha;
  }
  return T(0);
}

template <class T>
FIGS_HOST_DEVICE inline T binary_value(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
  }
  return a;
}

#undef FIGS_SCALAR_MATH

}  // namespace figs::elementwise_math

// Elementwise kernels: unary ops, their backward, and binary ops with broadcasting.
//
// Three paths, chosen on the host from the strides:
//   flat       every operand dense with the same strides (contiguous, or all channels-last):
//              one index serves all operands, no index arithmetic;
//   broadcast1 (binary) a and out dense with equal strides, b one value or varying along one
//              dim only (the per-channel mask multiply, bias adds, scalars): b's index is
//              (i / stride_d) % size_d, valid because a dense layout is a permutation of a
//              contiguous one;
//   strided    anything else: each operand's offset from the logical index (div/mod per dim).
// Results equal the reference's up to the last bit of the libm/CUDA math functions (exp, log,
// pow): the same operations in the same precision.
#include "core/elementwise_math.h"
#include "cuda/device.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

using elementwise_math::binary_value;
using elementwise_math::unary_derivative;
using elementwise_math::unary_value;

template <class T>
__global__ void unary_flat(UnaryOp op, T alpha, const T* x, T* y, int32_t n) {
  FIGS_GRID_STRIDE(i, n) y[i] = unary_value(op, alpha, x[i]);
}

template <class T>
__global__ void unary_strided(UnaryOp op, T alpha, const T* x, StridedLayout lx, T* y, StridedLayout ly,
                              int32_t n) {
  FIGS_GRID_STRIDE(i, n) y[offset_of(i, ly)] = unary_value(op, alpha, x[offset_of(i, lx)]);
}

template <class T>
__global__ void unary_backward_flat(UnaryOp op, T alpha, const T* x, const T* y, const T* gy, T* gx, int32_t n) {
  FIGS_GRID_STRIDE(i, n) gx[i] = gy[i] * unary_derivative(op, alpha, x[i], y[i]);
}

template <class T>
__global__ void unary_backward_strided(UnaryOp op, T alpha, const T* x, StridedLayout lx, const T* y,
                                       StridedLayout ly, const T* gy, StridedLayout lgy, T* gx, StridedLayout lgx,
                                       int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    gx[offset_of(i, lgx)] = gy[offset_of(i, lgy)] * unary_derivative(op, alpha, x[offset_of(i, lx)], y[offset_of(i, ly)]);
  }
}

template <class T>
__global__ void binary_flat(BinaryOp op, const T* a, const T* b, T* out, int32_t n) {
  FIGS_GRID_STRIDE(i, n) out[i] = binary_value(op, a[i], b[i]);
}

// `full` is dense with out's strides; `bc` varies along one dim (bc_size values at bc_stride
// apart in memory, found in the flat index at out_stride) or is one value (bc_size == 1).
// full_is_a: whether the dense operand is the left one.
template <class T>
__global__ void binary_broadcast1(BinaryOp op, const T* full, const T* bc, int32_t out_stride, int32_t bc_size,
                                  int64_t bc_stride, bool full_is_a, T* out, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const int32_t j = (i / out_stride) % bc_size;
    const T v = bc[j * bc_stride];
    out[i] = full_is_a ? binary_value(op, full[i], v) : binary_value(op, v, full[i]);
  }
}

template <class T>
__global__ void binary_strided(BinaryOp op, const T* a, StridedLayout la, const T* b, StridedLayout lb, T* out,
                               StridedLayout lo, int32_t n) {
  FIGS_GRID_STRIDE(i, n) out[offset_of(i, lo)] = binary_value(op, a[offset_of(i, la)], b[offset_of(i, lb)]);
}

bool same_dense(const Tensor& t, const Tensor& ref) {
  return t.shape() == ref.shape() && t.strides() == ref.strides() && is_dense(t.shape(), t.strides());
}

int grid(int64_t n) { return static_cast<int>(blocks_for(n)); }

}  // namespace

void unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) {
  const int32_t n = static_cast<int32_t>(y.numel());
  if (n == 0) return;
  check_index_range(unary_op_name(op), y);
  use_device_of(y);
  dispatch_floating(y.dtype(), unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(alpha);
    if (same_dense(x, y))
      unary_flat<T><<<grid(n), kThreads, 0, current_stream()>>>(op, a, x.data<T>(), y.data<T>(), n);
    else
      unary_strided<T><<<grid(n), kThreads, 0, current_stream()>>>(
          op, a, x.data<T>(), layout_of(x), y.data<T>(), layout_of(y), n);
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx) {
  const int32_t n = static_cast<int32_t>(gx.numel());
  if (n == 0) return;
  check_index_range(unary_op_name(op), gx);
  use_device_of(gx);
  dispatch_floating(gx.dtype(), unary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(alpha);
    if (same_dense(x, gx) && same_dense(y, gx) && same_dense(gy, gx))
      unary_backward_flat<T><<<grid(n), kThreads, 0, current_stream()>>>(
          op, a, x.data<T>(), y.data<T>(), gy.data<T>(), gx.data<T>(), n);
    else
      unary_backward_strided<T><<<grid(n), kThreads, 0, current_stream()>>>(
          op, a, x.data<T>(), layout_of(x), y.data<T>(), layout_of(y), gy.data<T>(), layout_of(gy), gx.data<T>(),
          layout_of(gx), n);
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int32_t n = static_cast<int32_t>(out.numel());
  if (n == 0) return;
  check_index_range(binary_op_name(op), out);
  use_device_of(out);
  const Shape& s = out.shape();
  const Strides sa = broadcast_strides(a.shape(), a.strides(), s), sb = broadcast_strides(b.shape(), b.strides(), s);
  const bool out_dense = is_dense(s, out.strides());
  dispatch_floating(out.dtype(), binary_op_name(op), [&](auto tag) {
    using T = decltype(tag);
    if (out_dense && sa == out.strides() && sb == out.strides()) {
      binary_flat<T><<<grid(n), kThreads, 0, current_stream()>>>(op, a.data<T>(), b.data<T>(), out.data<T>(), n);
      FIGS_CUDA_CHECK_LAUNCH();
      return;
    }
    // One operand dense like out, the other one value or varying along one dim.
    for (const bool full_is_a : {true, false}) {
      const Strides& sf = full_is_a ? sa : sb;
      const Strides& sbc = full_is_a ? sb : sa;
      if (!out_dense || sf != out.strides()) continue;
      const int d = single_varying_dim(s, sbc);
      if (d == -2) continue;
      const Tensor& full = full_is_a ? a : b;
      const Tensor& bc = full_is_a ? b : a;
      const int32_t out_stride = d >= 0 ? static_cast<int32_t>(out.strides()[d]) : 1;
      const int32_t bc_size = d >= 0 ? static_cast<int32_t>(s[d]) : 1;
      const int64_t bc_stride = d >= 0 ? sbc[d] : 0;
      binary_broadcast1<T><<<grid(n), kThreads, 0, current_stream()>>>(
          op, full.data<T>(), bc.data<T>(), out_stride, bc_size, bc_stride, full_is_a, out.data<T>(), n);
      FIGS_CUDA_CHECK_LAUNCH();
      return;
    }
    binary_strided<T><<<grid(n), kThreads, 0, current_stream()>>>(
        op, a.data<T>(), layout_of(s, sa), b.data<T>(), layout_of(s, sb), out.data<T>(), layout_of(out), n);
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace figs::cuda::kernels

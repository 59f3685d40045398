// Reference kernels: sums over dims, and matrix multiplication.
#pragma once

#include <vector>

#include "core/parallel.h"
#include "cpu/reference/strided.h"

namespace figs::cpu::ref {

// out has x's rank with size 1 on the reduced dims. Accumulates in double.
template <class T>
void sum(const Tensor& x, const Tensor& out) {
  std::vector<double> acc(static_cast<size_t>(out.numel()), 0.0);
  const Strides acc_strides = broadcast_strides(out.shape(), contiguous_strides(out.shape()), x.shape());
  const T* px = x.data<T>();
  for_each_offset<2>(x.shape(), {x.strides(), acc_strides},
                     [&](auto o) { acc[o[1]] += static_cast<double>(px[o[0]]); });
  T* po = out.data<T>();
  int64_t i = 0;
  for_each_offset<1>(out.shape(), {out.strides()}, [&](auto o) { po[o[0]] = static_cast<T>(acc[i++]); });
}

// out (M, N) = a (M, K) @ b (K, N), any strides. Accumulates in T (double for double).
template <class T>
void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  const Matrix<const T> A(a), B(b);
  const Matrix<T> C(out);
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  parallel_for(0, M, 8, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t n = 0; n < N; ++n) {
        T acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += A(m, k) * B(k, n);
        C(m, n) = acc;
      }
  });
}

}  // namespace figs::cpu::ref

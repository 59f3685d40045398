// Index helpers shared by the reference kernels: they read and write tensors through their
// strides, so every layout (contiguous, channels-last, views, broadcast) means the same thing.
#pragma once

#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace figs::cpu::ref {

// A rank-4 (N, C, H, W) tensor seen through its strides.
template <class T>
struct Nchw {
  T* p;
  int64_t sn, sc, sh, sw;
  explicit Nchw(const Tensor& t)
      : p(t.data<std::remove_const_t<T>>()),
        sn(t.stride(0)), sc(t.stride(1)), sh(t.stride(2)), sw(t.stride(3)) {}
  T& operator()(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return p[n * sn + c * sc + h * sh + w * sw];
  }
};

// A rank-2 (rows, cols) tensor seen through its strides.
template <class T>
struct Matrix {
  T* p;
  int64_t sr, sc;
  explicit Matrix(const Tensor& t) : p(t.data<std::remove_const_t<T>>()), sr(t.stride(0)), sc(t.stride(1)) {}
  T& operator()(int64_t r, int64_t c) const { return p[r * sr + c * sc]; }
};

// Visits every index of `shape` in row-major order, keeping one element offset per operand
// (operands may broadcast: stride 0). fn(offsets) is called once per element.
template <size_t K, class Fn>
void for_each_offset(const Shape& shape, const std::array<Strides, K>& strides, Fn&& fn) {
  const int rank = shape.rank();
  if (shape.numel() == 0) return;
  std::array<int64_t, Dims::kMaxRank> index{};
  std::array<int64_t, K> off{};
  const int64_t n = shape.numel();
  for (int64_t i = 0; i < n; ++i) {
    fn(off);
    for (int d = rank - 1; d >= 0; --d) {  // odometer increment
      ++index[d];
      for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
      if (index[d] < shape[d]) break;
      for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace figs::cpu::ref

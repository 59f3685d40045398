// Reference kernels: fills, copies, unary and binary elementwise ops.
#pragma once

#include <cmath>

#include "core/elementwise_math.h"
#include "core/params.h"
#include "core/rng.h"
#include "cpu/reference/strided.h"

namespace figs::cpu::ref {

template <class T>
void fill(const Tensor& out, double value) {
  T* p = out.data<T>();
  for_each_offset<1>(out.shape(), {out.strides()}, [&](auto o) { p[o[0]] = static_cast<T>(value); });
}

template <class S, class D>
void copy(const Tensor& src, const Tensor& dst) {
  const S* s = src.data<S>();
  D* d = dst.data<D>();
  for_each_offset<2>(dst.shape(), {src.strides(), dst.strides()},
                     [&](auto o) { d[o[1]] = static_cast<D>(s[o[0]]); });
}

// Element i (row-major) takes its numbers from philox_draw(seed, stream, counter + i).
template <class T>
void fill_uniform(const Tensor& out, const RngDraw& draw, double low, double high) {
  T* p = out.data<T>();
  uint64_t i = 0;
  for_each_offset<1>(out.shape(), {out.strides()}, [&](auto o) {
    const PhiloxBlock b = philox_draw(draw.seed, draw.stream, draw.counter + i++);
    const double u = std::is_same_v<T, float> ? uniform_open_f32(b.w[0]) : uniform_open_f64(b.w[0], b.w[1]);
    p[o[0]] = static_cast<T>(low + (high - low) * u);
  });
}

// Box-Muller on the block's words: radius from the first uniform, angle from the second.
template <class T>
void fill_normal(const Tensor& out, const RngDraw& draw, double mean, double stddev) {
  T* p = out.data<T>();
  uint64_t i = 0;
  for_each_offset<1>(out.shape(), {out.strides()}, [&](auto o) {
    const PhiloxBlock b = philox_draw(draw.seed, draw.stream, draw.counter + i++);
    double u1, u2;
    if constexpr (std::is_same_v<T, float>) {
      u1 = uniform_open_f32(b.w[0]);
      u2 = uniform_open_f32(b.w[1]);
    } else {
      u1 = uniform_open_f64(b.w[0], b.w[1]);
      u2 = uniform_open_f64(b.w[2], b.w[3]);
    }
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
    p[o[0]] = static_cast<T>(mean + stddev * z);
  });
}

using elementwise_math::binary_value;
using elementwise_math::unary_derivative;
using elementwise_math::unary_value;

template <class T>
void unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const T a = static_cast<T>(alpha);
  for_each_offset<2>(y.shape(), {x.strides(), y.strides()},
                     [&](auto o) { py[o[1]] = unary_value(op, a, px[o[0]]); });
}

template <class T>
void unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy,
                    const Tensor& gx) {
  const T *px = x.data<T>(), *py = y.data<T>(), *pgy = gy.data<T>();
  T* pgx = gx.data<T>();
  const T a = static_cast<T>(alpha);
  for_each_offset<4>(gx.shape(), {x.strides(), y.strides(), gy.strides(), gx.strides()}, [&](auto o) {
    pgx[o[3]] = pgy[o[2]] * unary_derivative(op, a, px[o[0]], py[o[1]]);
  });
}

template <class T>
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const T *pa = a.data<T>(), *pb = b.data<T>();
  T* po = out.data<T>();
  const Shape& s = out.shape();
  const std::array<Strides, 3> st{broadcast_strides(a.shape(), a.strides(), s),
                                  broadcast_strides(b.shape(), b.strides(), s), out.strides()};
  for_each_offset<3>(s, st, [&](auto o) {
    po[o[2]] = binary_value(op, pa[o[0]], pb[o[1]]);
  });
}

}  // namespace figs::cpu::ref

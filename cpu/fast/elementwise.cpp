// Vectorised elementwise kernels. Loops are written over plain float arrays so the compiler
// vectorises them (AVX2, -O3); transcendental functions stay scalar libm calls (exact to the
// reference up to libm's rounding).
#include <algorithm>
#include <array>
#include <initializer_list>
#include <cmath>
#include <cstring>

#include "core/parallel.h"
#include "cpu/fast/kernels.h"

namespace figs::cpu::fast {

namespace {

constexpr int64_t kGrain = 1 << 14;  // elements per parallel chunk

bool is_dense(const Tensor& t) {
  return t.is_contiguous() || t.is_contiguous(MemoryFormat::ChannelsLast);
}
bool same_dense_layout(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && is_dense(a) && is_dense(b) && a.memory_format() == b.memory_format();
}
bool is_f32(const Tensor& t) { return t.dtype() == DType::Float32; }

template <class Fn>
void for_chunks(int64_t n, const Fn& fn) {
  parallel_for(0, n, kGrain, fn);
}

// y[i] = f(x[i]) for the ops whose loops vectorise; returns false for the others.
template <class F>
void map(const float* x, float* y, int64_t n, F f) {
  for_chunks(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}

}  // namespace

bool fill(const Tensor& out, double value) {
  if (!is_f32(out) || !is_dense(out)) return false;
  float* p = out.data<float>();
  const float v = static_cast<float>(value);
  for_chunks(out.numel(), [&](int64_t b, int64_t e) { std::fill(p + b, p + e, v); });
  return true;
}

namespace {

// The dim along which `out` is walked in runs: its innermost unit-stride dim of size > 1, if each
// of `others` has unit stride there too (a channel slice of a wider channels-last tensor, a
// layout-preserving view); -1 otherwise.
int shared_unit_dim(const Tensor& out, std::initializer_list<const Tensor*> others) {
  int inner = -1;
  for (int d = out.dim() - 1; d >= 0; --d)
    if (out.stride(d) == 1 && out.size(d) > 1) inner = d;
  if (inner < 0) return -1;
  for (const Tensor* t : others)
    if (t->stride(inner) != 1) return -1;
  return inner;
}

// fn(offsets, run): for every run of `shape` along `inner` (in parallel), the element offset of
// its start in each tensor of `ts`. Each thread decomposes its first run's index over the other
// dims once, then steps the index like an odometer (runs of a channel slice are a few channels
// long: a division per dim and run cost more than the run).
template <size_t K, class Fn>
void for_each_run(const Shape& shape, int inner, const std::array<const Tensor*, K>& ts, const Fn& fn) {
  const int rank = shape.rank();
  std::array<std::array<int64_t, Dims::kMaxRank>, K> strides{};
  for (size_t t = 0; t < K; ++t)
    for (int k = 0; k < rank; ++k) strides[t][k] = ts[t]->stride(k);
  const int64_t run = shape[inner], runs = shape.numel() / std::max<int64_t>(run, 1);
  parallel_for(0, runs, std::max<int64_t>(1, kGrain / std::max<int64_t>(run, 1)), [&](int64_t b, int64_t e) {
    std::array<int64_t, Dims::kMaxRank> index{};
    std::array<int64_t, K> offsets{};
    int64_t rest = b;
    for (int k = rank - 1; k >= 0; --k) {
      if (k == inner) continue;
      index[k] = rest % shape[k];
      rest /= shape[k];
      for (size_t t = 0; t < K; ++t) offsets[t] += index[k] * strides[t][k];
    }
    for (int64_t r = b; r < e; ++r) {
      fn(offsets, run);
      for (int k = rank - 1; k >= 0; --k) {  // the next run: carry through the dims, last fastest
        if (k == inner) continue;
        for (size_t t = 0; t < K; ++t) offsets[t] += strides[t][k];
        if (++index[k] < shape[k]) break;
        for (size_t t = 0; t < K; ++t) offsets[t] -= shape[k] * strides[t][k];
        index[k] = 0;
      }
    }
  });
}

bool run_bytes_small(const Tensor& t, int inner) { return t.size(inner) * dtype_size(t.dtype()) <= 256; }

// Copies between two strided tensors of one dtype that share a unit-stride dim (concat into a
// channel slice, a slice out of one): one memcpy per run.
bool copy_runs(const Tensor& src, const Tensor& dst) {
  const int inner = shared_unit_dim(dst, {&src});
  if (inner < 0) return false;
  const size_t bytes = dtype_size(dst.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  if (bytes == 4 && run_bytes_small(dst, inner)) {  // a plain loop beats a memcpy call on short rows
    const float* sf = reinterpret_cast<const float*>(s);
    float* df = reinterpret_cast<float*>(d);
    for_each_run<2>(dst.shape(), inner, {&src, &dst}, [&](const std::array<int64_t, 2>& o, int64_t run) {
      const float* __restrict from = sf + o[0];
      float* __restrict to = df + o[1];
      for (int64_t i = 0; i < run; ++i) to[i] = from[i];
    });
    return true;
  }
  for_each_run<2>(dst.shape(), inner, {&src, &dst}, [&](const std::array<int64_t, 2>& o, int64_t run) {
    std::memcpy(d + o[1] * bytes, s + o[0] * bytes, run * bytes);
  });
  return true;
}

}  // namespace

bool copy(const Tensor& src, const Tensor& dst) {
  if (src.numel() == 1 && src.dtype() == DType::Float32 && is_f32(dst) && is_dense(dst))  // a broadcast scalar
    return fill(dst, *src.data<float>());
  if (src.dtype() != dst.dtype()) return false;
  if (!same_dense_layout(src, dst)) return copy_runs(src, dst);
  const size_t bytes = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  for_chunks(src.numel(), [&](int64_t b, int64_t e) { std::memcpy(d + b * bytes, s + b * bytes, (e - b) * bytes); });
  return true;
}

bool unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) {
  if (!is_f32(x) || !same_dense_layout(x, y)) return false;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const int64_t n = x.numel();
  const float a = static_cast<float>(alpha);
  switch (op) {
    case UnaryOp::Neg: map(px, py, n, [](float v) { return -v; }); break;
    case UnaryOp::Relu: map(px, py, n, [](float v) { return v > 0.f ? v : 0.f; }); break;
    case UnaryOp::Relu6: map(px, py, n, [](float v) { return std::min(std::max(v, 0.f), 6.f); }); break;
    case UnaryOp::AddScalar: map(px, py, n, [a](float v) { return v + a; }); break;
    case UnaryOp::MulScalar: map(px, py, n, [a](float v) { return v * a; }); break;
    case UnaryOp::Sqrt: map(px, py, n, [](float v) { return std::sqrt(v); }); break;
    case UnaryOp::Exp: map(px, py, n, [](float v) { return std::exp(v); }); break;
    case UnaryOp::Log: map(px, py, n, [](float v) { return std::log(v); }); break;
    case UnaryOp::Pow: map(px, py, n, [a](float v) { return std::pow(v, a); }); break;
    case UnaryOp::Sigmoid:
      map(px, py, n, [](float v) { return v >= 0 ? 1.f / (1.f + std::exp(-v)) : std::exp(v) / (1.f + std::exp(v)); });
      break;
  }
  return true;
}

bool unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx) {
  if (!is_f32(x) || !is_f32(y) || !is_f32(gy) || !is_f32(gx)) return false;
  const bool dense = same_dense_layout(x, y) && same_dense_layout(x, gy) && same_dense_layout(x, gx);
  int inner = -1;
  if (!dense) {  // strided (the backward of a concat hands out channel slices of its gradient)
    if (y.shape() != gx.shape() || x.shape() != gx.shape() || gy.shape() != gx.shape()) return false;
    inner = shared_unit_dim(gx, {&x, &y, &gy});
    if (inner < 0) return false;
  }
  const float *px = x.data<float>(), *py = y.data<float>(), *pg = gy.data<float>();
  float* out = gx.data<float>();
  const float a = static_cast<float>(alpha);
  auto zip = [&](auto f) {
    if (dense) {
      for_chunks(x.numel(), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = f(px[i], py[i], pg[i]);
      });
      return;
    }
    for_each_run<4>(gx.shape(), inner, {&x, &y, &gy, &gx}, [&](const std::array<int64_t, 4>& o, int64_t run) {
      const float *xr = px + o[0], *yr = py + o[1], *gr = pg + o[2];
      float* outr = out + o[3];
      for (int64_t i = 0; i < run; ++i) outr[i] = f(xr[i], yr[i], gr[i]);
    });
  };
  switch (op) {
    case UnaryOp::Neg: zip([](float, float, float g) { return -g; }); break;
    case UnaryOp::Relu: zip([](float, float r, float g) { return r > 0.f ? g : 0.f; }); break;
    case UnaryOp::Relu6: zip([](float, float r, float g) { return (r > 0.f && r < 6.f) ? g : 0.f; }); break;
    case UnaryOp::AddScalar: zip([](float, float, float g) { return g; }); break;
    case UnaryOp::MulScalar: zip([a](float, float, float g) { return g * a; }); break;
    case UnaryOp::Exp: zip([](float, float r, float g) { return g * r; }); break;
    case UnaryOp::Log: zip([](float v, float, float g) { return g / v; }); break;
    case UnaryOp::Sqrt: zip([](float, float r, float g) { return g * (0.5f / r); }); break;
    case UnaryOp::Pow: zip([a](float v, float, float g) { return g * a * std::pow(v, a - 1.f); }); break;
    case UnaryOp::Sigmoid: zip([](float, float r, float g) { return g * r * (1.f - r); }); break;
  }
  return true;
}

namespace {

template <BinaryOp Op>
inline float apply(float x, float y) {
  if constexpr (Op == BinaryOp::Add) return x + y;
  if constexpr (Op == BinaryOp::Sub) return x - y;
  if constexpr (Op == BinaryOp::Mul) return x * y;
  return x / y;
}

// Per-channel operand: shape (C, 1, 1) or (1, C, 1, 1) against an (N, C, H, W) tensor (numpy
// rules align a rank-1 (C) with W, so it is not per-channel), with unit stride along C.
bool is_per_channel_of(const Tensor& v, const Tensor& full) {
  if (full.dim() != 4 || v.dim() < 3 || v.dim() > 4) return false;
  const int lead = 4 - v.dim();
  for (int d = 0; d < v.dim(); ++d)
    if (v.size(d) != (d + lead == 1 ? full.size(1) : 1)) return false;
  return full.size(1) == 1 || v.stride(1 - lead) == 1;
}

// out = full (op) vec[c]  (vec_first: out = vec[c] (op) full)
template <BinaryOp Op>
void channel_broadcast(const Tensor& full, const float* vec, bool vec_first, const Tensor& out) {
  const int64_t N = full.size(0), C = full.size(1), HW = full.size(2) * full.size(3);
  const float* x = full.data<float>();
  float* y = out.data<float>();
  if (full.memory_format() == MemoryFormat::ChannelsLast) {
    parallel_for(0, N * HW, std::max<int64_t>(kGrain / std::max<int64_t>(C, 1), 1), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const float* xr = x + p * C;
        float* yr = y + p * C;
        if (vec_first)
          for (int64_t c = 0; c < C; ++c) yr[c] = apply<Op>(vec[c], xr[c]);
        else
          for (int64_t c = 0; c < C; ++c) yr[c] = apply<Op>(xr[c], vec[c]);
      }
    });
  } else {
    parallel_for(0, N * C, std::max<int64_t>(kGrain / std::max<int64_t>(HW, 1), 1), [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const float v = vec[plane % C];
        const float* xr = x + plane * HW;
        float* yr = y + plane * HW;
        if (vec_first)
          for (int64_t i = 0; i < HW; ++i) yr[i] = apply<Op>(v, xr[i]);
        else
          for (int64_t i = 0; i < HW; ++i) yr[i] = apply<Op>(xr[i], v);
      }
    });
  }
}

template <BinaryOp Op>
bool binary_impl(const Tensor& a, const Tensor& b, const Tensor& out) {
  const float *pa = a.data<float>(), *pb = b.data<float>();
  float* po = out.data<float>();
  if (same_dense_layout(a, out) && same_dense_layout(b, out)) {
    for_chunks(out.numel(), [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = apply<Op>(pa[i], pb[i]);
    });
    return true;
  }
  // Same shape, strided operands (the backward of a concat hands out channel slices of its
  // gradient, which the streams' sums add): runs along the dim all three have unit stride.
  if (a.shape() == out.shape() && b.shape() == out.shape()) {
    const int inner = shared_unit_dim(out, {&a, &b});
    if (inner < 0) return false;
    for_each_run<3>(out.shape(), inner, {&a, &b, &out}, [&](const std::array<int64_t, 3>& o, int64_t run) {
      const float *x = pa + o[0], *y = pb + o[1];
      float* z = po + o[2];
      for (int64_t i = 0; i < run; ++i) z[i] = apply<Op>(x[i], y[i]);
    });
    return true;
  }
  for (const bool scalar_first : {false, true}) {
    const Tensor& full = scalar_first ? b : a;
    const Tensor& other = scalar_first ? a : b;
    if (other.numel() == 1 && same_dense_layout(full, out)) {
      const float s = *other.data<float>();
      const float* pf = full.data<float>();
      float* po = out.data<float>();
      for_chunks(out.numel(), [&](int64_t st, int64_t e) {
        if (scalar_first)
          for (int64_t i = st; i < e; ++i) po[i] = apply<Op>(s, pf[i]);
        else
          for (int64_t i = st; i < e; ++i) po[i] = apply<Op>(pf[i], s);
      });
      return true;
    }
    if (same_dense_layout(full, out) && is_per_channel_of(other, full)) {
      channel_broadcast<Op>(full, other.data<float>(), scalar_first, out);
      return true;
    }
  }
  return false;
}

}  // namespace

bool binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (!is_f32(out) || !is_f32(a) || !is_f32(b)) return false;
  switch (op) {
    case BinaryOp::Add: return binary_impl<BinaryOp::Add>(a, b, out);
    case BinaryOp::Sub: return binary_impl<BinaryOp::Sub>(a, b, out);
    case BinaryOp::Mul: return binary_impl<BinaryOp::Mul>(a, b, out);
    case BinaryOp::Div: return binary_impl<BinaryOp::Div>(a, b, out);
  }
  return false;
}

}  // namespace figs::cpu::fast

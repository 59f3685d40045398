// Max and average pooling over (H, W) windows (the semantics of cpu/reference/pool2d.h).
// Forward: one thread per output. Backward: one thread per input element that gathers from
// every window containing it, so each gx element is written once, with no atomics and a fixed
// summation order (deterministic); the windows containing input row ih are the outputs
// oh in [ceil((ih + pad - k + 1) / s), floor((ih + pad) / s)] within [0, OH).
// Threads follow the layout: channels-last maps consecutive threads to consecutive channels.
#include "cuda/device.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

struct Window {
  int32_t kh, kw, sh, sw, ph, pw;
  bool count_include_pad;
};
Window window(const Pool2dParams& p) {
  return {p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.count_include_pad};
}

// The first and one-past-last output index whose window covers input index i.
__device__ inline void covering(int32_t i, int32_t k, int32_t s, int32_t pad, int32_t out, int32_t& lo, int32_t& hi) {
  const int32_t num = i + pad - k + 1;
  lo = num <= 0 ? 0 : (num + s - 1) / s;
  hi = min(out, (i + pad) / s + 1);
}

__device__ inline int32_t avg_divisor(const Window& p, int32_t H, int32_t W, int32_t oh, int32_t ow) {
  const int32_t h0 = oh * p.sh - p.ph, w0 = ow * p.sw - p.pw;
  const int32_t h1 = min(h0 + p.kh, H + p.ph), w1 = min(w0 + p.kw, W + p.pw);
  if (p.count_include_pad) return (h1 - h0) * (w1 - w0);
  return (min(h1, H) - max(h0, 0)) * (min(w1, W) - max(w0, 0));
}

// The maximum of output (oh, ow)'s window in plane (n, c) and its index ih * W + iw: the first
// maximum wins ties, as the reference; a window entirely in the padding has index -1. The forward
// and the backward from the input share it, so they agree on every tie.
template <class T>
struct WindowMax {
  T value;
  int32_t index;
};
template <class T>
__device__ inline WindowMax<T> window_max(const Window& p, const T* x, const Geom4& gx, int32_t n, int32_t c,
                                          int32_t oh, int32_t ow) {
  WindowMax<T> best{T(0), -1};
  for (int32_t kh = 0; kh < p.kh; ++kh) {
    const int32_t ih = oh * p.sh - p.ph + kh;
    if (ih < 0 || ih >= gx.H) continue;
    for (int32_t kw = 0; kw < p.kw; ++kw) {
      const int32_t iw = ow * p.sw - p.pw + kw;
      if (iw < 0 || iw >= gx.W) continue;
      const T v = x[gx.at(n, c, ih, iw)];
      if (best.index < 0 || v > best.value) best = {v, ih * gx.W + iw};
    }
  }
  return best;
}

template <class T>
__global__ void max_pool_forward(Window p, const T* x, Geom4 gx, T* y, Geom4 gy, int64_t* idx, Geom4 gi, bool cl,
                                 int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 o = coord4(i, gy.C, gy.H, gy.W, cl);
    const WindowMax<T> best = window_max(p, x, gx, o.n, o.c, o.h, o.w);
    // A window entirely in the padding has no input: -inf and index -1, as the reference.
    y[gy.at(o.n, o.c, o.h, o.w)] = best.index < 0 ? -INFINITY : best.value;
    if (idx) idx[gi.at(o.n, o.c, o.h, o.w)] = best.index;  // null: inference, no backward
  }
}

// gx at input element i of a max pool: the sum of gy over the windows covering it whose argmax
// it is. argmax_of(n, c, oh, ow) gives a window's argmax as ih * W + iw.
template <class T, class Argmax>
__device__ inline void gather_max_gradient(const Window& p, const T* gy, const Geom4& ggy, T* gx, const Geom4& ggx,
                                           bool cl, int32_t i, Argmax argmax_of) {
  const Coord4 q = coord4(i, ggx.C, ggx.H, ggx.W, cl);
  int32_t oh0, oh1, ow0, ow1;
  covering(q.h, p.kh, p.sh, p.ph, ggy.H, oh0, oh1);
  covering(q.w, p.kw, p.sw, p.pw, ggy.W, ow0, ow1);
  const int64_t me = static_cast<int64_t>(q.h) * ggx.W + q.w;
  T acc = 0;
  for (int32_t oh = oh0; oh < oh1; ++oh)
    for (int32_t ow = ow0; ow < ow1; ++ow)
      if (argmax_of(q.n, q.c, oh, ow) == me) acc += gy[ggy.at(q.n, q.c, oh, ow)];
  gx[ggx.at(q.n, q.c, q.h, q.w)] = acc;
}

template <class T>
__global__ void max_pool_backward(Window p, const T* gy, Geom4 ggy, const int64_t* idx, Geom4 gi, T* gx, Geom4 ggx,
                                  bool cl, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    gather_max_gradient(p, gy, ggy, gx, ggx, cl, i,
                        [=](int32_t b, int32_t c, int32_t oh, int32_t ow) { return idx[gi.at(b, c, oh, ow)]; });
  }
}

// The backward from the forward's input (Backend::max_pool2d_backward_from_input): each covering
// window's argmax found again from x instead of read from an index tensor (k^2 windows of k^2
// reads per input element, from cache; no temporaries).
template <class T>
__global__ void max_pool_backward_from_input(Window p, const T* gy, Geom4 ggy, const T* x, Geom4 gxx, T* gx, Geom4 ggx,
                                             bool cl, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    gather_max_gradient(p, gy, ggy, gx, ggx, cl, i, [=](int32_t b, int32_t c, int32_t oh, int32_t ow) {
      return static_cast<int64_t>(window_max(p, x, gxx, b, c, oh, ow).index);
    });
  }
}

template <class T>
__global__ void avg_pool_forward(Window p, const T* x, Geom4 gx, T* y, Geom4 gy, bool cl, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 o = coord4(i, gy.C, gy.H, gy.W, cl);
    T acc = 0;
    for (int32_t kh = 0; kh < p.kh; ++kh) {
      const int32_t ih = o.h * p.sh - p.ph + kh;
      if (ih < 0 || ih >= gx.H) continue;
      for (int32_t kw = 0; kw < p.kw; ++kw) {
        const int32_t iw = o.w * p.sw - p.pw + kw;
        if (iw >= 0 && iw < gx.W) acc += x[gx.at(o.n, o.c, ih, iw)];
      }
    }
    y[gy.at(o.n, o.c, o.h, o.w)] = acc / static_cast<T>(avg_divisor(p, gx.H, gx.W, o.h, o.w));
  }
}

template <class T>
__global__ void avg_pool_backward(Window p, const T* gy, Geom4 ggy, T* gx, Geom4 ggx, bool cl, int32_t n) {
  FIGS_GRID_STRIDE(i, n) {
    const Coord4 q = coord4(i, ggx.C, ggx.H, ggx.W, cl);
    int32_t oh0, oh1, ow0, ow1;
    covering(q.h, p.kh, p.sh, p.ph, ggy.H, oh0, oh1);
    covering(q.w, p.kw, p.sw, p.pw, ggy.W, ow0, ow1);
    T acc = 0;
    for (int32_t oh = oh0; oh < oh1; ++oh)
      for (int32_t ow = ow0; ow < ow1; ++ow)
        acc += gy[ggy.at(q.n, q.c, oh, ow)] / static_cast<T>(avg_divisor(p, ggx.H, ggx.W, oh, ow));
    gx[ggx.at(q.n, q.c, q.h, q.w)] = acc;
  }
}

int grid(int64_t n) { return static_cast<int>(blocks_for(n)); }

}  // namespace

void max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor& indices) {
  const int64_t n = y.numel();
  if (n == 0) return;
  check_index_range("max_pool2d_forward", x);
  use_device_of(x);
  dispatch_floating(x.dtype(), "max_pool2d_forward", [&](auto tag) {
    using T = decltype(tag);
    max_pool_forward<T><<<grid(n), kThreads, 0, current_stream()>>>(
        window(p), x.data<T>(), geom4(x), y.data<T>(), geom4(y), indices.defined() ? indices.data<int64_t>() : nullptr,
        indices.defined() ? geom4(indices) : Geom4{}, channels_fastest(y), static_cast<int32_t>(n));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void max_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& indices, const Tensor& gx) {
  const int64_t n = gx.numel();
  if (n == 0) return;
  check_index_range("max_pool2d_backward", gx);
  use_device_of(gx);
  dispatch_floating(gx.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    max_pool_backward<T><<<grid(n), kThreads, 0, current_stream()>>>(
        window(p), gy.data<T>(), geom4(gy), indices.data<int64_t>(), geom4(indices), gx.data<T>(), geom4(gx),
        channels_fastest(gx), static_cast<int32_t>(n));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gx) {
  const int64_t n = gx.numel();
  if (n == 0) return;
  check_index_range("max_pool2d_backward_from_input", gx);
  use_device_of(gx);
  dispatch_floating(gx.dtype(), "max_pool2d_backward_from_input", [&](auto tag) {
    using T = decltype(tag);
    max_pool_backward_from_input<T><<<grid(n), kThreads, 0, current_stream()>>>(
        window(p), gy.data<T>(), geom4(gy), x.data<T>(), geom4(x), gx.data<T>(), geom4(gx), channels_fastest(gx),
        static_cast<int32_t>(n));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  const int64_t n = y.numel();
  if (n == 0) return;
  check_index_range("avg_pool2d_forward", x);
  use_device_of(x);
  dispatch_floating(x.dtype(), "avg_pool2d_forward", [&](auto tag) {
    using T = decltype(tag);
    avg_pool_forward<T><<<grid(n), kThreads, 0, current_stream()>>>(
        window(p), x.data<T>(), geom4(x), y.data<T>(), geom4(y), channels_fastest(y), static_cast<int32_t>(n));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) {
  const int64_t n = gx.numel();
  if (n == 0) return;
  check_index_range("avg_pool2d_backward", gx);
  use_device_of(gx);
  dispatch_floating(gx.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    avg_pool_backward<T><<<grid(n), kThreads, 0, current_stream()>>>(
        window(p), gy.data<T>(), geom4(gy), gx.data<T>(), geom4(gx), channels_fastest(gx), static_cast<int32_t>(n));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace figs::cuda::kernels

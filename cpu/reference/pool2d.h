// Reference kernels: max and average pooling over (H, W) windows, forward and backward.
// Padding never wins a max (it acts as -infinity); for averages it counts in the divisor only
// when p.count_include_pad (PyTorch's default), and only the part inside the padded input.
#pragma once

#include <algorithm>
#include <limits>
#include <optional>

#include "core/params.h"
#include "core/parallel.h"
#include "cpu/reference/strided.h"

namespace figs::cpu::ref {

template <class T>
void max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor& indices) {
  const Nchw<const T> X(x);
  const Nchw<T> Y(y);
  std::optional<Nchw<int64_t>> I;  // none: inference, no backward
  if (indices.defined()) I.emplace(indices);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / C, c = job % C;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_index = -1;
          for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
            const int64_t ih = oh * p.stride_h - p.pad_h + kh;
            if (ih < 0 || ih >= H) continue;
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t iw = ow * p.stride_w - p.pad_w + kw;
              if (iw < 0 || iw >= W) continue;
              const T v = X(n, c, ih, iw);
              if (best_index < 0 || v > best) {  // first maximum wins ties
                best = v;
                best_index = ih * W + iw;
              }
            }
          }
          Y(n, c, oh, ow) = best;
          if (I) (*I)(n, c, oh, ow) = best_index;
        }
    }
  });
}

template <class T>
void max_pool2d_backward(const Pool2dParams&, const Tensor& gy, const Tensor& indices, const Tensor& gx) {
  const Nchw<const T> GY(gy);
  const Nchw<const int64_t> I(indices);
  const Nchw<T> GX(gx);
  const int64_t N = gx.size(0), C = gx.size(1), H = gx.size(2), W = gx.size(3), OH = gy.size(2), OW = gy.size(3);
  parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / C, c = job % C;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) GX(n, c, h, w) = T(0);
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t idx = I(n, c, oh, ow);
          GX(n, c, idx / W, idx % W) += GY(n, c, oh, ow);
        }
    }
  });
}

// The number that divides a window's sum at output (oh, ow).
inline int64_t avg_pool_divisor(const Pool2dParams& p, int64_t H, int64_t W, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
  const int64_t h1 = std::min(h0 + p.kernel_h, H + p.pad_h), w1 = std::min(w0 + p.kernel_w, W + p.pad_w);
  if (p.count_include_pad) return (h1 - h0) * (w1 - w0);
  return (std::min(h1, H) - std::max<int64_t>(h0, 0)) * (std::min(w1, W) - std::max<int64_t>(w0, 0));
}

template <class T>
void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  const Nchw<const T> X(x);
  const Nchw<T> Y(y);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / C, c = job % C;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          T acc = 0;
          for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
            const int64_t ih = oh * p.stride_h - p.pad_h + kh;
            if (ih < 0 || ih >= H) continue;
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t iw = ow * p.stride_w - p.pad_w + kw;
              if (iw >= 0 && iw < W) acc += X(n, c, ih, iw);
            }
          }
          Y(n, c, oh, ow) = acc / static_cast<T>(avg_pool_divisor(p, H, W, oh, ow));
        }
    }
  });
}

template <class T>
void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) {
  const Nchw<const T> GY(gy);
  const Nchw<T> GX(gx);
  const int64_t N = gx.size(0), C = gx.size(1), H = gx.size(2), W = gx.size(3), OH = gy.size(2), OW = gy.size(3);
  parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / C, c = job % C;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) GX(n, c, h, w) = T(0);
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const T share = GY(n, c, oh, ow) / static_cast<T>(avg_pool_divisor(p, H, W, oh, ow));
          for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
            const int64_t ih = oh * p.stride_h - p.pad_h + kh;
            if (ih < 0 || ih >= H) continue;
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const int64_t iw = ow * p.stride_w - p.pad_w + kw;
              if (iw >= 0 && iw < W) GX(n, c, ih, iw) += share;
            }
          }
        }
    }
  });
}

}  // namespace figs::cpu::ref

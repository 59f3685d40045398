// Reference kernels: 2-d convolution (cross-correlation, as every DL framework), forward and
// both backward passes. One formula covers dense, pointwise, grouped and depthwise convolution:
//
//   y[n, oc, oh, ow] = bias[oc] + sum_{icg, kh, kw} x[n, g * Cg + icg, ih, iw] * w[oc, icg, kh, kw]
//   with g = oc / (C_out / groups), Cg = C_in / groups,
//        ih = oh * S_h - P_h + kh * D_h,  iw = ow * S_w - P_w + kw * D_w  (outside the input = 0).
//
// The backward passes visit exactly the same (output, tap) pairs, so they are the transpose of
// the forward by construction.
#pragma once

#include "core/params.h"
#include "core/parallel.h"
#include "cpu/reference/strided.h"

namespace figs::cpu::ref {

struct ConvGeometry {
  int64_t N, C_in, H, W, C_out, KH, KW, OH, OW, groups, cin_per_group, cout_per_group;
  ConvGeometry(const Conv2dParams& p, const Shape& x, const Shape& w, const Shape& y)
      : N(x[0]), C_in(x[1]), H(x[2]), W(x[3]), C_out(w[0]), KH(w[2]), KW(w[3]), OH(y[2]),
        OW(y[3]), groups(p.groups), cin_per_group(x[1] / p.groups), cout_per_group(w[0] / p.groups) {}
};

// Calls fn(ih, iw, kh, kw) for every kernel tap of output (oh, ow) that lands inside the input.
template <class Fn>
inline void for_each_tap(const Conv2dParams& p, const ConvGeometry& g, int64_t oh, int64_t ow, Fn&& fn) {
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
      if (iw < 0 || iw >= g.W) continue;
      fn(ih, iw, kh, kw);
    }
  }
}

template <class T>
void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                    const Tensor& y) {
  const ConvGeometry g(p, x.shape(), w.shape(), y.shape());
  const Nchw<const T> X(x), Wt(w);
  const Nchw<T> Y(y);
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  const int64_t b_stride = bias.defined() ? bias.stride(0) : 0;
  parallel_for(0, g.N * g.C_out, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / g.C_out, oc = job % g.C_out;
      const int64_t ic0 = (oc / g.cout_per_group) * g.cin_per_group;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          T acc = b ? b[oc * b_stride] : T(0);
          for (int64_t icg = 0; icg < g.cin_per_group; ++icg)
            for_each_tap(p, g, oh, ow, [&](int64_t ih, int64_t iw, int64_t kh, int64_t kw) {
              acc += X(n, ic0 + icg, ih, iw) * Wt(oc, icg, kh, kw);
            });
          Y(n, oc, oh, ow) = acc;
        }
    }
  });
}

// gx = conv2d_forward^T (gy). Parallel over the batch: each n writes its own slice of gx.
template <class T>
void conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  const ConvGeometry g(p, gx.shape(), w.shape(), gy.shape());
  const Nchw<const T> GY(gy), Wt(w);
  const Nchw<T> GX(gx);
  parallel_for(0, g.N, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t c = 0; c < g.C_in; ++c)
        for (int64_t h = 0; h < g.H; ++h)
          for (int64_t wi = 0; wi < g.W; ++wi) GX(n, c, h, wi) = T(0);
      for (int64_t oc = 0; oc < g.C_out; ++oc) {
        const int64_t ic0 = (oc / g.cout_per_group) * g.cin_per_group;
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const T dy = GY(n, oc, oh, ow);
            for (int64_t icg = 0; icg < g.cin_per_group; ++icg)
              for_each_tap(p, g, oh, ow, [&](int64_t ih, int64_t iw, int64_t kh, int64_t kw) {
                GX(n, ic0 + icg, ih, iw) += dy * Wt(oc, icg, kh, kw);
              });
          }
      }
    }
  });
}

// gw[oc, icg, kh, kw] = sum over n, oh, ow of gy * x at the tap; gbias[oc] = sum of gy.
// Parallel over output channels: each oc owns its slice of gw and gbias.
template <class T>
void conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x,
                            const Tensor& gw, const Tensor& gbias) {
  const ConvGeometry g(p, x.shape(), gw.shape(), gy.shape());
  const Nchw<const T> GY(gy), X(x);
  const Nchw<T> GW(gw);
  T* gb = gbias.defined() ? gbias.data<T>() : nullptr;
  const int64_t gb_stride = gbias.defined() ? gbias.stride(0) : 0;
  parallel_for(0, g.C_out, 1, [&](int64_t begin, int64_t end) {
    for (int64_t oc = begin; oc < end; ++oc) {
      const int64_t ic0 = (oc / g.cout_per_group) * g.cin_per_group;
      for (int64_t icg = 0; icg < g.cin_per_group; ++icg)
        for (int64_t kh = 0; kh < g.KH; ++kh)
          for (int64_t kw = 0; kw < g.KW; ++kw) GW(oc, icg, kh, kw) = T(0);
      T bias_acc = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const T dy = GY(n, oc, oh, ow);
            bias_acc += dy;
            for (int64_t icg = 0; icg < g.cin_per_group; ++icg)
              for_each_tap(p, g, oh, ow, [&](int64_t ih, int64_t iw, int64_t kh, int64_t kw) {
                GW(oc, icg, kh, kw) += dy * X(n, ic0 + icg, ih, iw);
              });
          }
      if (gb) gb[oc * gb_stride] = bias_acc;
    }
  });
}

}  // namespace figs::cpu::ref

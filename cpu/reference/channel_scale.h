// Reference kernel: backward of the per-channel scale y[n, c, h, w] = x[n, c, h, w] * scale[c]
// (the FiGS mask multiply):  gx = gy * scale[c],  gscale[c] = sum_{n,h,w} gy * x.
#pragma once

#include "core/parallel.h"
#include "cpu/reference/strided.h"

namespace figs::cpu::ref {

template <class T>
void channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                            const Tensor& gscale) {
  const Nchw<const T> GY(gy), X(x);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const T* s = scale.data<T>();
  T* gs = gscale.data<T>();
  const bool want_gx = gx.defined();
  const Nchw<T> GX(want_gx ? gx : gy);  // only written when want_gx
  parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) {
            acc += static_cast<double>(GY(n, c, h, w)) * X(n, c, h, w);
            if (want_gx) GX(n, c, h, w) = GY(n, c, h, w) * s[c * scale.stride(0)];
          }
      gs[c * gscale.stride(0)] = static_cast<T>(acc);
    }
  });
}

}  // namespace figs::cpu::ref

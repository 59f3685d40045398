// The fused FiGS mask backward, one pass over gy and x (Backend::channel_scale_backward):
//   gx[n, c, h, w] = gy[n, c, h, w] * scale[c]      (when gx is defined)
//   gscale[c]      = sum over (n, h, w) of gy * x
// on the per-channel reduction of channel_reduce.cuh: each thread, while folding gy * x into
// its channel's sum, writes the gx elements it read gy for, so gy and x are read once and gx
// written once (the minimum traffic). The thread mapping follows gy's layout: channels-last
// coalesces over channels, NCHW over positions; any other strides are honoured, just slower.
#include "cuda/channel_reduce.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

template <class T>
struct ScaleBackwardFold {
  const T *gy, *x, *scale;
  T* gx;  // null: no input gradient wanted
  Geom4 ggy, gxin, ggx;
  int64_t scale_stride;
  __device__ void operator()(int32_t n, int32_t c, int32_t h, int32_t w, T (&acc)[1]) const {
    const T g = gy[ggy.at(n, c, h, w)];
    acc[0] += g * x[gxin.at(n, c, h, w)];
    if (gx) gx[ggx.at(n, c, h, w)] = g * scale[c * scale_stride];
  }
};

template <class T>
struct StoreChannel {
  T* out;
  int64_t stride;
  __device__ void operator()(int32_t c, const T (&sums)[1]) const { out[c * stride] = sums[0]; }
};

}  // namespace

void channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                            const Tensor& gscale) {
  check_index_range("channel_scale_backward", x);
  use_device_of(x);
  dispatch_floating(x.dtype(), "channel_scale_backward", [&](auto tag) {
    using T = decltype(tag);
    const ScaleBackwardFold<T> fold{gy.data<T>(), x.data<T>(), scale.data<T>(), gx.defined() ? gx.data<T>() : nullptr,
                                    geom4(gy), geom4(x), gx.defined() ? geom4(gx) : geom4(gy), scale.stride(0)};
    channel_reduce<1, T>(geom4(gy), channels_fastest(gy), fold, StoreChannel<T>{gscale.data<T>(), gscale.stride(0)},
                         x.device().index);
  });
}

}  // namespace figs::cuda::kernels

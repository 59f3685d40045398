// The FiGS mask's per-channel values on the GPU (Backend::mask_values, mask_values_backward):
// one thread per channel draws the Logistic noise from the Philox key and computes m and
// sigmoid'(a) in float64 with the same code as the CPU (core/mask_math.h), so a CUDA search step
// neither draws noise on the host nor copies the logits there and back. C is a few hundred at
// most: these launches cost their latency, not bandwidth.
#include "core/mask_math.h"
#include "cuda/device.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

template <class T>
__global__ void mask_values_kernel(MaskParams given_p, const T* logits, int64_t logits_stride, const double* noise,
                                   int64_t noise_stride, T* m, int64_t m_stride, double* slope, int64_t slope_stride,
                                   int32_t channels) {
  const MaskParams p = resolved(given_p, channels);  // Note [Step values on the device]
  const bool training = p.mode == MaskMode::Relaxed || p.mode == MaskMode::StraightThrough;
  FIGS_GRID_STRIDE(c, channels) {
    const double l = !training ? 0.0
                     : noise   ? noise[c * noise_stride]
                               : mask_math::logistic_noise(p.seed, p.stream, p.counter + static_cast<uint64_t>(c));
    const mask_math::MaskValue v = mask_math::mask_value(p.mode, p.tau, static_cast<double>(logits[c * logits_stride]), l);
    m[c * m_stride] = static_cast<T>(v.m);
    slope[c * slope_stride] = v.slope;
  }
}

template <class T>
__global__ void mask_values_backward_kernel(MaskParams p, const T* gm, int64_t gm_stride, const double* slope,
                                            int64_t slope_stride, T* glogits, int64_t glogits_stride,
                                            int32_t channels) {
  const double tau = resolved(p, channels).tau;
  FIGS_GRID_STRIDE(c, channels) {
    glogits[c * glogits_stride] =
        static_cast<T>(mask_math::logit_grad(static_cast<double>(gm[c * gm_stride]), slope[c * slope_stride], tau));
  }
}

}  // namespace

void mask_values(const MaskParams& p, const Tensor& logits, const Tensor& noise, const Tensor& m, const Tensor& slope) {
  const int64_t C = logits.size(0);
  FIGS_CHECK(C < (int64_t{1} << 31), "mask_values: ", C, " channels is too many for one launch");
  if (C == 0) return;
  use_device_of(logits);
  dispatch_floating(logits.dtype(), "mask_values", [&](auto tag) {
    using T = decltype(tag);
    mask_values_kernel<T><<<static_cast<int>(blocks_for(C)), kThreads, 0, current_stream()>>>(
        p, logits.data<T>(), logits.stride(0), noise.defined() ? noise.data<double>() : nullptr,
        noise.defined() ? noise.stride(0) : 0, m.data<T>(), m.stride(0), slope.data<double>(), slope.stride(0),
        static_cast<int32_t>(C));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void mask_values_backward(const MaskParams& p, const Tensor& gm, const Tensor& slope, const Tensor& glogits) {
  const int64_t C = gm.size(0);
  if (C == 0) return;
  use_device_of(gm);
  dispatch_floating(gm.dtype(), "mask_values_backward", [&](auto tag) {
    using T = decltype(tag);
    mask_values_backward_kernel<T><<<static_cast<int>(blocks_for(C)), kThreads, 0, current_stream()>>>(
        p, gm.data<T>(), gm.stride(0), slope.data<double>(), slope.stride(0), glogits.data<T>(),
        glogits.stride(0), static_cast<int32_t>(C));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace figs::cuda::kernels

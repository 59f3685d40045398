#include "cuda/noise.h"

#include "cuda/device.cuh"

namespace figs::cuda {

namespace {

__global__ void logistic_noise_kernel(double* out, int32_t n, RngDraw draw) {
  FIGS_GRID_STRIDE(c, n) {
    const PhiloxBlock b = philox_draw(draw.seed, draw.stream, draw.counter + static_cast<uint64_t>(c));
    const double u = uniform_open_f64(b.w[0], b.w[1]);
    out[c] = log(u) - log1p(-u);
  }
}

}  // namespace

Tensor logistic_noise_device(int64_t channels, const RngDraw& draw, Device device) {
  FIGS_CHECK(channels >= 0 && channels < (int64_t{1} << 31), "logistic_noise_device: bad channel count ", channels);
  FIGS_CHECK(device.is_cuda(), "logistic_noise_device: a CUDA device is needed, got ", device);
  Tensor out = empty({channels}, {DType::Float64, device});
  if (channels == 0) return out;
  use_device_of(out);
  logistic_noise_kernel<<<static_cast<int>(blocks_for(channels)), kThreads, 0, current_stream()>>>(out.data<double>(),
                                                                             static_cast<int32_t>(channels), draw);
  FIGS_CUDA_CHECK_LAUNCH();
  return out;
}

}  // namespace figs::cuda

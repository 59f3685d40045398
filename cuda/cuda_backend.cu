// The CUDA backend: device memory (the caching allocator of cuda/allocator.h), copies, fills
// and the counter-based random fills live here; the compute kernels live in one file per op
// family (cuda/kernels.h lists them) and this class only routes each Backend method to one.
// Every kernel runs on the legacy default stream of the tensor's device (the allocator's
// reuse invariant).
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/backend.h"
#include "core/rng.h"
#include "cuda/check.h"
#include "cuda/cuda.h"
#include "cuda/device.cuh"
#include "cuda/kernels.h"
#include "cuda/pinned.h"

namespace figs::cuda {

int sm_count() {
  int device = 0;
  FIGS_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mutex;
  static std::vector<int> counts;  // per device; 0 = not asked yet
  std::lock_guard<std::mutex> lock(mutex);
  if (static_cast<int>(counts.size()) <= device) counts.resize(device + 1, 0);
  if (counts[device] == 0)
    FIGS_CUDA_CHECK(cudaDeviceGetAttribute(&counts[device], cudaDevAttrMultiProcessorCount, device));
  return counts[device];
}

namespace {

template <class S, class D>
__global__ void copy_strided_kernel(const S* src, StridedLayout ls, D* dst, StridedLayout ld, int32_t n) {
  FIGS_GRID_STRIDE(i, n) dst[offset_of(i, ld)] = static_cast<D>(src[offset_of(i, ls)]);
}

template <class T>
__global__ void fill_kernel(T* out, StridedLayout l, int32_t n, T value) {
  FIGS_GRID_STRIDE(i, n) out[offset_of(i, l)] = value;
}

// Same numbers as cpu/reference/elementwise.h: element i uses block (seed, stream, counter + i).
// The _rn intrinsics stop nvcc from contracting into FMAs, which would round differently.
template <class T>
__global__ void fill_uniform_kernel(T* out, StridedLayout l, int32_t n, RngDraw draw, double low, double high) {
  FIGS_GRID_STRIDE(i, n) {
    const PhiloxBlock b = philox_draw(draw.seed, draw.stream, draw.counter + static_cast<uint64_t>(i));
    const double u = sizeof(T) == 4 ? uniform_open_f32(b.w[0]) : uniform_open_f64(b.w[0], b.w[1]);
    out[offset_of(i, l)] = static_cast<T>(__dadd_rn(low, __dmul_rn(high - low, u)));
  }
}

template <class T>
__global__ void fill_normal_kernel(T* out, StridedLayout l, int32_t n, RngDraw draw, double mean, double stddev) {
  FIGS_GRID_STRIDE(i, n) {
    const PhiloxBlock b = philox_draw(draw.seed, draw.stream, draw.counter + static_cast<uint64_t>(i));
    double u1, u2;
    if (sizeof(T) == 4) {
      u1 = uniform_open_f32(b.w[0]);
      u2 = uniform_open_f32(b.w[1]);
    } else {
      u1 = uniform_open_f64(b.w[0], b.w[1]);
      u2 = uniform_open_f64(b.w[2], b.w[3]);
    }
    const double z = sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
    out[offset_of(i, l)] = static_cast<T>(__dadd_rn(mean, __dmul_rn(stddev, z)));
  }
}

int grid(int64_t n) { return static_cast<int>(blocks_for(n)); }

template <class Fn>
void dispatch_all(DType t, Fn&& fn) {
  switch (t) {
    case DType::Float32: fn(float{}); break;
    case DType::Float64: fn(double{}); break;
    case DType::Int64: fn(int64_t{}); break;
  }
}

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }
  DeviceType device_type() const override { return DeviceType::CUDA; }

  std::shared_ptr<Storage> allocate(size_t nbytes, Device device) override {
    const int visible = device_count();
    FIGS_CHECK(device.index >= 0 && device.index < visible, "cuda: no device ", device, " (", visible,
               " CUDA devices visible)");
    return allocate_device(nbytes, device.index);
  }

  void copy(const Tensor& src, const Tensor& dst) override {
    const int64_t n = dst.numel();
    if (n == 0) return;
    use_device_of(dst);
    if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
      FIGS_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), n * dtype_size(src.dtype()),
                                      cudaMemcpyDeviceToDevice, current_stream()));
      return;
    }
    dispatch_all(src.dtype(), [&](auto s_tag) {
      using S = decltype(s_tag);
      dispatch_all(dst.dtype(), [&](auto d_tag) {
        using D = decltype(d_tag);
        check_index_range("copy", dst);
        copy_strided_kernel<S, D><<<grid(n), kThreads, 0, current_stream()>>>(
            src.data<S>(), layout_of(src), dst.data<D>(), layout_of(dst), static_cast<int32_t>(n));
        FIGS_CUDA_CHECK_LAUNCH();
      });
    });
  }

  // From pinned memory (cuda/pinned.h: the loader's batches on a CUDA run) the copy is enqueued
  // on the current stream and the host goes on; the block is kept from reuse until the copy
  // is done. From pageable memory cudaMemcpy returns once the source has been read.
  void copy_from_host(const Tensor& host_src, const Tensor& dst) override {
    const size_t nbytes = host_src.numel() * dtype_size(host_src.dtype());
    if (is_pinned(host_src.raw_data())) {
      FIGS_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), host_src.raw_data(), nbytes, cudaMemcpyHostToDevice,
                                      current_stream()));
      record_pinned_use(host_src.raw_data());
      return;
    }
    note_host_sync();
    FIGS_CUDA_CHECK(cudaMemcpy(dst.raw_data(), host_src.raw_data(), nbytes, cudaMemcpyHostToDevice));
  }

  void copy_to_host(const Tensor& src, const Tensor& host_dst) override {
    note_host_sync();
    FIGS_CUDA_CHECK(cudaMemcpy(host_dst.raw_data(), src.raw_data(), src.numel() * dtype_size(src.dtype()),
                               cudaMemcpyDeviceToHost));
  }

  void fill(const Tensor& out, double value) override {
    if (!prepare("fill", out)) return;
    dispatch_all(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      fill_kernel<T><<<grid(out.numel()), kThreads, 0, current_stream()>>>(
          out.data<T>(), layout_of(out), static_cast<int32_t>(out.numel()), static_cast<T>(value));
      FIGS_CUDA_CHECK_LAUNCH();
    });
  }

  void fill_uniform(const Tensor& out, const RngDraw& draw, double low, double high) override {
    if (!prepare("fill_uniform", out)) return;
    dispatch_floating(out.dtype(), "fill_uniform", [&](auto tag) {
      using T = decltype(tag);
      fill_uniform_kernel<T><<<grid(out.numel()), kThreads, 0, current_stream()>>>(out.data<T>(), layout_of(out),
                                                              static_cast<int32_t>(out.numel()), draw, low, high);
      FIGS_CUDA_CHECK_LAUNCH();
    });
  }

  void fill_normal(const Tensor& out, const RngDraw& draw, double mean, double stddev) override {
    if (!prepare("fill_normal", out)) return;
    dispatch_floating(out.dtype(), "fill_normal", [&](auto tag) {
      using T = decltype(tag);
      fill_normal_kernel<T><<<grid(out.numel()), kThreads, 0, current_stream()>>>(out.data<T>(), layout_of(out),
                                                             static_cast<int32_t>(out.numel()), draw, mean, stddev);
      FIGS_CUDA_CHECK_LAUNCH();
    });
  }

  // --- compute: one kernel file per family (cuda/kernels.h) ------------------------------------
  void unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) override {
    kernels::unary(op, alpha, x, y);
  }
  void unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy,
                      const Tensor& gx) override {
    kernels::unary_backward(op, alpha, x, y, gy, gx);
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override {
    kernels::binary(op, a, b, out);
  }
  void sum(const Tensor& x, const Tensor& out) override { kernels::sum(x, out); }
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out) override { kernels::matmul(a, b, out); }

  // Depthwise on the own kernels, everything else on cuDNN.
  void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                      const Tensor& y) override {
    if (kernels::is_depthwise(p, x, w))
      kernels::depthwise_conv2d_forward(p, x, w, bias, y);
    else
      kernels::cudnn_conv2d_forward(p, x, w, bias, y);
  }
  void conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx) override {
    if (kernels::is_depthwise(p, gx, w))
      kernels::depthwise_conv2d_backward_data(p, gy, w, gx);
    else
      kernels::cudnn_conv2d_backward_data(p, gy, w, gx);
  }
  void conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                              const Tensor& gbias) override {
    if (kernels::is_depthwise(p, x, gw))
      kernels::depthwise_conv2d_backward_weight(p, gy, x, gw, gbias);
    else
      kernels::cudnn_conv2d_backward_weight(p, gy, x, gw, gbias);
  }

  void max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor& indices) override {
    kernels::max_pool2d_forward(p, x, y, indices);
  }
  void max_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& indices,
                           const Tensor& gx) override {
    kernels::max_pool2d_backward(p, gy, indices, gx);
  }
  void max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x,
                                      const Tensor& gx) override {
    kernels::max_pool2d_backward_from_input(p, gy, x, gx);
  }
  void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) override {
    kernels::avg_pool2d_forward(p, x, y);
  }
  void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) override {
    kernels::avg_pool2d_backward(p, gy, gx);
  }

  void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                                   const Tensor& save_mean, const Tensor& save_invstd) override {
    kernels::batch_norm_forward_training(p, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd);
  }
  void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                    const Tensor& y) override {
    kernels::batch_norm_forward_inference(p, x, gamma, beta, running_mean, running_var, y);
  }
  void batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                           const Tensor& beta, const Tensor& mean, const Tensor& invstd, const Tensor& gx,
                           const Tensor& ggamma, const Tensor& gbeta) override {
    kernels::batch_norm_backward(p, gy, x, gamma, beta, mean, invstd, gx, ggamma, gbeta);
  }

  void csr_matvec(const Tensor& row_ptr, const Tensor& col, const Tensor& val, const Tensor& x,
                  const Tensor& y) override {
    kernels::csr_matvec(row_ptr, col, val, x, y);
  }
  void mask_values(const MaskParams& p, const Tensor& logits, const Tensor& noise, const Tensor& m,
                   const Tensor& slope) override {
    kernels::mask_values(p, logits, noise, m, slope);
  }
  void mask_values_backward(const MaskParams& p, const Tensor& gm, const Tensor& slope,
                            const Tensor& glogits) override {
    kernels::mask_values_backward(p, gm, slope, glogits);
  }

  void channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                              const Tensor& gscale) override {
    kernels::channel_scale_backward(gy, x, scale, gx, gscale);
  }

  void log_softmax_forward(const Tensor& x, const Tensor& y) override { kernels::log_softmax_forward(x, y); }
  void log_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx) override {
    kernels::log_softmax_backward(y, gy, gx);
  }
  void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing,
                             const Tensor& loss) override {
    kernels::cross_entropy_forward(logits, labels, smoothing, loss);
  }
  void cross_entropy_backward(const Tensor& logits, const Tensor& labels, double smoothing, const Tensor& gloss,
                              const Tensor& glogits) override {
    kernels::cross_entropy_backward(logits, labels, smoothing, gloss, glogits);
  }

  // Optimizer updates (cuda/optim.cu).
  void sgd_step(const SgdStepParams& p, const Tensor& params, const Tensor& grads, const Tensor& momentum,
                int64_t begin, int64_t end) override {
    kernels::sgd_step(p, params, grads, momentum, begin, end);
  }
  void adam_step(const AdamStepParams& p, const Tensor& params, const Tensor& grads, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, int64_t begin, int64_t end) override {
    kernels::adam_step(p, params, grads, exp_avg, exp_avg_sq, begin, end);
  }
  double sum_squares(const Tensor& x) override { return kernels::sum_squares(x); }

 private:
  // Selects out's device and checks the 32-bit index range; false when there is nothing to do.
  static bool prepare(const char* kernel, const Tensor& out) {
    if (out.numel() == 0) return false;
    check_index_range(kernel, out);
    use_device_of(out);
    return true;
  }
};

CudaBackend& cuda_backend() {
  static CudaBackend instance;
  return instance;
}

const bool registered = [] {
  register_backend(DeviceType::CUDA, &cuda_backend());
  return true;
}();

}  // namespace

int device_count() {
  int n = 0;
  // No driver or no device is "zero devices", not an error.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}

bool is_available() { return device_count() > 0; }

namespace {
std::atomic<int64_t> g_host_syncs{0};
std::atomic<bool> g_tf32{true};
}  // namespace
void set_tf32(bool allow) { g_tf32.store(allow, std::memory_order_relaxed); }
bool tf32() { return g_tf32.load(std::memory_order_relaxed); }
void note_host_sync() { g_host_syncs.fetch_add(1, std::memory_order_relaxed); }
int64_t host_syncs() { return g_host_syncs.load(std::memory_order_relaxed); }

std::string device_name(int index) {
  FIGS_CHECK(index >= 0 && index < device_count(), "cuda::device_name: no CUDA device ", index, " (",
             device_count(), " visible)");
  cudaDeviceProp prop{};
  FIGS_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return str_cat(prop.name, " (sm_", prop.major, prop.minor, ")");
}

}  // namespace figs::cuda

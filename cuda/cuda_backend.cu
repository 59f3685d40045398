// The CUDA backend: device memory, copies, fills and the counter-based random fills.
//
// Compute kernels (depthwise conv, the fused mask, cuDNN/cuBLAS paths, ...) come with the CUDA
// backend issue; until then those kernels throw "the cuda backend has no kernel for it yet"
// (core/backend.cpp) rather than running anywhere else.
#include <cuda_runtime.h>

#include <cstdint>

#include "core/backend.h"
#include "core/rng.h"
#include "cuda/check.h"
#include "cuda/cuda.h"

namespace figs::cuda {

namespace {

// Shape and strides of one tensor, passed by value to kernels.
struct StridedLayout {
  int rank;
  int64_t shape[Dims::kMaxRank];
  int64_t strides[Dims::kMaxRank];
};

StridedLayout layout_of(const Tensor& t) {
  StridedLayout l{};
  l.rank = t.dim();
  for (int d = 0; d < t.dim(); ++d) {
    l.shape[d] = t.shape()[d];
    l.strides[d] = t.strides()[d];
  }
  return l;
}

// Element offset of logical row-major index i.
__device__ int64_t offset_of(int64_t i, const StridedLayout& l) {
  int64_t off = 0;
  for (int d = l.rank - 1; d >= 0; --d) {
    off += (i % l.shape[d]) * l.strides[d];
    i /= l.shape[d];
  }
  return off;
}

constexpr int kThreads = 256;
int blocks_for(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

template <class S, class D>
__global__ void copy_strided_kernel(const S* src, StridedLayout ls, D* dst, StridedLayout ld, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[offset_of(i, ld)] = static_cast<D>(src[offset_of(i, ls)]);
}

template <class T>
__global__ void fill_kernel(T* out, StridedLayout l, int64_t n, T value) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[offset_of(i, l)] = value;
}

// Same numbers as cpu/reference/elementwise.h: element i uses block (seed, stream, counter + i).
// The _rn intrinsics stop nvcc from contracting into FMAs, which would round differently.
template <class T>
__global__ void fill_uniform_kernel(T* out, StridedLayout l, int64_t n, RngDraw draw, double low, double high) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const PhiloxBlock b = philox_draw(draw.seed, draw.stream, draw.counter + i);
  const double u = sizeof(T) == 4 ? uniform_open_f32(b.w[0]) : uniform_open_f64(b.w[0], b.w[1]);
  out[offset_of(i, l)] = static_cast<T>(__dadd_rn(low, __dmul_rn(high - low, u)));
}

template <class T>
__global__ void fill_normal_kernel(T* out, StridedLayout l, int64_t n, RngDraw draw, double mean, double stddev) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const PhiloxBlock b = philox_draw(draw.seed, draw.stream, draw.counter + i);
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
    FIGS_CUDA_CHECK(cudaSetDevice(device.index));
    void* p = nullptr;
    if (nbytes > 0) FIGS_CUDA_CHECK(cudaMalloc(&p, nbytes));
    return std::make_shared<Storage>(p, nbytes, device, [device](void* q) {
      if (q == nullptr) return;
      cudaSetDevice(device.index);
      cudaFree(q);  // a destructor cannot throw; a failed free leaks rather than aborts
    });
  }

  void copy(const Tensor& src, const Tensor& dst) override {
    const int64_t n = dst.numel();
    if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
      FIGS_CUDA_CHECK(cudaMemcpy(dst.raw_data(), src.raw_data(), n * dtype_size(src.dtype()),
                                 cudaMemcpyDeviceToDevice));
      return;
    }
    dispatch_all(src.dtype(), [&](auto s_tag) {
      using S = decltype(s_tag);
      dispatch_all(dst.dtype(), [&](auto d_tag) {
        using D = decltype(d_tag);
        copy_strided_kernel<S, D><<<blocks_for(n), kThreads>>>(src.data<S>(), layout_of(src), dst.data<D>(),
                                                               layout_of(dst), n);
        FIGS_CUDA_CHECK_LAUNCH();
      });
    });
  }

  void copy_from_host(const Tensor& host_src, const Tensor& dst) override {
    FIGS_CUDA_CHECK(cudaMemcpy(dst.raw_data(), host_src.raw_data(), host_src.numel() * dtype_size(host_src.dtype()),
                               cudaMemcpyHostToDevice));
  }

  void copy_to_host(const Tensor& src, const Tensor& host_dst) override {
    FIGS_CUDA_CHECK(cudaMemcpy(host_dst.raw_data(), src.raw_data(), src.numel() * dtype_size(src.dtype()),
                               cudaMemcpyDeviceToHost));
  }

  void fill(const Tensor& out, double value) override {
    dispatch_all(out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      fill_kernel<T><<<blocks_for(out.numel()), kThreads>>>(out.data<T>(), layout_of(out), out.numel(),
                                                            static_cast<T>(value));
      FIGS_CUDA_CHECK_LAUNCH();
    });
  }

  void fill_uniform(const Tensor& out, const RngDraw& draw, double low, double high) override {
    dispatch_floating(out.dtype(), "fill_uniform", [&](auto tag) {
      using T = decltype(tag);
      fill_uniform_kernel<T><<<blocks_for(out.numel()), kThreads>>>(out.data<T>(), layout_of(out), out.numel(),
                                                                    draw, low, high);
      FIGS_CUDA_CHECK_LAUNCH();
    });
  }

  void fill_normal(const Tensor& out, const RngDraw& draw, double mean, double stddev) override {
    dispatch_floating(out.dtype(), "fill_normal", [&](auto tag) {
      using T = decltype(tag);
      fill_normal_kernel<T><<<blocks_for(out.numel()), kThreads>>>(out.data<T>(), layout_of(out), out.numel(),
                                                                   draw, mean, stddev);
      FIGS_CUDA_CHECK_LAUNCH();
    });
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

std::string device_name(int index) {
  FIGS_CHECK(index >= 0 && index < device_count(), "cuda::device_name: no CUDA device ", index, " (",
             device_count(), " visible)");
  cudaDeviceProp prop{};
  FIGS_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return str_cat(prop.name, " (sm_", prop.major, prop.minor, ")");
}

}  // namespace figs::cuda

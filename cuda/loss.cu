// log_softmax over dim 1 of (N, K) and the fused cross-entropy (cpu/reference/softmax.h).
// One warp per row: K (classes) is small to moderate (10 to 1000), so a warp's 32 lanes stride
// over the row and combine with shuffles; 8 rows per 256-thread block. The loss's mean over
// rows is a second, single-block pass in a fixed order (deterministic).
#include <cmath>

#include "cuda/device.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

constexpr int kRowsPerBlock = kThreads / 32;

struct Mat {
  int32_t rows, cols;
  int64_t sr, sc;
  __device__ int64_t at(int32_t r, int32_t c) const { return r * sr + c * sc; }
};
Mat mat(const Tensor& t) {
  return {static_cast<int32_t>(t.size(0)), static_cast<int32_t>(t.size(1)), t.stride(0), t.stride(1)};
}

template <class T>
__device__ inline T all_lanes(T v) {
  return __shfl_sync(0xffffffffu, v, 0);
}

// log-sum-exp of row r, the same value in every lane of the warp.
template <class T>
__device__ T row_lse(const T* x, const Mat& m, int32_t r, int lane) {
  T mx = -INFINITY;
  for (int32_t k = lane; k < m.cols; k += 32) mx = max(mx, x[m.at(r, k)]);
  mx = all_lanes(warp_max(mx));
  T s = 0;
  for (int32_t k = lane; k < m.cols; k += 32) s += exp(x[m.at(r, k)] - mx);
  return mx + log(all_lanes(warp_sum(s)));
}

#define FIGS_ROW_PER_WARP(r, rows)                                                     \
  const int lane = threadIdx.x % 32;                                                   \
  const int32_t r = static_cast<int32_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; \
  if (r >= (rows)) return;

template <class T>
__global__ void log_softmax_forward_kernel(const T* x, Mat mx, T* y, Mat my) {
  FIGS_ROW_PER_WARP(r, mx.rows);
  const T lse = row_lse(x, mx, r, lane);
  for (int32_t k = lane; k < mx.cols; k += 32) y[my.at(r, k)] = x[mx.at(r, k)] - lse;
}

template <class T>
__global__ void log_softmax_backward_kernel(const T* y, Mat my, const T* gy, Mat mgy, T* gx, Mat mgx) {
  FIGS_ROW_PER_WARP(r, my.rows);
  T s = 0;
  for (int32_t k = lane; k < my.cols; k += 32) s += gy[mgy.at(r, k)];
  s = all_lanes(warp_sum(s));
  for (int32_t k = lane; k < my.cols; k += 32) gx[mgx.at(r, k)] = gy[mgy.at(r, k)] - exp(y[my.at(r, k)]) * s;
}

template <class T>
__global__ void cross_entropy_rows_kernel(const T* x, Mat m, const int64_t* labels, int64_t ls, T smoothing,
                                          T* row_loss) {
  FIGS_ROW_PER_WARP(r, m.rows);
  const T lse = row_lse(x, m, r, lane);
  T row = 0;
  if (smoothing != T(0)) {
    for (int32_t k = lane; k < m.cols; k += 32) row += x[m.at(r, k)];
    row = all_lanes(warp_sum(row));
  }
  if (lane == 0) {
    // A label outside [0, cols) gives NaN (autograd/ops/loss.cpp: device labels are not checked
    // on the host), never a read outside the row.
    const int64_t label = labels[r * ls];
    const bool valid = label >= 0 && label < m.cols;
    const T target = valid ? (T(1) - smoothing) * x[m.at(r, static_cast<int32_t>(label))] + smoothing / m.cols * row
                           : T(0);
    row_loss[r] = valid ? lse - target : static_cast<T>(NAN);
  }
}

// One block of (1, 256) threads: loss = sum(row_loss) / N.
template <class T>
__global__ void mean_kernel(const T* v, int32_t n, T* out) {
  __shared__ T smem[kThreads];
  T s = 0;
  for (int32_t i = threadIdx.y; i < n; i += blockDim.y) s += v[i];
  s = sum_over_lanes(s, smem);
  if (threadIdx.y == 0) *out = s / n;
}

template <class T>
__global__ void cross_entropy_backward_kernel(const T* x, Mat m, const int64_t* labels, int64_t ls, T smoothing,
                                              const T* gloss, T* g, Mat mg) {
  FIGS_ROW_PER_WARP(r, m.rows);
  const T lse = row_lse(x, m, r, lane);
  const T scale = *gloss / m.rows;
  const int64_t label = labels[r * ls];
  const bool valid = label >= 0 && label < m.cols;  // else NaN, as the forward
  for (int32_t k = lane; k < m.cols; k += 32) {
    const T q = (k == label ? T(1) - smoothing : T(0)) + smoothing / m.cols;
    g[mg.at(r, k)] = valid ? (exp(x[m.at(r, k)] - lse) - q) * scale : static_cast<T>(NAN);
  }
}

int row_blocks(int64_t rows) { return static_cast<int>((rows + kRowsPerBlock - 1) / kRowsPerBlock); }

}  // namespace

void log_softmax_forward(const Tensor& x, const Tensor& y) {
  if (x.numel() == 0) return;
  check_index_range("log_softmax_forward", x);
  use_device_of(x);
  dispatch_floating(x.dtype(), "log_softmax_forward", [&](auto tag) {
    using T = decltype(tag);
    log_softmax_forward_kernel<T><<<row_blocks(x.size(0)), kThreads, 0, current_stream()>>>(
        x.data<T>(), mat(x), y.data<T>(), mat(y));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void log_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx) {
  if (y.numel() == 0) return;
  check_index_range("log_softmax_backward", y);
  use_device_of(y);
  dispatch_floating(y.dtype(), "log_softmax_backward", [&](auto tag) {
    using T = decltype(tag);
    log_softmax_backward_kernel<T><<<row_blocks(y.size(0)), kThreads, 0, current_stream()>>>(
        y.data<T>(), mat(y), gy.data<T>(), mat(gy), gx.data<T>(), mat(gx));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing, const Tensor& loss) {
  check_index_range("cross_entropy_forward", logits);
  use_device_of(logits);
  const int64_t N = logits.size(0);
  dispatch_floating(logits.dtype(), "cross_entropy_forward", [&](auto tag) {
    using T = decltype(tag);
    DeviceBuffer<T> rows(N, logits.device().index);
    if (N > 0) {
      cross_entropy_rows_kernel<T><<<row_blocks(N), kThreads, 0, current_stream()>>>(
          logits.data<T>(), mat(logits), labels.data<int64_t>(), labels.stride(0), static_cast<T>(smoothing),
          rows.data());
      FIGS_CUDA_CHECK_LAUNCH();
    }
    mean_kernel<T><<<1, dim3(1, kThreads), 0, current_stream()>>>(rows.data(), static_cast<int32_t>(N), loss.data<T>());
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& labels, double smoothing, const Tensor& gloss,
                            const Tensor& glogits) {
  if (logits.numel() == 0) return;
  check_index_range("cross_entropy_backward", logits);
  use_device_of(logits);
  dispatch_floating(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    cross_entropy_backward_kernel<T><<<row_blocks(logits.size(0)), kThreads, 0, current_stream()>>>(
        logits.data<T>(), mat(logits), labels.data<int64_t>(), labels.stride(0), static_cast<T>(smoothing),
        gloss.data<T>(), glogits.data<T>(), mat(glogits));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace figs::cuda::kernels

// sum(x, out): out has x's rank and size 1 on the reduced dims. M outputs, each the sum of K
// inputs, in two deterministic passes over a plan_channel_reduce tiling (cuda/launch.h):
//   column  the kept dims hold x's fastest-varying one (e.g. a bias gradient of a channels-last
//           tensor): a warp takes 32 neighbouring outputs, so its reads are coalesced;
//   row     otherwise (sum of everything, per-channel sums of NCHW): a block takes one output
//           and its 256 lanes read consecutive elements of the reduction.
// The K range of each output is cut into splits (filling the GPU even for M = 1); the second
// pass adds the splits' partial sums in order. Accumulation is in T (float32 for float32): a
// tree over lanes and splits keeps the error near log2(K) ulp rather than K ulp.
#include "cuda/device.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

// out_idx: out's shape with x's strides (reduced dims have size 1 there, so index j gives x's
// base offset for output j); red: the reduced dims' sizes and x strides.
template <class T>
__global__ void sum_partial(const T* x, StridedLayout out_idx, StridedLayout red, int32_t M, int32_t K,
                            int32_t k_per_split, T* partial) {
  extern __shared__ unsigned char sum_smem[];
  T* smem = reinterpret_cast<T*>(sum_smem);
  const int32_t j = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  const int32_t begin = static_cast<int32_t>(blockIdx.y) * k_per_split, end = min(K, begin + k_per_split);
  T acc = 0;
  if (j < M) {
    const T* base = x + offset_of(j, out_idx);
    for (int32_t k = begin + static_cast<int32_t>(threadIdx.y); k < end; k += blockDim.y) acc += base[offset_of(k, red)];
  }
  const T total = sum_over_lanes(acc, smem);
  if (threadIdx.y == 0 && j < M) partial[static_cast<int64_t>(blockIdx.y) * M + j] = total;
}

template <class T>
__global__ void sum_finish(const T* partial, int32_t M, int32_t splits, T* out, StridedLayout lo) {
  FIGS_GRID_STRIDE(j, M) {
    T s = 0;
    for (int32_t p = 0; p < splits; ++p) s += partial[static_cast<int64_t>(p) * M + j];
    out[offset_of(j, lo)] = s;
  }
}

}  // namespace

void sum(const Tensor& x, const Tensor& out) {
  const int64_t M = out.numel();
  if (M == 0) return;
  check_index_range("sum", x);
  use_device_of(out);
  Shape red_shape;
  Strides red_strides, idx_strides;
  int64_t fastest_stride = -1;
  bool fastest_kept = true;
  for (int d = 0; d < x.dim(); ++d) {
    const bool reduced = out.shape()[d] == 1 && x.shape()[d] != 1;
    idx_strides.push_back(reduced ? 0 : x.strides()[d]);
    if (reduced) {
      red_shape.push_back(x.shape()[d]);
      red_strides.push_back(x.strides()[d]);
    }
    if (x.shape()[d] > 1 && (fastest_stride < 0 || x.strides()[d] < fastest_stride)) {
      fastest_stride = x.strides()[d];
      fastest_kept = !reduced;
    }
  }
  const int64_t K = red_shape.numel();
  const ChannelReducePlan plan = plan_channel_reduce(M, K, fastest_kept && M > 1, 8 * int64_t{sm_count()});
  dispatch_floating(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    DeviceBuffer<T> partial(plan.splits * M, out.device().index);
    const dim3 block(plan.block_x, plan.block_y);
    const dim3 grid(static_cast<unsigned>(plan.channel_blocks), static_cast<unsigned>(plan.splits));
    sum_partial<T><<<grid, block, sizeof(T) * plan.block_x * plan.block_y, current_stream()>>>(
        x.data<T>(), layout_of(out.shape(), idx_strides), layout_of(red_shape, red_strides),
        static_cast<int32_t>(M), static_cast<int32_t>(K), static_cast<int32_t>(plan.rows_per_split), partial.data());
    FIGS_CUDA_CHECK_LAUNCH();
    sum_finish<T><<<static_cast<int>(blocks_for(M)), kThreads, 0, current_stream()>>>(
        partial.data(), static_cast<int32_t>(M), static_cast<int32_t>(plan.splits), out.data<T>(), layout_of(out));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace figs::cuda::kernels

// Per-channel reductions over (N, H, W) of a rank-4 tensor, in two deterministic passes
// (plan: cuda/launch.h, plan_channel_reduce):
//   1. blocks of block_x channels x block_y lanes; block (cb, s) covers the channels of tile cb
//      and the rows [s * rows_per_split, ...) of each; every thread folds its rows into NV
//      accumulators with fn(n, c, h, w, acc), the lanes are summed in shared memory, and
//      partial[s][c][v] is written;
//   2. the partials are summed over s in order and fin(c, sums) gets each channel's NV sums. With
//      NV > 1 one thread per (c, v) sums first (consecutive threads read consecutive partials;
//      one thread per channel would walk splits * NV scattered values alone, which dominated the
//      depthwise weight gradient at few channels), then one thread per channel calls fin.
// Users: channel_scale_backward (NV = 1, fn also writes gx), batch-norm statistics and
// backward, bias gradients, depthwise weight gradients (NV = k*k + 1).
#pragma once

#include "cuda/device.cuh"

namespace figs::cuda {

template <int NV, class Acc, class Fn>
__global__ void channel_reduce_kernel(Geom4 g, int32_t rows, int32_t rows_per_split, Fn fn, Acc* partial) {
  extern __shared__ unsigned char channel_reduce_smem[];
  Acc* smem = reinterpret_cast<Acc*>(channel_reduce_smem);
  const int32_t c = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  const int32_t begin = static_cast<int32_t>(blockIdx.y) * rows_per_split;
  const int32_t end = min(rows, begin + rows_per_split);
  Acc acc[NV];
#pragma unroll
  for (int v = 0; v < NV; ++v) acc[v] = Acc(0);
  if (c < g.C) {
    const int32_t hw = g.H * g.W;
    for (int32_t m = begin + static_cast<int32_t>(threadIdx.y); m < end; m += blockDim.y) {
      const int32_t n = m / hw, r = m - n * hw, h = r / g.W, w = r - h * g.W;
      fn(n, c, h, w, acc);
    }
  }
#pragma unroll
  for (int v = 0; v < NV; ++v) {
    const Acc total = sum_over_lanes(acc[v], smem);
    if (threadIdx.y == 0 && c < g.C) partial[(static_cast<int64_t>(blockIdx.y) * g.C + c) * NV + v] = total;
  }
}

// out[i] = sum over s of partial[s * n + i], s in order.
template <class Acc>
__global__ void sum_partials_kernel(int32_t n, int32_t splits, const Acc* partial, Acc* out) {
  FIGS_GRID_STRIDE(i, n) {
    Acc sum = Acc(0);
    for (int32_t s = 0; s < splits; ++s) sum += partial[static_cast<int64_t>(s) * n + i];
    out[i] = sum;
  }
}

template <int NV, class Acc, class Fin>
__global__ void channel_finish_kernel(int32_t C, int32_t splits, const Acc* partial, Fin fin) {
  FIGS_GRID_STRIDE(c, C) {
    Acc sums[NV];
#pragma unroll
    for (int v = 0; v < NV; ++v) sums[v] = Acc(0);
    for (int32_t s = 0; s < splits; ++s)
#pragma unroll
      for (int v = 0; v < NV; ++v) sums[v] += partial[(static_cast<int64_t>(s) * C + c) * NV + v];
    fin(c, sums);
  }
}

// Runs both passes over the (N, C, H, W) positions of `g` (only its sizes are used for the
// iteration; fn reads whatever tensors it captured). channels_fastest picks the thread mapping
// that coalesces for the tensors fn reads.
template <int NV, class Acc, class Fn, class Fin>
void channel_reduce(const Geom4& g, bool channels_fastest, const Fn& fn, const Fin& fin, int device) {
  if (g.C == 0) return;
  const int64_t rows = static_cast<int64_t>(g.N) * g.H * g.W;
  const ChannelReducePlan plan = plan_channel_reduce(g.C, rows, channels_fastest, 8 * int64_t{sm_count()});
  DeviceBuffer<Acc> partial(plan.splits * g.C * NV, device);
  const dim3 block(plan.block_x, plan.block_y);
  const dim3 grid(static_cast<unsigned>(plan.channel_blocks), static_cast<unsigned>(plan.splits));
  const size_t smem = sizeof(Acc) * plan.block_x * plan.block_y;
  channel_reduce_kernel<NV, Acc, Fn><<<grid, block, smem, current_stream()>>>(g, static_cast<int32_t>(rows),
                                                            static_cast<int32_t>(plan.rows_per_split), fn,
                                                            partial.data());
  FIGS_CUDA_CHECK_LAUNCH();
  if (NV > 1 && plan.splits > 1) {
    const int64_t n = int64_t{g.C} * NV;
    DeviceBuffer<Acc> summed(n, device);
    sum_partials_kernel<Acc><<<static_cast<int>(blocks_for(n)), kThreads, 0, current_stream()>>>(
        static_cast<int32_t>(n), static_cast<int32_t>(plan.splits), partial.data(), summed.data());
    FIGS_CUDA_CHECK_LAUNCH();
    channel_finish_kernel<NV, Acc, Fin><<<static_cast<int>(blocks_for(g.C)), kThreads, 0, current_stream()>>>(
        g.C, 1, summed.data(), fin);
  } else {
    channel_finish_kernel<NV, Acc, Fin><<<static_cast<int>(blocks_for(g.C)), kThreads, 0, current_stream()>>>(
        g.C, static_cast<int32_t>(plan.splits), partial.data(), fin);
  }
  FIGS_CUDA_CHECK_LAUNCH();
}

}  // namespace figs::cuda

// CUDA kernels at the search spaces' shapes: our depthwise convolution (forward, backward-data,
// backward-weight) against cuDNN's grouped convolution on the same problem, and the FiGS mask
// multiply (forward) with its fused backward. Channels-last float32, the layout networks train
// in. Times come from CUDA events around each iteration (manual time); the counter
// `bytes_per_second` is the minimum traffic (each input read once, each output written once)
// over that time, to compare with the GPU's HBM bandwidth (datasheets: H100 SXM ~3.35 TB/s,
// H200 ~4.8 TB/s; the figures of 2026-12-04 in docs/architecture.md are an H200's).
// Every benchmark skips, saying why, where no GPU is visible.
//   build/benchmarks/bench_cuda_kernels --benchmark_out=bench_cuda.json
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include "cuda/kernels.h"
#include "cuda/launch.h"
#include "figs.h"

namespace figs {
namespace {

bool have_gpu(benchmark::State& state) {
  if (cuda::is_available()) return true;
  state.SkipWithError(build_info().with_cuda ? "no CUDA device visible" : "figs built without CUDA");
  return false;
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("bench_cuda_kernels: ", what, ": ", cudaGetErrorString(e));
}

// Times fn with CUDA events after one warm-up call (descriptor/algorithm choice, allocator).
template <class Fn>
void run_timed(benchmark::State& state, double bytes, Fn&& fn) {
  fn();
  check(cudaDeviceSynchronize(), "warm-up");
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  for (auto _ : state) {
    check(cudaEventRecord(start), "record");
    fn();
    check(cudaEventRecord(stop), "record");
    check(cudaEventSynchronize(stop), "sync");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
    state.SetIterationTime(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  state.counters["bytes_per_second"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

Tensor random_cuda(const Shape& s, uint64_t stream, MemoryFormat f = MemoryFormat::Contiguous) {
  Generator g(5, stream);
  return uniform(s, -1, 1, g, {DType::Float32, Device::cuda(), f});
}

enum Direction { Forward, BackwardData, BackwardWeight };
enum Impl { Ours, Cudnn };

// args: N, C, H (= W), k, stride, direction, implementation, backward-weight tile rows (ours;
// 0: depthwise_weight_tile_rows's choice)
void BM_depthwise(benchmark::State& state) {
  if (!have_gpu(state)) return;
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2), k = state.range(3);
  const int s = static_cast<int>(state.range(4));
  const auto dir = static_cast<Direction>(state.range(5));
  const auto impl = static_cast<Impl>(state.range(6));
  const int rows = static_cast<int>(state.range(7));
  Conv2dParams p;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = static_cast<int>(k / 2);
  p.groups = static_cast<int>(C);
  const int64_t OH = window_output_size(H, static_cast<int>(k), s, p.pad_h, 1);
  const auto cl = MemoryFormat::ChannelsLast;
  const Tensor x = random_cuda({N, C, H, H}, 1, cl), w = random_cuda({C, 1, k, k}, 2);
  const Tensor y = random_cuda({N, C, OH, OH}, 3, cl), gx = empty_like(x), gw = empty_like(w);
  const double bx = 4.0 * x.numel(), by = 4.0 * y.numel(), bw = 4.0 * w.numel();
  switch (dir) {
    case Forward:
      run_timed(state, bx + bw + by, [&] {
        impl == Ours ? cuda::kernels::depthwise_conv2d_forward(p, x, w, Tensor(), y)
                     : cuda::kernels::cudnn_conv2d_forward(p, x, w, Tensor(), y);
      });
      break;
    case BackwardData:
      run_timed(state, by + bw + bx, [&] {
        impl == Ours ? cuda::kernels::depthwise_conv2d_backward_data(p, y, w, gx)
                     : cuda::kernels::cudnn_conv2d_backward_data(p, y, w, gx);
      });
      break;
    case BackwardWeight:
      run_timed(state, by + bx + bw, [&] {
        impl == Ours ? cuda::kernels::depthwise_conv2d_backward_weight(p, y, x, gw, Tensor(), rows)
                     : cuda::kernels::cudnn_conv2d_backward_weight(p, y, x, gw, Tensor());
      });
      break;
  }
  state.SetLabel(str_cat(impl == Ours ? "ours" : "cudnn", " ",
                         dir == Forward ? "fwd" : (dir == BackwardData ? "bwd_data" : "bwd_weight"), " N", N, " C", C,
                         " H", H, " k", k, " s", s, rows > 0 ? str_cat(" rows ", rows) : std::string()));
}

// Shapes of the One-Shot / FBNet / MobileNet-style supernets at ImageNet resolution.
void depthwise_args(benchmark::internal::Benchmark* b) {
  const int64_t shapes[][5] = {
      {64, 32, 112, 3, 1},  {64, 96, 112, 3, 2},  {128, 144, 56, 3, 1}, {128, 144, 56, 5, 2},
      {128, 240, 28, 5, 1}, {64, 192, 28, 7, 2},  {256, 480, 14, 3, 1}, {256, 672, 14, 5, 1},
      {256, 1152, 7, 5, 1}, {256, 1152, 7, 7, 1},
  };
  for (const auto& s : shapes) {
    for (int dir = 0; dir < 3; ++dir)
      for (int impl = 0; impl < 2; ++impl) b->Args({s[0], s[1], s[2], s[3], s[4], dir, impl, 0});
    // Backward-weight's tile heights side by side (the choice above is one of them).
    for (const int rows : cuda::kDepthwiseWeightTileRows) b->Args({s[0], s[1], s[2], s[3], s[4], BackwardWeight, Ours, rows});
  }
}
BENCHMARK(BM_depthwise)->Apply(depthwise_args)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.1);

// The mask multiply y = x * m[c] (forward: the per-channel binary kernel) and its fused
// backward (gx and gm in one pass). args: N, C, H (= W), backward?
void BM_channel_scale(benchmark::State& state) {
  if (!have_gpu(state)) return;
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2);
  const bool backward = state.range(3) != 0;
  const auto cl = MemoryFormat::ChannelsLast;
  const Tensor x = random_cuda({N, C, H, H}, 4, cl), gy = random_cuda({N, C, H, H}, 5, cl);
  const Tensor m = random_cuda({C}, 6), gx = empty_like(x), gm = empty_like(m), y = empty_like(x);
  const Tensor m4 = cuda::kernels::channel_vector_as_4d(m);
  const double b = 4.0 * x.numel();
  if (backward)
    run_timed(state, 3 * b, [&] { cuda::kernels::channel_scale_backward(gy, x, m, gx, gm); });
  else
    run_timed(state, 2 * b, [&] { cuda::kernels::binary(BinaryOp::Mul, x, m4, y); });
  state.SetLabel(str_cat(backward ? "bwd" : "fwd", " N", N, " C", C, " H", H));
}
BENCHMARK(BM_channel_scale)
    ->ArgsProduct({{64}, {32}, {112}, {0, 1}})
    ->ArgsProduct({{128}, {240}, {28}, {0, 1}})
    ->ArgsProduct({{256}, {1152}, {7}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.1);

}  // namespace
}  // namespace figs

BENCHMARK_MAIN();

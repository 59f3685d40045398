// Reference-kernel timings: the baseline every faster CPU/CUDA kernel is compared with.
// Shapes are taken from the small search-space presets (28x28 inputs, C = 32..128).
//   ./build/benchmarks/bench_reference --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include "figs.h"

namespace {

using namespace figs;

// args: N, C, H(=W), K, stride, groups (0 = depthwise: groups = C)
void BM_conv2d_forward_reference(benchmark::State& state) {
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2), K = state.range(3);
  const int S = static_cast<int>(state.range(4));
  const int G = state.range(5) == 0 ? static_cast<int>(C) : static_cast<int>(state.range(5));
  Generator gen(1);
  const Tensor x = uniform({N, C, H, H}, -1, 1, gen);
  const Tensor w = uniform({C, C / G, K, K}, -1, 1, gen);
  Conv2dParams p;
  p.stride_h = p.stride_w = S;
  p.pad_h = p.pad_w = static_cast<int>(K / 2);
  p.groups = G;
  NoGradGuard no_grad;
  int64_t macs = 0;
  for (auto _ : state) {
    Tensor y = conv2d(x, w, Tensor(), p);
    macs = y.numel() * (C / G) * K * K;
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(macs) * state.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
  state.SetLabel(backend_of(x).name());
}
BENCHMARK(BM_conv2d_forward_reference)
    ->ArgNames({"N", "C", "H", "K", "S", "G"})
    ->Args({16, 32, 28, 3, 1, 0})
    ->Args({16, 64, 14, 5, 1, 0})
    ->Args({16, 64, 14, 1, 1, 1})
    ->Args({16, 32, 28, 3, 1, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

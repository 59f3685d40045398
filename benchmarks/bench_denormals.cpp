// What denormal floats cost a FiGS search step on this CPU, and what flushing them saves
// (core/denormals.h). Late in a search, a dead channel's relaxed mask value sigmoid(a / tau)
// lands below float's smallest normal number (1.2e-38) whenever -103 < a / tau < -87; every
// activation it multiplies, and every gradient flowing back through it, is then denormal.
//
// The benchmark is the pattern that carries them: masked activations -> ReLU -> pointwise conv,
// forward and backward (channels-last, the search's layout), with a given fraction of the
// channels' mask values denormal (1e-39) and the others ~0.9, with flush-to-zero off and on.
//   ./build/benchmarks/bench_denormals --benchmark_counters_tabular=true
// Arguments: dead = percent of channels with a denormal mask, ftz = 0 or 1.
#include <benchmark/benchmark.h>

#include "core/denormals.h"
#include "figs.h"

namespace {

using namespace figs;

void BM_MaskedPointwiseStep(benchmark::State& state) {
  const int64_t N = 64, C = 96, H = 14, W = 14;
  const double dead = static_cast<double>(state.range(0)) / 100.0;
  const bool ftz = state.range(1) != 0;
  set_flush_denormals(ftz);
  Generator gen(7);
  const TensorOptions cl{DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast};
  const Tensor x = uniform({N, C, H, W}, -1, 1, gen, cl);
  Tensor w = uniform({C, C, 1, 1}, -0.1, 0.1, gen);
  w.set_requires_grad();
  std::vector<float> m(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) m[c] = c < static_cast<int64_t>(dead * C + 0.5) ? 1e-39f : 0.9f;
  Tensor mask = from_vector(m, {C});
  mask.set_requires_grad();
  const Tensor r = uniform({N, C, H, W}, -1, 1, gen, cl);
  for (auto _ : state) {
    const Tensor y = conv2d(relu(channel_scale(x, mask)), w);
    backward(sum(mul(y, r)));
    w.zero_grad();
    mask.zero_grad();
  }
  set_flush_denormals(false);
  state.counters["dead_pct"] = static_cast<double>(state.range(0));
  state.counters["ftz"] = ftz;
  state.SetItemsProcessed(state.iterations() * N);
}
BENCHMARK(BM_MaskedPointwiseStep)
    ->ArgNames({"dead", "ftz"})
    ->ArgsProduct({{0, 25, 50}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

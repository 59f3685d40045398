// Every case of the op harness's table (tests/backend_ops/op_cases.h) at benchmark size — each
// test case grown by its family's rule: images 16x in batch and 2x in height and width, matrices
// and vectors 8x — timed forward + backward through the autograd API, on the fast backends:
// cpu-fast (oneDNN + the own AVX2 kernels, float32) and cuda (float32, where a GPU is visible).
// The float64 reference is the tests' oracle and is not timed.
//
//   build/benchmarks/bench_ops --benchmark_filter='^conv2d/'          one op
//   build/benchmarks/bench_ops --benchmark_filter='/cpu-fast$' --benchmark_counters_tabular=true
//
// Names: op/case/backend, e.g. "conv2d/dw_k3_s2_c37_26x26_n16_cl/cpu-fast". Each iteration is
// one step (forward, then backward from a fixed upstream gradient) on inputs built once; the
// time includes the step's allocations (served by the caching allocators, as in training).
// bytes_per_second counts the op's inputs, outputs and input gradients once per step: the least
// traffic a step can have. The label names the implementations that ran (core/kernel_stats.h).
#include <benchmark/benchmark.h>

#include <set>

#include "core/kernel_stats.h"
#include "op_cases.h"

#if FIGS_BENCH_OPS_CUDA
#include <cuda_runtime.h>
#endif

namespace figs::backend_ops {
namespace {

// Waits for the GPU's queued work, so each iteration's time covers its kernels.
void finish(const Target& target) {
#if FIGS_BENCH_OPS_CUDA
  if (target.device.is_cuda()) cudaDeviceSynchronize();
#else
  (void)target;
#endif
}

// "conv2d_forward:onednn conv2d_backward_data:onednn ..." for the kernels counted in the loop.
std::string implementations(const KernelCounts& counts) {
  std::set<std::string> seen;
  for (const auto& [key, n] : counts) seen.insert(key.first + ":" + key.second);
  std::string s;
  for (const std::string& k : seen) s += (s.empty() ? "" : " ") + k;
  return s;
}

void run(benchmark::State& state, const OpCase& c, const Target& target) {
  const TargetScope scope(target);
  CaseRunner runner(c, target, /*count_kernels=*/false);
  try {
    runner.step();  // builds the inputs; warms the allocator and oneDNN's primitive cache
  } catch (const Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  finish(target);
  reset_kernel_counts();
  for (auto _ : state) {
    runner.step();
    finish(target);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * runner.bytes_per_step());
  state.SetLabel(implementations(kernel_counts()));
}

}  // namespace
}  // namespace figs::backend_ops

int main(int argc, char** argv) {
  using namespace figs::backend_ops;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  static const std::vector<OpCase> cases = op_cases(CaseScale::Bench);
  std::vector<const Target*> targets{&cpu_fast_target()};
  if (figs::cuda::is_available()) targets.push_back(&cuda_target());
  for (const OpCase& c : cases)
    for (const Target* t : targets)
      benchmark::RegisterBenchmark((c.id() + "/" + t->name).c_str(),
                                   [&c, t](benchmark::State& state) { run(state, c, *t); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// CPU kernel benchmarks at the shapes the search spaces produce (small presets: N = 64/128,
// C = 32..256, H = W = 28/14/7) plus a few ImageNet-scale ones.
//
//   ./build/benchmarks/bench_cpu_kernels --benchmark_counters_tabular=true
//   python3 benchmarks/compare_pytorch.py      (the same shapes in PyTorch, and the ratio)
//
// Each benchmark times one Backend kernel of the registered CPU backend (outputs allocated per
// iteration, as in training: the caching allocator serves them). Counters:
//   GFLOP/s   2 * multiply-adds / time
//   GB/s      the fewest bytes the kernel must move (inputs read once, outputs written once) / time
//   %bw       GB/s over the machine's copy bandwidth (FIGS_BENCH_GBPS, default 27 GB/s: both cores,
//             read + write, guide/performance.md)
//   %flops    GFLOP/s over FIGS_BENCH_GFLOPS_PER_CORE (default 100) x threads
// The label names the implementation that ran (from core/kernel_stats.h) and the layout.
// Benchmark names encode the shape (N, C, H, K, S, G: 0 = depthwise, 1 = dense; L: 0 = NCHW,
// 1 = channels-last) — compare_pytorch.py reads them back.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "cpu/cpu_backend.h"
#include "core/kernel_stats.h"
#include "figs.h"

namespace {

using namespace figs;

double env_or(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v ? std::atof(v) : fallback;
}

MemoryFormat layout_arg(int64_t l) { return l ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous; }

Tensor rand_tensor(const Shape& s, MemoryFormat f = MemoryFormat::Contiguous) {
  static Generator gen(1);
  return uniform(s, -1, 1, gen, {DType::Float32, Device::cpu(), f});
}

// Times each iteration itself (so the counters below are plain values, not rates).
class Timer {
 public:
  void start() { t0_ = std::chrono::steady_clock::now(); }
  void stop() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
  double seconds() const { return total_; }

 private:
  std::chrono::steady_clock::time_point t0_;
  double total_ = 0;
};

void report(benchmark::State& state, const Timer& timer, double flops, double bytes, const char* kernel,
            MemoryFormat f) {
  const double per_iter = timer.seconds() / std::max<double>(1.0, static_cast<double>(state.iterations()));
  const double gbps_limit = env_or("FIGS_BENCH_GBPS", 27.0);
  const double gflops_limit = env_or("FIGS_BENCH_GFLOPS_PER_CORE", 100.0) * num_threads();
  const double gbps = bytes / per_iter / 1e9, gflops = flops / per_iter / 1e9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["GB/s"] = gbps;
  state.counters["%bw"] = gbps / gbps_limit * 100;
  state.counters["%flops"] = gflops / gflops_limit * 100;
  std::string impl;
  double reference_calls = 0;
  for (const auto& [key, n] : kernel_counts()) {
    if (key.first == kernel) impl += (impl.empty() ? "" : "+") + key.second;
    if (key.second == "reference") reference_calls += n;
  }
  // Kernel calls per iteration that ran on the reference kernels (layouts the fast ones skip).
  state.counters["ref_calls"] = reference_calls / std::max<double>(1.0, static_cast<double>(state.iterations()));
  state.SetLabel(impl + " " + memory_format_name(f));
}

enum class ConvPass { Forward, BackwardData, BackwardWeight };

// args: N, C, H, K, S, G (0 depthwise, 1 dense), L
void conv_bench(benchmark::State& state, ConvPass pass) {
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2), K = state.range(3);
  const int S = static_cast<int>(state.range(4));
  const bool depthwise = state.range(5) == 0;
  const MemoryFormat f = layout_arg(state.range(6));
  Conv2dParams p;
  p.stride_h = p.stride_w = S;
  p.pad_h = p.pad_w = static_cast<int>(K / 2);
  p.groups = depthwise ? static_cast<int>(C) : 1;
  const int64_t OH = window_output_size(H, static_cast<int>(K), S, p.pad_h, 1);
  const Tensor x = rand_tensor({N, C, H, H}, f), w = rand_tensor({C, depthwise ? 1 : C, K, K});
  const Tensor gy = rand_tensor({N, C, OH, OH}, f);
  const TensorOptions out{DType::Float32, Device::cpu(), f};
  reset_kernel_counts();
  const char* kernel = pass == ConvPass::Forward ? "conv2d_forward"
                       : pass == ConvPass::BackwardData ? "conv2d_backward_data" : "conv2d_backward_weight";
  Backend& be = backend_for(Device::cpu());
  Timer timer;
  for (auto _ : state) {
    timer.start();
    if (pass == ConvPass::Forward) {
      Tensor y = empty(gy.shape(), out);
      be.conv2d_forward(p, x, w, Tensor(), y);
      benchmark::DoNotOptimize(y.raw_data());
    } else if (pass == ConvPass::BackwardData) {
      Tensor gx = empty(x.shape(), out);
      be.conv2d_backward_data(p, gy, w, gx);
      benchmark::DoNotOptimize(gx.raw_data());
    } else {
      Tensor gw = empty_like(w);
      be.conv2d_backward_weight(p, gy, x, gw, Tensor());
      benchmark::DoNotOptimize(gw.raw_data());
    }
    timer.stop();
  }
  const double macs = static_cast<double>(gy.numel()) * (depthwise ? 1 : C) * K * K;
  const double bytes = 4.0 * (x.numel() + w.numel() + gy.numel());
  report(state, timer, 2 * macs, bytes, kernel, f);
}

void BM_conv_fwd(benchmark::State& s) { conv_bench(s, ConvPass::Forward); }
void BM_conv_bwd_data(benchmark::State& s) { conv_bench(s, ConvPass::BackwardData); }
void BM_conv_bwd_weight(benchmark::State& s) { conv_bench(s, ConvPass::BackwardWeight); }

void conv_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "C", "H", "K", "S", "G", "L"});
  for (int64_t L : {0, 1}) {
    // Depthwise, k 3/5/7, stride 1/2, at the small presets' (C, H) pairs.
    for (auto [C, H] : {std::pair<int64_t, int64_t>{32, 28}, {64, 14}, {128, 14}, {256, 7}})
      for (int64_t K : {3, 5, 7})
        for (int64_t S : {1, 2}) b->Args({64, C, H, K, S, 0, L});
    b->Args({128, 64, 28, 3, 1, 0, L});
    // Pointwise (1x1) and dense 3x3.
    for (auto [C, H] : {std::pair<int64_t, int64_t>{32, 28}, {64, 14}, {128, 14}, {256, 7}}) {
      b->Args({64, C, H, 1, 1, 1, L});
      b->Args({64, C, H, 3, 1, 1, L});
    }
    // ImageNet-scale: MobileNet-like depthwise and pointwise layers.
    b->Args({16, 96, 56, 3, 1, 0, L});
    b->Args({16, 144, 56, 5, 2, 0, L});
    b->Args({16, 96, 56, 1, 1, 1, L});
  }
  b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_conv_fwd)->Apply(conv_shapes);
BENCHMARK(BM_conv_bwd_data)->Apply(conv_shapes);
BENCHMARK(BM_conv_bwd_weight)->Apply(conv_shapes);

// args: N, C, H, L — batch norm forward (training) + backward, one iteration = both.
void BM_batch_norm(benchmark::State& state) {
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2);
  const MemoryFormat f = layout_arg(state.range(3));
  const Tensor x = rand_tensor({N, C, H, H}, f), gy = rand_tensor({N, C, H, H}, f);
  const Tensor gamma = ones({C}), beta = zeros({C}), rm = zeros({C}), rv = ones({C});
  const BatchNormParams p;
  Backend& be = backend_for(Device::cpu());
  reset_kernel_counts();
  Timer timer;
  for (auto _ : state) {
    timer.start();
    Tensor y = empty_like(x), mean = empty({C}), invstd = empty({C});
    be.batch_norm_forward_training(p, x, gamma, beta, rm, rv, y, mean, invstd);
    Tensor gx = empty_like(x), gg = empty({C}), gb = empty({C});
    be.batch_norm_backward(p, gy, x, gamma, beta, mean, invstd, gx, gg, gb);
    benchmark::DoNotOptimize(gx.raw_data());
    timer.stop();
  }
  // forward reads x (twice in practice; once here), writes y; backward reads x, gy, writes gx.
  report(state, timer, 0, 4.0 * 5 * x.numel(), "batch_norm_backward", f);
}

// The FiGS mask's per-channel scale: forward y = x * m[c]; fused backward gx = gy * m[c] and
// gm[c] = sum over (n, h, w) of gy * x. One iteration = forward + backward.
void BM_mask_scale(benchmark::State& state) {
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2);
  const MemoryFormat f = layout_arg(state.range(3));
  const Tensor x = rand_tensor({N, C, H, H}, f), gy = rand_tensor({N, C, H, H}, f), m = rand_tensor({C});
  const Tensor m4 = raw::reshape(m, {1, C, 1, 1});
  Backend& be = backend_for(Device::cpu());
  reset_kernel_counts();
  Timer timer;
  for (auto _ : state) {
    timer.start();
    Tensor y = empty_like(x), gx = empty_like(x), gm = empty({C});
    be.binary(BinaryOp::Mul, x, m4, y);
    be.channel_scale_backward(gy, x, m, gx, gm);
    benchmark::DoNotOptimize(gm.raw_data());
    timer.stop();
  }
  report(state, timer, 0, 4.0 * 5 * x.numel(), "channel_scale_backward", f);  // read x twice, gy; write y, gx
}

void norm_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "C", "H", "L"});
  for (int64_t L : {0, 1})
    for (auto [C, H] : {std::pair<int64_t, int64_t>{32, 28}, {64, 14}, {128, 14}, {256, 7}}) b->Args({64, C, H, L});
  b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_batch_norm)->Apply(norm_shapes);
BENCHMARK(BM_mask_scale)->Apply(norm_shapes);

// The One-Shot space's max3 operator: 3x3 max pooling, stride 1, padding 1, forward with the
// argmax indices the backward needs.
void BM_max_pool(benchmark::State& state) {
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2);
  const MemoryFormat f = layout_arg(state.range(3));
  const Tensor x = rand_tensor({N, C, H, H}, f);
  const Pool2dParams p{.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
  const TensorOptions index_options{DType::Int64, Device::cpu(), f};
  Backend& be = backend_for(Device::cpu());
  reset_kernel_counts();
  Timer timer;
  for (auto _ : state) {
    timer.start();
    Tensor y = empty_like(x), indices = empty(x.shape(), index_options);
    be.max_pool2d_forward(p, x, y, indices);
    benchmark::DoNotOptimize(y.raw_data());
    timer.stop();
  }
  report(state, timer, 0, (4.0 + 4.0 + 8.0) * x.numel(), "max_pool2d_forward", f);  // read x; write y, indices
}
void pool_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "C", "H", "L"});
  for (int64_t L : {0, 1})
    for (auto [C, H] : {std::pair<int64_t, int64_t>{24, 14}, {48, 7}, {64, 14}}) b->Args({128, C, H, L});
  b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_max_pool)->Apply(pool_shapes);

// Times pass(backend, x, gy, y, gx), a pooling forward and backward on (N, C, H, H) tensors,
// reporting `bytes_per_element` of memory traffic per element of x.
template <class Pass>
void pool_pass_bench(benchmark::State& state, double bytes_per_element, const char* kernel, const Pass& pass) {
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2);
  const MemoryFormat f = layout_arg(state.range(3));
  const Tensor x = rand_tensor({N, C, H, H}, f), gy = rand_tensor({N, C, H, H}, f);
  Backend& be = backend_for(Device::cpu());
  reset_kernel_counts();
  Timer timer;
  for (auto _ : state) {
    timer.start();
    Tensor y = empty_like(x), gx = empty_like(x);
    pass(be, x, gy, y, gx);
    benchmark::DoNotOptimize(gx.raw_data());
    timer.stop();
  }
  report(state, timer, 0, bytes_per_element * x.numel(), kernel, f);
}

// The max3 operator as a search step trains it: at stride 1 the forward writes the values only,
// and the backward finds each window's argmax again from the input (autograd/ops/pool.cpp).
// Traffic: the forward reads x, writes y; the backward reads x and gy, writes gx.
void BM_max_pool_training(benchmark::State& state) {
  const Pool2dParams p{.kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
  pool_pass_bench(state, 4.0 * 5, "max_pool2d_backward_from_input",
                  [&](Backend& be, const Tensor& x, const Tensor& gy, const Tensor& y, const Tensor& gx) {
                    be.max_pool2d_forward(p, x, y, Tensor());
                    be.max_pool2d_backward_from_input(p, gy, x, gx);
                  });
}
BENCHMARK(BM_max_pool_training)->Apply(pool_shapes);

// The avg3 operator's pooling (3x3, stride 1, padding 1, padding excluded from the divisor),
// forward + backward. Traffic: read x and gy, write y and gx.
void BM_avg_pool(benchmark::State& state) {
  const Pool2dParams p{3, 3, 1, 1, 1, 1, false};
  pool_pass_bench(state, 4.0 * 4, "avg_pool2d_backward",
                  [&](Backend& be, const Tensor& x, const Tensor& gy, const Tensor& y, const Tensor& gx) {
                    be.avg_pool2d_forward(p, x, y);
                    be.avg_pool2d_backward(p, gy, gx);
                  });
}
BENCHMARK(BM_avg_pool)->Apply(pool_shapes);

// A whole block of the One-Shot supernet, forward + backward through autograd: a pair of
// separable convs, each depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU. This is the
// measurement behind the layout choice (docs/architecture.md, "Layout"): args N, C, H, L.
void BM_separable_block(benchmark::State& state) {
  const int64_t N = state.range(0), C = state.range(1), H = state.range(2);
  const MemoryFormat f = layout_arg(state.range(3));
  const Tensor x = rand_tensor({N, C, H, H}, f);
  std::vector<Tensor> dw, pw, gamma, beta;
  for (int i = 0; i < 2; ++i) {
    dw.push_back(rand_tensor({C, 1, 3, 3}).set_requires_grad());
    pw.push_back(rand_tensor({C, C, 1, 1}).set_requires_grad());
    for (int j = 0; j < 2; ++j) {
      gamma.push_back(ones({C}).set_requires_grad());
      beta.push_back(zeros({C}).set_requires_grad());
    }
  }
  Conv2dParams depthwise;
  depthwise.pad_h = depthwise.pad_w = 1;
  depthwise.groups = static_cast<int>(C);
  const BatchNormParams bn;
  reset_kernel_counts();
  Timer timer;
  for (auto _ : state) {
    timer.start();
    Tensor h = x;
    for (int i = 0; i < 2; ++i) {
      h = relu(batch_norm(conv2d(h, dw[i], Tensor(), depthwise), gamma[2 * i], beta[2 * i], Tensor(), Tensor(), bn));
      h = relu(batch_norm(conv2d(h, pw[i]), gamma[2 * i + 1], beta[2 * i + 1], Tensor(), Tensor(), bn));
    }
    backward(mean(h));
    timer.stop();
  }
  const double macs = 2.0 * N * H * H * (9.0 * C + 1.0 * C * C);
  report(state, timer, 3 * 2 * macs, 0, "conv2d_forward", f);  // fwd + bwd ~ 3x the forward's work
}
BENCHMARK(BM_separable_block)
    ->ArgNames({"N", "C", "H", "L"})
    ->Args({64, 32, 28, 0})->Args({64, 32, 28, 1})
    ->Args({64, 64, 14, 0})->Args({64, 64, 14, 1})
    ->Args({64, 128, 7, 0})->Args({64, 128, 7, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("figs", build_info().summary());
  benchmark::AddCustomContext("threads", std::to_string(num_threads()));
  benchmark::AddCustomContext("cpu_kernels", cpu::kernel_mode_name(cpu::kernel_mode()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

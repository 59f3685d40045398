// Every fast CPU kernel (oneDNN or own AVX2) against its reference twin: float32 fast vs float64
// reference, on >= 20 random shapes per op — odd H/W, C not a multiple of 8, N = 1, stride 2,
// k = 1/3/5/7, groups = 1 / C / in between, NCHW and channels-last — forward and backward.
//
// Error measure: max |fast - ref| / max(|ref|, 1) over the output (normalised error). Tolerances
// per op are stated at each call: float32 accumulation over a reduction of length L carries an
// error of order L * 2^-24, far below them; a wrong index or a missing term is far above.
//
// Each comparison also checks, through the kernel counters, that the fast implementation really
// ran (a reference-vs-reference comparison would prove nothing).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "cpu/allocator.h"
#include "cpu/cpu_backend.h"
#include "cpu/fast/kernels.h"
#include "core/kernel_stats.h"
#include "test_util.h"

namespace figs {
namespace {

using cpu::cpu_backend;
using cpu::reference_backend;

// Small integers for random shapes, from the counter-based generator (reproducible).
class Dice {
 public:
  explicit Dice(uint64_t stream) : stream_(stream) {}
  int64_t pick(int64_t lo, int64_t hi) {  // inclusive
    const PhiloxBlock b = philox_draw(99, stream_, counter_++);
    return lo + static_cast<int64_t>(b.w[0] % static_cast<uint32_t>(hi - lo + 1));
  }
  bool coin() { return pick(0, 1) == 1; }
  MemoryFormat layout() { return coin() ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous; }

 private:
  uint64_t stream_, counter_ = 0;
};

Tensor random32(const Shape& s, uint64_t stream, MemoryFormat f = MemoryFormat::Contiguous, double lo = -1,
                double hi = 1) {
  Generator g(7, stream);
  return uniform(s, lo, hi, g, {DType::Float32, Device::cpu(), f});
}
Tensor as64(const Tensor& t) { return t.defined() ? raw::to_dtype(t, DType::Float64) : Tensor(); }
Tensor empty_as64(const Tensor& t) {
  return t.defined() ? empty(t.shape(), {DType::Float64, Device::cpu(), t.memory_format()}) : Tensor();
}

double normalised_error(const Tensor& fast, const Tensor& ref) {
  const auto f = fast.to_vector<double>(), r = ref.to_vector<double>();
  double scale = 1, err = 0;
  for (double v : r) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < f.size(); ++i) err = std::max(err, std::abs(f[i] - r[i]));
  return err / scale;
}

#define EXPECT_CLOSE(fast, ref, tol) EXPECT_LE(normalised_error(fast, ref), tol) << #fast

// Runs `fast` with counters reset and checks that `kernel` ran on `impl`.
template <class Fn>
void run_fast(const char* kernel, const char* impl, Fn&& fast) {
  reset_kernel_counts();
  fast();
  const auto counts = kernel_counts();
  const auto it = counts.find({kernel, impl});
  EXPECT_TRUE(it != counts.end() && it->second > 0)
      << kernel << " did not run on " << impl << ": " << kernel_counts_summary();
}

const char* kOneDnn = "onednn";
const char* kAvx2 = "avx2";

bool have_onednn() { return build_info().with_onednn; }

struct ConvCase {
  Shape x;
  int64_t C_out, K;
  Conv2dParams p;
  bool bias;
  MemoryFormat format;
  std::string str() const {
    return str_cat("x ", x, " C_out ", C_out, " k ", K, " stride ", p.stride_h, " pad ", p.pad_h, " dilation ",
                   p.dilation_h, " groups ", p.groups, " bias ", bias, " ", memory_format_name(format));
  }
};

// Forward, backward-data and backward-weights of one case against the float64 reference,
// checking which implementation ran each of them (impl_w: backward-weights; nullptr: `impl`).
void check_conv(const ConvCase& c, uint64_t seed, const char* impl, const char* impl_w = nullptr) {
  if (!impl_w) impl_w = impl;
  SCOPED_TRACE(c.str());
  const Conv2dParams& p = c.p;
  const int64_t OH = window_output_size(c.x[2], static_cast<int>(c.K), p.stride_h, p.pad_h, p.dilation_h);
  const int64_t OW = window_output_size(c.x[3], static_cast<int>(c.K), p.stride_w, p.pad_w, p.dilation_w);
  const Tensor x = random32(c.x, seed, c.format), w = random32({c.C_out, c.x[1] / p.groups, c.K, c.K}, seed + 1);
  const Tensor b = c.bias ? random32({c.C_out}, seed + 2) : Tensor();
  const Tensor gy = random32({c.x[0], c.C_out, OH, OW}, seed + 3, c.format);

  Tensor y = empty(gy.shape(), {DType::Float32, Device::cpu(), c.format}), y64 = empty_as64(y);
  run_fast("conv2d_forward", impl, [&] { cpu_backend().conv2d_forward(p, x, w, b, y); });
  reference_backend().conv2d_forward(p, as64(x), as64(w), as64(b), y64);
  EXPECT_CLOSE(y, y64, 1e-5);

  Tensor gx = empty_like(x), gx64 = empty_as64(x);
  run_fast("conv2d_backward_data", impl, [&] { cpu_backend().conv2d_backward_data(p, gy, w, gx); });
  reference_backend().conv2d_backward_data(p, as64(gy), as64(w), gx64);
  EXPECT_CLOSE(gx, gx64, 1e-5);

  Tensor gw = empty_like(w), gw64 = empty_as64(w), gb = b.defined() ? empty_like(b) : Tensor(), gb64 = empty_as64(b);
  run_fast("conv2d_backward_weight", impl_w, [&] { cpu_backend().conv2d_backward_weight(p, gy, x, gw, gb); });
  reference_backend().conv2d_backward_weight(p, as64(gy), as64(x), gw64, gb64);
  EXPECT_CLOSE(gw, gw64, 1e-5);
  if (b.defined()) {
    EXPECT_CLOSE(gb, gb64, 1e-5);
  }
}

// Dense, grouped and depthwise convolutions on oneDNN (depthwise in NCHW: channels-last depthwise
// runs on the own kernels, tested below).
TEST(CpuFast, Conv2dOnOneDnn) {
  if (!have_onednn()) GTEST_SKIP() << "built without oneDNN";
  Dice d(1);
  int tested = 0;
  for (int i = 0; tested < 24; ++i) {
    const int64_t k = std::vector<int64_t>{1, 3, 5, 7}[i % 4];
    const int64_t C = d.pick(1, 13);
    ConvCase c{{d.pick(1, 3), C, d.pick(k, 15), d.pick(k, 14)}, d.pick(1, 11), k, {}, d.coin(), d.layout()};
    const int kind = i % 3;  // dense, depthwise (NCHW), grouped
    if (kind == 1) c.p.groups = static_cast<int>(C), c.C_out = C, c.format = MemoryFormat::Contiguous;
    if (kind == 2 && C % 2 == 0) c.p.groups = 2, c.C_out = 2 * d.pick(1, 5);
    c.p.stride_h = c.p.stride_w = static_cast<int>(d.pick(1, 2));
    c.p.pad_h = c.p.pad_w = static_cast<int>(d.pick(0, k / 2));
    c.p.dilation_h = c.p.dilation_w = (k == 3 && d.coin()) ? 2 : 1;
    if (window_output_size(c.x[2], static_cast<int>(k), c.p.stride_h, c.p.pad_h, c.p.dilation_h) < 1 ||
        window_output_size(c.x[3], static_cast<int>(k), c.p.stride_w, c.p.pad_w, c.p.dilation_w) < 1)
      continue;
    // Depthwise channels-last backward-weights with k >= 5 runs on the own kernel (cpu_backend.cpp).
    const bool own_dw_weights = c.p.groups == C && c.C_out == C && c.format == MemoryFormat::ChannelsLast && k >= 5;
    const std::string own_dw = std::string(cpu::vector_isa_name(cpu::vector_isa())) + "-depthwise";
    const bool own_kernels = cpu::vector_isa() != cpu::fast::VectorIsa::None;
    check_conv(c, 10 + 7 * i, kOneDnn, own_dw_weights && own_kernels ? own_dw.c_str() : kOneDnn);
    ++tested;
  }
}

// Strided 1x1 convolutions, the shapes where oneDNN 2.6's jit 1x1 backward-weights misplaces its
// reduce-to-unit-stride workspace (channels-last, input channels below the 8/16 block;
// uxlfoundation/oneDNN#6035): cpu/onednn/conv2d.cpp gathers the strided pixels itself. The
// ctest entry cpu_guard_pages reruns this under FIGS_CPU_ALLOCATOR=guard, where a write past any
// buffer (the scratchpad included) faults instead of passing unnoticed.
TEST(CpuFast, StridedPointwiseConv) {
  if (!have_onednn()) GTEST_SKIP() << "built without oneDNN";
  int i = 0;
  for (int64_t C_in : {1, 3, 4, 7, 8, 12, 15, 16, 17, 24})
    for (const MemoryFormat f : {MemoryFormat::ChannelsLast, MemoryFormat::Contiguous})
      for (const int stride : {2, 3}) {
        ConvCase c{{2, C_in, 49 + i % 5, 56 + i % 3}, i % 2 ? 16 : 8, 1, {}, i % 3 == 0, f};  // >= 48 px: overruns past the slack
        c.p.stride_h = c.p.stride_w = stride;
        check_conv(c, 300 + i++, kOneDnn);
      }
}

// The own channels-last depthwise kernels (cpu/fast/depthwise_conv2d.cpp), called directly:
// k = 3/5/7 (specialised, stride 1/2) and others (generic: k 1/2/4, stride 3), dilation 2,
// padding from 0 to past the kernel's reach, C from 1 to well past a register (tails), batch 1..3.
// The backward-weights runs at the vector width `weights_isa`; C 13, 24 and 37 leave tails of
// 16-lane registers too.
void check_depthwise_channels_last(cpu::fast::VectorIsa weights_isa) {
  Dice d(8);
  int tested = 0;
  for (int i = 0; tested < 30; ++i) {
    const int64_t k = i < 24 ? std::vector<int64_t>{3, 5, 7}[i % 3] : std::vector<int64_t>{1, 2, 4}[i % 3];
    const int64_t C = std::vector<int64_t>{1, 3, 8, 13, 24, 37}[d.pick(0, 5)];
    ConvCase c{{d.pick(1, 3), C, d.pick(1, 16), d.pick(1, 17)}, C, k, {}, d.coin(), MemoryFormat::ChannelsLast};
    Conv2dParams& p = c.p;
    p.groups = static_cast<int>(C);
    p.stride_h = p.stride_w = static_cast<int>(i < 24 ? d.pick(1, 2) : d.pick(1, 3));
    p.dilation_h = p.dilation_w = d.pick(0, 3) == 0 ? 2 : 1;
    p.pad_h = p.pad_w = static_cast<int>(d.pick(0, k));  // up to a full kernel: exercises every edge path
    const int64_t OH = window_output_size(c.x[2], static_cast<int>(k), p.stride_h, p.pad_h, p.dilation_h);
    const int64_t OW = window_output_size(c.x[3], static_cast<int>(k), p.stride_w, p.pad_w, p.dilation_w);
    if (OH < 1 || OW < 1) continue;
    SCOPED_TRACE(c.str());
    const uint64_t seed = 1000 + 7 * i;
    const Tensor x = random32(c.x, seed, c.format), w = random32({C, 1, k, k}, seed + 1);
    const Tensor b = c.bias ? random32({C}, seed + 2) : Tensor();
    const Tensor gy = random32({c.x[0], C, OH, OW}, seed + 3, c.format);
    Tensor y = empty(gy.shape(), {DType::Float32, Device::cpu(), c.format}), y64 = empty_as64(y);
    ASSERT_TRUE(cpu::fast::depthwise_conv2d_forward(p, x, w, b, y));
    reference_backend().conv2d_forward(p, as64(x), as64(w), as64(b), y64);
    EXPECT_CLOSE(y, y64, 1e-5);
    Tensor gx = empty_like(x), gx64 = empty_as64(x);
    ASSERT_TRUE(cpu::fast::depthwise_conv2d_backward_data(p, gy, w, gx));
    reference_backend().conv2d_backward_data(p, as64(gy), as64(w), gx64);
    EXPECT_CLOSE(gx, gx64, 1e-5);
    Tensor gw = empty_like(w), gw64 = empty_as64(w), gb = b.defined() ? empty_like(b) : Tensor(), gb64 = empty_as64(b);
    ASSERT_TRUE(cpu::fast::depthwise_conv2d_backward_weight(p, gy, x, gw, gb, weights_isa));
    reference_backend().conv2d_backward_weight(p, as64(gy), as64(x), gw64, gb64);
    EXPECT_CLOSE(gw, gw64, 1e-5);
    if (b.defined()) {
      EXPECT_CLOSE(gb, gb64, 1e-5);
    }
    ++tested;
  }
}

TEST(CpuFast, DepthwiseChannelsLast) {
  if (!cpu::fast::cpu_supported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  check_depthwise_channels_last(cpu::fast::VectorIsa::Avx2);
}

TEST(CpuFast, DepthwiseChannelsLastAvx512Weights) {
  if (!cpu::fast::avx512_supported()) GTEST_SKIP() << "no AVX-512F on this CPU: the AVX-512 build is not tested";
  check_depthwise_channels_last(cpu::fast::VectorIsa::Avx512);
}

// Restores the backend's vector width on any exit from a test that changes it.
struct ScopedVectorIsa {
  cpu::fast::VectorIsa saved = cpu::vector_isa();
  ~ScopedVectorIsa() { cpu::set_vector_isa(saved); }
};

// The width the backend starts with, as it reads FIGS_CPU_ISA (unset or empty: the widest the CPU
// has, by CPUID).
cpu::fast::VectorIsa expected_starting_isa() {
  const std::string env = std::getenv("FIGS_CPU_ISA") ? std::getenv("FIGS_CPU_ISA") : "";
  if (env == "none") return cpu::fast::VectorIsa::None;
  if (env == "avx2") return cpu::fast::VectorIsa::Avx2;
  if (env == "avx512") return cpu::fast::VectorIsa::Avx512;
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2 && __builtin_cpu_supports("avx512f")) return cpu::fast::VectorIsa::Avx512;
  return avx2 ? cpu::fast::VectorIsa::Avx2 : cpu::fast::VectorIsa::None;
}

// The backend's vector width picks the depthwise backward-weights' build, and the kernel counts
// name the one that ran; asking for AVX-512 where the CPU lacks it is an error.
TEST(CpuFast, VectorIsaPicksTheDepthwiseWeightsBuild) {
  if (!cpu::fast::cpu_supported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  EXPECT_EQ(cpu::vector_isa(), expected_starting_isa());
  ScopedVectorIsa restore;
  ConvCase c{{2, 19, 11, 9}, 19, 5, {}, true, MemoryFormat::ChannelsLast};
  c.p.groups = 19;
  c.p.pad_h = c.p.pad_w = 2;
  for (const cpu::fast::VectorIsa isa : {cpu::fast::VectorIsa::Avx2, cpu::fast::VectorIsa::Avx512}) {
    if (isa == cpu::fast::VectorIsa::Avx512 && !cpu::fast::avx512_supported()) {
      EXPECT_THROW(cpu::set_vector_isa(isa), Error);
      continue;
    }
    SCOPED_TRACE(cpu::vector_isa_name(isa));
    cpu::set_vector_isa(isa);
    const std::string impl = std::string(cpu::vector_isa_name(isa)) + "-depthwise";
    check_conv(c, 77, have_onednn() ? kOneDnn : "avx2-depthwise", impl.c_str());
  }
}

TEST(CpuFast, Matmul) {
  if (!have_onednn()) GTEST_SKIP() << "built without oneDNN";
  Dice d(2);
  for (int i = 0; i < 20; ++i) {
    const int64_t M = d.pick(1, 17), K = d.pick(1, 33), N = d.pick(1, 19);
    // Half the cases read a transposed (strided) operand, as linear's backward does.
    const bool ta = d.coin(), tb = d.coin();
    const Tensor a = ta ? raw::permute(random32({K, M}, 10 + i), {1, 0}) : random32({M, K}, 10 + i);
    const Tensor b = tb ? raw::permute(random32({N, K}, 50 + i), {1, 0}) : random32({K, N}, 50 + i);
    SCOPED_TRACE(str_cat("case ", i, ": ", M, "x", K, " @ ", K, "x", N, " ta ", ta, " tb ", tb));
    Tensor out = empty({M, N}), out64 = empty({M, N}, {DType::Float64});
    run_fast("matmul", kOneDnn, [&] { cpu_backend().matmul(a, b, out); });
    reference_backend().matmul(as64(a), as64(b), out64);
    EXPECT_CLOSE(out, out64, 1e-5);
  }
}

TEST(CpuFast, Pooling) {
  Dice d(3);
  for (int i = 0; i < 24; ++i) {
    Pool2dParams p;
    p.kernel_h = p.kernel_w = static_cast<int>(d.pick(2, 3));
    p.stride_h = p.stride_w = static_cast<int>(d.pick(1, 2));
    p.pad_h = p.pad_w = static_cast<int>(d.pick(0, p.kernel_h / 2));
    p.count_include_pad = d.coin();
    // C up to 37: the channels-last max pool's vector loop and its tail.
    const int64_t N = d.pick(1, 3), C = d.pick(1, 37), H = d.pick(3, 15), W = d.pick(3, 14);
    const int64_t OH = window_output_size(H, p.kernel_h, p.stride_h, p.pad_h, 1);
    const int64_t OW = window_output_size(W, p.kernel_w, p.stride_w, p.pad_w, 1);
    const MemoryFormat f = d.layout();
    SCOPED_TRACE(str_cat("case ", i, ": x ", Shape{N, C, H, W}, " k ", p.kernel_h, " s ", p.stride_h, " p ", p.pad_h,
                         " include_pad ", p.count_include_pad, " ", memory_format_name(f)));
    Tensor x = random32({N, C, H, W}, 10 + i, f);
    const Tensor gy = random32({N, C, OH, OW}, 100 + i, f);
    if (i % 3 == 0) {  // ReLU'd inputs, as in the networks: windows full of ties at 0 (the first one wins)
      Tensor r = empty_like(x);
      reference_backend().unary(UnaryOp::Relu, 0, x, r);
      x = r;
    }
    const TensorOptions out_opts{DType::Float32, Device::cpu(), f};

    Tensor y = empty(gy.shape(), out_opts), idx = empty(gy.shape(), {DType::Int64, Device::cpu(), f});
    Tensor y64 = empty_as64(y), idx64 = empty(gy.shape(), {DType::Int64});
    run_fast("max_pool2d_forward", kAvx2, [&] { cpu_backend().max_pool2d_forward(p, x, y, idx); });
    reference_backend().max_pool2d_forward(p, as64(x), y64, idx64);
    EXPECT_CLOSE(y, y64, 1e-7);
    EXPECT_EQ(idx.to_vector<int64_t>(), idx64.to_vector<int64_t>());
    // Inference: no indices, the same values.
    Tensor yv = empty(gy.shape(), out_opts), yv64 = empty_as64(y);
    run_fast("max_pool2d_forward", kAvx2, [&] { cpu_backend().max_pool2d_forward(p, x, yv, Tensor()); });
    reference_backend().max_pool2d_forward(p, as64(x), yv64, Tensor());
    EXPECT_CLOSE(yv, y64, 1e-7) << "without indices";
    EXPECT_CLOSE(yv64, y64, 0) << "the reference without indices";
    Tensor gx = empty_like(x), gx64 = empty_as64(x);
    run_fast("max_pool2d_backward", kAvx2, [&] { cpu_backend().max_pool2d_backward(p, gy, idx, gx); });
    reference_backend().max_pool2d_backward(p, as64(gy), idx64, gx64);
    EXPECT_CLOSE(gx, gx64, 1e-6);
    // From the input instead of the argmax: the same argmax, found again, so the same bits; and
    // the reference backend's composition (Backend's default) gives the reference's gradient.
    Tensor gx_in = empty_like(x), gx_in64 = empty_as64(x);
    run_fast("max_pool2d_backward_from_input", kAvx2,
             [&] { cpu_backend().max_pool2d_backward_from_input(p, gy, x, gx_in); });
    EXPECT_EQ(gx_in.to_vector<float>(), gx.to_vector<float>()) << "from the input";
    reference_backend().max_pool2d_backward_from_input(p, as64(gy), as64(x), gx_in64);
    EXPECT_CLOSE(gx_in64, gx64, 0) << "the reference from the input";

    const char* avg_impl = f == MemoryFormat::ChannelsLast ? kAvx2 : kOneDnn;
    if (!have_onednn() && f != MemoryFormat::ChannelsLast) continue;
    run_fast("avg_pool2d_forward", avg_impl, [&] { cpu_backend().avg_pool2d_forward(p, x, y); });
    reference_backend().avg_pool2d_forward(p, as64(x), y64);
    EXPECT_CLOSE(y, y64, 1e-6);
    run_fast("avg_pool2d_backward", avg_impl, [&] { cpu_backend().avg_pool2d_backward(p, gy, gx); });
    reference_backend().avg_pool2d_backward(p, as64(gy), gx64);
    EXPECT_CLOSE(gx, gx64, 1e-6);
  }
}

TEST(CpuFast, BatchNorm) {
  if (!have_onednn()) GTEST_SKIP() << "built without oneDNN";
  Dice d(4);
  for (int i = 0; i < 20; ++i) {
    const int64_t N = d.pick(1, 4), C = d.pick(1, 19), H = d.pick(1, 9), W = d.pick(2, 9);
    const MemoryFormat f = d.layout();
    const bool affine = d.coin(), relu = d.coin();
    const BatchNormParams p{true, 0.1, 1e-5, relu};
    SCOPED_TRACE(str_cat("case ", i, ": x ", Shape{N, C, H, W}, " affine ", affine, " relu ", relu, " ",
                         memory_format_name(f)));
    const Tensor x = random32({N, C, H, W}, 10 + i, f, -2, 3), gy = random32({N, C, H, W}, 50 + i, f);
    const Tensor gamma = affine ? random32({C}, 90 + i, {}, 0.5, 1.5) : Tensor();
    const Tensor beta = affine ? random32({C}, 130 + i) : Tensor();
    Tensor rm = random32({C}, 170 + i), rv = random32({C}, 210 + i, {}, 0.5, 2);
    Tensor rm64 = as64(rm), rv64 = as64(rv);
    Tensor y = empty_like(x), mean = empty({C}), invstd = empty({C});
    Tensor y64 = empty_as64(x), mean64 = empty({C}, {DType::Float64}), invstd64 = empty({C}, {DType::Float64});
    // Own kernels on channels-last with the ReLU or C not a multiple of 16, else oneDNN (the ReLU
    // composed on NCHW; cpu_backend.cpp).
    const char* bn_impl = f == MemoryFormat::ChannelsLast && (relu || C % 16 != 0) ? kAvx2 : kOneDnn;
    run_fast("batch_norm_forward_training", bn_impl,
             [&] { cpu_backend().batch_norm_forward_training(p, x, gamma, beta, rm, rv, y, mean, invstd); });
    reference_backend().batch_norm_forward_training(p, as64(x), as64(gamma), as64(beta), rm64, rv64, y64, mean64,
                                                    invstd64);
    EXPECT_CLOSE(y, y64, 1e-5);
    EXPECT_CLOSE(mean, mean64, 1e-6);
    EXPECT_CLOSE(invstd, invstd64, 1e-5);
    EXPECT_CLOSE(rm, rm64, 1e-6);
    EXPECT_CLOSE(rv, rv64, 1e-5);

    for (const bool training : {true, false}) {
      BatchNormParams q = p;
      q.training = training;
      Tensor m = mean, is = invstd, m64 = mean64, is64 = invstd64;
      if (!training) {  // eval backward normalises with the running statistics
        m = rm, m64 = rm64;
        is = raw::to_dtype(as64(rv), DType::Float32);
        is64 = empty({C}, {DType::Float64});
        for (int64_t c = 0; c < C; ++c) {
          const double v = 1 / std::sqrt(rv64.data<double>()[c] + p.eps);
          is.data<float>()[c] = static_cast<float>(v);
          is64.data<double>()[c] = v;
        }
      }
      Tensor gx = empty_like(x), gg = affine ? empty({C}) : Tensor(), gb = affine ? empty({C}) : Tensor();
      Tensor gx64 = empty_as64(x), gg64 = empty_as64(gg), gb64 = empty_as64(gb);
      run_fast("batch_norm_backward", bn_impl,
               [&] { cpu_backend().batch_norm_backward(q, gy, x, gamma, beta, m, is, gx, gg, gb); });
      reference_backend().batch_norm_backward(q, as64(gy), as64(x), as64(gamma), as64(beta), m64, is64, gx64, gg64,
                                              gb64);
      EXPECT_CLOSE(gx, gx64, 1e-4) << "training " << training;
      if (affine) {
        EXPECT_CLOSE(gg, gg64, 1e-4);
        EXPECT_CLOSE(gb, gb64, 1e-5);
      }
    }
    Tensor yi = empty_like(x), yi64 = empty_as64(x);
    const BatchNormParams eval{false, 0.1, 1e-5, relu};
    run_fast("batch_norm_forward_inference", bn_impl,
             [&] { cpu_backend().batch_norm_forward_inference(eval, x, gamma, beta, rm, rv, yi); });
    reference_backend().batch_norm_forward_inference(eval, as64(x), as64(gamma), as64(beta), as64(rm), as64(rv), yi64);
    EXPECT_CLOSE(yi, yi64, 1e-5);
  }
}

// batch_norm's fused ReLU is relu(batch_norm(...)) as one op: the same numbers, forward and
// backward, on the float32 fast paths (own kernels channels-last, oneDNN composed on NCHW) and the
// reference, training and eval.
TEST(CpuFast, BatchNormFusedReluEqualsBatchNormThenRelu) {
  for (const cpu::KernelMode mode : {cpu::KernelMode::Fast, cpu::KernelMode::Reference})
    for (const MemoryFormat f : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
      for (const bool training : {true, false}) {
        SCOPED_TRACE(str_cat(cpu::kernel_mode_name(mode), " ", memory_format_name(f), training ? " training" : " eval"));
        cpu::set_kernel_mode(mode);
        Generator gen(7);
        const Tensor x0 = uniform({3, 19, 5, 7}, -2, 2, gen, {DType::Float32, Device::cpu(), f});
        const Tensor gy = uniform({3, 19, 5, 7}, -1, 1, gen, {DType::Float32, Device::cpu(), f});
        const Tensor g0 = uniform({19}, 0.5, 1.5, gen), b0 = uniform({19}, -0.5, 0.5, gen);
        auto run = [&](bool fused) {
          const Tensor x = raw::clone(x0).set_requires_grad(), gamma = raw::clone(g0).set_requires_grad(),
                       beta = raw::clone(b0).set_requires_grad();
          const Tensor rm = full({19}, 0.1), rv = full({19}, 1.5);
          const BatchNormParams p{training, 0.1, 1e-5, fused};
          const Tensor y = fused ? batch_norm(x, gamma, beta, rm, rv, p) : relu(batch_norm(x, gamma, beta, rm, rv, p));
          backward(y, gy);
          return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                                 gamma.grad().to_vector<float>(), beta.grad().to_vector<float>(),
                                                 rm.to_vector<float>(), rv.to_vector<float>()};
        };
        reset_kernel_counts();
        const auto fused = run(true);
        if (mode == cpu::KernelMode::Fast && f == MemoryFormat::Contiguous && have_onednn() && training &&
            cpu::vector_isa() != cpu::fast::VectorIsa::None) {  // oneDNN's NCHW backward, gated by the own gate kernel
          EXPECT_EQ(kernel_counts().count({"batch_norm_relu_gate", "avx2"}), 1u) << kernel_counts_summary();
        }
        const auto two_ops = run(false);
        const char* names[] = {"y", "dx", "dgamma", "dbeta", "running_mean", "running_var"};
        for (size_t i = 0; i < fused.size(); ++i) EXPECT_EQ(fused[i], two_ops[i]) << names[i];
        const std::vector<float>& y = fused[0];
        EXPECT_GT(std::count(y.begin(), y.end(), 0.f), static_cast<long>(y.size() / 5)) << "the ReLU must clamp";
        cpu::set_kernel_mode(cpu::KernelMode::Fast);
      }
}

// At stride 1 the max_pool2d op keeps its input rather than an int64 argmax, and finds the argmax
// again in the backward (Note [Max pool keeps its input or its argmax]): the forward allocates
// the output alone, and the gradient is the one the kernels give from the forward's argmax.
TEST(CpuFast, MaxPoolAtStrideOneKeepsNoArgmax) {
  for (const MemoryFormat f : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    SCOPED_TRACE(memory_format_name(f));
    const Pool2dParams p{3, 3, 1, 1, 1, 1, true};
    Tensor x0 = random32({3, 7, 9, 8}, 21, f);
    Tensor relu_x = empty_like(x0);  // ties at 0, as after a ReLU: the first one must win in both
    reference_backend().unary(UnaryOp::Relu, 0, x0, relu_x);
    const Tensor gy = random32({3, 7, 9, 8}, 22, f);
    const Tensor x = raw::clone(relu_x).set_requires_grad();
    const size_t before = cpu::allocator_stats().bytes_in_use;
    const Tensor y = max_pool2d(x, p);
    EXPECT_EQ(cpu::allocator_stats().bytes_in_use - before, cpu::size_class(static_cast<size_t>(y.numel()) * 4))
        << "the forward allocated more than its output";
    backward(y, gy);
    Tensor idx = empty(gy.shape(), {DType::Int64, Device::cpu(), f}), y_kernel = empty_like(gy),
           gx = empty_like(relu_x);
    cpu_backend().max_pool2d_forward(p, relu_x, y_kernel, idx);
    cpu_backend().max_pool2d_backward(p, gy, idx, gx);
    EXPECT_EQ(x.grad().to_vector<float>(), gx.to_vector<float>());
    EXPECT_EQ(y.to_vector<float>(), y_kernel.to_vector<float>());
  }
}

// The gate where it is most fragile: beta set so that one value per channel normalises to
// within rounding of 0. With gy = 1 the backward's gbeta counts the gate's open positions, which
// must be exactly the forward's positive outputs: a gate computed in other arithmetic than the
// forward's (double instead of the kernel's fma, say) flips some of them.
TEST(CpuFast, BatchNormReluGateMatchesTheForwardAtZero) {
  for (const cpu::KernelMode mode : {cpu::KernelMode::Fast, cpu::KernelMode::Reference}) {
    SCOPED_TRACE(cpu::kernel_mode_name(mode));
    cpu::set_kernel_mode(mode);
    const int64_t N = 4, C = 64, H = 6, W = 5, M = N * H * W;
    const Tensor x = random32({N, C, H, W}, 31, MemoryFormat::ChannelsLast, -2, 3);
    const Tensor gamma = random32({C}, 32, {}, 0.5, 1.5), gy = full({N, C, H, W}, 1.0);
    const Tensor gy_cl = raw::contiguous(gy, MemoryFormat::ChannelsLast);
    const BatchNormParams p{true, 0.1, 1e-5, true};
    Tensor y = empty_like(x), mean = empty({C}), invstd = empty({C}), beta = zeros({C});
    cpu_backend().batch_norm_forward_training(p, x, gamma, beta, Tensor(), Tensor(), y, mean, invstd);
    // Value i of channel c in NCHW order (i over N, H, W).
    auto at = [&](int64_t c, int64_t i) { return (i / (H * W) * C + c) * H * W + i % (H * W); };
    const std::vector<float> xv = raw::contiguous(x, MemoryFormat::Contiguous).to_vector<float>();
    for (int64_t c = 0; c < C; ++c) {  // value c % M of channel c normalises to ~0
      const double v = (xv[at(c, c % M)] - mean.to_vector<float>()[c]) * double(invstd.to_vector<float>()[c]) *
                       gamma.to_vector<float>()[c];
      beta.data<float>()[c] = static_cast<float>(-v);
    }
    cpu_backend().batch_norm_forward_training(p, x, gamma, beta, Tensor(), Tensor(), y, mean, invstd);
    Tensor gx = empty_like(x), gg = empty({C}), gb = empty({C});
    cpu_backend().batch_norm_backward(p, gy_cl, x, gamma, beta, mean, invstd, gx, gg, gb);
    const std::vector<float> yv = raw::contiguous(y, MemoryFormat::Contiguous).to_vector<float>();
    const std::vector<float> open = gb.to_vector<float>();
    for (int64_t c = 0; c < C; ++c) {
      int64_t positive = 0;
      for (int64_t i = 0; i < M; ++i) positive += yv[at(c, i)] > 0;
      EXPECT_EQ(open[c], static_cast<float>(positive)) << "channel " << c;
    }
    cpu::set_kernel_mode(cpu::KernelMode::Fast);
  }
}

// The fused ReLU's backward recomputes its gate from x (Note [The fused ReLU's gate is
// recomputed]), so an output whose consumers keep nothing of it (here a concat, as One-Shot's
// operators feed their projection) is freed when the caller drops it: the allocator's bytes in
// use fall by its block. The gradients are still those of BN then the relu op, bit for bit.
TEST(CpuFast, BatchNormFusedReluKeepsNoCopyOfItsOutput) {
  for (const cpu::KernelMode mode : {cpu::KernelMode::Fast, cpu::KernelMode::Reference})
    for (const MemoryFormat f : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
      SCOPED_TRACE(str_cat(cpu::kernel_mode_name(mode), " ", memory_format_name(f)));
      cpu::set_kernel_mode(mode);
      Generator gen(11);
      const TensorOptions o{DType::Float32, Device::cpu(), f};
      const Tensor x0 = uniform({4, 21, 9, 11}, -2, 2, gen, o), other = uniform({4, 5, 9, 11}, -1, 1, gen, o);
      const Tensor g0 = uniform({21}, 0.5, 1.5, gen), b0 = uniform({21}, -0.5, 0.5, gen);
      const Tensor w = uniform({4, 26, 9, 11}, -1, 1, gen, o);
      auto grads = [&](bool fused) {
        const Tensor x = raw::clone(x0).set_requires_grad(), gamma = raw::clone(g0).set_requires_grad(),
                     beta = raw::clone(b0).set_requires_grad();
        const BatchNormParams p{true, 0.1, 1e-5, fused};
        Tensor y = fused ? batch_norm(x, gamma, beta, Tensor(), Tensor(), p)
                         : relu(batch_norm(x, gamma, beta, Tensor(), Tensor(), p));
        const Tensor loss = sum(mul(concat({y, other}, 1), w));  // neither concat nor mul keeps y
        if (fused) {
          const size_t before = cpu::allocator_stats().bytes_in_use;
          const size_t block = cpu::size_class(static_cast<size_t>(y.numel()) * sizeof(float));
          y = Tensor();
          EXPECT_EQ(before - cpu::allocator_stats().bytes_in_use, block) << "something still keeps the output";
        }
        backward(loss);
        return std::vector<std::vector<float>>{x.grad().to_vector<float>(), gamma.grad().to_vector<float>(),
                                               beta.grad().to_vector<float>()};
      };
      EXPECT_EQ(grads(true), grads(false));
      cpu::set_kernel_mode(cpu::KernelMode::Fast);
    }
}

// A unary op keeps for its backward only the tensor its derivative reads
// (elementwise_math::unary_derivative_reads): relu keeps its output, not its input (in a One-Shot
// block the input is a sum that nothing else keeps), log its input, neg neither. Each handle is
// dropped in turn: the allocator's bytes fall by the tensor's block exactly when the op did not
// keep it. The gradients, under a random gy and inputs on both sides of every kink, come out as
// the derivative by hand says, so a kernel that read the wrong tensor (or the gy standing in for
// the one not kept) would fail.
TEST(CpuFast, UnaryOpsKeepOnlyWhatTheirDerivativeReads) {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    double lo, hi;  // x's range
    bool keeps_x, keeps_y;
    std::function<double(double)> derivative;
  };
  const std::vector<Case> cases{
      {"relu", [](const Tensor& x) { return relu(x); }, -4, 4, false, true, [](double v) { return v > 0 ? 1.0 : 0.0; }},
      {"relu6", [](const Tensor& x) { return relu6(x); }, -4, 9, false, true,
       [](double v) { return v > 0 && v < 6 ? 1.0 : 0.0; }},
      {"exp", [](const Tensor& x) { return exp(x); }, -4, 4, false, true, [](double v) { return std::exp(v); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -4, 4, false, true,
       [](double v) { const double s = 1 / (1 + std::exp(-v)); return s * (1 - s); }},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.2, 4, false, true, [](double v) { return 0.5 / std::sqrt(v); }},
      {"log", [](const Tensor& x) { return log(x); }, 0.2, 4, true, false, [](double v) { return 1 / v; }},
      {"pow", [](const Tensor& x) { return pow(x, 3); }, -2, 2, true, false, [](double v) { return 3 * v * v; }},
      {"neg", [](const Tensor& x) { return neg(x); }, -4, 4, false, false, [](double) { return -1.0; }},
      {"add_scalar", [](const Tensor& x) { return add_scalar(x, 2.5); }, -4, 4, false, false, [](double) { return 1.0; }},
      {"mul_scalar", [](const Tensor& x) { return mul_scalar(x, -1.5); }, -4, 4, false, false,
       [](double) { return -1.5; }},
  };
  for (const MemoryFormat f : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
    for (const Case& c : cases) {
      SCOPED_TRACE(str_cat(c.name, " ", memory_format_name(f)));
      Generator gen(5);
      const TensorOptions o{DType::Float32, Device::cpu(), f};
      // a + b is a non-leaf x in [lo, hi]; w (no gradient) makes gy random, and mul keeps only w.
      const Tensor a = uniform({3, 7, 5, 9}, c.lo / 2, c.hi / 2, gen, o).set_requires_grad();
      const Tensor b = uniform({3, 7, 5, 9}, c.lo / 2, c.hi / 2, gen, o), w = uniform({3, 7, 5, 9}, -1, 1, gen, o);
      Tensor x = add(a, b);
      const std::vector<float> xv = x.to_vector<float>(), wv = w.to_vector<float>();
      Tensor y = c.op(x);
      const Tensor loss = sum(mul(y, w));
      const size_t block = cpu::size_class(static_cast<size_t>(x.numel()) * sizeof(float));
      size_t before = cpu::allocator_stats().bytes_in_use;
      x = Tensor();
      EXPECT_EQ(before - cpu::allocator_stats().bytes_in_use, c.keeps_x ? 0 : block) << "x";
      before = cpu::allocator_stats().bytes_in_use;
      y = Tensor();
      EXPECT_EQ(before - cpu::allocator_stats().bytes_in_use, c.keeps_y ? 0 : block) << "y";
      backward(loss);
      const std::vector<float> g = a.grad().to_vector<float>();  // logical order, as xv and wv
      for (size_t i = 0; i < g.size(); ++i) {
        const double want = wv[i] * c.derivative(xv[i]);
        ASSERT_NEAR(g[i], want, 1e-4 * (1 + std::abs(want))) << "element " << i << ", x = " << xv[i];
      }
    }
}

// mul keeps an operand only for the other's gradient, div keeps b always and a only for b's:
// a product or quotient of a tensor with a constant keeps the constant, not the tensor, unless
// the tensor is the divisor. Gradients against the formulas by hand.
TEST(CpuFast, MulAndDivKeepAnOperandOnlyForAGradientThatReadsIt) {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&)> op;  // (t, c): t needs a gradient, c not
    bool keeps_t;
    std::function<double(double, double)> derivative;  // d op / dt at (t, c)
  };
  const std::vector<Case> cases{
      {"t * c", [](const Tensor& t, const Tensor& c) { return mul(t, c); }, false, [](double, double c) { return c; }},
      {"c * t", [](const Tensor& t, const Tensor& c) { return mul(c, t); }, false, [](double, double c) { return c; }},
      {"t / c", [](const Tensor& t, const Tensor& c) { return div(t, c); }, false,
       [](double, double c) { return 1 / c; }},
      {"c / t", [](const Tensor& t, const Tensor& c) { return div(c, t); }, true,
       [](double t, double c) { return -c / (t * t); }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    Generator gen(6);
    const Tensor p = uniform({5, 6, 7, 3}, 0.5, 1, gen).set_requires_grad(), q = uniform({5, 6, 7, 3}, 0.5, 1, gen);
    const Tensor c = uniform({5, 6, 7, 3}, 0.5, 2, gen), w = uniform({5, 6, 7, 3}, -1, 1, gen);
    Tensor t = add(p, q);  // a non-leaf in [1, 2]
    const std::vector<float> tv = t.to_vector<float>(), cv = c.to_vector<float>(), wv = w.to_vector<float>();
    const Tensor loss = sum(mul(k.op(t, c), w));
    const size_t block = cpu::size_class(static_cast<size_t>(t.numel()) * sizeof(float));
    const size_t before = cpu::allocator_stats().bytes_in_use;
    t = Tensor();
    EXPECT_EQ(before - cpu::allocator_stats().bytes_in_use, k.keeps_t ? 0 : block);
    backward(loss);
    const std::vector<float> g = p.grad().to_vector<float>();
    for (size_t i = 0; i < g.size(); ++i) {
      const double want = wv[i] * k.derivative(tv[i], cv[i]);
      ASSERT_NEAR(g[i], want, 1e-5 * (1 + std::abs(want))) << "element " << i;
    }
  }
}

// The backward of a concat hands out channel slices of its gradient. oneDNN's batch norm gives
// src/dst (and diff_src/diff_dst) one descriptor: such a gradient must not make it write the
// output with the slice's strides (Note [one layout for BN's data tensors]); the own kernels
// (channels-last) read the slice row by row, with or without the fused ReLU. The output tensors
// sit between guard tensors allocated right after them, whose values must survive.
TEST(CpuFast, BatchNormWithSlicedGradients) {
  if (!have_onednn()) GTEST_SKIP() << "built without oneDNN";
  for (const MemoryFormat f : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
  for (const bool relu : {false, true}) {
    SCOPED_TRACE(str_cat(memory_format_name(f), relu ? " relu" : ""));
    const int64_t N = 3, C = 5, H = 7, W = 6;
    const Tensor x = random32({N, C, H, W}, 1, f), wide = random32({N, 3 * C, H, W}, 2, f);
    const Tensor gy = raw::narrow(wide, 1, C, C);  // a view: strides of the 3C-channel tensor
    const Tensor gamma = random32({C}, 3, {}, 0.5, 1.5), beta = zeros({C}), mean = empty({C}), invstd = empty({C});
    const BatchNormParams p{true, 0.1, 1e-5, relu};
    Tensor y = empty_like(x);
    run_fast("batch_norm_forward_training", f == MemoryFormat::ChannelsLast ? kAvx2 : kOneDnn, [&] {
      cpu_backend().batch_norm_forward_training(p, x, gamma, beta, Tensor(), Tensor(), y, mean, invstd);
    });
    Tensor gx = empty_like(x);
    const Tensor guard = full({N, 3 * C, H, W}, 7.0);
    Tensor gg = empty({C}), gb = empty({C});
    run_fast("batch_norm_backward", f == MemoryFormat::ChannelsLast ? kAvx2 : kOneDnn,
             [&] { cpu_backend().batch_norm_backward(p, gy, x, gamma, beta, mean, invstd, gx, gg, gb); });
    Tensor gx64 = empty_as64(x), gg64 = empty({C}, {DType::Float64}), gb64 = empty({C}, {DType::Float64});
    reference_backend().batch_norm_backward(p, as64(gy), as64(x), as64(gamma), as64(beta), as64(mean), as64(invstd),
                                            gx64, gg64, gb64);
    EXPECT_CLOSE(gx, gx64, 1e-4);
    EXPECT_CLOSE(gg, gg64, 1e-4);
    for (float v : guard.to_vector<float>()) ASSERT_EQ(v, 7.0f) << "the backward wrote past its output";
  }
}

TEST(CpuFast, BinaryOpsSameShapePerChannelAndScalar) {
  if (!cpu::fast::cpu_supported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Dice d(5);
  for (int i = 0; i < 24; ++i) {
    const int64_t N = d.pick(1, 3), C = d.pick(1, 19), H = d.pick(1, 9), W = d.pick(1, 11);
    const MemoryFormat f = d.layout();
    const Tensor a = random32({N, C, H, W}, 10 + i, f, 0.5, 2);
    const int kind = i % 4;  // same shape, per-channel right, per-channel left, scalar
    const Tensor other = kind == 0 ? random32({N, C, H, W}, 60 + i, f, 0.5, 2)
                                   : (kind == 3 ? random32({}, 60 + i, {}, 0.5, 2)
                                                : random32(d.coin() ? Shape{1, C, 1, 1} : Shape{C, 1, 1}, 60 + i, {}, 0.5, 2));
    const Tensor& lhs = kind == 2 ? other : a;
    const Tensor& rhs = kind == 2 ? a : other;
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      SCOPED_TRACE(str_cat("case ", i, ": ", binary_op_name(op), " ", lhs.shape(), " with ", rhs.shape(), " ",
                           memory_format_name(f)));
      Tensor out = empty_like(a), out64 = empty_as64(a);
      run_fast("binary", kAvx2, [&] { cpu_backend().binary(op, lhs, rhs, out); });
      reference_backend().binary(op, as64(lhs), as64(rhs), out64);
      EXPECT_CLOSE(out, out64, 1e-6);
    }
  }
}

// Channel slices of wider tensors (what a concat's backward hands to the streams' sums): same
// shape, strided operands, walked in runs along the dim they all have unit stride; and the copy
// into and out of such slices. Operands of different layouts share no such dim and stay on the
// reference.
TEST(CpuFast, BinaryOpsAndCopiesOnChannelSlices) {
  if (!cpu::fast::cpu_supported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Dice d(8);
  for (int i = 0; i < 20; ++i) {
    const int64_t N = d.pick(1, 3), C = d.pick(2, 19), H = d.pick(1, 9), W = d.pick(2, 11);
    const MemoryFormat f = d.layout();
    const int64_t wide_a = C + d.pick(0, 7), wide_b = C + d.pick(1, 7);
    const Tensor a = raw::narrow(random32({N, wide_a, H, W}, 100 + i, f, 0.5, 2), 1, wide_a - C, C);
    const Tensor b = raw::narrow(random32({N, wide_b, H, W}, 200 + i, f, 0.5, 2), 1, d.pick(0, wide_b - C), C);
    const Tensor dense = random32({N, C, H, W}, 300 + i, f, 0.5, 2);
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      for (const bool both_sliced : {true, false}) {
        const Tensor& rhs = both_sliced ? b : dense;
        SCOPED_TRACE(str_cat("case ", i, ": ", binary_op_name(op), " ", a.shape(), " ", memory_format_name(f),
                             both_sliced ? ", both sliced" : ", one sliced"));
        Tensor out = empty({N, C, H, W}, {DType::Float32, Device::cpu(), f}), out64 = empty_as64(out);
        run_fast("binary", kAvx2, [&] { cpu_backend().binary(op, a, rhs, out); });
        reference_backend().binary(op, as64(a), as64(rhs), out64);
        EXPECT_CLOSE(out, out64, 1e-6);
      }
    }
    const Tensor wide = zeros({N, wide_b, H, W}, {DType::Float32, Device::cpu(), f});
    const Tensor slot = raw::narrow(wide, 1, wide_b - C, C);
    run_fast("copy", kAvx2, [&] { cpu_backend().copy(dense, slot); });
    EXPECT_EQ(slot.to_vector<float>(), dense.to_vector<float>());
    double outside = 0;  // the channels beside the slot stay zero
    for (float v : raw::narrow(wide, 1, 0, wide_b - C).to_vector<float>()) outside += std::abs(v);
    EXPECT_EQ(outside, 0.0);
  }
  const Tensor x = random32({2, 5, 3, 4}, 1, MemoryFormat::ChannelsLast), y = random32({2, 5, 3, 4}, 2);
  Tensor out = empty_like(x);
  run_fast("binary", "reference", [&] { cpu_backend().binary(BinaryOp::Add, x, y, out); });
}

TEST(CpuFast, UnaryOpsAndTheirDerivatives) {
  if (!cpu::fast::cpu_supported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Dice d(6);
  const std::vector<std::pair<UnaryOp, double>> ops = {
      {UnaryOp::Neg, 0},     {UnaryOp::Exp, 0},  {UnaryOp::Log, 0},       {UnaryOp::Sqrt, 0},
      {UnaryOp::Pow, 1.5},   {UnaryOp::Sigmoid, 0}, {UnaryOp::Relu, 0},   {UnaryOp::Relu6, 0},
      {UnaryOp::AddScalar, 0.25}, {UnaryOp::MulScalar, -3}};
  for (int i = 0; i < 20; ++i) {
    const MemoryFormat f = d.layout();
    const Shape s{d.pick(1, 3), d.pick(1, 19), d.pick(1, 9), d.pick(1, 13)};
    for (const auto& [op, alpha] : ops) {
      const bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Pow;
      const Tensor x = random32(s, 10 + i, f, positive ? 0.1 : -8, positive ? 4 : 8);
      const Tensor gy = random32(s, 50 + i, f);
      SCOPED_TRACE(str_cat("case ", i, ": ", unary_op_name(op), " on ", s, " ", memory_format_name(f)));
      Tensor y = empty_like(x), y64 = empty_as64(x);
      run_fast("unary", kAvx2, [&] { cpu_backend().unary(op, alpha, x, y); });
      reference_backend().unary(op, alpha, as64(x), y64);
      EXPECT_CLOSE(y, y64, 1e-6);
      Tensor gx = empty_like(x), gx64 = empty_as64(x);
      run_fast("unary_backward", kAvx2, [&] { cpu_backend().unary_backward(op, alpha, x, y, gy, gx); });
      reference_backend().unary_backward(op, alpha, as64(x), y64, as64(gy), gx64);
      EXPECT_CLOSE(gx, gx64, 1e-5);
      // A gradient that is a channel slice of a wider tensor (the backward of a concat's).
      const Tensor wide = random32({s[0], s[1] + 3, s[2], s[3]}, 90 + i, f);
      const Tensor gy_slice = raw::narrow(wide, 1, 2, s[1]);
      run_fast("unary_backward", kAvx2, [&] { cpu_backend().unary_backward(op, alpha, x, y, gy_slice, gx); });
      reference_backend().unary_backward(op, alpha, as64(x), y64, as64(gy_slice), gx64);
      EXPECT_CLOSE(gx, gx64, 1e-5) << "sliced gradient";
    }
  }
}

TEST(CpuFast, Sums) {
  if (!cpu::fast::cpu_supported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Dice d(7);
  for (int i = 0; i < 24; ++i) {
    const int kind = i % 3;  // everything, per channel, rows of (N, K)
    const MemoryFormat f = d.layout();
    const Tensor x = kind == 2 ? random32({d.pick(1, 300), d.pick(1, 40)}, 10 + i)
                               : random32({d.pick(1, 4), d.pick(1, 19), d.pick(1, 17), d.pick(1, 15)}, 10 + i, f);
    const Shape out_shape = kind == 0 ? Shape(std::vector<int64_t>(x.dim(), 1))
                                      : (kind == 1 ? Shape{1, x.size(1), 1, 1} : Shape{1, x.size(1)});
    SCOPED_TRACE(str_cat("case ", i, ": sum ", x.shape(), " -> ", out_shape, " ", memory_format_name(f)));
    Tensor out = empty(out_shape), out64 = empty(out_shape, {DType::Float64});
    run_fast("sum", kAvx2, [&] { cpu_backend().sum(x, out); });
    reference_backend().sum(as64(x), out64);
    EXPECT_CLOSE(out, out64, 1e-5);
  }
}

TEST(CpuFast, ChannelScaleBackwardIsFused) {
  if (!cpu::fast::cpu_supported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Dice d(9);
  for (int i = 0; i < 20; ++i) {
    const MemoryFormat f = d.layout();
    const Shape s{d.pick(1, 4), d.pick(1, 37), d.pick(1, 15), d.pick(1, 13)};
    const bool want_gx = i % 4 != 3;
    SCOPED_TRACE(str_cat("case ", i, ": ", s, " ", memory_format_name(f), " gx ", want_gx));
    const Tensor x = random32(s, 10 + i, f), gy = random32(s, 50 + i, f), scale = random32({s[1]}, 90 + i);
    Tensor gx = want_gx ? empty_like(x) : Tensor(), gs = empty({s[1]});
    Tensor gx64 = want_gx ? empty_as64(x) : Tensor(), gs64 = empty({s[1]}, {DType::Float64});
    run_fast("channel_scale_backward", kAvx2, [&] { cpu_backend().channel_scale_backward(gy, x, scale, gx, gs); });
    reference_backend().channel_scale_backward(as64(gy), as64(x), as64(scale), gx64, gs64);
    if (want_gx) {
      EXPECT_CLOSE(gx, gx64, 1e-6);
    }
    EXPECT_CLOSE(gs, gs64, 1e-5);
  }
}

TEST(CpuFast, FillAndCopy) {
  if (!cpu::fast::cpu_supported()) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const Tensor x = random32({3, 5, 7, 9}, 1, MemoryFormat::ChannelsLast);
  Tensor y = empty_like(x);
  run_fast("copy", kAvx2, [&] { cpu_backend().copy(x, y); });
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  run_fast("fill", kAvx2, [&] { cpu_backend().fill(y, 1.5); });
  EXPECT_EQ(y.to_vector<float>(), std::vector<float>(y.numel(), 1.5f));
}

TEST(CpuFast, ReferenceModeForcesTheReferenceKernels) {
  cpu::set_kernel_mode(cpu::KernelMode::Reference);
  const Tensor x = random32({1, 2, 3, 3}, 1);
  Tensor y = empty_like(x);
  run_fast("unary", "reference", [&] { cpu_backend().unary(UnaryOp::Relu, 0, x, y); });
  cpu::set_kernel_mode(cpu::KernelMode::Fast);
}

// The width None is what a CPU without AVX2 gets (tests/cli/test_without_avx2.sh runs one under
// QEMU) and what FIGS_CPU_ISA=none asks for: no own kernel runs. The ops whose own kernel goes
// first run on oneDNN or the reference instead, and still match the float64 reference.
TEST(CpuFast, VectorIsaNoneRunsNoOwnKernel) {
  EXPECT_EQ(cpu::vector_isa(), expected_starting_isa());
  EXPECT_STREQ(cpu::vector_isa_name(cpu::fast::VectorIsa::None), "none");
  ScopedVectorIsa restore;
  cpu::set_vector_isa(cpu::fast::VectorIsa::None);
  const char* instead = have_onednn() ? kOneDnn : "reference";
  // Channels-last depthwise backward-weights, k 5: the own kernel's case (VectorIsaPicks... above).
  ConvCase c{{2, 19, 11, 9}, 19, 5, {}, true, MemoryFormat::ChannelsLast};
  c.p.groups = 19;
  c.p.pad_h = c.p.pad_w = 2;
  check_conv(c, 78, instead, instead);
  // Elementwise: with no own kernel it runs on the reference (oneDNN has none for it).
  const Tensor x = random32({2, 3, 5, 7}, 1, MemoryFormat::ChannelsLast);
  Tensor y = empty_like(x), y64 = empty_as64(x);
  run_fast("unary", "reference", [&] { cpu_backend().unary(UnaryOp::Relu, 0, x, y); });
  reference_backend().unary(UnaryOp::Relu, 0, as64(x), y64);
  EXPECT_CLOSE(y, y64, 0);
  if (!cpu::fast::cpu_supported()) {
    EXPECT_THROW(cpu::set_vector_isa(cpu::fast::VectorIsa::Avx2), Error);
  }
}

TEST(CpuFast, CachingAllocatorReusesFreedBlocks) {
  { Tensor warm = empty({1000, 1000}); }
  const auto before = cpu::allocator_stats();
  for (int i = 0; i < 10; ++i) {
    Tensor t = empty({1000, 1000});
  }
  const auto after = cpu::allocator_stats();
  EXPECT_EQ(after.system_allocations, before.system_allocations);
  EXPECT_GE(after.cache_hits, before.cache_hits + 10);
  // 4,000,000 B lies between 2^21 and 2^22; classes there step by 2^21 / 4, so it rounds up to 2^22.
  EXPECT_EQ(cpu::size_class(4'000'000), 4'194'304u);
  EXPECT_EQ(cpu::size_class(100), 128u);
}

// FIGS_CPU_ALLOCATOR=guard puts an inaccessible page right after every block (rounded to 64 B),
// so reading or writing one element past the end kills the process. Death tests re-run this
// test in a fresh child ("threadsafe"), which reads the variable anew.
TEST(CpuAllocator, GuardModeFaultsOnOverrun) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ASSERT_EQ(setenv("FIGS_CPU_ALLOCATOR", "guard", 1), 0);
  EXPECT_DEATH(
      {
        Tensor t = empty({48});  // 192 B: ends exactly on the guard page
        volatile float* p = t.data<float>();
        for (int i = 0; i < 48; ++i) p[i] = 1.0f;  // in bounds: fine
        p[48] = 2.0f;
      },
      "");
  EXPECT_DEATH(
      {
        Tensor t = empty({48});
        volatile float* p = t.data<float>();
        std::printf("%f\n", static_cast<double>(p[48]));
      },
      "");
  unsetenv("FIGS_CPU_ALLOCATOR");
}

}  // namespace
}  // namespace figs

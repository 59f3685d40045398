// Every CUDA compute kernel against the CPU reference (cuda_test_util.h explains the measure):
// >= 10 random shapes per op with odd H/W, C not a multiple of 8 or 32, N = 1, stride 2,
// k = 3/5/7, NCHW and channels-last, forward and backward. Tolerances: float32 accumulation over
// a reduction of length L errs by about L * 2^-24 relative, far below 1e-4 at these sizes; a
// wrong index or a missing term is far above. Each case skips without a GPU.
#include "core/kernel_stats.h"
#include "figs_build_config.h"
#include "cuda/kernels.h"
#include "cuda/launch.h"
#include "cuda/noise.h"
#include "cuda_test_util.h"
#include "nas/mask.h"

namespace figs {
namespace {

using namespace cudatest;
constexpr double kTol = 1e-4;

// --- elementwise -------------------------------------------------------------------------

TEST(CudaKernels, UnaryForwardAndBackward) {
  FIGS_REQUIRE_GPU();
  Dice d(1);
  const UnaryOp ops[] = {UnaryOp::Neg,  UnaryOp::Exp,  UnaryOp::Log,       UnaryOp::Sqrt,     UnaryOp::Pow,
                         UnaryOp::Sigmoid, UnaryOp::Relu, UnaryOp::Relu6, UnaryOp::AddScalar, UnaryOp::MulScalar};
  int i = 0;
  for (UnaryOp op : ops)
    for (int rep = 0; rep < 2; ++rep, ++i) {
      const Shape s{d.pick(1, 3), d.pick(1, 37), d.pick(1, 9), d.pick(1, 11)};
      const MemoryFormat f = d.layout();
      SCOPED_TRACE(str_cat(unary_op_name(op), " ", s, " ", memory_format_name(f)));
      const bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Pow;
      const Tensor x = rand_cpu(s, 10 + i, f, positive ? 0.1 : -8, positive ? 3 : 8);
      const Tensor gy = rand_cpu(s, 100 + i, f);
      const double alpha = op == UnaryOp::Pow ? 1.7 : 0.3;
      Tensor y = gpu_out(s, f), y64 = ref_out(s, f);
      gpu_backend().unary(op, alpha, on_gpu(x, f), y);
      ref_backend().unary(op, alpha, as64(x), y64);
      EXPECT_GPU_CLOSE(y, y64, kTol);
      Tensor gx = gpu_out(s, f), gx64 = ref_out(s, f);
      // NCHW input with a channels-last gradient on odd reps: the strided path.
      const MemoryFormat gf = rep == 1 ? MemoryFormat::ChannelsLast : f;
      gpu_backend().unary_backward(op, alpha, on_gpu(x, f), y, on_gpu(gy, gf), gx);
      ref_backend().unary_backward(op, alpha, as64(x), y64, as64(gy), gx64);
      EXPECT_GPU_CLOSE(gx, gx64, kTol);
    }
}

TEST(CudaKernels, BinaryWithBroadcasting) {
  FIGS_REQUIRE_GPU();
  Dice d(2);
  for (int i = 0; i < 24; ++i) {
    const Shape s{d.pick(1, 3), d.pick(1, 37), d.pick(1, 9), d.pick(1, 11)};
    const MemoryFormat f = d.layout();
    const BinaryOp op = static_cast<BinaryOp>(i % 4);
    // Same shape, per-channel, one value, and a general broadcast (N, 1, H, 1); both sides.
    Shape bs = s;
    switch ((i / 4) % 4) {
      case 1: bs = {1, s[1], 1, 1}; break;
      case 2: bs = {1, 1, 1, 1}; break;
      case 3: bs = {s[0], 1, s[2], 1}; break;
      default: break;
    }
    const bool swap = i >= 16;
    SCOPED_TRACE(str_cat(binary_op_name(op), " ", s, " with ", bs, swap ? " (swapped)" : "", " ", memory_format_name(f)));
    const Tensor a = rand_cpu(s, 200 + i, f), b = rand_cpu(bs, 300 + i, f, 0.5, 2);  // b > 0: safe to divide
    const Tensor& lhs = swap ? b : a;
    const Tensor& rhs = swap ? a : b;
    Tensor out = gpu_out(s, f), out64 = ref_out(s, f);
    gpu_backend().binary(op, on_gpu(lhs, f), on_gpu(rhs, f), out);
    ref_backend().binary(op, as64(lhs), as64(rhs), out64);
    EXPECT_GPU_CLOSE(out, out64, kTol);
  }
}

TEST(CudaKernels, SumToAnyShape) {
  FIGS_REQUIRE_GPU();
  Dice d(3);
  for (int i = 0; i < 16; ++i) {
    const Shape s{d.pick(1, 5), d.pick(1, 37), d.pick(1, 13), d.pick(1, 15)};
    const MemoryFormat f = d.layout();
    // Reduce a random subset of dims (all, per channel, ...).
    Shape os = s;
    const int mask = i == 0 ? 15 : (i == 1 ? 13 : static_cast<int>(d.pick(1, 15)));
    for (int k = 0; k < 4; ++k)
      if (mask & (1 << k)) os[k] = 1;
    SCOPED_TRACE(str_cat(s, " -> ", os, " ", memory_format_name(f)));
    const Tensor x = rand_cpu(s, 400 + i, f);
    Tensor out = gpu_out(os), out64 = ref_out(os);
    gpu_backend().sum(on_gpu(x, f), out);
    ref_backend().sum(as64(x), out64);
    EXPECT_GPU_CLOSE(out, out64, kTol);
  }
  // A large sum over everything (splits across many blocks) and over rows of a matrix.
  const Tensor big = rand_cpu({1, 1, 1000, 999}, 499);
  Tensor out = gpu_out({1, 1, 1, 1}), out64 = ref_out({1, 1, 1, 1});
  gpu_backend().sum(on_gpu(big), out);
  ref_backend().sum(as64(big), out64);
  EXPECT_GPU_CLOSE(out, out64, 1e-5);
}

// --- classification ------------------------------------------------------------------------

TEST(CudaKernels, LogSoftmaxAndCrossEntropy) {
  FIGS_REQUIRE_GPU();
  Dice d(4);
  for (int i = 0; i < 12; ++i) {
    const int64_t N = d.pick(1, 70), K = i % 3 == 0 ? d.pick(1, 5) : d.pick(2, 1001);
    const double smoothing = i % 2 ? 0.1 : 0.0;
    SCOPED_TRACE(str_cat("N ", N, " K ", K, " smoothing ", smoothing));
    Tensor x = rand_cpu({N, K}, 500 + i, MemoryFormat::Contiguous, -6, 6);
    if (i % 4 == 3) x = raw::permute(rand_cpu({K, N}, 500 + i), {1, 0});  // a transposed view
    const Tensor gy = rand_cpu({N, K}, 600 + i);
    Tensor y = gpu_out({N, K}), y64 = ref_out({N, K});
    const Tensor xg = raw::to(x, Device::cuda());
    gpu_backend().log_softmax_forward(xg, y);
    ref_backend().log_softmax_forward(as64(x), y64);
    EXPECT_GPU_CLOSE(y, y64, kTol);
    Tensor gx = gpu_out({N, K}), gx64 = ref_out({N, K});
    gpu_backend().log_softmax_backward(y, on_gpu(gy), gx);
    ref_backend().log_softmax_backward(y64, as64(gy), gx64);
    EXPECT_GPU_CLOSE(gx, gx64, kTol);

    std::vector<int64_t> lab(N);
    for (auto& l : lab) l = d.pick(0, K - 1);
    const Tensor labels = from_vector(lab, {N});
    Tensor loss = gpu_out({}), loss64 = ref_out({});
    gpu_backend().cross_entropy_forward(xg, on_gpu(labels), smoothing, loss);
    ref_backend().cross_entropy_forward(as64(x), labels, smoothing, loss64);
    EXPECT_GPU_CLOSE(loss, loss64, kTol);
    const Tensor gl = full({}, 0.7);
    Tensor g = gpu_out({N, K}), g64 = ref_out({N, K});
    gpu_backend().cross_entropy_backward(xg, on_gpu(labels), smoothing, on_gpu(gl), g);
    ref_backend().cross_entropy_backward(as64(x), labels, smoothing, as64(gl), g64);
    EXPECT_GPU_CLOSE(g, g64, kTol);
  }
}

// Device labels are not checked on the host (autograd/ops/loss.cpp): a label outside [0, K)
// makes the loss and that row's gradient NaN, and the other rows keep their values.
TEST(CudaKernels, CrossEntropyWithALabelOutOfRangeIsNaN) {
  FIGS_REQUIRE_GPU();
  const Tensor x = rand_cpu({3, 4}, 77);
  for (int64_t bad : {int64_t{-1}, int64_t{4}}) {
    SCOPED_TRACE(bad);
    const Tensor labels = from_vector(std::vector<int64_t>{1, bad, 3}, {3});
    const Tensor loss = cross_entropy(raw::to(x, Device::cuda()), raw::to(labels, Device::cuda()));
    EXPECT_TRUE(std::isnan(loss.item<double>()));
    Tensor g = gpu_out({3, 4});
    gpu_backend().cross_entropy_backward(raw::to(x, Device::cuda()), on_gpu(labels), 0.0,
                                         on_gpu(full({}, 1.0)), g);
    const std::vector<float> gv = g.to_vector<float>();
    for (int k = 0; k < 4; ++k) {
      EXPECT_FALSE(std::isnan(gv[k])) << k;
      EXPECT_TRUE(std::isnan(gv[4 + k])) << k;
      EXPECT_FALSE(std::isnan(gv[8 + k])) << k;
    }
  }
}

// --- pooling -----------------------------------------------------------------------------------

TEST(CudaKernels, MaxAndAvgPooling) {
  FIGS_REQUIRE_GPU();
  Dice d(5);
  for (int i = 0; i < 16; ++i) {
    Pool2dParams p;
    p.kernel_h = p.kernel_w = static_cast<int>(d.pick(2, 3));
    p.stride_h = p.stride_w = static_cast<int>(d.pick(1, 2));
    p.pad_h = p.pad_w = static_cast<int>(d.pick(0, p.kernel_h / 2));
    p.count_include_pad = d.coin();
    const Shape s{d.pick(1, 3), d.pick(1, 37), d.pick(p.kernel_h, 15), d.pick(p.kernel_w, 14)};
    const MemoryFormat f = d.layout();
    const int64_t OH = window_output_size(s[2], p.kernel_h, p.stride_h, p.pad_h, 1);
    const int64_t OW = window_output_size(s[3], p.kernel_w, p.stride_w, p.pad_w, 1);
    const Shape os{s[0], s[1], OH, OW};
    SCOPED_TRACE(str_cat(s, " k ", p.kernel_h, " s ", p.stride_h, " pad ", p.pad_h, " include_pad ",
                         p.count_include_pad, " ", memory_format_name(f)));
    const Tensor x = rand_cpu(s, 700 + i, f), gy = rand_cpu(os, 800 + i, f);
    Tensor y = gpu_out(os, f), y64 = ref_out(os, f);
    Tensor idx = gpu_out(os, f, DType::Int64);
    Tensor idx64 = empty(os, {DType::Int64, Device::cpu(), f});
    gpu_backend().max_pool2d_forward(p, on_gpu(x, f), y, idx);
    ref_backend().max_pool2d_forward(p, as64(x), y64, idx64);
    EXPECT_GPU_CLOSE(y, y64, 0);
    EXPECT_EQ(idx.to_vector<int64_t>(), idx64.to_vector<int64_t>());
    Tensor gx = gpu_out(s, f), gx64 = ref_out(s, f);
    gpu_backend().max_pool2d_backward(p, on_gpu(gy, f), idx, gx);
    ref_backend().max_pool2d_backward(p, as64(gy), idx64, gx64);
    EXPECT_GPU_CLOSE(gx, gx64, kTol);
    // The backward from the input finds the same argmax and sums in the same order: gx equal to
    // the index-based backward's, bit for bit (Note [Max pool keeps its input or its argmax]).
    Tensor gxi = gpu_out(s, f);
    gpu_backend().max_pool2d_backward_from_input(p, on_gpu(gy, f), on_gpu(x, f), gxi);
    EXPECT_EQ(gxi.to_vector<float>(), gx.to_vector<float>());

    Tensor a = gpu_out(os, f), a64 = ref_out(os, f);
    gpu_backend().avg_pool2d_forward(p, on_gpu(x, f), a);
    ref_backend().avg_pool2d_forward(p, as64(x), a64);
    EXPECT_GPU_CLOSE(a, a64, kTol);
    Tensor ga = gpu_out(s, f), ga64 = ref_out(s, f);
    gpu_backend().avg_pool2d_backward(p, on_gpu(gy, f), ga);
    ref_backend().avg_pool2d_backward(p, as64(gy), ga64);
    EXPECT_GPU_CLOSE(ga, ga64, kTol);
  }
}

// Inputs of three values, so most windows tie: the backward from the input must pick the
// forward's argmax (the first maximum) or gradient lands on the wrong input.
TEST(CudaKernels, MaxPoolBackwardFromInputBreaksTiesAsTheForward) {
  FIGS_REQUIRE_GPU();
  for (const MemoryFormat f : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    SCOPED_TRACE(memory_format_name(f));
    Pool2dParams p;
    p.kernel_h = p.kernel_w = 3, p.stride_h = p.stride_w = 1, p.pad_h = p.pad_w = 1;
    const Shape s{2, 5, 9, 11};
    std::vector<float> values(static_cast<size_t>(s.numel()));
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 7919) % 3) - 1.f;
    const Tensor x = raw::contiguous(from_vector(values, s), f), gy = rand_cpu(s, 1300, f);
    Tensor idx64 = empty(s, {DType::Int64, Device::cpu(), f}), gx64 = ref_out(s, f);
    ref_backend().max_pool2d_forward(p, as64(x), ref_out(s, f), idx64);
    ref_backend().max_pool2d_backward(p, as64(gy), idx64, gx64);
    Tensor gx = gpu_out(s, f);
    gpu_backend().max_pool2d_backward_from_input(p, on_gpu(gy, f), on_gpu(x, f), gx);
    EXPECT_GPU_CLOSE(gx, gx64, kTol);
  }
}

// --- the fused mask backward ----------------------------------------------------------------------

TEST(CudaKernels, ChannelScaleBackwardIsOnePassOverBothLayouts) {
  FIGS_REQUIRE_GPU();
  Dice d(6);
  for (int i = 0; i < 14; ++i) {
    const Shape s{d.pick(1, 4), d.pick(1, 70), d.pick(1, 17), d.pick(1, 15)};
    const MemoryFormat f = i % 2 ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
    const bool want_gx = i % 5 != 4;
    SCOPED_TRACE(str_cat(s, " ", memory_format_name(f), want_gx ? "" : " (no gx)"));
    const Tensor x = rand_cpu(s, 900 + i, f), gy = rand_cpu(s, 1000 + i, f), scale = rand_cpu({s[1]}, 1100 + i);
    Tensor gx = want_gx ? gpu_out(s, f) : Tensor(), gx64 = want_gx ? ref_out(s, f) : Tensor();
    Tensor gs = gpu_out({s[1]}), gs64 = ref_out({s[1]});
    gpu_backend().channel_scale_backward(on_gpu(gy, f), on_gpu(x, f), on_gpu(scale), gx, gs);
    ref_backend().channel_scale_backward(as64(gy), as64(x), as64(scale), gx64, gs64);
    if (want_gx) {
      EXPECT_GPU_CLOSE(gx, gx64, kTol);
    }
    EXPECT_GPU_CLOSE(gs, gs64, kTol);
  }
}

// --- batch norm -----------------------------------------------------------------------------------

TEST(CudaKernels, BatchNormTrainingEvalAndBackward) {
  FIGS_REQUIRE_GPU();
  Dice d(7);
  for (int i = 0; i < 12; ++i) {
    const Shape s{d.pick(1, 4), d.pick(1, 45), d.pick(1, 13), d.pick(1, 11)};
    if (s[0] * s[2] * s[3] < 2) continue;
    const MemoryFormat f = d.layout();
    const bool affine = i % 3 != 2, relu = i % 2 == 1;
    SCOPED_TRACE(str_cat(s, " ", memory_format_name(f), affine ? "" : " (no affine)", relu ? " relu" : ""));
    const int64_t C = s[1];
    const Tensor x = rand_cpu(s, 1200 + i, f, -2, 3), gy = rand_cpu(s, 1300 + i, f);
    const Tensor gamma = affine ? rand_cpu({C}, 1400 + i, MemoryFormat::Contiguous, 0.5, 1.5) : Tensor();
    const Tensor beta = affine ? rand_cpu({C}, 1500 + i) : Tensor();
    const Tensor rm = rand_cpu({C}, 1600 + i), rv = rand_cpu({C}, 1700 + i, MemoryFormat::Contiguous, 0.5, 2);
    BatchNormParams p;
    p.relu = relu;  // the backward recomputes the gate from x (Note [The fused ReLU's gate is recomputed])
    Tensor rm_g = on_gpu(rm), rv_g = on_gpu(rv), rm64 = as64(rm), rv64 = as64(rv);
    Tensor y = gpu_out(s, f), y64 = ref_out(s, f), m = gpu_out({C}), m64 = ref_out({C}), is = gpu_out({C}),
           is64 = ref_out({C});
    gpu_backend().batch_norm_forward_training(p, on_gpu(x, f), on_gpu(gamma), on_gpu(beta), rm_g, rv_g, y, m, is);
    ref_backend().batch_norm_forward_training(p, as64(x), as64(gamma), as64(beta), rm64, rv64, y64, m64, is64);
    EXPECT_GPU_CLOSE(y, y64, kTol);
    EXPECT_GPU_CLOSE(m, m64, kTol);
    EXPECT_GPU_CLOSE(is, is64, kTol);
    EXPECT_GPU_CLOSE(rm_g, rm64, kTol);
    EXPECT_GPU_CLOSE(rv_g, rv64, kTol);

    for (bool training : {true, false}) {
      BatchNormParams q;
      q.training = training;
      q.relu = relu;
      Tensor gx = gpu_out(s, f), gx64 = ref_out(s, f);
      Tensor gg = affine ? gpu_out({C}) : Tensor(), gg64 = affine ? ref_out({C}) : Tensor();
      Tensor gb = affine ? gpu_out({C}) : Tensor(), gb64 = affine ? ref_out({C}) : Tensor();
      gpu_backend().batch_norm_backward(q, on_gpu(gy, f), on_gpu(x, f), on_gpu(gamma), on_gpu(beta), m, is, gx, gg, gb);
      ref_backend().batch_norm_backward(q, as64(gy), as64(x), as64(gamma), as64(beta), m64, is64, gx64, gg64, gb64);
      EXPECT_GPU_CLOSE(gx, gx64, kTol);
      if (affine) {
        EXPECT_GPU_CLOSE(gg, gg64, kTol);
        EXPECT_GPU_CLOSE(gb, gb64, kTol);
      }
    }

    BatchNormParams eval;
    eval.training = false;
    Tensor ye = gpu_out(s, f), ye64 = ref_out(s, f);
    gpu_backend().batch_norm_forward_inference(eval, on_gpu(x, f), on_gpu(gamma), on_gpu(beta), on_gpu(rm), on_gpu(rv), ye);
    ref_backend().batch_norm_forward_inference(eval, as64(x), as64(gamma), as64(beta), as64(rm), as64(rv), ye64);
    EXPECT_GPU_CLOSE(ye, ye64, kTol);
  }
}

// --- convolutions ---------------------------------------------------------------------------------

struct ConvCase {
  Shape x;
  int64_t C_out, KH, KW;
  Conv2dParams p;
  bool bias;
  MemoryFormat format;
  DType dtype = DType::Float32;
  std::string str() const {
    return str_cat("x ", x, " C_out ", C_out, " k ", KH, "x", KW, " stride ", p.stride_h, "x", p.stride_w, " pad ",
                   p.pad_h, " dilation ", p.dilation_h, " groups ", p.groups, " bias ", bias, " ",
                   memory_format_name(format), " ", dtype_name(dtype));
  }
};

void check_conv(const ConvCase& c, uint64_t seed) {
  SCOPED_TRACE(c.str());
  const Conv2dParams& p = c.p;
  const int64_t OH = window_output_size(c.x[2], static_cast<int>(c.KH), p.stride_h, p.pad_h, p.dilation_h);
  const int64_t OW = window_output_size(c.x[3], static_cast<int>(c.KW), p.stride_w, p.pad_w, p.dilation_w);
  ASSERT_GE(OH, 1);
  ASSERT_GE(OW, 1);
  const Shape ys{c.x[0], c.C_out, OH, OW}, ws{c.C_out, c.x[1] / p.groups, c.KH, c.KW};
  const Tensor x = rand_cpu(c.x, seed, c.format), w = rand_cpu(ws, seed + 1), gy = rand_cpu(ys, seed + 3, c.format);
  const Tensor b = c.bias ? rand_cpu({c.C_out}, seed + 2) : Tensor();
  auto dev = [&](const Tensor& t, MemoryFormat f = MemoryFormat::Contiguous) {
    return t.defined() ? raw::to_dtype(on_gpu(t, f), c.dtype) : t;
  };
  const double tol = c.dtype == DType::Float64 ? 1e-10 : kTol;

  Tensor y = gpu_out(ys, c.format, c.dtype), y64 = ref_out(ys, c.format);
  gpu_backend().conv2d_forward(p, dev(x, c.format), dev(w), dev(b), y);
  ref_backend().conv2d_forward(p, as64(x), as64(w), as64(b), y64);
  EXPECT_GPU_CLOSE(y, y64, tol);

  Tensor gx = gpu_out(c.x, c.format, c.dtype), gx64 = ref_out(c.x, c.format);
  gpu_backend().conv2d_backward_data(p, dev(gy, c.format), dev(w), gx);
  ref_backend().conv2d_backward_data(p, as64(gy), as64(w), gx64);
  EXPECT_GPU_CLOSE(gx, gx64, tol);

  Tensor gw = gpu_out(ws, MemoryFormat::Contiguous, c.dtype), gw64 = ref_out(ws);
  Tensor gb = c.bias ? gpu_out({c.C_out}, MemoryFormat::Contiguous, c.dtype) : Tensor();
  Tensor gb64 = c.bias ? ref_out({c.C_out}) : Tensor();
  gpu_backend().conv2d_backward_weight(p, dev(gy, c.format), dev(x, c.format), gw, gb);
  ref_backend().conv2d_backward_weight(p, as64(gy), as64(x), gw64, gb64);
  EXPECT_GPU_CLOSE(gw, gw64, tol);
  if (c.bias) {
    EXPECT_GPU_CLOSE(gb, gb64, tol);
  }
}

// The specialised kernels: k = 3/5/7, stride 1/2, float32, both layouts, odd sizes.
TEST(CudaKernels, DepthwiseConvSpecialised) {
  FIGS_REQUIRE_GPU();
  Dice d(8);
  for (int i = 0; i < 24; ++i) {
    const int64_t k = std::vector<int64_t>{3, 5, 7}[i % 3];
    const int s = 1 + (i / 3) % 2;
    const int64_t C = i == 0 ? 1 : d.pick(1, 70);
    // i / 6 alternates the layout, so every (k, stride) runs in both.
    ConvCase c{{i < 3 ? 1 : d.pick(1, 3), C, d.pick(k, 23), d.pick(k, 21)}, C, k, k, {}, d.coin(),
               (i / 6) % 2 ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous};
    c.p.groups = static_cast<int>(C);
    c.p.stride_h = c.p.stride_w = s;
    c.p.pad_h = c.p.pad_w = static_cast<int>(d.pick(0, k / 2));
    check_conv(c, 2000 + 10 * i);
  }
  // Enough positions that the weight gradient's reduction splits its rows (and sums the
  // partials per (channel, tap) first), with a row length that leaves a partial last tile.
  for (MemoryFormat f : {MemoryFormat::ChannelsLast, MemoryFormat::Contiguous}) {
    ConvCase c{{5, 37, 61, 59}, 37, 3, 3, {}, true, f};
    c.p.groups = 37;
    c.p.pad_h = c.p.pad_w = 1;
    check_conv(c, 2300);
  }
}

// Every backward-weight tile height (launch.h, kDepthwiseWeightTileRows), each (k, stride),
// both layouts, against the float64 reference: output heights that leave a partial last row
// tile and widths that leave a partial column tile, with and without the bias gradient.
TEST(CudaKernels, DepthwiseWeightGradientEveryTileHeight) {
  FIGS_REQUIRE_GPU();
#if FIGS_WITH_CUDA  // calls the kernel itself (cuda/kernels.h), which only a CUDA build has
  Dice d(10);
  int i = 0, r = 0;
  for (const int rows : cuda::kDepthwiseWeightTileRows) {
    ++r;
    for (const int64_t k : {3, 5, 7})
      for (const int s : {1, 2}) {
        ++i;
        const int64_t C = d.pick(1, 45), H = d.pick(k, 26), W = d.pick(k, 19), N = d.pick(1, 3);
        // The layout flips with the stride and with the tile height, so that every (k, stride)
        // and every height runs in both.
        const MemoryFormat f = (s + r) % 2 ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
        Conv2dParams p;
        p.groups = static_cast<int>(C);
        p.stride_h = p.stride_w = s;
        p.pad_h = p.pad_w = static_cast<int>(d.pick(0, k / 2));
        const bool bias = i % 3 != 0;
        SCOPED_TRACE(str_cat("rows ", rows, " k ", k, " s ", s, " N", N, " C", C, " H", H, " W", W, " pad ", p.pad_h,
                             bias ? " bias" : "", f == MemoryFormat::ChannelsLast ? " channels-last" : " NCHW"));
        const int64_t OH = window_output_size(H, static_cast<int>(k), s, p.pad_h, 1);
        const int64_t OW = window_output_size(W, static_cast<int>(k), s, p.pad_w, 1);
        const Tensor x = rand_cpu({N, C, H, W}, 4000 + i, f), gy = rand_cpu({N, C, OH, OW}, 4100 + i, f);
        Tensor gw = gpu_out({C, 1, k, k}, MemoryFormat::Contiguous, DType::Float32), gw64 = ref_out({C, 1, k, k});
        Tensor gb = bias ? gpu_out({C}, MemoryFormat::Contiguous, DType::Float32) : Tensor();
        Tensor gb64 = bias ? ref_out({C}) : Tensor();
        cuda::kernels::depthwise_conv2d_backward_weight(p, on_gpu(gy, f), on_gpu(x, f), gw, gb, rows);
        ref_backend().conv2d_backward_weight(p, as64(gy), as64(x), gw64, gb64);
        EXPECT_GPU_CLOSE(gw, gw64, kTol);
        if (bias) {
          EXPECT_GPU_CLOSE(gb, gb64, kTol);
        }
      }
  }
#endif
}

// The generic fallback: other kernel sizes, unequal strides, dilation, float64.
TEST(CudaKernels, DepthwiseConvGeneric) {
  FIGS_REQUIRE_GPU();
  Dice d(9);
  for (int i = 0; i < 12; ++i) {
    const int64_t kh = d.pick(1, 4), kw = i % 3 == 0 ? kh : d.pick(1, 4);
    const int64_t C = d.pick(1, 40);
    ConvCase c{{d.pick(1, 3), C, 0, 0}, C, kh, kw, {}, d.coin(), d.layout()};
    c.p.groups = static_cast<int>(C);
    c.p.stride_h = static_cast<int>(d.pick(1, 3));
    c.p.stride_w = static_cast<int>(d.pick(1, 2));
    c.p.dilation_h = c.p.dilation_w = static_cast<int>(d.pick(1, 2));
    c.p.pad_h = static_cast<int>(d.pick(0, 2));
    c.p.pad_w = static_cast<int>(d.pick(0, 2));
    c.x[2] = d.pick(c.p.dilation_h * (kh - 1) + 1, 19);
    c.x[3] = d.pick(c.p.dilation_w * (kw - 1) + 1, 17);
    if (i % 4 == 1) c.dtype = DType::Float64;
    if (i == 5) c.KH = c.KW = 5, c.p.stride_h = c.p.stride_w = 1, c.p.dilation_h = c.p.dilation_w = 1,
                c.dtype = DType::Float64, c.x[2] = 9, c.x[3] = 11;  // k = 5 in float64: generic too
    check_conv(c, 3000 + 10 * i);
  }
}

// Dense, pointwise and grouped convolutions on cuDNN.
TEST(CudaKernels, CudnnConvolutions) {
  FIGS_REQUIRE_GPU();
  Dice d(10);
  for (int i = 0; i < 15; ++i) {
    const int64_t k = std::vector<int64_t>{1, 3, 5, 7, 1}[i % 5];
    const int kind = i % 3;  // dense, grouped, pointwise-heavy
    const int64_t groups = kind == 1 ? d.pick(2, 3) : 1;
    const int64_t C = groups * d.pick(1, 13), C_out = groups * d.pick(1, 11);
    ConvCase c{{d.pick(1, 3), C, d.pick(k, 15), d.pick(k, 14)}, C_out, k, k, {}, d.coin(), d.layout()};
    c.p.groups = static_cast<int>(groups);
    c.p.stride_h = c.p.stride_w = static_cast<int>(d.pick(1, 2));
    c.p.pad_h = c.p.pad_w = static_cast<int>(d.pick(0, k / 2));
    if (i == 7) c.dtype = DType::Float64;
    check_conv(c, 4000 + 10 * i);
  }
  // Every layout x dtype x grouping on purpose: cuDNN 9's heuristics offer no usable algorithm for
  // some of them in the activations' own layout (float64 or grouped channels-last on an H200), and
  // those must take the packed-NCHW retry, not fail.
  int n = 0;
  for (MemoryFormat f : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
    for (DType dt : {DType::Float32, DType::Float64})
      for (int64_t groups : {1, 3})
        for (int64_t k : {1, 3}) {
          ConvCase c{{2, 3 * groups, 9, 8}, 2 * groups, k, k, {}, true, f};
          c.p.groups = static_cast<int>(groups);
          c.p.pad_h = c.p.pad_w = static_cast<int>(k / 2);
          c.dtype = dt;
          check_conv(c, 4500 + 10 * n++);
        }
}

// --- matmul -----------------------------------------------------------------------------------------

TEST(CudaKernels, MatmulWithTransposedViews) {
  FIGS_REQUIRE_GPU();
  Dice d(11);
  for (int i = 0; i < 16; ++i) {
    const int64_t M = d.pick(1, 67), K = d.pick(1, 71), N = d.pick(1, 65);
    const bool ta = i % 2, tb = (i / 2) % 2, tout = (i / 4) % 2;
    const DType dt = i == 15 ? DType::Float64 : DType::Float32;
    SCOPED_TRACE(str_cat(M, "x", K, " @ ", K, "x", N, " ta ", ta, " tb ", tb, " tout ", tout, " ", dtype_name(dt)));
    const Tensor a = ta ? raw::permute(rand_cpu({K, M}, 5000 + i), {1, 0}) : rand_cpu({M, K}, 5000 + i);
    const Tensor b = tb ? raw::permute(rand_cpu({N, K}, 5100 + i), {1, 0}) : rand_cpu({K, N}, 5100 + i);
    auto dev = [&](const Tensor& t) { return raw::to_dtype(raw::to(t, Device::cuda()), dt); };
    // raw::to keeps a transposed view's strides only if it copies them; make the GPU views explicitly.
    const Tensor ag = ta ? raw::permute(dev(raw::contiguous(raw::permute(a, {1, 0}))), {1, 0}) : dev(a);
    const Tensor bg = tb ? raw::permute(dev(raw::contiguous(raw::permute(b, {1, 0}))), {1, 0}) : dev(b);
    Tensor out = tout ? raw::permute(gpu_out({N, M}, MemoryFormat::Contiguous, dt), {1, 0})
                      : gpu_out({M, N}, MemoryFormat::Contiguous, dt);
    Tensor out64 = ref_out({M, N});
    gpu_backend().matmul(ag, bg, out);
    ref_backend().matmul(as64(a), as64(b), out64);
    EXPECT_GPU_CLOSE(out, out64, dt == DType::Float64 ? 1e-12 : kTol);
  }
}

// --- mask noise -------------------------------------------------------------------------------------

TEST(CudaKernels, MaskNoiseOnTheDeviceEqualsTheCpuNoise) {
  FIGS_REQUIRE_GPU();
  for (int64_t C : {1, 7, 33, 1001})
    for (uint64_t layer : {0u, 5u})
      for (uint64_t step : {0u, 3u, 1000000u}) {
        const nas::MaskNoiseKey key{77, layer, step};
        const auto cpu = nas::logistic_noise(C, key).to_vector<double>();
        const Tensor g = cuda::logistic_noise_device(C, RngDraw{key.seed, nas::kMaskStreamBase + layer, step * C});
        ASSERT_TRUE(g.device().is_cuda());
        const auto gpu = g.to_vector<double>();
        ASSERT_EQ(gpu.size(), cpu.size());
        // Same Philox words and uniform; CUDA's log/log1p are within 1-2 ulp of glibc's.
        for (size_t c = 0; c < cpu.size(); ++c)
          EXPECT_NEAR(gpu[c], cpu[c], 1e-14 * (1 + std::abs(cpu[c]))) << "C " << C << " layer " << layer << " step " << step << " c " << c;
      }
}

// csr_matvec (the expected cost's sparse sums) against the reference: odd sizes, empty rows and
// columns, repeated entries, float32 and float64, with the transpose the backward uses.
TEST(CudaKernels, CsrMatvecMatchesTheReference) {
  FIGS_REQUIRE_GPU();
  using namespace cudatest;
  Dice d(77);
  for (int i = 0; i < 8; ++i) {
    const int64_t rows = d.pick(1, 300), cols = d.pick(1, 5000);
    std::vector<SparseEntry> entries;
    const int64_t n = d.pick(0, 3 * cols);
    for (int64_t k = 0; k < n; ++k)
      entries.push_back({d.pick(0, rows - 1), d.pick(0, cols - 1), static_cast<double>(d.pick(-4, 4)) / 4});
    for (DType t : {DType::Float32, DType::Float64}) {
      SCOPED_TRACE(str_cat(rows, "x", cols, " nnz ", n, " ", dtype_name(t)));
      const SparseMatrix cpu = SparseMatrix::from_entries(rows, cols, entries, t);
      const SparseMatrix gpu = SparseMatrix::from_entries(rows, cols, entries, t, Device::cuda());
      const Tensor x = raw::to_dtype(rand_cpu({cols}, 800 + i), t), gx = raw::to(x, Device::cuda());
      const Tensor y = sparse_matvec(gpu, gx), want = sparse_matvec(cpu, x);
      EXPECT_LE(normalised_error(raw::to(y, Device::cpu()), want), t == DType::Float32 ? 1e-6 : 1e-14);
      // The transpose, as the backward runs it.
      const Tensor gy = raw::to_dtype(rand_cpu({rows}, 900 + i), t);
      Tensor gpu_t = empty({cols}, {t, Device::cuda()}), cpu_t = empty({cols}, {t});
      gpu_backend().csr_matvec(gpu.t_row_ptr, gpu.t_col, gpu.t_val, raw::to(gy, Device::cuda()), gpu_t);
      ref_backend().csr_matvec(cpu.t_row_ptr, cpu.t_col, cpu.t_val, gy, cpu_t);
      EXPECT_LE(normalised_error(raw::to(gpu_t, Device::cpu()), cpu_t), t == DType::Float32 ? 1e-6 : 1e-14);
    }
  }
}

// The CUDA backend records which implementation served a convolution (core/kernel_stats.h):
// its own depthwise kernels (specialised k = 3, stride 1, float32), their generic path (float64),
// and cuDNN for a dense convolution.
TEST(CudaKernels, ConvolutionsCountTheirImplementation) {
  FIGS_REQUIRE_GPU();
  using namespace cudatest;
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const Tensor x = on_gpu(rand_cpu({2, 8, 9, 9}, 700, MemoryFormat::ChannelsLast), MemoryFormat::ChannelsLast);
  Conv2dParams dw = p;
  dw.groups = 8;
  reset_kernel_counts();
  gpu_backend().conv2d_forward(dw, x, on_gpu(rand_cpu({8, 1, 3, 3}, 701)), Tensor(), gpu_out({2, 8, 9, 9}, MemoryFormat::ChannelsLast));
  gpu_backend().conv2d_forward(dw, raw::to_dtype(x, DType::Float64), raw::to_dtype(on_gpu(rand_cpu({8, 1, 3, 3}, 702)), DType::Float64),
                               Tensor(), gpu_out({2, 8, 9, 9}, MemoryFormat::ChannelsLast, DType::Float64));
  gpu_backend().conv2d_forward(p, x, on_gpu(rand_cpu({4, 8, 3, 3}, 703)), Tensor(), gpu_out({2, 4, 9, 9}, MemoryFormat::ChannelsLast));
  const KernelCounts counts = kernel_counts();
  EXPECT_EQ(counts.count({"conv2d_forward", "cuda-depthwise"}), 1u) << kernel_counts_summary();
  EXPECT_EQ(counts.count({"conv2d_forward", "cuda-depthwise-generic"}), 1u) << kernel_counts_summary();
  EXPECT_TRUE(counts.count({"conv2d_forward", "cudnn"}) || counts.count({"conv2d_forward", "cudnn-packed-nchw"}))
      << kernel_counts_summary();
}

}  // namespace
}  // namespace figs

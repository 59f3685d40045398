// gradcheck (central finite differences in float64) for every differentiable op, on small
// random shapes: odd sizes, batch 1 and 3, stride 2, padding 0/1/2, dilation 2, kernels
// 1/3/5/7, groups 1, C (depthwise) and in between, channels-last inputs.
#include "test_util.h"

namespace figs {
namespace {

// Random float64 input in [low, high), from its own stream so every case is reproducible.
Tensor rnd(const Shape& shape, uint64_t stream, double low = -1, double high = 1,
           MemoryFormat format = MemoryFormat::Contiguous) {
  Generator gen(2024, stream);
  return uniform(shape, low, high, gen, {DType::Float64, Device::cpu(), format});
}

void expect_gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                      GradcheckOptions options = {}) {
  const GradcheckResult r = gradcheck(f, inputs, options);
  EXPECT_TRUE(r.ok) << "max abs error " << r.max_abs_error << "\n" << r.report;
  EXPECT_GT(r.elements_checked, 0);
}

// --- elementwise ----------------------------------------------------------------------------
TEST(Gradcheck, BinaryOpsWithBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3, 4, 5}, {2, 3, 4, 5}},  // same shape
      {{2, 3, 4, 5}, {1, 3, 1, 1}},  // per-channel
      {{2, 3, 4, 5}, {}},            // scalar
      {{5}, {2, 3, 1, 5}},           // rank differs, both broadcast
  };
  for (const auto& [sa, sb] : shapes) {
    SCOPED_TRACE(sa.str() + " with " + sb.str());
    const Tensor a = rnd(sa, 1), b = rnd(sb, 2, 0.5, 2.0);  // b away from 0 for div
    expect_gradcheck([](auto& in) { return add(in[0], in[1]); }, {a, b});
    expect_gradcheck([](auto& in) { return sub(in[0], in[1]); }, {a, b});
    expect_gradcheck([](auto& in) { return mul(in[0], in[1]); }, {a, b});
    expect_gradcheck([](auto& in) { return div(in[0], in[1]); }, {a, b});
    // One operand a constant: mul and div then keep only what the other's gradient reads.
    for (const std::vector<bool>& which : {std::vector<bool>{true, false}, std::vector<bool>{false, true}}) {
      SCOPED_TRACE(which[0] ? "b constant" : "a constant");
      expect_gradcheck([](auto& in) { return mul(in[0], in[1]); }, {a, b}, {.check_input = which});
      expect_gradcheck([](auto& in) { return div(in[0], in[1]); }, {a, b}, {.check_input = which});
    }
  }
}

TEST(Gradcheck, UnaryOps) {
  const Tensor x = rnd({3, 4, 5}, 3);                 // any sign
  const Tensor pos = rnd({3, 4, 5}, 4, 0.5, 2.0);     // domain of log, sqrt, fractional pow
  const Tensor act = rnd({2, 3, 3, 5}, 5, -3.0, 9.0); // straddles relu's 0 and relu6's 6
  expect_gradcheck([](auto& in) { return neg(in[0]); }, {x});
  expect_gradcheck([](auto& in) { return exp(in[0]); }, {x});
  expect_gradcheck([](auto& in) { return log(in[0]); }, {pos});
  expect_gradcheck([](auto& in) { return sqrt(in[0]); }, {pos});
  expect_gradcheck([](auto& in) { return pow(in[0], 3.0); }, {x});
  expect_gradcheck([](auto& in) { return pow(in[0], -0.5); }, {pos});
  expect_gradcheck([](auto& in) { return sigmoid(in[0]); }, {mul_scalar(x, 5.0)});
  expect_gradcheck([](auto& in) { return relu(in[0]); }, {act});
  expect_gradcheck([](auto& in) { return relu6(in[0]); }, {act});
  expect_gradcheck([](auto& in) { return add_scalar(in[0], 2.5); }, {x});
  expect_gradcheck([](auto& in) { return mul_scalar(in[0], -1.5); }, {x});
  expect_gradcheck([](auto& in) { return 1.0 - in[0] / 4.0; }, {x});  // operator sugar
}

// --- reductions -----------------------------------------------------------------------------
TEST(Gradcheck, SumAndMean) {
  const Tensor x = rnd({2, 3, 4, 5}, 6);
  expect_gradcheck([](auto& in) { return sum(in[0]); }, {x});
  expect_gradcheck([](auto& in) { return sum(in[0], {1}); }, {x});
  expect_gradcheck([](auto& in) { return sum(in[0], {0, 2, 3}, true); }, {x});
  expect_gradcheck([](auto& in) { return mean(in[0]); }, {x});
  expect_gradcheck([](auto& in) { return mean(in[0], {-1, 1}); }, {x});
  expect_gradcheck([](auto& in) { return sum_to(in[0], {3, 1, 1}); }, {x});
  expect_gradcheck([](auto& in) { return global_avg_pool2d(in[0]); }, {x});
}

// --- linear algebra -------------------------------------------------------------------------
TEST(Gradcheck, MatmulAndLinear) {
  expect_gradcheck([](auto& in) { return matmul(in[0], in[1]); }, {rnd({3, 4}, 7), rnd({4, 5}, 8)});
  // A transposed (strided) operand.
  expect_gradcheck([](auto& in) { return matmul(permute(in[0], {1, 0}), in[1]); }, {rnd({4, 3}, 9), rnd({4, 2}, 10)});
  expect_gradcheck([](auto& in) { return linear(in[0], in[1], in[2]); }, {rnd({1, 6}, 11), rnd({3, 6}, 12), rnd({3}, 13)});
  expect_gradcheck([](auto& in) { return linear(in[0], in[1]); }, {rnd({3, 5}, 14), rnd({2, 5}, 15)});
}

// --- convolution ----------------------------------------------------------------------------
struct ConvCase {
  const char* name;
  int64_t N, C_in, H, W, C_out, K;
  int stride, pad, dilation, groups;
  bool bias;
  MemoryFormat format = MemoryFormat::Contiguous;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class ConvGradcheck : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvGradcheck, MatchesFiniteDifferences) {
  const ConvCase c = GetParam();
  Conv2dParams p;
  p.stride_h = p.stride_w = c.stride;
  p.pad_h = p.pad_w = c.pad;
  p.dilation_h = p.dilation_w = c.dilation;
  p.groups = c.groups;
  const Tensor x = rnd({c.N, c.C_in, c.H, c.W}, 20, -1, 1, c.format);
  const Tensor w = rnd({c.C_out, c.C_in / c.groups, c.K, c.K}, 21);
  std::vector<Tensor> inputs{x, w};
  if (c.bias) inputs.push_back(rnd({c.C_out}, 22));
  expect_gradcheck(
      [p](auto& in) { return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p); }, inputs);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvGradcheck,
    ::testing::Values(
        ConvCase{"dense_k3_pad1_bias", 1, 3, 7, 7, 4, 3, 1, 1, 1, 1, true},
        ConvCase{"pointwise_batch3", 3, 2, 5, 3, 3, 1, 1, 0, 1, 1, false},
        ConvCase{"dense_k3_pad0_batch3", 3, 3, 5, 5, 2, 3, 1, 0, 1, 1, true},
        ConvCase{"depthwise_k3_stride2", 2, 4, 9, 9, 4, 3, 2, 1, 1, 4, false},
        ConvCase{"depthwise_k5_stride2", 1, 3, 11, 11, 3, 5, 2, 2, 1, 3, false},
        ConvCase{"depthwise_k7_pad3_bias", 1, 2, 9, 8, 2, 7, 1, 3, 1, 2, true},
        ConvCase{"grouped_dilation2_pad2", 1, 6, 8, 7, 4, 3, 1, 2, 2, 2, true},
        ConvCase{"grouped_stride2_odd", 1, 4, 7, 9, 6, 3, 2, 1, 1, 2, false},
        ConvCase{"dense_k5_stride2_pad2", 1, 2, 9, 7, 3, 5, 2, 2, 1, 1, false},
        ConvCase{"depthwise_channels_last", 2, 3, 5, 7, 3, 3, 1, 1, 1, 3, true, MemoryFormat::ChannelsLast},
        ConvCase{"dense_channels_last_stride2", 1, 3, 7, 5, 2, 3, 2, 1, 1, 1, false, MemoryFormat::ChannelsLast}),
    [](const auto& info) { return std::string(info.param.name); });

// --- pooling --------------------------------------------------------------------------------
TEST(Gradcheck, Pooling) {
  const Tensor x = rnd({2, 3, 7, 7}, 30);
  expect_gradcheck([](auto& in) { return max_pool2d(in[0], {2, 2, 2, 2, 0, 0, true}); }, {x});
  expect_gradcheck([](auto& in) { return max_pool2d(in[0], {3, 3, 2, 2, 1, 1, true}); }, {x});
  expect_gradcheck([](auto& in) { return avg_pool2d(in[0], {3, 3, 1, 1, 1, 1, true}); }, {x});
  expect_gradcheck([](auto& in) { return avg_pool2d(in[0], {3, 3, 1, 1, 1, 1, false}); }, {x});
  expect_gradcheck([](auto& in) { return avg_pool2d(in[0], {2, 2, 2, 2, 0, 0, true}); }, {rnd({1, 2, 5, 6}, 31)});
  expect_gradcheck([](auto& in) { return max_pool2d(in[0], {3, 3, 2, 2, 1, 1, true}); },
                   {rnd({1, 3, 5, 5}, 32, -1, 1, MemoryFormat::ChannelsLast)});
  // Stride 1 keeps the input and finds the argmax again in the backward (Note [Max pool keeps
  // its input or its argmax]).
  expect_gradcheck([](auto& in) { return max_pool2d(in[0], {3, 3, 1, 1, 1, 1, true}); }, {x});
  expect_gradcheck([](auto& in) { return max_pool2d(in[0], {2, 3, 1, 1, 0, 1, true}); },
                   {rnd({2, 3, 5, 6}, 33, -1, 1, MemoryFormat::ChannelsLast)});
}

// --- batch norm -----------------------------------------------------------------------------
TEST(Gradcheck, BatchNormTrainingAndEval) {
  const Tensor x = rnd({2, 3, 4, 5}, 40), gamma = rnd({3}, 41, 0.5, 1.5), beta = rnd({3}, 42);
  const BatchNormParams train{true, 0.1, 1e-5};
  expect_gradcheck([&](auto& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), train); },
                   {x, gamma, beta});
  expect_gradcheck([&](auto& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), train); },
                   {rnd({3, 2, 3, 3}, 43)});
  // With running statistics being updated on the side (they are not differentiated).
  const Tensor rm = zeros({3}, {DType::Float64}), rv = ones({3}, {DType::Float64});
  expect_gradcheck([&](auto& in) { return batch_norm(in[0], in[1], in[2], rm, rv, train); }, {x, gamma, beta});
  const Tensor run_mean = rnd({3}, 44), run_var = rnd({3}, 45, 0.5, 2.0);
  const BatchNormParams eval{false, 0.1, 1e-5};
  expect_gradcheck([&](auto& in) { return batch_norm(in[0], in[1], in[2], run_mean, run_var, eval); },
                   {x, gamma, beta});
  expect_gradcheck([&](auto& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), train); },
                   {rnd({1, 3, 3, 5}, 46, -1, 1, MemoryFormat::ChannelsLast), gamma, beta});
  // The fused ReLU, in training and in eval (no pre-activation of these inputs lies within the
  // finite difference's step of the kink).
  const BatchNormParams train_relu{true, 0.1, 1e-5, true}, eval_relu{false, 0.1, 1e-5, true};
  expect_gradcheck([&](auto& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), train_relu); },
                   {x, gamma, beta});
  expect_gradcheck([&](auto& in) { return batch_norm(in[0], in[1], in[2], run_mean, run_var, eval_relu); },
                   {rnd({1, 3, 3, 5}, 47, -1, 1, MemoryFormat::ChannelsLast), gamma, beta});
}

// --- layout ---------------------------------------------------------------------------------
TEST(Gradcheck, LayoutOps) {
  const Tensor x = rnd({2, 5, 3, 3}, 50);
  expect_gradcheck([](auto& in) { return concat({in[0], in[1], in[2]}, 1); },
                   {rnd({2, 1, 3, 3}, 51), rnd({2, 3, 3, 3}, 52), rnd({2, 2, 3, 3}, 53)});
  expect_gradcheck([](auto& in) { return concat({in[0], in[0]}, 1); }, {rnd({1, 2, 2, 3}, 54)});  // same input twice
  expect_gradcheck([](auto& in) { return channel_slice(in[0], 1, 3); }, {x});
  expect_gradcheck([](auto& in) { return reshape(in[0], {5, -1}); }, {x});
  expect_gradcheck([](auto& in) { return flatten(in[0]); }, {x});
  expect_gradcheck([](auto& in) { return permute(in[0], {0, 2, 3, 1}); }, {x});
  expect_gradcheck([](auto& in) { return expand(in[0], {2, 5, 3, 3}); }, {rnd({5, 1, 1}, 55)});
  expect_gradcheck([](auto& in) { return contiguous(in[0], MemoryFormat::ChannelsLast); }, {x});
  // A slice of a channels-last tensor fed to a conv (a view with odd strides).
  expect_gradcheck([](auto& in) { return conv2d(channel_slice(in[0], 1, 2), in[1]); },
                   {rnd({1, 4, 5, 5}, 56, -1, 1, MemoryFormat::ChannelsLast), rnd({3, 2, 3, 3}, 57)});
}

// --- per-channel scale (the FiGS mask multiply) ---------------------------------------------
TEST(Gradcheck, ChannelScale) {
  expect_gradcheck([](auto& in) { return channel_scale(in[0], in[1]); }, {rnd({2, 3, 4, 5}, 80), rnd({3}, 81)});
  expect_gradcheck([](auto& in) { return channel_scale(in[0], in[1]); },
                   {rnd({1, 5, 3, 3}, 82, -1, 1, MemoryFormat::ChannelsLast), rnd({5}, 83)});
  // Only the scale requires grad (the mask's logits path): gx is skipped, gscale still right.
  expect_gradcheck([](auto& in) { return channel_scale(in[0], in[1]); }, {rnd({3, 2, 3, 2}, 84), rnd({2}, 85)},
                   GradcheckOptions{.check_input = {false, true}});
}

// --- the FiGS mask op: mask_values and the multiply as one op -------------------------------------
// The relaxed mode is differentiable in x and the logits; tau 0.7 keeps sigmoid'(a) / tau O(1).
TEST(Gradcheck, MaskOp) {
  const MaskParams p{MaskMode::Relaxed, 0.7, 5, 2, 40};
  expect_gradcheck([&](auto& in) { return mask(in[0], in[1], p); }, {rnd({2, 3, 4, 5}, 86), rnd({3}, 87, -2, 2)});
  expect_gradcheck([&](auto& in) { return mask(in[0], in[1], p); },
                   {rnd({1, 5, 3, 3}, 88, -1, 1, MemoryFormat::ChannelsLast), rnd({5}, 89, -2, 2)});
  // Only the logits require grad (x is data): the x gradient is skipped, the logits' still right.
  expect_gradcheck([&](auto& in) { return mask(in[0], in[1], p); }, {rnd({3, 2, 3, 2}, 93), rnd({2}, 94, -2, 2)},
                   GradcheckOptions{.check_input = {false, true}});
  // The evaluation modes: constant in the logits, x times the kept channels.
  expect_gradcheck([&](auto& in) { return mask(in[0], in[1], {MaskMode::EvalScaled, 0.7, 5, 2, 40}); },
                   {rnd({2, 3, 2, 2}, 95), rnd({3}, 96, -2, 2)}, GradcheckOptions{.check_input = {true, false}});
}

// mask() is channel_scale(x, mask_values(logits)) as one op: the same numbers to the bit, forward
// and backward, in every mode, both layouts, on odd shapes in float32 (the two-op form is the
// reference it replaced in the mask layer).
TEST(MaskOp, EqualsTheTwoOpFormBitForBit) {
  const MaskMode modes[] = {MaskMode::Relaxed, MaskMode::StraightThrough, MaskMode::EvalHard, MaskMode::EvalScaled};
  for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
    for (const MaskMode mode : modes) {
      SCOPED_TRACE(str_cat("mode ", static_cast<int>(mode), format == MemoryFormat::ChannelsLast ? " channels-last" : " nchw"));
      const bool training = mode == MaskMode::Relaxed || mode == MaskMode::StraightThrough;
      const MaskParams p{mode, 0.05, 9, 4, 123};
      Generator g(31, 7);
      const Tensor x0 = uniform({3, 13, 7, 9}, -1, 1, g, {DType::Float32, Device::cpu(), format});
      const Tensor l0 = uniform({13}, -3, 3, g);
      const Tensor gy = uniform({3, 13, 7, 9}, -1, 1, g, {DType::Float32, Device::cpu(), format});
      auto run = [&](bool fused) {
        const Tensor x = raw::clone(x0).set_requires_grad();
        const Tensor logits = raw::clone(l0).set_requires_grad();
        const Tensor y = fused ? mask(x, logits, p) : channel_scale(x, mask_values(logits, p));
        backward(y, gy);
        return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                               training ? logits.grad().to_vector<float>() : std::vector<float>{}};
      };
      const auto fused = run(true), two_ops = run(false);
      EXPECT_EQ(fused[0], two_ops[0]) << "y";
      EXPECT_EQ(fused[1], two_ops[1]) << "dx";
      EXPECT_EQ(fused[2], two_ops[2]) << "d logits";
      if (training) {
        EXPECT_NE(fused[2], std::vector<float>(13, 0.f)) << "d logits must not vanish at tau 0.05";
      }
    }
}

// --- sparse products and casts (the expected cost's ops) ----------------------------------------
TEST(Gradcheck, SparseMatvecAndCast) {
  // A 3 x 5 matrix with an empty row, a repeated entry (summed) and an empty column.
  const SparseMatrix a = SparseMatrix::from_entries(
      3, 5, {{0, 1, 2.0}, {0, 4, -1.5}, {2, 0, 0.5}, {2, 1, 1.0}, {2, 1, 0.25}, {2, 3, 3.0}}, DType::Float64);
  expect_gradcheck([&](auto& in) { return sparse_matvec(a, in[0]); }, {rnd({5}, 90)});
  expect_gradcheck([&](auto& in) { return mul(sparse_matvec(a, in[0]), sparse_matvec(a, in[0])); }, {rnd({5}, 91)});
  // Through float32 and back: first-order exact, so float64 finite differences still apply.
  expect_gradcheck([](auto& in) { return cast(cast(in[0], DType::Float32), DType::Float64); }, {rnd({4}, 92)},
                   GradcheckOptions{.eps = 1e-3, .atol = 1e-5, .rtol = 1e-4, .seed = 1234, .check_input = {}});
}

// --- classification -------------------------------------------------------------------------
TEST(Gradcheck, LogSoftmaxAndCrossEntropy) {
  const Tensor logits = rnd({4, 5}, 60, -3, 3);
  const Tensor labels = from_vector<int64_t>({0, 4, 2, 2}, {4});
  expect_gradcheck([](auto& in) { return log_softmax(in[0]); }, {logits});
  expect_gradcheck([&](auto& in) { return cross_entropy(in[0], labels); }, {logits});
  expect_gradcheck([&](auto& in) { return cross_entropy(in[0], labels, 0.1); }, {logits});
  expect_gradcheck([&](auto& in) { return cross_entropy(in[0], in[1]); }, {rnd({1, 3}, 61), from_vector<int64_t>({1}, {1})});
}

// --- a composite: a whole tiny network, end to end ------------------------------------------
TEST(Gradcheck, SmallNetworkComposite) {
  const Tensor x = rnd({3, 2, 6, 6}, 70);
  const Tensor labels = from_vector<int64_t>({0, 2, 1}, {3});
  const BatchNormParams train{true, 0.1, 1e-5};
  Conv2dParams same;
  same.pad_h = same.pad_w = 1;
  Conv2dParams dw = same;
  dw.groups = 4;
  expect_gradcheck(
      [&](auto& in) {
        Tensor h = relu(batch_norm(conv2d(in[0], in[1], Tensor(), same), in[2], in[3], Tensor(), Tensor(), train));
        h = relu6(conv2d(h, in[4], Tensor(), dw));
        h = max_pool2d(h, {2, 2, 2, 2, 0, 0, true});
        h = flatten(global_avg_pool2d(h));
        return cross_entropy(linear(h, in[5], in[6]), labels, 0.05);
      },
      {x, rnd({4, 2, 3, 3}, 71), rnd({4}, 72, 0.5, 1.5), rnd({4}, 73), rnd({4, 1, 3, 3}, 74), rnd({3, 4}, 75),
       rnd({3}, 76)});
}

}  // namespace
}  // namespace figs

// Layers compute what their ops compute, with the shapes and initialisers they promise.
#include <cmath>

#include "nn_test_util.h"

namespace figs::nn {
namespace {

std::vector<float> forward_values(Module& m, const Tensor& x) {
  NoGradGuard no_grad;
  return m(x).to_vector<float>();
}

TEST(NnLayers, Conv2dMatchesTheOp) {
  Generator gen(1, 2);
  Conv2d conv(4, 6, 3, {.stride = 2, .padding = 1});
  conv.initialize(gen);
  const Tensor x = normal({2, 4, 7, 7}, 0, 1, gen);
  NoGradGuard no_grad;
  const Tensor y = conv(x);
  EXPECT_EQ(y.shape(), Shape({2, 6, 4, 4}));
  Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = 1;
  EXPECT_EQ(y.to_vector<float>(), conv2d(x, conv.weight(), conv.bias(), p).to_vector<float>());
}

TEST(NnLayers, DepthwiseAndSeparable) {
  Generator gen(1, 3);
  SeparableConv2d sep(4, 8, 5, {.padding = 2});
  sep.initialize(gen);
  EXPECT_EQ(sep.dw().options().groups, 4);
  EXPECT_EQ(sep.dw().weight().shape(), Shape({4, 1, 5, 5}));
  EXPECT_FALSE(sep.dw().bias().defined());
  EXPECT_EQ(sep.pw().weight().shape(), Shape({8, 4, 1, 1}));
  const Tensor x = normal({1, 4, 6, 6}, 0, 1, gen);
  const std::vector<float> y = forward_values(sep, x);
  NoGradGuard no_grad;
  EXPECT_EQ(y, sep.pw()(sep.dw()(x)).to_vector<float>());
  EXPECT_EQ(sep(x).shape(), Shape({1, 8, 6, 6}));
}

TEST(NnLayers, BatchNormTrainAndEval) {
  BatchNorm2d bn(1, {.momentum = 0.5});
  // One channel, values 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased var 5/3.
  const Tensor x = from_vector<float>({1, 2, 3, 4}, {1, 1, 2, 2});
  const std::vector<float> y = forward_values(bn, x);
  EXPECT_NEAR(y[0], (1 - 2.5) / std::sqrt(1.25 + 1e-5), 1e-5);
  // running = 0.5 * (0, 1) + 0.5 * (2.5, 5/3)
  EXPECT_NEAR(bn.running_mean().to_vector<float>()[0], 1.25, 1e-6);
  EXPECT_NEAR(bn.running_var().to_vector<float>()[0], 0.5 + 0.5 * 5.0 / 3.0, 1e-6);
  bn.eval();
  const std::vector<float> e = forward_values(bn, x);  // (x - 1.25) / sqrt(4/3 + eps)
  EXPECT_NEAR(e[3], (4 - 1.25) / std::sqrt(0.5 + 0.5 * 5.0 / 3.0 + 1e-5), 1e-5);
  EXPECT_NEAR(bn.running_mean().to_vector<float>()[0], 1.25, 1e-6);  // eval does not update

  BatchNorm2d plain(3, {.affine = false, .track_running_stats = false});
  EXPECT_TRUE(plain.named_parameters().empty());
  EXPECT_TRUE(plain.named_buffers().empty());
  plain.eval();  // without running statistics, eval normalises with the batch's
  Generator gen(4);
  const std::vector<float> z = forward_values(plain, normal({2, 3, 2, 2}, 0, 1, gen));
  EXPECT_EQ(z.size(), 24u);
  EXPECT_ERROR_MENTIONS(bn(zeros({1, 2, 2, 2})), "BatchNorm2d: expected input (N, 1, H, W)");
}

TEST(NnLayers, PoolsActivationsFlattenIdentity) {
  const Tensor x = from_vector<float>({1, -2, 3, 8,  //
                                       -5, 6, 7, -1,  //
                                       0, 0, 9, 2,    //
                                       1, 1, 2, 3},
                                      {1, 1, 4, 4});
  MaxPool2d max(2);
  EXPECT_EQ(forward_values(max, x), (std::vector<float>{6, 8, 1, 9}));
  AvgPool2d avg(2);
  EXPECT_EQ(forward_values(avg, x), (std::vector<float>{0, 4.25f, 0.5f, 4}));
  AvgPool2d avg3(3, {.stride = 1, .padding = 1, .count_include_pad = false});
  EXPECT_EQ(forward_values(avg3, x)[0], 0.0f);  // (1 - 2 - 5 + 6) / 4
  GlobalAvgPool gap;
  NoGradGuard no_grad;
  const Tensor g = gap(x);
  EXPECT_EQ(g.shape(), Shape({1, 1, 1, 1}));
  EXPECT_EQ(g.item<float>(), 2.1875f);  // 35 / 16
  EXPECT_EQ(Flatten()(g).shape(), Shape({1, 1}));
  EXPECT_EQ(Flatten(0)(g).shape(), Shape({1}));
  Identity id;
  EXPECT_TRUE(id(x).same_as(x));
  EXPECT_EQ(ReLU()(from_vector<float>({-1, 2, 7}, {3})).to_vector<float>(), (std::vector<float>{0, 2, 7}));
  EXPECT_EQ(ReLU6()(from_vector<float>({-1, 2, 7}, {3})).to_vector<float>(), (std::vector<float>{0, 2, 6}));
}

TEST(NnLayers, LinearChecksItsInput) {
  Linear fc(4, 2);
  EXPECT_ERROR_MENTIONS(fc(zeros({3, 5})), "Linear: expected input (N, 4), got float32[3,5]");
  EXPECT_ERROR_MENTIONS(fc(zeros({3, 4, 1, 1})), "Flatten image features first");
  EXPECT_ERROR_MENTIONS(Module("Branchy").forward(zeros({1})), "Branchy: has no single-input forward()");
}

TEST(NnLayers, SequentialIndexing) {
  Sequential s{std::make_shared<ReLU>(), std::make_shared<Identity>()};
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].type_name(), "Identity");
  EXPECT_EQ(s.named_children()[0].first, "0");
  EXPECT_ERROR_MENTIONS(s[2], "Sequential: index 2 out of range (size 2)");
}

TEST(NnInit, FansAndScales) {
  const Fans conv = compute_fans({16, 8, 3, 3});
  EXPECT_EQ(conv.fan_in, 72);
  EXPECT_EQ(conv.fan_out, 144);
  EXPECT_EQ(compute_fans({10, 64}).fan_in, 64);
  EXPECT_ERROR_MENTIONS(compute_fans({10}), "rank >= 2");

  Generator gen(9, kInitStream);
  Tensor w = zeros({64, 32, 3, 3});  // fan_in 288, fan_out 576
  kaiming_normal_(w, gen, FanMode::FanOut);
  double sq = 0;
  for (float v : w.to_vector<float>()) sq += double(v) * v;
  EXPECT_NEAR(std::sqrt(sq / w.numel()), std::sqrt(2.0 / 576), 0.02 * std::sqrt(2.0 / 576));

  Tensor u = zeros({100, 60});
  xavier_uniform_(u, gen);  // bound sqrt(6 / 160)
  float lo = 1, hi = -1;
  for (float v : u.to_vector<float>()) lo = std::min(lo, v), hi = std::max(hi, v);
  const double bound = std::sqrt(6.0 / 160);
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.95 * bound);
  EXPECT_GT(hi, 0.95 * bound);

  Tensor k = zeros({50, 50});
  kaiming_uniform_(k, gen, FanMode::FanIn, 1.0);  // bound sqrt(3 / 50)
  for (float v : k.to_vector<float>()) ASSERT_LE(std::abs(v), std::sqrt(3.0 / 50));
  Tensor n = zeros({200, 100});
  xavier_normal_(n, gen);  // std sqrt(2 / 300)
  sq = 0;
  for (float v : n.to_vector<float>()) sq += double(v) * v;
  EXPECT_NEAR(std::sqrt(sq / n.numel()), std::sqrt(2.0 / 300), 0.02 * std::sqrt(2.0 / 300));
  constant_(n, 0.25);
  EXPECT_EQ(n.to_vector<float>()[17], 0.25f);
}

}  // namespace
}  // namespace figs::nn

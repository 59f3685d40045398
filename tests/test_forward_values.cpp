// Forward values against cases worked out by hand (the numbers are in the comments).
#include <cmath>

#include "test_util.h"

namespace figs {
namespace {

std::vector<double> ramp4x4() {  // 1..16 in a 4x4 image
  std::vector<double> v(16);
  for (int i = 0; i < 16; ++i) v[i] = i + 1;
  return v;
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-9) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

TEST(ForwardValues, Conv3x3SobelOnARamp) {
  const Tensor x = from_vector(ramp4x4(), {1, 1, 4, 4});
  const Tensor w = from_vector<double>({1, 0, -1, 2, 0, -2, 1, 0, -1}, {1, 1, 3, 3});
  // No padding: every window of a ramp rising by 1 per column gives -(2 + 4 + 2) = -8; bias 0.5.
  expect_near_all(conv2d(x, w, from_vector<double>({0.5}, {1})).to_vector<double>(), {-7.5, -7.5, -7.5, -7.5});
  // Padding 1, stride 2: corner window [0 0 0; 0 1 2; 0 5 6] -> 0 + (0 - 4) + (0 - 6) = -10;
  // window (0, 1) [0 0 0; 2 3 4; 6 7 8] -> (4 - 8) + (6 - 8) = -6;
  // window (1, 0) [0 5 6; 0 9 10; 0 13 14] -> -6 - 20 - 14 = -40; window (1, 1) [6 7 8; 10 11 12; 14 15 16] -> -8.
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  p.stride_h = p.stride_w = 2;
  expect_near_all(conv2d(x, w, Tensor(), p).to_vector<double>(), {-10, -6, -40, -8});
}

TEST(ForwardValues, DepthwiseConvKeepsChannelsApart) {
  // Channel 0 convolved with all-ones 2x2, channel 1 with all-twos: sums of 2x2 windows.
  const Tensor x = from_vector<double>({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
  const Tensor w = from_vector<double>({1, 1, 1, 1, 2, 2, 2, 2}, {2, 1, 2, 2});
  Conv2dParams p;
  p.groups = 2;
  expect_near_all(conv2d(x, w, Tensor(), p).to_vector<double>(), {10, 200});
}

TEST(ForwardValues, LogSoftmaxAndCrossEntropyOfKnownLogits) {
  // lse([1, 2, 3]) = 3 + log(1 + e^-1 + e^-2) = 3.4076059644443806
  const double lse = 3.4076059644443806;
  const Tensor logits = from_vector<double>({1, 2, 3, 0, 0, 0}, {2, 3});
  expect_near_all(log_softmax(logits).to_vector<double>(),
                  {1 - lse, 2 - lse, 3 - lse, -std::log(3.0), -std::log(3.0), -std::log(3.0)});
  const Tensor labels = from_vector<int64_t>({2, 0}, {2});
  // mean of (lse - 3) and log 3
  EXPECT_NEAR(cross_entropy(logits, labels).item<double>(), 0.5 * ((lse - 3) + std::log(3.0)), 1e-12);
  // Smoothing 0.3 over K = 3: q = [0.1, 0.1, 0.8] for label 2 -> lse - (0.1 + 0.2 + 2.4).
  const Tensor one = from_vector<double>({1, 2, 3}, {1, 3});
  EXPECT_NEAR(cross_entropy(one, from_vector<int64_t>({2}, {1}), 0.3).item<double>(), lse - 2.7, 1e-12);
  // Large logits stay finite (stable log-sum-exp).
  const Tensor big = from_vector<float>({1000, 0}, {1, 2});
  EXPECT_NEAR(cross_entropy(big, from_vector<int64_t>({1}, {1})).item<float>(), 1000.f, 1e-3);
}

TEST(ForwardValues, BatchNormOfAKnownBatch) {
  // One channel, values 1..4: mean 2.5, biased var 1.25, unbiased 5/3.
  const Tensor x = from_vector<double>({1, 2, 3, 4}, {4, 1, 1, 1});
  const Tensor rm = zeros({1}, {DType::Float64}), rv = ones({1}, {DType::Float64});
  const double eps = 1e-5, inv = 1 / std::sqrt(1.25 + eps);
  const Tensor y = batch_norm(x, from_vector<double>({2}, {1}), from_vector<double>({1}, {1}), rm, rv,
                              {true, 0.1, eps});
  expect_near_all(y.to_vector<double>(), {1 - 3 * inv, 1 - inv, 1 + inv, 1 + 3 * inv});
  EXPECT_NEAR(rm.item<double>(), 0.25, 1e-12);                    // 0.9 * 0 + 0.1 * 2.5
  EXPECT_NEAR(rv.item<double>(), 0.9 + 0.1 * 5.0 / 3.0, 1e-12);  // 0.9 * 1 + 0.1 * 5/3
  // Eval uses the running statistics.
  const Tensor e = batch_norm(x, Tensor(), Tensor(), rm, rv, {false, 0.1, eps});
  const double einv = 1 / std::sqrt(rv.item<double>() + eps);
  expect_near_all(e.to_vector<double>(), {(1 - 0.25) * einv, (2 - 0.25) * einv, (3 - 0.25) * einv, (4 - 0.25) * einv});
}

// y = A x by hand: rows (2 x1 - 1.5 x4), (), (0.5 x0 + 1.25 x1 + 3 x3); the transpose likewise.
TEST(ForwardValues, SparseMatvecByHand) {
  const SparseMatrix a = SparseMatrix::from_entries(
      3, 5, {{0, 1, 2.0}, {0, 4, -1.5}, {2, 0, 0.5}, {2, 1, 1.0}, {2, 1, 0.25}, {2, 3, 3.0}});
  const Tensor x = from_vector(std::vector<float>{1, 2, 3, 4, 5}, {5});
  EXPECT_EQ(sparse_matvec(a, x).to_vector<float>(), (std::vector<float>{2 * 2 - 1.5f * 5, 0, 0.5f + 1.25f * 2 + 3 * 4}));
  Tensor xg = raw::clone(x).set_requires_grad();
  backward(sum(sparse_matvec(a, xg)));  // gradient = A^T 1 = column sums
  EXPECT_EQ(xg.grad().to_vector<float>(), (std::vector<float>{0.5f, 3.25f, 0, 3, -1.5f}));
  EXPECT_THROW(sparse_matvec(a, from_vector(std::vector<float>{1, 2}, {2})), Error);
  EXPECT_THROW(SparseMatrix::from_entries(2, 2, {{2, 0, 1.0}}), Error);
}

TEST(ForwardValues, Pooling) {
  const Tensor x = from_vector(ramp4x4(), {1, 1, 4, 4});
  expect_near_all(max_pool2d(x, {2, 2, 2, 2, 0, 0, true}).to_vector<double>(), {6, 8, 14, 16});
  expect_near_all(avg_pool2d(x, {2, 2, 2, 2, 0, 0, true}).to_vector<double>(), {3.5, 5.5, 11.5, 13.5});
  // 3x3, stride 1, pad 1: the corner window holds 1, 2, 5, 6 (sum 14) and five padding zeros.
  EXPECT_NEAR(avg_pool2d(x, {3, 3, 1, 1, 1, 1, true}).to_vector<double>()[0], 14.0 / 9.0, 1e-12);
  EXPECT_NEAR(avg_pool2d(x, {3, 3, 1, 1, 1, 1, false}).to_vector<double>()[0], 14.0 / 4.0, 1e-12);
  expect_near_all(global_avg_pool2d(x).to_vector<double>(), {8.5});
}

TEST(ForwardValues, MatmulLinearAndElementwise) {
  const Tensor a = from_vector<double>({1, 2, 3, 4}, {2, 2}), b = from_vector<double>({5, 6, 7, 8}, {2, 2});
  expect_near_all(matmul(a, b).to_vector<double>(), {19, 22, 43, 50});
  // linear: x @ w^T + bias, w = b: rows [5 6] and [7 8]
  expect_near_all(linear(a, b, from_vector<double>({1, -1}, {2})).to_vector<double>(), {18, 22, 40, 52});
  expect_near_all(sigmoid(from_vector<double>({0, 100, -100}, {3})).to_vector<double>(), {0.5, 1, 0});
  expect_near_all(relu6(from_vector<double>({-1, 3, 7}, {3})).to_vector<double>(), {0, 3, 6});
  expect_near_all(sum(a, {0}).to_vector<double>(), {4, 6});
  expect_near_all(mean(a, {1}, true).to_vector<double>(), {1.5, 3.5});
  // Per-channel scale (what the FiGS mask does): (1, 2, 1, 1) broadcast over (1, 2, 1, 2).
  expect_near_all(mul(from_vector<double>({1, 2, 3, 4}, {1, 2, 1, 2}), from_vector<double>({10, 0}, {1, 2, 1, 1}))
                      .to_vector<double>(),
                  {10, 20, 0, 0});
}

TEST(ForwardValues, ConcatLaysChannelsSideBySide) {
  const Tensor a = from_vector<float>({1, 2}, {1, 1, 1, 2}), b = from_vector<float>({3, 4, 5, 6}, {1, 2, 1, 2});
  const Tensor c = concat({a, b}, 1);
  EXPECT_EQ(c.shape(), (Shape{1, 3, 1, 2}));
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

}  // namespace
}  // namespace figs

// The backward engine: graph recording, accumulation, grad mode.
#include "test_util.h"

namespace figs {
namespace {

TEST(Engine, RequiresGradPropagatesThroughOps) {
  Tensor a = ones({2}).set_requires_grad();
  const Tensor b = ones({2});
  EXPECT_TRUE(a.is_leaf());
  const Tensor c = add(a, b);
  EXPECT_TRUE(c.requires_grad());
  EXPECT_FALSE(c.is_leaf());
  EXPECT_EQ(c.grad_fn()->kind(), OpKind::Add);
  EXPECT_STREQ(c.grad_fn()->name(), "add");
  EXPECT_FALSE(add(b, b).requires_grad());
  EXPECT_ERROR_MENTIONS(Tensor(c).set_requires_grad(), "only leaf tensors");
}

TEST(Engine, NoGradGuardStopsRecording) {
  Tensor a = ones({2}).set_requires_grad();
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(mul(a, a).requires_grad());
  }
  EXPECT_TRUE(mul(a, a).requires_grad());
}

TEST(Engine, TensorUsedTwiceGetsTheSumOfItsGradients) {
  // y = sum(x * x + 3 x): dy/dx = 2x + 3
  Tensor x = from_vector<double>({1, -2, 0.5}, {3}).set_requires_grad();
  const Tensor y = sum(add(mul(x, x), mul_scalar(x, 3.0)));
  backward(y);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, -1, 4}));
}

TEST(Engine, DiamondGraphAccumulatesInsideTheGraph) {
  // h = 2x; y = sum(h * h + h): dy/dx = 2 (2h + 1) = 8x + 2
  Tensor x = from_vector<double>({1, 2}, {2}).set_requires_grad();
  const Tensor h = mul_scalar(x, 2.0);
  backward(sum(add(mul(h, h), h)));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{10, 18}));
}

TEST(Engine, LeafGradientsAccumulateAcrossBackwardCallsUntilZeroed) {
  Tensor x = from_vector<double>({1, 2}, {2}).set_requires_grad();
  backward(sum(mul_scalar(x, 3.0)));
  backward(sum(mul_scalar(x, 3.0)));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 6}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, GivenGradientSeedsBackward) {
  Tensor x = from_vector<double>({1, 2, 3}, {3}).set_requires_grad();
  backward(mul(x, x), from_vector<double>({1, 0, -1}, {3}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 0, -6}));
}

TEST(Engine, RetainGraphAllowsASecondBackward) {
  Tensor x = from_vector<double>({2}, {1}).set_requires_grad();
  const Tensor y = sum(mul(x, x));
  backward(y, Tensor(), /*retain_graph=*/true);
  backward(y);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{8}));
}

TEST(Engine, InputsThatDoNotRequireGradGetNone) {
  Tensor w = ones({2, 2}).set_requires_grad();
  const Tensor x = ones({3, 2});
  backward(sum(matmul(x, w)));
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, DeepChainDoesNotRecurse) {
  // 20k nodes: the engine is iterative, so no stack overflow.
  Tensor x = from_vector<double>({1}, {1}).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = add_scalar(y, 1.0);
  backward(sum(y));
  EXPECT_EQ(x.grad().item<double>(), 1.0);
}

TEST(Engine, LeavesNeverShareGradientStorage) {
  // add's backward hands the same gradient to both inputs; each leaf must own a copy, or the
  // second backward's in-place accumulation would count twice. One-channel channels-last leaves
  // are the case where a "contiguous" call could return a view instead of a copy.
  const TensorOptions cl{DType::Float64, Device::cpu(), MemoryFormat::ChannelsLast};
  Tensor a = zeros({2, 1, 3, 3}, cl).set_requires_grad(), b = zeros({2, 1, 3, 3}, cl).set_requires_grad();
  backward(sum(add(a, b)));
  EXPECT_NE(a.grad().storage(), b.grad().storage());
  backward(sum(add(a, b)));
  EXPECT_EQ(a.grad().to_vector<double>(), std::vector<double>(18, 2.0));
  EXPECT_EQ(b.grad().to_vector<double>(), std::vector<double>(18, 2.0));
}

TEST(Engine, DetachCutsTheGraph) {
  Tensor x = from_vector<double>({3}, {1}).set_requires_grad();
  const Tensor d = mul(x, x).detach();
  EXPECT_FALSE(d.requires_grad());
  backward(sum(mul(d, x)));  // d is a constant 9
  EXPECT_EQ(x.grad().item<double>(), 9.0);
}

}  // namespace
}  // namespace figs

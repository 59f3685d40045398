// Channel groups and costs (nas/channel_graph.h) on small hand-built networks: a chain with a
// depthwise-separable pair, a residual add, a concat — against counts worked out by hand and the
// spec's golden values.
#include <cmath>

#include "hand_net.h"

namespace figs::nas {
namespace {

using test::image;
using test::kOff;
using test::kOn;
using test::logits_keeping;
using test::Net;

std::vector<bool> alive_groups(const ChannelGraph& g) {
  std::vector<std::vector<double>> pi;
  for (const TracedMask& m : g.masks()) {
    std::vector<double> v;
    for (double nu : m.logits.to_vector<double>()) v.push_back(1 / (1 + std::exp(-nu)));
    pi.push_back(v);
  }
  std::vector<bool> alive;
  for (double p : g.group_probabilities(pi)) alive.push_back(p >= 0.5);
  return alive;
}

TEST(ChannelGraph, GroupProbabilityOfThreeMasksOnOneChannelGroup) {
  // Three masked branches summed by residual adds: one group per channel, three masks on it.
  Net net;
  const Tensor x = image(3);
  Tensor y = net.mask(net.conv(x, "a", 4, 1), "a.mask", {0, 0, 0, 0});
  y = add(y, net.mask(net.conv(x, "b", 4, 1), "b.mask", {0, 0, 0, 0}));
  y = add(y, net.mask(net.conv(x, "c", 4, 1), "c.mask", {0, 0, 0, 0}));
  const ChannelGraph g = ChannelGraph::trace(sum(y), net.params);
  ASSERT_EQ(g.masks().size(), 3u);
  const std::vector<double> p = g.group_probabilities(
      {{0.1, 0.3, 0.6, 0.2}, {0.2, 0.4, 0.5, 0.1}, {0.3, 0.2, 0.0, 0.25}});
  const std::vector<double> golden = {0.496, 0.664, 0.8, 0.46};  // 1 - prod(1 - pi), from the spec
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(p[g.group_of(g.masks()[0].slot + c)], golden[c], 1e-12) << c;
}

TEST(ChannelGraph, ConvAfterConcatCostsAliveInputsTimesAliveOutputs) {
  // concat(7 alive of 13, 11 alive of 17) -> 3x3 conv with 10 alive outputs: 3*3*10*18 params.
  Net net;
  const Tensor x = image(3);
  const Tensor a = net.mask(net.conv(x, "a", 13, 1), "a.mask", logits_keeping(7, 13));
  const Tensor b = net.mask(net.conv(x, "b", 17, 1), "b.mask", logits_keeping(11, 17));
  const Tensor y = net.mask(net.conv(concat({a, b}), "c", 12, 3), "c.mask", logits_keeping(10, 12));
  const ChannelGraph g = ChannelGraph::trace(sum(y), net.params);
  ASSERT_EQ(g.ops().size(), 3u);
  // 1x1 convs from the unmasked 3-channel image: 3*7 and 3*11, then the 3x3 conv.
  const double params = 3 * 7 + 3 * 11 + 3 * 3 * 10 * 18;
  EXPECT_NEAR(g.cost(CostKind::Params).item<double>(), params, 1e-4);
  // MACs: every layer's params times its 6x6 output.
  EXPECT_NEAR(g.cost(CostKind::Macs).item<double>(), params * 36, 1e-2);
}

TEST(ChannelGraph, ExpectedCostAtSaturatedLogitsEqualsTheExportedNetwork) {
  // Supernet: conv 3->8 (5 kept) -> BN -> ReLU -> depthwise 3x3 -> BN -> mask (tied to the first,
  // adds nothing) -> pointwise 8->6 (4 kept) -> BN -> global pool -> linear 6->10 (with bias).
  auto supernet = [](Net& net) {
    Tensor h = relu(net.mask(net.bn(net.conv(image(), "c1", 8, 3), "bn1"), "m1", logits_keeping(5, 8)));
    h = net.mask(net.bn(net.conv(h, "dw", 8, 3, true), "bn2"), "m2", std::vector<double>(8, kOff));
    h = relu(net.mask(net.bn(net.conv(h, "pw", 6, 1), "bn3"), "m3", logits_keeping(4, 6)));
    return net.linear_layer(flatten(global_avg_pool2d(h)), "fc", 10);
  };
  auto exported = [](Net& net) {  // the same network at the widths the masks keep, no masks
    Tensor h = relu(net.bn(net.conv(image(), "c1", 5, 3), "bn1"));
    h = net.bn(net.conv(h, "dw", 5, 3, true), "bn2");
    h = relu(net.bn(net.conv(h, "pw", 4, 1), "bn3"));
    return net.linear_layer(flatten(global_avg_pool2d(h)), "fc", 10);
  };
  Net s, e;
  const ChannelGraph sg = ChannelGraph::trace(sum(supernet(s)), s.params);
  const ChannelGraph eg = ChannelGraph::trace(sum(exported(e)), e.params);
  EXPECT_EQ(sg.masks().size(), 3u);
  EXPECT_EQ(eg.masks().size(), 0u);
  for (CostKind kind : {CostKind::Params, CostKind::Macs}) {
    SCOPED_TRACE(cost_kind_name(kind));
    // Penalised cost (weights only) and reported count (with BN and biases).
    EXPECT_NEAR(sg.cost(kind).item<double>(), eg.cost(kind).item<double>(), 1e-4);
    EXPECT_EQ(sg.count(kind, alive_groups(sg)), eg.count_all(kind));
  }
  // By hand: weights 3*3*3*5 + 3*3*5 + 5*4 + 4*10 = 240; biases 10; BN 2*(5+5+4) = 28.
  EXPECT_EQ(eg.count_all(CostKind::Params), 240 + 10 + 28);
  EXPECT_EQ(eg.count_all(CostKind::Macs), (135 + 45 + 20) * 36 + 40);
}

TEST(ChannelGraph, ResidualAddKeepsAChannelWhenEitherMaskDoes) {
  Net net;
  const Tensor stem = net.mask(net.conv(image(), "stem", 4, 3), "stem.mask", {kOn, kOff, kOff, kOn});
  const Tensor block = net.mask(net.conv(stem, "block", 4, 3), "block.mask", {kOff, kOn, kOff, kOn});
  const Tensor head = net.conv(add(stem, block), "head", 2, 1);
  const ChannelGraph g = ChannelGraph::trace(sum(head), net.params);
  // Channels 0, 1, 3 survive in the tied group: 3 alive. stem 27*3, block 9*3*3, head 3*2.
  EXPECT_NEAR(g.cost(CostKind::Params).item<double>(), 27 * 3 + 9 * 3 * 3 + 3 * 2, 1e-4);
  const std::vector<bool> alive = alive_groups(g);
  EXPECT_EQ(g.count(CostKind::Params, alive), 27 * 3 + 9 * 3 * 3 + 3 * 2);
}

TEST(ChannelGraph, CostGradientMatchesFiniteDifferences) {
  Net net;
  Generator gen(3);
  auto random_logits = [&](int64_t n) { return uniform({n}, -2, 2, gen, {DType::Float64}).to_vector<double>(); };
  const Tensor x = image(3);
  const Tensor a = net.mask(net.conv(x, "a", 5, 1), "a.mask", random_logits(5));
  const Tensor b = net.mask(net.conv(x, "b", 3, 3, false), "b.mask", random_logits(3));
  Tensor h = concat({a, b});
  h = net.mask(net.conv(h, "dw", 8, 3, true), "dw.mask", random_logits(8));  // depthwise: tied, 2 masks
  h = add(h, net.mask(net.conv(x, "skip", 8, 1), "skip.mask", random_logits(8)));  // residual: 3 masks
  const Tensor y = net.conv(h, "head", 4, 1);
  const ChannelGraph g = ChannelGraph::trace(sum(y), net.params);
  for (CostKind kind : {CostKind::Params, CostKind::Macs}) {
    for (const TracedMask& m : g.masks()) Tensor(m.logits).zero_grad();
    backward(g.cost(kind));
    for (const TracedMask& m : g.masks()) {
      double* nu = m.logits.data<double>();
      const auto analytic = m.logits.grad().to_vector<double>();
      for (int64_t c = 0; c < m.channels; ++c) {
        const double saved = nu[c], eps = 1e-6;
        nu[c] = saved + eps;
        const double plus = g.cost(kind).item<double>();
        nu[c] = saved - eps;
        const double minus = g.cost(kind).item<double>();
        nu[c] = saved;
        const double numeric = (plus - minus) / (2 * eps);
        EXPECT_NEAR(analytic[c], numeric, 1e-5 * (1 + std::abs(numeric))) << m.name << " channel " << c;
      }
    }
  }
}

TEST(ChannelGraph, SampledAndReferenceForms) {
  Net net;
  const Tensor y = net.conv(net.mask(net.conv(image(), "a", 2, 1), "a.mask", {0, 0}), "b", 3, 1);
  const ChannelGraph g = ChannelGraph::trace(sum(y), net.params);
  // Relaxed masks m = (0.5, 0.05): sampled form 3*(0.55) + 0.55*3 (b's outputs unmasked, p = 1).
  Tensor m = from_vector<double>({0.5, 0.05}, {2}).set_requires_grad();
  const Tensor sampled = g.cost(CostKind::Params, CostForm::Sampled, {m});
  EXPECT_NEAR(sampled.item<double>(), 3 * 0.55 + 0.55 * 3, 1e-12);
  backward(sampled);
  EXPECT_EQ(m.grad().to_vector<double>(), (std::vector<double>{6, 6}));
  // Reference form: A (m >= 0.1) = 1 alive: a: 1*(3*1... ) -> coeff (A_in R_out + A_out R_in).
  //   a: in = image (A 3, R 3), out (A 1, R 0.55): 3*0.55 + 1*3 = 4.65
  //   b: in (A 1, R 0.55), out = 3 unmasked (A 3, R 3): 1*3 + 3*0.55 = 4.65
  EXPECT_NEAR(g.cost(CostKind::Params, CostForm::Reference, {m.detach()}).item<double>(), 9.3, 1e-12);
  EXPECT_ERROR_MENTIONS(g.cost(CostKind::Params, CostForm::Sampled), "one relaxed mask per mask");
}

TEST(ChannelGraph, UnknownOpsAreReportedNotGuessed) {
  Net net;
  const Tensor y = narrow(net.conv(image(), "a", 4, 1), 1, 0, 2);
  EXPECT_ERROR_MENTIONS(ChannelGraph::trace(sum(y), net.params), "op 'narrow' is not understood");
  EXPECT_ERROR_MENTIONS(ChannelGraph::trace(image(), net.params), "no recorded graph");
}

}  // namespace
}  // namespace figs::nas

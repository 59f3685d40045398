// The MorphNet baseline (nas/baselines/morphnet.h): the penalty against hand-worked values and finite
// differences on small hand-built networks (chain, residual add, concat, depthwise-separable),
// the alive threshold applied exactly, max grouping, and exports on real spaces.
#include <cmath>

#include "hand_net.h"
#include "nas/architecture.h"
#include "nas/baselines/morphnet.h"
#include "space_test_util.h"

namespace figs::nas {
namespace {

// The hand-built networks of tests/nas/hand_net.h, with BatchNorm scales given by hand and
// classifier biases at zero.
struct Net : test::Net {
  Net() : test::Net(9) {}
  using test::Net::param;
  Tensor param(const std::string& name, Tensor value) {
    Tensor t = value.set_requires_grad();
    params.push_back({name, t});
    return t;
  }
  Tensor bn(const Tensor& x, const std::string& name, const std::vector<double>& gamma) {
    const int64_t C = x.size(1);
    EXPECT_EQ(static_cast<int64_t>(gamma.size()), C) << name;
    return batch_norm(x, param(name + ".bn.weight", from_vector(gamma, {C})),
                      param(name + ".bn.bias", zeros({C}, {DType::Float64})), Tensor(), Tensor(), {});
  }
  Tensor linear_layer(const Tensor& x, const std::string& name, int64_t out) {
    return linear(x, param(name + ".weight", uniform({out, x.size(1)}, -0.5, 0.5, gen, {DType::Float64})),
                  param(name + ".bias", zeros({out}, {DType::Float64})));
  }
  const Tensor& named(const std::string& name) const {
    for (const auto& [n, t] : params)
      if (n == name) return t;
    throw std::runtime_error("no parameter " + name);
  }
};

using test::image;

TEST(MorphNet, ThresholdIsAppliedExactlyAndTheCostMatchesTheBilinearForm) {
  // image(3) -> conv1 3x3 -> 4 -> BN1 -> ReLU -> conv2 1x1 -> 3 -> BN2 -> pool -> linear -> 5
  Net net;
  const std::vector<double> g1{0.5, 0.02, 0.005, -0.3};  // alive: 0.5, 0.02, -0.3
  const std::vector<double> g2{0.011, 0.0099, 0.01};     // alive: 0.011 only (0.01 is not > 0.01)
  Tensor h = relu(net.bn(net.conv(image(), "c1", 4, 3), "c1", g1));
  h = net.bn(net.conv(h, "c2", 3, 1), "c2", g2);
  const Tensor y = net.linear_layer(flatten(global_avg_pool2d(h)), "fc", 5);
  const ChannelGraph g = ChannelGraph::trace(sum(y), net.params);
  ASSERT_EQ(g.norms().size(), 2u);
  EXPECT_EQ(g.norms()[0].weight_name, "c1.bn.weight");

  // A and R by hand: BN1 A 3, R 0.825; BN2 A 1, R 0.0309; image and logits A = C, R = 0.
  const double a1 = 3, r1 = 0.5 + 0.02 + 0.005 + 0.3, a2 = 1, r2 = 0.011 + 0.0099 + 0.01;
  const double params = 9 * (3 * r1 + a1 * 0) + 1 * (a1 * r2 + a2 * r1) + 1 * (a2 * 0 + 5 * r2);
  const double macs = 9 * 36 * (3 * r1) + 36 * (a1 * r2 + a2 * r1) + (5 * r2);
  EXPECT_NEAR(morphnet_cost(g, CostKind::Params).item<double>(), params, 1e-12);
  EXPECT_NEAR(morphnet_cost(g, CostKind::Macs).item<double>(), macs, 1e-10);

  const std::vector<LayerWidth> w = morphnet_export_widths(g);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].mask, "c1.bn.weight");
  EXPECT_EQ(w[0].width, 3);
  EXPECT_EQ(w[1].width, 1);
  // The alive network: conv1 27*3 + BN 2*3, conv2 3*1 + BN 2*1, fc 1*5 + 5 biases.
  EXPECT_EQ(morphnet_alive_count(g, CostKind::Params), 81 + 6 + 3 + 2 + 5 + 5);
  EXPECT_EQ(morphnet_alive_count(g, CostKind::Macs), 81 * 36 + 3 * 36 + 5);
  // A lower threshold keeps 0.005 (> 0.004) and the two at 0.01 / 0.0099.
  const std::vector<LayerWidth> low = morphnet_export_widths(g, 0.004);
  EXPECT_EQ(low[0].width, 4);
  EXPECT_EQ(low[1].width, 3);
  EXPECT_ERROR_MENTIONS(morphnet_cost(g, CostKind::Params, -1), "threshold must be >= 0");
}

TEST(MorphNet, ResidualAndDepthwiseGroupsTakeTheMaxAndOnlyItGetsTheGradient) {
  // stem -> BN_s; block -> BN_b; add (one group per channel); depthwise 3x3 -> BN_d (tied to the
  // same group); head 1x1 -> 2 channels, no BN.
  Net net;
  const Tensor stem = net.bn(net.conv(image(), "stem", 3, 3), "stem", {0.005, 0.4, -0.2});
  const Tensor block = net.bn(net.conv(stem, "block", 3, 3), "block", {0.02, 0.001, 0.1});
  const Tensor dw = net.bn(net.conv(add(stem, block), "dw", 3, 3, true), "dw", {0.003, 0.002, -0.7});
  const Tensor y = net.conv(dw, "head", 2, 1);
  const ChannelGraph g = ChannelGraph::trace(sum(y), net.params);
  // Group maxima: ch0 0.02 (block), ch1 0.4 (stem), ch2 0.7 (dw, negative): all alive.
  const double r = 0.02 + 0.4 + 0.7, a = 3;
  // stem conv (image in: A 3, R 0) 9*(3 r); block conv 9*(a r + a r); dw 2*9*r; head (out A 2, R 0) 1*(a*0 + 2 r).
  const double expected = 9 * 3 * r + 9 * 2 * a * r + 2 * 9 * r + 2 * r;
  const Tensor cost = morphnet_cost(g, CostKind::Params);
  EXPECT_NEAR(cost.item<double>(), expected, 1e-12);
  backward(cost);
  const double dr = 9 * 3 + 9 * 2 * a + 2 * 9 + 2;  // d cost / d R of each channel's group
  EXPECT_EQ(net.named("stem.bn.weight").grad().to_vector<double>(), (std::vector<double>{0, dr, 0}));
  EXPECT_EQ(net.named("block.bn.weight").grad().to_vector<double>(), (std::vector<double>{dr, 0, 0}));
  EXPECT_EQ(net.named("dw.bn.weight").grad().to_vector<double>(), (std::vector<double>{0, 0, -dr}));
}

TEST(MorphNet, GradientMatchesFiniteDifferences) {
  // Chain, concat, depthwise-separable, residual add and a linear head; gammas random with
  // |gamma| in [0.05, 1] and random signs (away from the threshold, so A is constant nearby).
  Net net;
  Generator gen(17);
  auto gammas = [&](int64_t n) {
    std::vector<double> v = uniform({n}, 0.05, 1.0, gen, {DType::Float64}).to_vector<double>();
    const std::vector<double> s = uniform({n}, -1, 1, gen, {DType::Float64}).to_vector<double>();
    for (int64_t i = 0; i < n; ++i) v[i] *= s[i] < 0 ? -1 : 1;
    return v;
  };
  const Tensor x = image(3);
  const Tensor a = relu(net.bn(net.conv(x, "a", 5, 1), "a", gammas(5)));
  const Tensor b = relu(net.bn(net.conv(x, "b", 3, 3), "b", gammas(3)));
  Tensor h = concat({a, b});
  h = net.bn(net.conv(h, "dw", 8, 3, true), "dw", gammas(8));
  h = net.bn(net.conv(h, "pw", 8, 1), "pw", gammas(8));
  h = add(h, net.bn(net.conv(x, "skip", 8, 1), "skip", gammas(8)));
  const Tensor y = net.linear_layer(flatten(global_avg_pool2d(relu(h))), "fc", 4);
  const ChannelGraph g = ChannelGraph::trace(sum(y), net.params);
  ASSERT_EQ(g.norms().size(), 5u);
  for (CostKind kind : {CostKind::Params, CostKind::Macs}) {
    SCOPED_TRACE(cost_kind_name(kind));
    for (const CountedNorm& n : g.norms()) Tensor(n.weight).zero_grad();
    backward(morphnet_cost(g, kind));
    int nonzero = 0;
    for (const CountedNorm& n : g.norms()) {
      double* gamma = n.weight.data<double>();
      const std::vector<double> analytic = n.weight.grad().to_vector<double>();
      for (int64_t c = 0; c < n.channels; ++c) {
        const double saved = gamma[c], eps = 1e-6;
        gamma[c] = saved + eps;
        const double plus = morphnet_cost(g, kind).item<double>();
        gamma[c] = saved - eps;
        const double minus = morphnet_cost(g, kind).item<double>();
        gamma[c] = saved;
        const double numeric = (plus - minus) / (2 * eps);
        EXPECT_NEAR(analytic[c], numeric, 1e-6 * (1 + std::abs(numeric))) << n.weight_name << " channel " << c;
        nonzero += analytic[c] != 0;
      }
    }
    EXPECT_GE(nonzero, 5 + 3 + 8) << "every group's max should receive a gradient";
  }
}

TEST(MorphNet, LargeGammasKeepEverythingAndExportTheFullSpace) {
  // BN init gamma = 1 >> 1e-2: A equals the full counts, and the export is the supernet.
  for (const auto& [name, preset] :
       std::vector<std::pair<std::string, std::string>>{{"resnet", "small28"}, {"oneshot", "tiny28"}, {"fbnet", "small28"}}) {
    SCOPED_TRACE(name);
    const auto space = make_space(name, preset);
    nn::Model model(space->build(space->full_widths()), {.seed = 1});
    const ChannelGraph g = test::trace_net(model.root(), *space);
    EXPECT_EQ(morphnet_alive_count(g, CostKind::Params), g.count_all(CostKind::Params));
    EXPECT_EQ(morphnet_alive_count(g, CostKind::Macs), g.count_all(CostKind::Macs));
    for (const LayerWidth& w : morphnet_export_widths(g)) EXPECT_EQ(w.width, w.channels) << w.mask;
    std::vector<std::string> changes;
    EXPECT_EQ(morphnet_width_map(*space, g, kMorphNetThreshold, &changes), space->full_widths());
    EXPECT_TRUE(changes.empty());
  }
}

void set_gamma(nn::Module& net, const std::string& unit, const std::function<double(int64_t)>& value) {
  for (const nn::NamedTensor& p : net.named_parameters())
    if (p.name == unit + ".bn.weight") {
      NoGradGuard no_grad;
      std::vector<float> v(p.tensor.numel());
      for (int64_t c = 0; c < p.tensor.numel(); ++c) v[c] = static_cast<float>(value(c));
      raw::copy_(p.tensor, from_vector(v, {p.tensor.numel()}));
      return;
    }
  FAIL() << "no BatchNorm for " << unit;
}

TEST(MorphNet, ResNetExportRemovesBranchesAndKeepsStreamsConnected) {
  const auto space = make_space("resnet", "small28");
  nn::Model model(space->build(space->full_widths()), {.seed = 1});
  // layer2.1.conv1: 5 of 32 channels above the threshold (just: 0.0101 vs 0.0099 below).
  set_gamma(model.root(), "layer2.1.conv1", [](int64_t c) { return c < 5 ? 0.0101 : 0.0099; });
  // layer1.0.conv1 dead: its branch goes.
  set_gamma(model.root(), "layer1.0.conv1", [](int64_t) { return 0.0; });
  // The whole stage-3 stream (3 conv2 + downsample) dead: it cannot be 0, so it keeps 1 channel.
  for (const char* u : {"layer3.0.conv2", "layer3.1.conv2", "layer3.2.conv2", "layer3.0.downsample"})
    set_gamma(model.root(), u, [](int64_t) { return 0.001; });
  const ChannelGraph g = test::trace_net(model.root(), *space);
  std::vector<std::string> changes;
  const WidthMap m = morphnet_width_map(*space, g, kMorphNetThreshold, &changes);
  EXPECT_EQ(m.at("layer2.1.conv1"), 5);
  EXPECT_EQ(m.at("layer1.0.conv1"), 0);
  for (const char* k : {"layer3.0.conv2", "layer3.1.conv2", "layer3.2.conv2", "layer3.0.downsample"})
    EXPECT_EQ(m.at(k), 1) << k;
  EXPECT_EQ(changes.size(), 4u);
  EXPECT_EQ(m.at("layer3.1.conv1"), 64);
  const Architecture arch = describe_architecture(*space, m);
  EXPECT_EQ(std::count(arch.surviving_units.begin(), arch.surviving_units.end(), "layer1.0.conv2"), 0);
}

TEST(MorphNet, PenaltyObjectScalesAndReportsTheAliveCount) {
  Net net;
  const Tensor h = net.bn(net.conv(image(), "c1", 2, 1), "c1", {0.5, 0.001});
  const ChannelGraph g = ChannelGraph::trace(sum(net.linear_layer(flatten(global_avg_pool2d(h)), "fc", 3)), net.params);
  MorphNetPenalty penalty(g, {.kind = CostKind::Params, .lambda = 2.0});
  // conv1: 1*(3*0.501 + 1*0); fc: 1*(1*0 + 3*0.501): cost 3.006, penalty 6.012.
  EXPECT_NEAR(penalty().item<double>(), 2 * 6 * 0.501, 1e-12);
  EXPECT_NEAR(penalty.last_cost(), 6 * 0.501, 1e-12);
  EXPECT_EQ(penalty.last_alive_count(), 3 * 1 + 2 * 1 + 1 * 3 + 3);
  penalty.set_lambda(0.5);
  EXPECT_NEAR(penalty().item<double>(), 0.5 * 6 * 0.501, 1e-12);
  EXPECT_ERROR_MENTIONS(penalty.set_lambda(-1), "lambda must be >= 0");
  EXPECT_EQ(width_key_of_norm("cell0.block1.proj.bn.weight"), "cell0.block1.proj");
  EXPECT_EQ(width_key_of_norm("fc.weight"), "");
}

}  // namespace
}  // namespace figs::nas

// Cost accounting (nas/channel_graph.h, nas/cost_accounting.cpp): the group rules and the
// removal-aware expected cost, against
//   - values worked out by hand on a small network with one removable operator,
//   - central differences of the device form in float64,
//   - Monte Carlo on every space: draw which groups survive, build the network the export would
//     build at those widths, and average its cost; the removal-aware expected cost must equal
//     that mean within sampling error, and the removal-aware count must equal the built
//     network's count exactly, draw by draw.
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "autograd/engine.h"
#include "hand_net.h"
#include "nas/baselines/morphnet.h"
#include "space_test_util.h"

namespace figs::nas {
namespace {

using test::image;
using test::Net;

double sigmoid(double a) { return 1 / (1 + std::exp(-a)); }

// stem: image(3) -> 1x1 conv to 4 -> mask           (a stream: always stays)
// op:   stem -> 1x1 conv "op.a" to 3 -> mask -> 1x1 conv "op.b" to 2 -> mask   (removable, keys a, b)
// proj: concat(stem, op) -> 1x1 conv to 5 -> mask -> global pool -> linear to 10
struct HandNetwork {
  Net net;
  ChannelGraph graph;
  HandNetwork(const std::vector<double>& stem, const std::vector<double>& a, const std::vector<double>& b,
              const std::vector<double>& proj) {
    const Tensor s = net.mask(net.conv(image(), "stem", 4, 1), "stem.mask", stem);
    const Tensor h = net.mask(net.conv(s, "op.a", 3, 1), "op.a.mask", a);
    const Tensor o = net.mask(net.conv(h, "op.b", 2, 1), "op.b.mask", b);
    const Tensor p = net.mask(net.conv(concat({s, o}), "proj", 5, 1), "proj.mask", proj);
    graph = ChannelGraph::trace(sum(net.linear_layer(flatten(global_avg_pool2d(p)), "fc", 10)), net.params);
    graph.set_accounting({GroupRule::Any, {{"op", {"op.a.weight", "op.b.weight"}}}});
  }
};

double sum_sigmoid(const std::vector<double>& logits) {
  double s = 0;
  for (double l : logits) s += sigmoid(l);
  return s;
}
double any_alive(const std::vector<double>& logits) {
  double none = 1;
  for (double l : logits) none *= 1 - sigmoid(l);
  return 1 - none;
}

TEST(CostAccounting, RemovalAwareExpectedCostByHand) {
  const std::vector<double> stem = {1.0, -0.5, 2.0, 0.3}, a = {-1.0, -2.0, 0.5}, b = {-0.7, -1.5},
                            proj = {0.2, 1.1, -0.4, 3.0, -2.5};
  HandNetwork h(stem, a, b, proj);
  const double S = sum_sigmoid(stem), A = sum_sigmoid(a), B = sum_sigmoid(b), P = sum_sigmoid(proj);
  const double alive_a = any_alive(a), alive_b = any_alive(b);
  // stem 3*S; op.a S*A, kept while b is; op.b A*B (its own channels hold both keys); proj's
  // inputs are the stem's S and op.b's B while a is kept; fc 10 per proj channel.
  const double params = 3 * S + S * A * alive_b + A * B + (S + B * alive_a) * P + 10 * P;
  EXPECT_NEAR(h.graph.expected_cost(CostKind::Params).item<double>(), params, 1e-12 * params);
  // MACs: the convs run on 6x6 outputs.
  const double macs = 36 * (3 * S + S * A * alive_b + A * B + (S + B * alive_a) * P) + 10 * P;
  EXPECT_NEAR(h.graph.expected_cost(CostKind::Macs).item<double>(), macs, 1e-12 * macs);

  // The spec's accounting charges everything: 3S + SA + AB + (S + B)P + 10P.
  h.graph.set_accounting({});
  EXPECT_NEAR(h.graph.expected_cost(CostKind::Params).item<double>(), 3 * S + S * A + A * B + (S + B) * P + 10 * P,
              1e-9);
}

TEST(CostAccounting, RemovalAwareGradientMatchesCentralDifferences) {
  HandNetwork h({1.0, -0.5, 2.0, 0.3}, {-1.0, -2.0, 0.5}, {-0.7, -1.5}, {0.2, 1.1, -0.4, 3.0, -2.5});
  for (GroupRule rule : {GroupRule::Any, GroupRule::Max}) {
    SCOPED_TRACE(group_rule_name(rule));
    h.graph.set_accounting({rule, {{"op", {"op.a.weight", "op.b.weight"}}}});
    for (const TracedMask& m : h.graph.masks()) Tensor(m.logits).zero_grad();
    backward(h.graph.expected_cost(CostKind::Params));
    for (const TracedMask& m : h.graph.masks()) {
      const std::vector<double> grad = m.logits.grad().to_vector<double>();
      for (int64_t c = 0; c < m.channels; ++c) {
        auto at = [&](double delta) {
          NoGradGuard no_grad;
          std::vector<double> v = m.logits.to_vector<double>();
          v[c] += delta;
          raw::copy_(m.logits, from_vector(v, {m.channels}));
          return h.graph.expected_cost(CostKind::Params).item<double>();
        };
        const double eps = 1e-6, up = at(eps), down = at(-2 * eps);
        at(eps);  // restore
        EXPECT_NEAR(grad[c], (up - down) / (2 * eps), 1e-6 * (1 + std::abs(grad[c]))) << m.name << "[" << c << "]";
      }
    }
  }
}

TEST(CostAccounting, RemovalAwareCountDropsTheOperatorAndWhatItProduced) {
  // op.a keeps no channel: the export removes op.a and op.b, and proj reads the stem alone.
  using test::kOff;
  using test::kOn;
  HandNetwork h({kOn, kOn, kOn, kOn}, {kOff, kOff, kOff}, {kOn, kOn}, {kOn, kOn, kOn, kOn, kOn});
  std::vector<std::vector<double>> pi;
  for (const TracedMask& m : h.graph.masks()) {
    std::vector<double> v;
    for (double l : m.logits.to_vector<double>()) v.push_back(sigmoid(l));
    pi.push_back(v);
  }
  std::vector<bool> alive;
  for (double p : h.graph.group_probabilities(pi)) alive.push_back(p >= 0.5);
  // Weights 3*4 + 4*5 + 5*10, fc bias 10, BN none.
  EXPECT_EQ(h.graph.count(CostKind::Params, alive), 3 * 4 + 4 * 5 + 5 * 10 + 10);
  h.graph.set_accounting({});  // the spec's: op.b's 2 channels still counted in and out
  EXPECT_EQ(h.graph.count(CostKind::Params, alive), 3 * 4 + 4 * 0 + 0 * 2 + 6 * 5 + 5 * 10 + 10);
}

TEST(CostAccounting, MaxRuleTakesTheMostProbableMask) {
  Net net;
  const Tensor x = image(3);
  Tensor y = net.mask(net.conv(x, "a", 2, 1), "a.mask", {0, 0});
  y = add(y, net.mask(net.conv(x, "b", 2, 1), "b.mask", {0, 0}));
  ChannelGraph g = ChannelGraph::trace(sum(y), net.params);
  g.set_accounting({GroupRule::Max, {}});
  const std::vector<double> p = g.group_probabilities({{0.1, 0.7}, {0.4, 0.2}});
  EXPECT_DOUBLE_EQ(p[g.group_of(g.masks()[0].slot)], 0.4);
  EXPECT_DOUBLE_EQ(p[g.group_of(g.masks()[0].slot + 1)], 0.7);
}

TEST(CostAccounting, AccountingErrorsNameWhatIsMissing) {
  HandNetwork h({1, 1, 1, 1}, {1, 1, 1}, {1, 1}, {1, 1, 1, 1, 1});
  EXPECT_ERROR_MENTIONS(h.graph.set_accounting({GroupRule::Any, {{"op", {"op.c.weight"}}}}), "op.c.weight");
  EXPECT_ERROR_MENTIONS(h.graph.set_accounting({GroupRule::Any, {{"nowhere", {"op.a.weight"}}}}), "nowhere");
  EXPECT_ERROR_MENTIONS(h.graph.cost_on_host(CostKind::Params, CostForm::Expected), "removal-aware");
  EXPECT_ERROR_MENTIONS(parse_group_rule("min"), "any, max");
}

TEST(CostAccounting, MorphNetCostDropsWhatTheExportRemoves) {
  // The hand network with a BatchNorm after every conv; op.a's scales are all below MorphNet's
  // threshold, so its key is dead and the export removes op.a and op.b.
  Net net;
  const Tensor s = net.bn(net.conv(image(), "stem", 4, 1), "stem.bn");
  const Tensor h = net.bn(net.conv(s, "op.a", 3, 1), "op.a.bn");
  const Tensor o = net.bn(net.conv(h, "op.b", 2, 1), "op.b.bn");
  const Tensor p = net.bn(net.conv(concat({s, o}), "proj", 5, 1), "proj.bn");
  ChannelGraph g = ChannelGraph::trace(sum(net.linear_layer(flatten(global_avg_pool2d(p)), "fc", 10)), net.params);
  const std::map<std::string, std::vector<double>> gammas = {{"stem.bn.gamma", {0.5, -0.25, 0.125, 1.0}},
                                                             {"op.a.bn.gamma", {0.005, -0.001, 0.0}},
                                                             {"op.b.bn.gamma", {0.75, 0.5}},
                                                             {"proj.bn.gamma", {0.5, 0.5, -1.0, 0.25, 0.25}}};
  {
    NoGradGuard no_grad;
    for (const auto& [name, t] : net.params)
      if (gammas.count(name)) raw::copy_(t, from_vector(gammas.at(name), {t.numel()}));
  }
  const double R_s = 1.875, R_a = 0.006, R_b = 1.25, R_p = 2.5;  // sums of |gamma|
  // MorphNet's bilinear cost, coeff / groups * (A_in R_out + A_out R_in), every conv 1x1; the
  // image and the classes are unsourced (A = 1, R = 0) and op.a's channels are dead (A = 0).
  const double spec = 3 * R_s + (4 * R_a + 0 * R_s) + (0 * R_b + 2 * R_a) + (6 * R_p + 5 * (R_s + R_b)) + 10 * R_p;
  EXPECT_NEAR(morphnet_cost(g, CostKind::Params).item<double>(), spec, 1e-5);
  // Removal-aware: op.a and op.b are not charged, and proj reads the stem's 4 channels alone.
  g.set_accounting({GroupRule::Any, {{"op", {"op.a.weight", "op.b.weight"}}}});
  EXPECT_NEAR(morphnet_cost(g, CostKind::Params).item<double>(), 3 * R_s + (4 * R_p + 5 * R_s) + 10 * R_p, 1e-5);
  // Its count is the export's: stem 3*4 + BN 8, proj 4*5 + BN 10, fc 5*10 + 10.
  EXPECT_EQ(morphnet_alive_count(g, CostKind::Params), 12 + 8 + 20 + 10 + 50 + 10);
}

// ---- Monte Carlo on the spaces ----

struct Draws {
  double mean = 0, stderr_of_mean = 0;
};

// Draws which masked groups survive (independently, each with its keep probability p), builds the
// network the export would build at the resulting widths, and returns the mean cost; checks the
// removal-aware count of every draw against the built network's.
Draws export_cost_by_sampling(const SearchSpace& space, const ChannelGraph& g, CostKind kind, int draws) {
  std::vector<std::vector<double>> pi;
  for (const TracedMask& m : g.masks()) {
    std::vector<double> v;
    for (double l : m.logits.to_vector<double>()) v.push_back(sigmoid(l));
    pi.push_back(v);
  }
  const std::vector<double> p = g.group_probabilities(pi);
  std::vector<bool> masked(static_cast<size_t>(g.num_groups()), false);
  for (const TracedMask& m : g.masks())
    for (int64_t c = 0; c < m.channels; ++c) masked[static_cast<size_t>(g.group_of(m.slot + c))] = true;
  const WidthMap full = space.full_widths();
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> u(0, 1);
  double sum = 0, sum_sq = 0;
  for (int d = 0; d < draws; ++d) {
    std::vector<bool> alive(static_cast<size_t>(g.num_groups()), true);
    for (size_t grp = 0; grp < alive.size(); ++grp)
      if (masked[grp]) alive[grp] = u(rng) < p[grp];
    WidthMap widths;
    for (const TracedMask& m : g.masks()) {
      const std::string key = width_key_of_mask(m.name);
      if (!full.count(key)) continue;  // a depthwise unit: its width is its input's
      int64_t w = 0;
      for (int64_t c = 0; c < m.channels; ++c) w += alive[static_cast<size_t>(g.group_of(m.slot + c))];
      widths[key] = w;
    }
    const nn::ModulePtr exported = space.build(widths);
    const ChannelGraph eg = test::trace_net(*exported, space, 1);
    EXPECT_EQ(g.count(kind, alive), eg.count_all(kind)) << "draw " << d;
    const double cost = eg.cost(kind).item<double>();
    sum += cost, sum_sq += cost * cost;
  }
  const double mean = sum / draws, var = std::max(0.0, sum_sq / draws - mean * mean);
  return {mean, std::sqrt(var / (draws - 1))};
}

TEST(CostAccounting, RemovalAwareExpectedCostIsTheMeanCostOfTheExport) {
  // In FBNet and ResNet an operator's key is its first conv, whose channels every later conv of
  // the operator reads: removal is already implied by the channel counts and both accountings
  // agree. In One-Shot a sep pair's dw1 and pw1 read the stream, and the cell's projection reads
  // pw2's channels, so the spec's accounting charges what the export removes.
  struct Case {
    std::string label, config;
    bool spec_overcharges;
  };
  for (const auto& [label, config, spec_overcharges] : std::vector<Case>{
           {"oneshot", R"({"space":"oneshot","preset":"tiny28"})", true},
           {"oneshot without parameterless ops", R"({"space":"oneshot","preset":"tiny28","ops":["sep3","conv17_71"]})",
            true},
           {"fbnet", R"({"space":"fbnet","preset":"small28","candidates":["k3_e1","k5_e3","skip"]})", false},
           {"resnet", R"({"space":"resnet","preset":"small28"})", false}}) {
    const auto space = make_space_from_json(config);
    const nn::ModulePtr net = space->build(space->full_widths(), {.masks = true, .mask_options = {}});
    ChannelGraph g = test::trace_net(*net, *space);
    // Keys an export may remove get keep probabilities 0.02-0.5, so operators do vanish; keys it
    // may not (streams, stems, heads) and the first choice of a group that must keep one stay
    // (pi = 1 - 3e-4); masks without a key (depthwise) are nearly off.
    std::set<std::string> removable, kept;
    std::set<std::string> groups_seen;
    for (const OperatorChoice& c : space->operator_choices()) {
      const bool first = groups_seen.insert(c.group).second;
      for (const std::string& k : c.keys) (c.group_needs_one && first ? kept : removable).insert(k);
    }
    const WidthMap full = space->full_widths();
    Generator gen(5);
    for (const TracedMask& m : g.masks()) {
      NoGradGuard no_grad;
      const std::string key = width_key_of_mask(m.name);
      const Tensor logits = !full.count(key)         ? figs::full({m.channels}, -8.0)
                            : removable.count(key) && !kept.count(key) ? uniform({m.channels}, -4, 0, gen)
                                                                        : figs::full({m.channels}, 8.0);
      raw::copy_(m.logits, logits);
    }
    for (GroupRule rule : {GroupRule::Any, GroupRule::Max}) {
      SCOPED_TRACE(label + ", group rule " + group_rule_name(rule));
      g.set_accounting({rule, removable_operators(*space)});
      for (CostKind kind : {CostKind::Params, CostKind::Macs}) {
        const double expected = g.expected_cost(kind).item<double>();
        const Draws sampled = export_cost_by_sampling(*space, g, kind, 200);
        EXPECT_NEAR(sampled.mean, expected, 4.5 * sampled.stderr_of_mean + 1e-6 * expected)
            << cost_kind_name(kind) << ": standard error " << sampled.stderr_of_mean;
        // Where the spec's accounting charges what the export removes, further off than sampling explains.
        ChannelGraph spec = g;
        spec.set_accounting({rule, {}});
        const double charged = spec.expected_cost(kind).item<double>();
        std::printf("%s, %s, %s: removal-aware %.1f, spec's %.1f, exported mean %.1f +- %.1f\n", label.c_str(),
                    group_rule_name(rule), cost_kind_name(kind), expected, charged, sampled.mean,
                    sampled.stderr_of_mean);
        if (spec_overcharges) EXPECT_GT(charged - sampled.mean, 6 * sampled.stderr_of_mean);
        else EXPECT_NEAR(charged, expected, 1e-4 * expected);
      }
    }
  }
}

}  // namespace
}  // namespace figs::nas

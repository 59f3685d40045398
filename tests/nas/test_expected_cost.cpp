// The expected cost as device ops (nas/expected_cost.cpp) against the host computation it
// replaced (ChannelGraph::cost_on_host: float64, its gradient in closed form), on the supernet of
// every space, with logits from saturated-off to saturated-on, under both group rules: the same
// value and the same gradient for every mask channel. The host form is itself checked by hand and by finite
// differences (test_channel_graph.cpp).
#include <cmath>

#include "autograd/engine.h"
#include "space_test_util.h"

namespace figs::nas {
namespace {

struct Grads {
  double value = 0;
  std::vector<std::vector<float>> per_mask;
};

Grads evaluate(const ChannelGraph& g, CostKind kind, bool on_device) {
  for (const TracedMask& m : g.masks()) Tensor(m.logits).zero_grad();
  const Tensor c = on_device ? g.expected_cost(kind) : g.cost_on_host(kind, CostForm::Expected);
  backward(c);
  Grads r{c.item<double>(), {}};
  for (const TracedMask& m : g.masks()) r.per_mask.push_back(m.logits.grad().to_vector<float>());
  return r;
}

TEST(ExpectedCost, DeviceOpsEqualTheHostOracleOnEverySpace) {
  for (const auto& [name, preset] : std::vector<std::pair<std::string, std::string>>{
           {"oneshot", "tiny28"}, {"fbnet", "small28"}, {"resnet", "small28"}}) {
    SCOPED_TRACE(name + "/" + preset);
    const auto space = make_space(name, preset);
    const nn::ModulePtr net = space->build(space->full_widths(), {.masks = true, .mask_options = {}});
    ChannelGraph g = test::trace_net(*net, *space);
    ASSERT_FALSE(g.masks().empty());
    // Logits spread over [-40, 40]: saturated, crossing and in between (softplus must stay finite).
    Generator gen(11);
    for (const TracedMask& m : g.masks()) {
      NoGradGuard no_grad;
      raw::copy_(m.logits, uniform({m.channels}, -40, 40, gen));
    }
    for (GroupRule rule : {GroupRule::Any, GroupRule::Max})
    for (CostKind kind : {CostKind::Params, CostKind::Macs}) {
      SCOPED_TRACE(group_rule_name(rule));
      g.set_accounting({rule, {}});
      const Grads device = evaluate(g, kind, true), host = evaluate(g, kind, false);
      EXPECT_NEAR(device.value, host.value, 1e-6 * host.value);  // float32 out of float64 arithmetic
      double worst = 0, scale = 0;
      for (size_t m = 0; m < host.per_mask.size(); ++m)
        for (size_t c = 0; c < host.per_mask[m].size(); ++c) {
          worst = std::max(worst, std::abs(static_cast<double>(device.per_mask[m][c]) - host.per_mask[m][c]));
          scale = std::max(scale, std::abs(static_cast<double>(host.per_mask[m][c])));
        }
      EXPECT_LE(worst, 1e-6 * scale) << "largest gradient " << scale;
      EXPECT_GT(scale, 0);
    }
  }
}

}  // namespace
}  // namespace figs::nas

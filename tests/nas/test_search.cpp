// The mask layer in a network, and a tiny architecture search: a large lambda shrinks the
// network while it keeps learning; lambda = 0 keeps every channel.
#include <algorithm>
#include <cmath>

#include "nas/baselines/morphnet.h"
#include "nas/budget.h"
#include "nas/channel_graph.h"
#include "nas/mask_layer.h"
#include "nas/objective.h"
#include "nas/recalibrate.h"
#include "nas/search.h"
#include "nn/nn.h"
#include "test_util.h"

namespace figs::nas {
namespace {

using namespace figs::nn;

ChannelGraph::NamedParameters named(const Model& model) {
  ChannelGraph::NamedParameters out;
  for (const ArenaSlot& s : model.param_slots()) out.push_back({s.name, s.tensor});
  return out;
}

// conv -> BN -> mask -> ReLU, twice, then global pool and a linear head.
ModulePtr masked_net(int width, const MaskOptions& mask) {
  auto net = std::make_shared<Sequential>();
  net->add("conv1", std::make_shared<Conv2d>(1, width, 3, Conv2dOptions{.padding = 1, .bias = false}));
  net->add("bn1", std::make_shared<BatchNorm2d>(width));
  net->add("mask1", std::make_shared<MaskLayer>(width, mask));
  net->add("relu1", std::make_shared<ReLU>());
  net->add("conv2", std::make_shared<Conv2d>(width, width, 3, Conv2dOptions{.padding = 1, .bias = false}));
  net->add("bn2", std::make_shared<BatchNorm2d>(width));
  net->add("mask2", std::make_shared<MaskLayer>(width, mask));
  net->add("relu2", std::make_shared<ReLU>());
  net->add("pool", std::make_shared<GlobalAvgPool>());
  net->add("flatten", std::make_shared<Flatten>());
  net->add("fc", std::make_shared<Linear>(width, 3));
  return net;
}

TEST(MaskLayer, NamesInitTrainAndEval) {
  Model model(masked_net(6, {}), {.seed = 1});
  const auto masks = mask_layers(model.root());
  ASSERT_EQ(masks.size(), 2u);
  EXPECT_EQ(masks[0].first, "mask1");
  EXPECT_EQ(model.param_slot("mask1.logits").numel, 6);
  EXPECT_EQ(masks[0].second->logits().to_vector<float>(), std::vector<float>(6, 2.5f));  // spec default
  configure_masks(model.root(), 42);
  EXPECT_EQ(masks[1].second->layer_id(), 1u);
  Tensor x, y;
  test::make_bars(6, x, y);
  // Training draws a fresh mask per step, the same one for the same (seed, step).
  set_mask_step(model.root(), 3);
  model(x);
  const auto m3 = masks[0].second->last_mask().to_vector<float>();
  set_mask_step(model.root(), 4);
  model(x);
  const auto m4 = masks[0].second->last_mask().to_vector<float>();
  set_mask_step(model.root(), 3);
  model(x);
  EXPECT_EQ(masks[0].second->last_mask().to_vector<float>(), m3);
  EXPECT_NE(m3, m4);
  // Eval: pi >= 0.5 everywhere at init, so every channel is kept exactly.
  model.eval();
  model(x);
  EXPECT_EQ(masks[0].second->last_mask().to_vector<float>(), std::vector<float>(6, 1.f));
  EXPECT_ERROR_MENTIONS(MaskLayer(0), "at least one channel");
  EXPECT_ERROR_MENTIONS(MaskLayer(3, {.tau = 0}), "tau must be > 0");
}

// Runs `steps` of architecture learning; returns the exported widths and the final train accuracy.
struct SearchResult {
  std::vector<LayerWidth> widths;            // floor(sum p), the default rule
  std::vector<LayerWidth> alive;             // #(p >= 0.5): what the eval masks keep
  double initial_cost, final_cost, accuracy;
};

SearchResult tiny_search(double relative_lambda, int steps, double logit_lr = 0.1, double eps = 1.0) {
  Tensor x, y;
  test::make_bars(60, x, y);
  Model model(masked_net(12, {.tau = 1e-3}), {.seed = 3});
  configure_masks(model.root(), 7);
  const ChannelGraph graph = ChannelGraph::trace(sum(model(x)), named(model));
  CostPenalty penalty(graph, {.kind = CostKind::Params, .lambda = relative_lambda, .relative_lambda = true});
  // Adam with the paper's eps = 1.0: small gradients (the cost's, on the logits) move
  // parameters in proportion to their size, so lambda sets the pressure.
  Adam opt(model, {.lr = 0.01, .eps = eps}, {ParamGroupSpec{.name = "logits", .selects = [](const std::string& n) {
                                   return n.size() > 7 && n.substr(n.size() - 7) == ".logits";
                                 }, .lr = logit_lr, .weight_decay = 0.0}});
  for (int step = 0; step < steps; ++step) {
    set_mask_step(model.root(), step);
    opt.zero_grad();
    const Tensor loss = add(cross_entropy(model(x), y), penalty());
    backward(loss);
    opt.step();
  }
  recalibrate_batch_norm(model, {x});  // BN statistics under the eval masks (spec, section 1)
  NoGradGuard no_grad;
  const std::vector<float> logits = model(x).to_vector<float>();
  const std::vector<int64_t> labels = y.to_vector<int64_t>();
  int correct = 0;
  for (size_t i = 0; i < labels.size(); ++i)
    correct += std::max_element(&logits[3 * i], &logits[3 * i] + 3) - &logits[3 * i] == labels[i];
  return {export_widths(graph), export_widths(graph, WidthRule::Threshold, 0.5), penalty.initial_cost(),
          graph.cost(CostKind::Params).item<double>(), static_cast<double>(correct) / labels.size()};
}

// Settings found by a sweep on this task (lambda x initial cost in {1..100}, logits' lr 0.1/1,
// 150/300 steps): lambda 8 for 300 steps cuts the expected cost to ~40% and keeps 98% train
// accuracy; 16 or more removes so much that accuracy falls to chance — the short-run effect
// the spec describes (the cost gradient reaches the logits every step, the task's rarely).
TEST(TinySearch, LargeLambdaShrinksTheNetworkWhichKeepsTraining) {
  const SearchResult r = tiny_search(/*lambda x initial cost=*/8.0, 300);
  EXPECT_LT(r.final_cost, 0.6 * r.initial_cost);
  for (size_t i = 0; i < r.widths.size(); ++i) {
    EXPECT_LT(r.widths[i].width, r.widths[i].channels) << r.widths[i].mask;
    EXPECT_GT(r.alive[i].width, 0) << r.alive[i].mask << ": everything was removed";
  }
  EXPECT_GT(r.accuracy, 0.8) << "the shrunken network no longer learns (chance is 1/3)";
}

TEST(TinySearch, ZeroLambdaKeepsEveryChannel) {
  const SearchResult r = tiny_search(0.0, 150);
  for (const LayerWidth& w : r.alive) EXPECT_EQ(w.width, w.channels) << w.mask;
  // floor(sum p) at pi ~ 0.92 (init 2.5, barely moved in 150 steps) is one short of 12: the rule,
  // not a removal.
  for (const LayerWidth& w : r.widths) EXPECT_GE(w.width, w.channels - 1) << w.mask;
  EXPECT_NEAR(r.final_cost, r.initial_cost, 0.05 * r.initial_cost);
  EXPECT_GT(r.accuracy, 0.8);
}

TEST(TauSchedule, ConstantByDefaultGeometricWhenAnnealed) {
  EXPECT_EQ(TauSchedule{}.at(0), 1e-3);  // the spec's default: fixed, no annealing
  EXPECT_EQ(TauSchedule::constant(0.5).at(1000), 0.5);
  const TauSchedule t = TauSchedule::geometric(1.0, 1e-2, 10);
  EXPECT_DOUBLE_EQ(t.at(0), 1.0);
  EXPECT_NEAR(t.at(5), 0.1, 1e-12);  // halfway in log space
  EXPECT_NEAR(t.at(10), 1e-2, 1e-15);
  EXPECT_NEAR(t.at(50), 1e-2, 1e-15);  // constant after the schedule
  EXPECT_ERROR_MENTIONS(TauSchedule::geometric(1.0, 0.0, 10).at(1), "tau must be > 0");
}

TEST(MaskLayerStats, KeepProbabilitiesOfKnownLogits) {
  Model model(masked_net(3, {}), {.seed = 1});
  const double l3 = std::log(3.0);
  {
    NoGradGuard no_grad;
    raw::copy_(model.param_slot("mask1.logits").tensor, from_vector<float>({0.f, float(l3), float(-l3)}, {3}));
  }
  const std::vector<MaskLayerStats> s = mask_layer_stats(model.root());
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "mask1");
  EXPECT_EQ(s[0].channels, 3);
  EXPECT_EQ(s[0].alive, 2);  // pi = 0.5, 0.75, 0.25: 0.5 counts as kept (pi >= 0.5)
  EXPECT_NEAR(s[0].sum_p, 1.5, 1e-6);
  EXPECT_NEAR(s[0].mean, 0.5, 1e-6);
  EXPECT_NEAR(s[0].stddev, std::sqrt(0.125 / 3), 1e-6);
  EXPECT_NEAR(s[0].min, 0.25, 1e-6);
  EXPECT_NEAR(s[0].max, 0.75, 1e-6);
  EXPECT_NEAR(s[1].mean, 1 / (1 + std::exp(-2.5)), 1e-6);  // untouched: the init logit 2.5
  EXPECT_EQ(s[1].stddev, 0.0);
}

// Every parameter of the model, flattened in slot order.
std::vector<float> all_parameters(const Model& model) {
  std::vector<float> all;
  for (const ArenaSlot& s : model.param_slots())
    for (float v : s.tensor.to_vector<float>()) all.push_back(v);
  return all;
}

// ArchitectureSearch must be exactly the loop written out by hand (tiny_search above): same
// noise, same loss, same updates; its hooks see every step in order.
TEST(ArchitectureSearch, EqualsTheHandWrittenLoopAndCallsHooks) {
  Tensor x, y;
  test::make_bars(30, x, y);
  auto run = [&](bool driver, std::vector<SearchStepStats>* seen) {
    Model model(masked_net(8, {.tau = 1e-3}), {.seed = 3});
    configure_masks(model.root(), 7);
    const ChannelGraph graph = ChannelGraph::trace(sum(model(x)), named(model));
    CostPenalty penalty(graph, {.kind = CostKind::Params, .lambda = 8.0, .relative_lambda = true});
    Adam opt(model, {.lr = 0.01, .eps = 1.0}, {ParamGroupSpec{.name = "logits", .selects = [](const std::string& n) {
                                     return n.size() > 7 && n.substr(n.size() - 7) == ".logits";
                                   }, .lr = 0.1, .weight_decay = 0.0}});
    if (driver) {
      ArchitectureSearch search(model, penalty, opt);
      search.on_step([&](const SearchStepStats& s, ArchitectureSearch& self) {
        seen->push_back(s);
        EXPECT_EQ(self.steps_done(), s.step);
        // The step's one readout holds the logits after the update, per mask in the graph's
        // order: the budget controller counts the export from them without a second copy.
        const std::vector<std::vector<double>> now = graph.mask_logits_on_host();
        EXPECT_EQ(penalty.last_logits(), now);
        EXPECT_EQ(exported_count(graph, CostKind::Params, penalty.last_logits()),
                  exported_count(graph, CostKind::Params));
        int64_t alive = 0;
        for (const std::vector<double>& m : now) alive += std::count_if(m.begin(), m.end(), [](double v) { return v >= 0; });
        EXPECT_EQ(s.alive_channels, alive);
      });
      for (int step = 0; step < 25; ++step) search.step(x, y);
    } else {
      for (int step = 0; step < 25; ++step) {
        set_mask_step(model.root(), step);
        opt.zero_grad();
        backward(add(cross_entropy(model(x), y), penalty()));
        opt.step();
      }
    }
    return all_parameters(model);
  };
  std::vector<SearchStepStats> seen;
  EXPECT_EQ(run(true, &seen), run(false, nullptr));
  ASSERT_EQ(seen.size(), 25u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].step, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(seen[i].tau, 1e-3);
    EXPECT_GT(seen[i].task_loss, 0.0);
    EXPECT_GT(seen[i].cost, 0.0);
    EXPECT_NEAR(seen[i].penalty, seen[i].lambda * seen[i].cost, 1e-6 * seen[i].penalty);
    EXPECT_EQ(seen[i].channels, 16);
    EXPECT_LE(seen[i].alive_channels, 16);
  }
}

// MorphNet runs on the same driver: the network without masks under MorphNetPenalty, exactly the
// loop written out by hand (CE + lambda * the gamma-weighted cost, one Adam update per step).
TEST(ArchitectureSearch, RunsMorphNetAsTheHandWrittenLoop) {
  Tensor x, y;
  test::make_bars(30, x, y);
  auto unmasked_net = [] {
    auto net = std::make_shared<Sequential>();
    net->add("conv1", std::make_shared<Conv2d>(1, 8, 3, Conv2dOptions{.padding = 1, .bias = false}));
    net->add("bn1", std::make_shared<BatchNorm2d>(8));
    net->add("relu1", std::make_shared<ReLU>());
    net->add("pool", std::make_shared<GlobalAvgPool>());
    net->add("flatten", std::make_shared<Flatten>());
    net->add("fc", std::make_shared<Linear>(8, 3));
    return net;
  };
  auto run = [&](bool driver, std::vector<SearchStepStats>* seen) {
    Model model(unmasked_net(), {.seed = 5});
    const ChannelGraph graph = ChannelGraph::trace(sum(model(x)), named(model));
    MorphNetPenalty penalty(graph, {.kind = CostKind::Params, .lambda = 50.0, .relative_lambda = true});
    Adam opt(model, {.lr = 0.1});
    if (driver) {
      ArchitectureSearch search(model, penalty, opt, {.warmup_steps = 2});
      search.on_step([&](const SearchStepStats& s, ArchitectureSearch&) {
        seen->push_back(s);
        int64_t alive = 0;  // the channels whose |gamma| is above MorphNet's threshold
        for (const LayerWidth& w : morphnet_export_widths(graph)) alive += w.width;
        EXPECT_EQ(s.alive_channels, alive);
      });
      for (int step = 0; step < 20; ++step) search.step(x, y);
    } else {
      for (int step = 0; step < 20; ++step) {
        opt.zero_grad();
        const Tensor task = cross_entropy(model(x), y);
        backward(step < 2 ? task : add(task, penalty()));
        opt.step();
      }
    }
    return all_parameters(model);
  };
  std::vector<SearchStepStats> seen;
  EXPECT_EQ(run(true, &seen), run(false, nullptr));
  ASSERT_EQ(seen.size(), 20u);
  EXPECT_TRUE(seen[1].warmup);
  EXPECT_EQ(seen[1].penalty, 0.0);
  EXPECT_FALSE(seen[2].warmup);
  EXPECT_GT(seen[2].penalty, 0.0);
  for (const SearchStepStats& s : seen) {
    EXPECT_EQ(s.tau, 0.0);  // no masks
    EXPECT_EQ(s.channels, 8);
  }
}

// Note [The search step as a CUDA graph]: with cuda_graph on, every per-step number (the masks'
// noise step and tau, the optimizer's step values, lambda) is read from memory. On the CPU nothing
// is captured, and the search must be the plain one bit for bit: an annealed tau, a warmup, a
// schedule factor and a lambda that a hook changes every step (as the budget controller does).
// tests/cuda/test_cuda_search.cpp checks the captured graph against the eager step on a GPU.
TEST(ArchitectureSearch, StepValuesFromMemoryGiveTheSameSearch) {
  Tensor x, y;
  test::make_bars(30, x, y);
  auto run = [&](bool from_memory, std::vector<SearchStepStats>* seen) {
    Model model(masked_net(8, {.tau = 1.0}), {.seed = 3});
    configure_masks(model.root(), 7);
    const ChannelGraph graph = ChannelGraph::trace(sum(model(x)), named(model));
    CostPenalty penalty(graph, {.kind = CostKind::Params, .lambda = 8.0, .relative_lambda = true});
    Adam opt(model, {.lr = 0.01, .eps = 1.0}, {ParamGroupSpec{.name = "logits", .selects = [](const std::string& n) {
                                     return n.size() > 7 && n.substr(n.size() - 7) == ".logits";
                                   }, .lr = 0.1, .weight_decay = 0.0, .scheduled = false}});
    ArchitectureSearch search(model, penalty, opt,
                              {.tau = TauSchedule::geometric(1.0, 0.05, 12), .warmup_steps = 2,
                               .cuda_graph = from_memory});
    search.on_step([&](const SearchStepStats& s, ArchitectureSearch& self) {
      seen->push_back(s);
      self.penalty().set_lambda(s.lambda * (s.step % 2 ? 1.5 : 0.8));
      opt.set_lr_factor(1.0 / (1 + s.step));
    });
    for (int step = 0; step < 12; ++step) search.step(x, y);
    EXPECT_EQ(search.graph_replays(), 0);  // nothing is captured on the CPU
    return all_parameters(model);
  };
  std::vector<SearchStepStats> plain, memory;
  EXPECT_EQ(run(true, &memory), run(false, &plain));
  ASSERT_EQ(memory.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(memory[i].task_loss, plain[i].task_loss);
    EXPECT_EQ(memory[i].penalty, plain[i].penalty);
    EXPECT_EQ(memory[i].cost, plain[i].cost);
    EXPECT_EQ(memory[i].lambda, plain[i].lambda);
    EXPECT_EQ(memory[i].alive_channels, plain[i].alive_channels);
  }
  EXPECT_GT(plain.back().penalty, 0.0);
  EXPECT_NE(plain[3].lambda, plain[4].lambda);
}

TEST(ArchitectureSearch, RefusesANetworkWithoutMasks) {
  Tensor x, y;
  test::make_bars(6, x, y);
  Model model(masked_net(4, {}), {.seed = 1});
  const ChannelGraph graph = ChannelGraph::trace(sum(model(x)), named(model));
  CostPenalty penalty(graph, {});
  auto plain = std::make_shared<Sequential>();
  plain->add("fc", std::make_shared<Linear>(4, 2));
  Model unmasked(plain, {.seed = 1});
  Adam opt(unmasked, {});
  EXPECT_ERROR_MENTIONS(ArchitectureSearch(unmasked, penalty, opt), "no mask layers");
}

}  // namespace
}  // namespace figs::nas

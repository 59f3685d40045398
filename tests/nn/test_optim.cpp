// Optimizer updates against values worked out by hand (the arithmetic is in the comments),
// parameter groups, clipping, and the single-pass arena layout.
#include <cmath>

#include "nn_test_util.h"

namespace figs::nn {
namespace {

using test::holder_model;
using test::set_grad;
using test::values;

constexpr double kTol = 2e-6;  // float32 arithmetic on values near 1

// Runs steps with the given gradients of parameter "w" (one value per step) and returns w after each.
template <class Opt, class Options>
std::vector<double> run(const Options& options, const std::vector<float>& grads, float w0 = 1.0f) {
  auto model = holder_model({{"w", {w0}}});
  Opt opt(*model, options);
  std::vector<double> out;
  for (float g : grads) {
    opt.zero_grad();
    set_grad(*model, "w", {g});
    opt.step();
    out.push_back(values(*model, "w")[0]);
  }
  return out;
}

TEST(NnSgd, Plain) {
  // w = 1, g = 0.5, lr 0.1: w -= 0.05 each step -> 0.95, 0.90, 0.85.
  const auto w = run<Sgd>(SgdOptions{.lr = 0.1}, {0.5f, 0.5f, 0.5f});
  EXPECT_NEAR(w[0], 0.95, kTol);
  EXPECT_NEAR(w[1], 0.90, kTol);
  EXPECT_NEAR(w[2], 0.85, kTol);
}

TEST(NnSgd, MomentumAndWeightDecay) {
  // lr 0.1, momentum 0.9, weight decay 0.01, g = 0.5, w = 1:
  // 1: g' = 0.5 + 0.01 * 1 = 0.51;                 v = 0.51;                         w = 1 - 0.051 = 0.949
  // 2: g' = 0.5 + 0.01 * 0.949 = 0.50949;          v = 0.9 * 0.51 + 0.50949 = 0.96849;  w = 0.949 - 0.096849 = 0.852151
  // 3: g' = 0.5 + 0.01 * 0.852151 = 0.50852151;    v = 0.9 * 0.96849 + 0.50852151 = 1.38016251;
  //    w = 0.852151 - 0.138016251 = 0.714134749
  const auto w = run<Sgd>(SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01}, {0.5f, 0.5f, 0.5f});
  EXPECT_NEAR(w[0], 0.949, kTol);
  EXPECT_NEAR(w[1], 0.852151, kTol);
  EXPECT_NEAR(w[2], 0.714134749, kTol);
}

TEST(NnSgd, Nesterov) {
  // lr 0.1, momentum 0.9, g = 0.5, w = 1; d = g + 0.9 v:
  // 1: v = 0.5;   d = 0.5 + 0.45 = 0.95;     w = 1 - 0.095 = 0.905
  // 2: v = 0.95;  d = 0.5 + 0.855 = 1.355;   w = 0.905 - 0.1355 = 0.7695
  // 3: v = 1.355; d = 0.5 + 1.2195 = 1.7195; w = 0.7695 - 0.17195 = 0.59755
  const auto w = run<Sgd>(SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true}, {0.5f, 0.5f, 0.5f});
  EXPECT_NEAR(w[0], 0.905, kTol);
  EXPECT_NEAR(w[1], 0.7695, kTol);
  EXPECT_NEAR(w[2], 0.59755, kTol);
}

// Adam cases: lr 0.1, betas (0.9, 0.999), w = 1, gradients 0.5, -0.25, 1.0. Moments:
//   m1 = 0.05,  v1 = 0.001 * 0.25 = 0.00025
//   m2 = 0.9 * 0.05 + 0.1 * (-0.25) = 0.02,  v2 = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00031225
//   m3 = 0.9 * 0.02 + 0.1 * 1 = 0.118,      v3 = 0.999 * 0.00031225 + 0.001 * 1 = 0.00131193775
// Bias corrections: 1 - 0.9^t = 0.1, 0.19, 0.271; 1 - 0.999^t = 0.001, 0.001999, 0.002997001.
const std::vector<float> kAdamGrads{0.5f, -0.25f, 1.0f};

TEST(NnAdam, PaperEpsilonOne) {
  // eps = 1 (the paper's value), standard placement: w -= lr * mhat / (sqrt(vhat) + 1)
  // 1: mhat = 0.05 / 0.1 = 0.5, vhat = 0.00025 / 0.001 = 0.25, sqrt 0.5:  w = 1 - 0.1 * 0.5 / 1.5 = 0.966666667
  // 2: mhat = 0.02 / 0.19 = 0.105263158, vhat = 0.00031225 / 0.001999 = 0.156203102, sqrt 0.395225382:
  //    w = 0.966666667 - 0.1 * 0.105263158 / 1.395225382 = 0.966666667 - 0.007544528 = 0.959122139
  // 3: mhat = 0.118 / 0.271 = 0.435424354, vhat = 0.00131193775 / 0.002997001 = 0.437750, sqrt 0.661627:
  //    w = 0.959122139 - 0.1 * 0.435424354 / 1.661627 = 0.959122139 - 0.026204700 = 0.932917439
  const auto w = run<Adam>(AdamOptions{.lr = 0.1, .eps = 1.0}, kAdamGrads);
  EXPECT_NEAR(w[0], 0.966666667, kTol);
  EXPECT_NEAR(w[1], 0.959122139, kTol);
  EXPECT_NEAR(w[2], 0.932917439, kTol);
}

TEST(NnAdam, BiasCorrectionWithSmallEpsilon) {
  // eps = 1e-8: step 1 moves by lr exactly (mhat / sqrt(vhat) = 0.5 / 0.5): w = 0.9. Without bias
  // correction it would move by 0.1 * 0.05 / sqrt(0.00025) = 0.316.
  // 2: 0.9 - 0.1 * 0.105263158 / 0.395225382 = 0.9 - 0.026633701 = 0.873366299
  // 3: 0.873366299 - 0.1 * 0.435424354 / 0.661627 = 0.873366299 - 0.065811159 = 0.807555140
  const auto w = run<Adam>(AdamOptions{.lr = 0.1, .eps = 1e-8}, kAdamGrads);
  EXPECT_NEAR(w[0], 0.9, kTol);
  EXPECT_NEAR(w[1], 0.873366299, kTol);
  EXPECT_NEAR(w[2], 0.807555140, kTol);
}

TEST(NnAdam, TensorFlowEpsilonPlacement) {
  // w -= lr * sqrt(1 - 0.999^t) / (1 - 0.9^t) * m / (sqrt(v) + 1)
  // 1: lr_t = 0.1 * sqrt(0.001) / 0.1 = 0.031622777;  w = 1 - 0.031622777 * 0.05 / (0.015811388 + 1) = 0.998443472
  // 2: lr_t = 0.1 * sqrt(0.001999) / 0.19 = 0.023531; w -= 0.023531 * 0.02 / (0.017670597 + 1) -> 0.997981011
  // 3: lr_t = 0.1 * sqrt(0.002997001) / 0.271 = 0.020201; w -= 0.020201 * 0.118 / (0.036220681 + 1) -> 0.995680608
  const auto w = run<Adam>(AdamOptions{.lr = 0.1, .eps = 1.0, .tf_epsilon = true}, kAdamGrads);
  EXPECT_NEAR(w[0], 0.998443472, kTol);
  EXPECT_NEAR(w[1], 0.997981011, kTol);
  EXPECT_NEAR(w[2], 0.995680608, kTol);
}

TEST(NnAdam, L2WeightDecayGoesIntoTheGradient) {
  // weight decay 0.1, eps 1: 1: g' = 0.5 + 0.1 * 1 = 0.6, m = 0.06, v = 0.00036, mhat 0.6, sqrt(vhat) 0.6:
  //    w = 1 - 0.1 * 0.6 / 1.6 = 0.9625
  // 2: g' = -0.25 + 0.09625 = -0.15375, m = 0.054 - 0.015375 = 0.038625, v = 0.00035964 + 0.0000236391 = 0.000383279;
  //    mhat = 0.203289474, sqrt(vhat) = 0.437873; w = 0.9625 - 0.1 * 0.203289474 / 1.437873 = 0.948361822
  // 3: (same arithmetic) 0.917531122
  const auto w = run<Adam>(AdamOptions{.lr = 0.1, .eps = 1.0, .weight_decay = 0.1}, kAdamGrads);
  EXPECT_NEAR(w[0], 0.9625, kTol);
  EXPECT_NEAR(w[1], 0.948361822, kTol);
  EXPECT_NEAR(w[2], 0.917531122, kTol);
}

TEST(NnAdamW, DecoupledWeightDecay) {
  // weight decay 0.1: w *= 1 - 0.1 * 0.1 = 0.99 before each Adam step (moments as without decay):
  // 1: w = 0.99 - 0.033333333 = 0.956666667
  // 2: w = 0.956666667 * 0.99 - 0.007544528 = 0.939555473
  // 3: w = 0.939555473 * 0.99 - 0.026204700 = 0.903955218
  const auto w = run<AdamW>(AdamOptions{.lr = 0.1, .eps = 1.0, .weight_decay = 0.1}, kAdamGrads);
  EXPECT_NEAR(w[0], 0.956666667, kTol);
  EXPECT_NEAR(w[1], 0.939555473, kTol);
  EXPECT_NEAR(w[2], 0.903955218, kTol);
}

TEST(NnAdam, StateTensorsAreArenaShaped) {
  auto model = holder_model({{"w", {1.0f}}, {"mask.logits", {2.0f}}});
  Adam adam(*model, {.lr = 0.1, .eps = 1.0});
  set_grad(*model, "w", {0.5f});
  adam.step();
  const auto state = adam.state();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].name, "exp_avg");
  EXPECT_EQ(state[0].tensor.shape(), model->params().shape());
  EXPECT_NEAR(state[0].tensor.to_vector<float>()[0], 0.05, 1e-7);
  EXPECT_NEAR(state[1].tensor.to_vector<float>()[0], 0.00025, 1e-8);  // 1 - 0.999f is not exact
  EXPECT_EQ(adam.step_count(), 1);
  EXPECT_STREQ(adam.name(), "adam");
  EXPECT_STREQ(AdamW(*model, {}).name(), "adamw");
}

// Note [Step values on the device] (core/params.h): with step_values set, the kernels take the
// per-step numbers from memory, not from the arguments (which are set wrong here on purpose).
TEST(NnOptimizer, KernelsReadTheStepValuesFromMemory) {
  const auto arena = [](std::vector<float> v) { return from_vector(v, {static_cast<int64_t>(v.size())}); };
  const std::vector<float> w0{1.0f, -0.5f, 2.0f}, g{0.5f, -0.25f, 1.0f};
  // SGD: lr 0.1 in memory, 7 in the argument: w - 0.1 (g + 0.01 w).
  {
    const Tensor p = arena(w0), grads = arena(g), lr = arena({0.1f});
    const SgdStepParams o{.lr = 7.0f, .weight_decay = 0.01f, .step_values = lr.data<float>()};
    backend_of(p).sgd_step(o, p, grads, Tensor(), 0, 3);
    const std::vector<float> got = p.to_vector<float>();
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], w0[i] - 0.1 * (g[i] + 0.01 * w0[i]), kTol) << i;
  }
  // AdamW at t = 1: m = 0.1 g, v = 0.001 g^2; step size 0.1 / 0.1 = 1, 1 / sqrt(0.001), decay
  // 1 - 0.1 * 0.5 = 0.95, all three in memory (the arguments say 0): w = 0.95 w - 1 * m / (|g| + eps).
  {
    const Tensor p = arena(w0), grads = arena(g), m = arena({0, 0, 0}), v = arena({0, 0, 0});
    const Tensor numbers = arena({1.0f, static_cast<float>(1 / std::sqrt(0.001)), 0.95f});
    const AdamStepParams o{.step_size = 0, .inv_sqrt_bc2 = 0, .eps = 1.0f, .decay = 0, .decoupled = true,
                           .step_values = numbers.data<float>()};
    backend_of(p).adam_step(o, p, grads, m, v, 0, 3);
    const std::vector<float> got = p.to_vector<float>();
    for (int i = 0; i < 3; ++i)
      EXPECT_NEAR(got[i], 0.95 * w0[i] - 0.1 * g[i] / (std::abs(g[i]) + 1.0), kTol) << i;
  }
}

// The optimizer keeping its step values on the device makes the same updates, bit for bit, under a
// changing schedule factor, for SGD with momentum, Adam and AdamW with TensorFlow's epsilon.
TEST(NnOptimizer, StepValuesOnTheDeviceGiveTheSameUpdates) {
  const auto trajectory = [](const std::string& kind, bool on_device) {
    auto model = holder_model({{"a", {1.0f, -2.0f}}, {"b.logits", {0.5f}}});
    ParamGroupSpec logits = ParamGroupSpec::ending_with(".logits");
    logits.lr = 0.3;
    logits.scheduled = false;
    std::unique_ptr<Optimizer> opt;
    if (kind == "sgd") opt = std::make_unique<Sgd>(*model, SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01},
                                                   std::vector<ParamGroupSpec>{logits});
    if (kind == "adam") opt = std::make_unique<Adam>(*model, AdamOptions{.lr = 0.05, .weight_decay = 0.02},
                                                     std::vector<ParamGroupSpec>{logits});
    if (kind == "adamw") opt = std::make_unique<AdamW>(*model, AdamOptions{.lr = 0.05, .eps = 0.1, .weight_decay = 0.1,
                                                                           .tf_epsilon = true},
                                                       std::vector<ParamGroupSpec>{logits});
    opt->set_step_values_on_device(on_device);
    EXPECT_EQ(opt->step_values_on_device(), on_device);
    std::vector<float> out;
    for (int step = 0; step < 6; ++step) {
      opt->set_lr_factor(1.0 / (1 + step));
      opt->zero_grad();
      set_grad(*model, "a", {0.5f - 0.2f * step, 0.1f * step});
      set_grad(*model, "b.logits", {-0.3f + 0.1f * step});
      opt->step();
      for (const char* name : {"a", "b.logits"})
        for (float v : values(*model, name)) out.push_back(static_cast<float>(v));
    }
    return out;
  };
  for (const char* kind : {"sgd", "adam", "adamw"}) {
    SCOPED_TRACE(kind);
    const std::vector<float> args = trajectory(kind, false), memory = trajectory(kind, true);
    ASSERT_EQ(args.size(), memory.size());
    for (size_t i = 0; i < args.size(); ++i) EXPECT_EQ(args[i], memory[i]) << i;
  }
}

TEST(NnParamGroups, LogitsGetTheirOwnLrAndNoWeightDecay) {
  auto model = holder_model({{"conv.weight", {1.0f}}, {"mask.logits", {2.0f}}, {"fc.weight", {3.0f}}});
  ParamGroupSpec logits = ParamGroupSpec::ending_with(".logits");
  logits.lr = 1.0;
  logits.weight_decay = 0.0;
  Sgd sgd(*model, {.lr = 0.1, .weight_decay = 0.1}, {logits});
  ASSERT_EQ(sgd.groups().size(), 2u);
  EXPECT_EQ(sgd.group("default").params, (std::vector<std::string>{"conv.weight", "fc.weight"}));
  EXPECT_EQ(sgd.group(".logits").params, (std::vector<std::string>{"mask.logits"}));

  for (const char* name : {"conv.weight", "mask.logits", "fc.weight"}) set_grad(*model, name, {0.5f});
  sgd.step();
  // conv: 1 - 0.1 * (0.5 + 0.1 * 1) = 0.94; logits: 2 - 1.0 * 0.5 = 1.5; fc: 3 - 0.1 * (0.5 + 0.3) = 2.92
  EXPECT_NEAR(values(*model, "conv.weight")[0], 0.94, kTol);
  EXPECT_NEAR(values(*model, "mask.logits")[0], 1.5, kTol);
  EXPECT_NEAR(values(*model, "fc.weight")[0], 2.92, kTol);

  // A schedule factor scales scheduled groups only.
  sgd.group(".logits").scheduled = false;
  sgd.set_lr_factor(0.5);
  EXPECT_DOUBLE_EQ(sgd.effective_lr(sgd.group("default")), 0.05);
  EXPECT_DOUBLE_EQ(sgd.effective_lr(sgd.group(".logits")), 1.0);
  sgd.step();  // the gradients are still 0.5: logits 1.5 - 0.5 = 1.0; conv 0.94 - 0.05 * (0.5 + 0.094) = 0.9103
  EXPECT_NEAR(values(*model, "mask.logits")[0], 1.0, kTol);
  EXPECT_NEAR(values(*model, "conv.weight")[0], 0.9103, kTol);
  EXPECT_ERROR_MENTIONS(sgd.group("nope"), "no parameter group 'nope' (groups: default, .logits)");
}

TEST(NnParamGroups, SpansCoverTheArenaOnceAndMergeNeighbours) {
  // Children in this order: p.a, q.b, m.logits, r.c (own parameters would come before children).
  auto model = holder_model({{"p.a", {1, 2, 3}}, {"q.b", {4}}, {"m.logits", {5}}, {"r.c", {6, 7}}});
  const int64_t size = model->params().numel();
  {
    Sgd one(*model, {.lr = 0.1});  // one group: the whole arena in one pass
    ASSERT_EQ(one.groups().size(), 1u);
    ASSERT_EQ(one.groups()[0].spans.size(), 1u);
    EXPECT_EQ(one.groups()[0].spans[0].begin, 0);
    EXPECT_EQ(one.groups()[0].spans[0].end, size);
  }
  Sgd two(*model, {.lr = 0.1}, {ParamGroupSpec::ending_with(".logits")});
  const auto& d = two.group("default").spans;
  const auto& l = two.group(".logits").spans;
  ASSERT_EQ(d.size(), 2u);  // p.a and q.b merged; then r.c
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(d[0].begin, 0);
  EXPECT_EQ(d[0].end, l[0].begin);
  EXPECT_EQ(l[0].end, d[1].begin);
  EXPECT_EQ(d[1].end, size);
}

TEST(NnClipping, ByGlobalNormIsOffByDefault) {
  auto model = holder_model({{"a", {0.0f}}, {"b", {0.0f}}});
  Sgd sgd(*model, {.lr = 1.0});
  EXPECT_EQ(sgd.max_grad_norm(), 0.0);
  set_grad(*model, "a", {3.0f});
  set_grad(*model, "b", {4.0f});
  sgd.step();  // no clipping: a = -3, b = -4
  EXPECT_NEAR(values(*model, "a")[0], -3.0, kTol);
  EXPECT_EQ(sgd.last_grad_norm(), -1.0);

  // norm 5 > 1: gradients scaled by 1 / (5 + 1e-6) -> (0.6, 0.8)
  sgd.set_max_grad_norm(1.0);
  sgd.step();
  EXPECT_NEAR(sgd.last_grad_norm(), 5.0, 1e-6);
  EXPECT_NEAR(values(*model, "a")[0], -3.6, kTol);
  EXPECT_NEAR(values(*model, "b")[0], -4.8, kTol);
  // Under the limit: untouched.
  model->zero_grad();
  set_grad(*model, "a", {0.3f});
  sgd.step();
  EXPECT_NEAR(values(*model, "a")[0], -3.9, kTol);
  EXPECT_NEAR(sgd.last_grad_norm(), 0.3, 1e-7);
}

TEST(NnOptimizer, BadHyperparameters) {
  auto model = holder_model({{"w", {1.0f}}});
  EXPECT_ERROR_MENTIONS(Sgd(*model, {.lr = 0.1, .momentum = 1.5}), "sgd: momentum must be in [0, 1)");
  EXPECT_ERROR_MENTIONS(Sgd(*model, {.lr = 0.1, .nesterov = true}), "sgd: nesterov needs momentum > 0");
  EXPECT_ERROR_MENTIONS(Sgd(*model, {.lr = -1}), "group 'default' needs lr >= 0");
  EXPECT_ERROR_MENTIONS(Adam(*model, {.eps = 0}), "adam: eps must be > 0");
  EXPECT_ERROR_MENTIONS(AdamW(*model, {.beta2 = 1.0}), "adamw: betas must be in [0, 1)");
  ParamGroupSpec dup = ParamGroupSpec::ending_with("w");
  dup.name = "default";
  EXPECT_ERROR_MENTIONS(Sgd(*model, {}, {dup}), "parameter group name 'default' is used twice");
  Sgd sgd(*model, {});
  EXPECT_ERROR_MENTIONS(sgd.set_lr_factor(-1), "lr factor must be finite and >= 0");
}

}  // namespace
}  // namespace figs::nn

// The recipe keys of the figs configuration (apps/figs/recipe.h) against values computed by hand:
// the lr schedules with their warmup, L2 and decoupled weight decay under Adam, the moving
// average with its warmup, label smoothing.
#include <cmath>
#include <numbers>

#include "nn/nn_test_util.h"
#include "recipe.h"

namespace figs::app {
namespace {

// A stage section with every recipe key at a neutral value, then `patch`.
json stage(const json& patch) {
  json s = json::parse(R"({"lr": 0.1, "adam_eps": 1.0, "schedule": "constant", "lr_warmup_steps": 0,
                           "decay_factor": 0.5, "decay_epochs": 1.0, "weight_decay": 0.0,
                           "weight_decay_mode": "l2", "ema_decay": 0.0, "label_smoothing": 0.0})");
  if (!patch.is_null()) s.update(patch);
  return s;
}

TEST(Recipe, StepDecayEveryNEpochsAfterALinearWarmup) {
  // 4 updates per epoch, decay every 1.5 epochs = 6 updates, 2 warmup updates from 0.
  const nn::LrSchedule s(stage_schedule(stage({{"schedule", "step"}, {"lr_warmup_steps", 2}, {"decay_epochs", 1.5}}),
                                        100, 4));
  EXPECT_DOUBLE_EQ(s.factor(0), 0.0);
  EXPECT_DOUBLE_EQ(s.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);   // the schedule proper starts after the warmup
  EXPECT_DOUBLE_EQ(s.factor(7), 1.0);   // 5 updates in
  EXPECT_DOUBLE_EQ(s.factor(8), 0.5);   // 6 updates in: x0.5
  EXPECT_DOUBLE_EQ(s.factor(13), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(14), 0.25);  // 12 updates in: x0.25
}

TEST(Recipe, ExponentialIsTheSmoothDecay) {
  // The paper's "x0.5 every 35 epochs", smoothly: at half a period the factor is sqrt(0.5).
  const nn::LrSchedule s(stage_schedule(stage({{"schedule", "exponential"}, {"decay_epochs", 35.0}}), 10000, 10));
  EXPECT_DOUBLE_EQ(s.factor(0), 1.0);
  EXPECT_NEAR(s.factor(175), std::sqrt(0.5), 1e-12);
  EXPECT_NEAR(s.factor(350), 0.5, 1e-12);
  EXPECT_NEAR(s.factor(700), 0.25, 1e-12);
}

TEST(Recipe, CosineSpansTheUpdatesAfterTheWarmup) {
  const nn::LrSchedule s(stage_schedule(stage({{"schedule", "cosine"}, {"lr_warmup_steps", 2}}), 10, 5));
  EXPECT_DOUBLE_EQ(s.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);
  EXPECT_NEAR(s.factor(6), 0.5, 1e-12);  // half of the 8 updates after the warmup
  EXPECT_NEAR(s.factor(10), 0.0, 1e-12);
  const nn::LrSchedule constant(stage_schedule(stage({}), 10, 5));
  EXPECT_DOUBLE_EQ(constant.factor(7), 1.0);
}

// One Adam step on w = 1 with gradient 0.5, lr 0.1, epsilon 1.0 (a large epsilon makes the
// step depend on the gradient's size, so the decay shows in one step).
float one_step(const json& patch) {
  auto model = nn::test::holder_model({{"w", {1.0f}}});
  const auto opt = stage_optimizer(stage(patch), *model);
  opt->zero_grad();
  nn::test::set_grad(*model, "w", {0.5f});
  opt->step();
  return nn::test::values(*model, "w")[0];
}

TEST(Recipe, WeightDecayL2AndDecoupled) {
  // No decay: m_hat = 0.5, sqrt(v_hat) = 0.5: w = 1 - 0.1 * 0.5 / (0.5 + 1).
  EXPECT_NEAR(one_step({}), 1.0 - 0.1 * 0.5 / 1.5, 1e-6);
  // L2 (in the gradient): g = 0.5 + 0.1 * 1 = 0.6: w = 1 - 0.1 * 0.6 / (0.6 + 1) = 0.9625.
  EXPECT_NEAR(one_step({{"weight_decay", 0.1}}), 0.9625, 1e-6);
  // Decoupled (AdamW): w = 1 * (1 - 0.1 * 0.1) - 0.1 * 0.5 / 1.5 = 0.956667.
  EXPECT_NEAR(one_step({{"weight_decay", 0.1}, {"weight_decay_mode", "decoupled"}}), 0.99 - 0.1 * 0.5 / 1.5, 1e-6);
  auto model = nn::test::holder_model({{"w", {1.0f}}});
  EXPECT_STREQ(stage_optimizer(stage({{"weight_decay_mode", "decoupled"}}), *model)->name(), "adamw");
  EXPECT_STREQ(stage_optimizer(stage({}), *model)->name(), "adam");
}

TEST(Recipe, MovingAverageWithTheNumUpdatesWarmup) {
  auto model = nn::test::holder_model({{"w", {1.0f}}});
  EXPECT_EQ(stage_ema(stage({}), *model), nullptr);  // ema_decay 0: none
  const auto ema = stage_ema(stage({{"ema_decay", 0.9}}), *model);
  ASSERT_NE(ema, nullptr);
  float* w = model->param_slot("w").tensor.data<float>();
  // Update 0 decays by min(0.9, 1/10) = 0.1: 0.1 * 1 + 0.9 * 3 = 2.8.
  w[0] = 3;
  ema->update();
  EXPECT_NEAR(ema->shadow_params().to_vector<float>()[0], 2.8f, 1e-6);
  // Update 1 by min(0.9, 2/11): (2 * 2.8 + 9 * 5) / 11 = 4.6.
  w[0] = 5;
  ema->update();
  EXPECT_NEAR(ema->shadow_params().to_vector<float>()[0], 4.6f, 1e-6);
}

TEST(Recipe, LabelSmoothing) {
  const Tensor logits = from_vector(std::vector<float>{1, 2, 3}, {1, 3});
  const Tensor labels = from_vector(std::vector<int64_t>{2}, {1});
  // log-softmax of (1, 2, 3) is (1, 2, 3) - 3.40760596; targets (0.1/3, 0.1/3, 0.9 + 0.1/3).
  EXPECT_NEAR(stage_loss(stage({{"label_smoothing", 0.1}}))(logits, labels).item<double>(), 0.50760596444, 1e-6);
  EXPECT_NEAR(stage_loss(stage({}))(logits, labels).item<double>(), 0.40760596444, 1e-6);
}

}  // namespace
}  // namespace figs::app

// Learning-rate schedules against their formulas at chosen steps.
#include <cmath>
#include <numbers>

#include "nn_test_util.h"

namespace figs::nn {
namespace {

TEST(NnSchedule, Constant) {
  LrSchedule s;
  EXPECT_EQ(s.factor(0), 1.0);
  EXPECT_EQ(s.factor(123456), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(7, 0.05), 0.05);
}

TEST(NnSchedule, StepEveryStepSize) {
  LrSchedule s({.kind = ScheduleKind::Step, .gamma = 0.1, .step_size = 30});
  EXPECT_DOUBLE_EQ(s.factor(0), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(29), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(30), 0.1);
  EXPECT_DOUBLE_EQ(s.factor(89), 0.01);
  EXPECT_DOUBLE_EQ(s.factor(90), 0.001);
}

TEST(NnSchedule, StepAtMilestones) {
  LrSchedule s({.kind = ScheduleKind::Step, .gamma = 0.5, .milestones = {10, 25}});
  EXPECT_DOUBLE_EQ(s.factor(9), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(10), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(24), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(25), 0.25);
  EXPECT_DOUBLE_EQ(s.factor(1000), 0.25);
}

TEST(NnSchedule, ExponentialStaircaseAsInThePaper) {
  // x0.5 every 35 epochs at 100 steps per epoch.
  LrSchedule s({.kind = ScheduleKind::Exponential, .decay_rate = 0.5, .decay_steps = 3500, .staircase = true});
  EXPECT_DOUBLE_EQ(s.factor(0), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(3499), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(3500), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(7000), 0.25);
  EXPECT_DOUBLE_EQ(s.factor(10499), 0.25);
  EXPECT_DOUBLE_EQ(s.lr(10500, 0.1), 0.1 * 0.125);
}

TEST(NnSchedule, ExponentialSmooth) {
  LrSchedule s({.kind = ScheduleKind::Exponential, .decay_rate = 0.5, .decay_steps = 100});
  EXPECT_DOUBLE_EQ(s.factor(0), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(50), std::pow(0.5, 0.5));  // 0.70710678
  EXPECT_DOUBLE_EQ(s.factor(100), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(250), std::pow(0.5, 2.5));
}

TEST(NnSchedule, Cosine) {
  LrSchedule s({.kind = ScheduleKind::Cosine, .total_steps = 100, .min_factor = 0.1});
  // 0.1 + 0.9 * (1 + cos(pi * t / 100)) / 2
  EXPECT_DOUBLE_EQ(s.factor(0), 1.0);
  EXPECT_NEAR(s.factor(25), 0.1 + 0.9 * (1 + std::sqrt(0.5)) / 2, 1e-15);  // 0.868198
  EXPECT_NEAR(s.factor(50), 0.55, 1e-15);
  EXPECT_NEAR(s.factor(100), 0.1, 1e-15);
  EXPECT_NEAR(s.factor(150), 0.1, 1e-15);  // stays at the floor after total_steps
}

TEST(NnSchedule, LinearWarmupThenCosine) {
  LrSchedule s({.kind = ScheduleKind::Cosine, .warmup_steps = 10, .warmup_start_factor = 0.1, .total_steps = 110});
  EXPECT_DOUBLE_EQ(s.factor(0), 0.1);
  EXPECT_DOUBLE_EQ(s.factor(5), 0.1 + 0.9 * 0.5);  // 0.55
  EXPECT_DOUBLE_EQ(s.factor(9), 0.1 + 0.9 * 0.9);  // 0.91
  EXPECT_DOUBLE_EQ(s.factor(10), 1.0);             // cosine starts at s = 0
  EXPECT_NEAR(s.factor(60), 0.5, 1e-15);           // s = 50 of 100
  EXPECT_NEAR(s.factor(110), 0.0, 1e-15);
}

TEST(NnSchedule, WarmupThenStaircase) {
  LrSchedule s({.kind = ScheduleKind::Exponential, .warmup_steps = 4, .decay_rate = 0.5, .decay_steps = 10,
                .staircase = true});
  EXPECT_DOUBLE_EQ(s.factor(2), 0.5);  // 0 + 1 * 2 / 4
  EXPECT_DOUBLE_EQ(s.factor(4), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(13), 1.0);  // s = 9
  EXPECT_DOUBLE_EQ(s.factor(14), 0.5);  // s = 10
}

TEST(NnSchedule, DrivesTheOptimizer) {
  auto model = test::holder_model({{"w", {1.0f}}});
  Sgd sgd(*model, {.lr = 0.2});
  LrSchedule s({.kind = ScheduleKind::Step, .gamma = 0.5, .step_size = 1});
  for (int t = 0; t < 3; ++t) {
    sgd.set_lr_factor(s.factor(sgd.step_count()));
    test::set_grad(*model, "w", {1.0f});
    sgd.step();
    sgd.zero_grad();
  }
  // lr 0.2, 0.1, 0.05 with gradient 1: w = 1 - 0.35
  EXPECT_NEAR(test::values(*model, "w")[0], 0.65, 1e-6);
}

TEST(NnSchedule, JsonRoundTripAndErrors) {
  const ScheduleConfig c = ScheduleConfig::from_json(
      R"({"kind": "exponential", "decay_rate": 0.5, "decay_steps": 3500, "staircase": true, "warmup_steps": 5})");
  EXPECT_EQ(c.kind, ScheduleKind::Exponential);
  EXPECT_EQ(c.decay_steps, 3500);
  EXPECT_TRUE(c.staircase);
  EXPECT_EQ(c.warmup_steps, 5);
  EXPECT_EQ(c.gamma, 0.1);  // default kept
  const ScheduleConfig back = ScheduleConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(ScheduleConfig::from_json(R"({"kind": "step", "milestones": [3, 9]})").milestones,
            (std::vector<int64_t>{3, 9}));

  EXPECT_ERROR_MENTIONS(ScheduleConfig::from_json(R"({"kind": "exponential", "decay_step": 3})"),
                        "unknown field 'decay_step'");
  EXPECT_ERROR_MENTIONS(ScheduleConfig::from_json(R"({"kind": "linear"})"), "unknown kind 'linear'");
  EXPECT_ERROR_MENTIONS(ScheduleConfig::from_json(R"({"decay_steps": "ten"})"), "wrong type");
  EXPECT_ERROR_MENTIONS(ScheduleConfig::from_json("{"), "invalid JSON");
  EXPECT_ERROR_MENTIONS(LrSchedule({.kind = ScheduleKind::Cosine, .warmup_steps = 10, .total_steps = 10}),
                        "cosine needs total_steps > warmup_steps");
  EXPECT_ERROR_MENTIONS(LrSchedule({.kind = ScheduleKind::Exponential, .decay_steps = 0}), "decay_steps >= 1");
  EXPECT_ERROR_MENTIONS(LrSchedule({.kind = ScheduleKind::Step, .milestones = {5, 2}}), "milestones must be increasing");
  EXPECT_ERROR_MENTIONS(LrSchedule().factor(-1), "step must be >= 0");
}

}  // namespace
}  // namespace figs::nn

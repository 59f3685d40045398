// Moving averages of weights and BatchNorm statistics.
#include "nn_test_util.h"

namespace figs::nn {
namespace {

TEST(NnEma, AveragesByHandAndSwapsForEvaluation) {
  auto model = test::holder_model({{"w", {1.0f, 2.0f}}});
  Ema ema(*model, {.decay = 0.5});
  float* w = model->param_slot("w").tensor.data<float>();
  // shadow starts at (1, 2). live (3, 6): shadow = 0.5 * (1, 2) + 0.5 * (3, 6) = (2, 4)
  w[0] = 3;
  w[1] = 6;
  ema.update();
  // live (5, 0): shadow = 0.5 * (2, 4) + 0.5 * (5, 0) = (3.5, 2)
  w[0] = 5;
  w[1] = 0;
  ema.update();
  EXPECT_EQ(ema.num_updates(), 2);
  EXPECT_EQ(ema.shadow_params().to_vector<float>()[0], 3.5f);
  EXPECT_EQ(ema.shadow_params().to_vector<float>()[1], 2.0f);

  ema.apply();
  EXPECT_EQ(test::values(*model, "w"), (std::vector<float>{3.5f, 2.0f}));
  EXPECT_ERROR_MENTIONS(ema.update(), "ema: update() while the averages are applied");
  EXPECT_ERROR_MENTIONS(ema.apply(), "apply() twice");
  ema.restore();
  EXPECT_EQ(test::values(*model, "w"), (std::vector<float>{5.0f, 0.0f}));
  EXPECT_ERROR_MENTIONS(ema.restore(), "restore() without apply()");
  {
    Ema::Scope scope(ema);
    EXPECT_EQ(test::values(*model, "w")[0], 3.5f);
  }
  EXPECT_EQ(test::values(*model, "w")[0], 5.0f);
}

TEST(NnEma, AveragesBatchNormStatistics) {
  Model model(test::small_cnn(), {.seed = 2});
  Ema ema(model, {.decay = 0.9});
  Tensor images, labels;
  test::make_bars(6, images, labels);
  {
    NoGradGuard no_grad;
    model(images);  // training mode: updates the running statistics
  }
  ema.update();
  const std::vector<float> mean = model.root().buffer("stem.bn.running_mean").to_vector<float>();
  const ArenaSlot& slot = model.buffer_slots()[0];
  ASSERT_EQ(slot.name, "stem.bn.running_mean");
  // shadow started at 0: 0.9 * 0 + 0.1 * live
  EXPECT_NEAR(ema.shadow_buffers().to_vector<float>()[slot.offset], 0.1f * mean[0], 1e-7);
  EXPECT_NE(mean[0], 0.0f);

  Ema without(model, {.decay = 0.9, .include_buffers = false});
  EXPECT_EQ(without.shadow_buffers().numel(), 0);
}

TEST(NnEma, WarmupDecay) {
  auto model = test::holder_model({{"w", {1.0f}}});
  Ema ema(*model, {.decay = 0.9997, .warmup = true});
  EXPECT_DOUBLE_EQ(ema.decay_at(0), 0.1);        // (1 + 0) / (10 + 0)
  EXPECT_DOUBLE_EQ(ema.decay_at(90), 0.91);      // 91 / 100
  EXPECT_DOUBLE_EQ(ema.decay_at(100000), 0.9997);  // capped
  Ema plain(*model, {.decay = 0.9997});
  EXPECT_DOUBLE_EQ(plain.decay_at(0), 0.9997);
}

}  // namespace
}  // namespace figs::nn

// nn/divergence.h: the guard stops at the first non-finite loss, gradient, parameter or buffer,
// names the tensor and the element, and lets large but finite values through.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "nn/divergence.h"
#include "nn_test_util.h"

namespace figs::nn {
namespace {

using test::holder_model;

// Writes `value` at element `i` of the arena view `t` (a parameter or its gradient).
void plant(const Tensor& t, int64_t i, float value) {
  std::vector<float> v = t.to_vector<float>();
  v[static_cast<size_t>(i)] = value;
  raw::copy_(t, from_vector(v, t.shape()));
}

TEST(DivergenceGuard, FiniteModelPasses) {
  auto m = holder_model({{"a.w", {1, 2, 3}}, {"b", {4, 5}}});
  DivergenceGuard guard("test", *m);
  EXPECT_EQ(first_non_finite(*m), "");
  EXPECT_NO_THROW(guard.check(1, 0.5));
  // x * 0 sums to 0 for any finite x: weights near float's maximum are not "diverged".
  plant(m->param_slot("b").tensor, 1, std::numeric_limits<float>::max());
  plant(m->param_slot("a.w").tensor, 0, -std::numeric_limits<float>::max());
  EXPECT_EQ(first_non_finite(*m), "");
  EXPECT_NO_THROW(guard.check(2, 0.5));
}

TEST(DivergenceGuard, NamesThePlantedParameter) {
  auto m = holder_model({{"a.w", {1, 2, 3}}, {"b", {4, 5}}});
  plant(m->param_slot("b").tensor, 1, std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(first_non_finite(*m), "the parameter 'b' (NaN at element 1)");
  DivergenceGuard guard("retrain", *m);
  try {
    guard.check(7, 0.25);
    FAIL() << "no Diverged";
  } catch (const Diverged& d) {
    EXPECT_EQ(d.stage(), "retrain");
    EXPECT_EQ(d.step(), 7);
    EXPECT_STREQ(d.what(), "retrain diverged at step 7: the parameter 'b' (NaN at element 1)");
  }
}

TEST(DivergenceGuard, GradientsBeforeParameters) {
  auto m = holder_model({{"a.w", {1, 2, 3}}, {"b", {4, 5}}});
  plant(m->param_slot("a.w").grad, 2, std::numeric_limits<float>::infinity());
  plant(m->param_slot("b").tensor, 0, std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(first_non_finite(*m), "the gradient of 'a.w' (infinity at element 2)");
}

TEST(DivergenceGuard, NonFiniteLoss) {
  auto m = holder_model({{"w", {1}}});
  DivergenceGuard guard("search", *m);
  EXPECT_THROW(guard.check(1, std::nan("")), Diverged);
  try {
    guard.check(3, -std::numeric_limits<double>::infinity());
  } catch (const Diverged& d) {
    EXPECT_STREQ(d.what(), "search diverged at step 3: the loss is infinite");
  }
}

TEST(DivergenceGuard, RejectsBadOptions) {
  auto m = holder_model({{"w", {1}}});
  EXPECT_THROW(DivergenceGuard("x", *m, {.warn_factor = 0.5}), Error);
  EXPECT_THROW(DivergenceGuard("x", *m, {.warn_factor = 10, .mean_decay = 1.0}), Error);
}

TEST(DivergenceGuard, WarnsOnAnExplodingLossWithoutStopping) {
  auto m = holder_model({{"w", {1}}});
  DivergenceGuard guard("retrain", *m, {.warn_factor = 10});
  for (int64_t s = 1; s <= 20; ++s) guard.check(s, 1.0);
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(guard.check(21, 50.0));  // 50x the running mean of 1
  EXPECT_NO_THROW(guard.check(22, 55.0));  // within 100 steps of the last warning: quiet
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("retrain: warning: the loss at step 21 is 50"), std::string::npos) << err;
  EXPECT_EQ(err.find("step 22"), std::string::npos) << err;
}

// A spike below the floor (chance level, ln 10 = 2.30 for 10 classes) is a nearly fitted loss's
// noise: 0.46 after a mean of 0.03 (seen on the 1,438-image digits run) stays quiet; 3.0 does not.
TEST(DivergenceGuard, SpikesBelowTheFloorAreQuiet) {
  auto m = holder_model({{"w", {1}}});
  DivergenceGuard guard("retrain", *m, {.warn_factor = 10, .warn_floor = std::log(10.0)});
  for (int64_t s = 1; s <= 20; ++s) guard.check(s, 0.03);
  testing::internal::CaptureStderr();
  guard.check(21, 0.46);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  testing::internal::CaptureStderr();
  guard.check(22, 3.0);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("the loss at step 22 is 3"), std::string::npos);
}

}  // namespace
}  // namespace figs::nn

// core/denormals.h: with the mode on, products below float's smallest normal number are 0 (FTZ)
// and denormal operands read as 0 (DAZ), in the calling thread and in every OpenMP worker; off
// restores IEEE gradual underflow.
#include <gtest/gtest.h>

#include <omp.h>

#include <cstring>
#include <limits>
#include <vector>

#include "core/denormals.h"

namespace figs {
namespace {

// volatile: the compiler must not fold the arithmetic at compile time (where FTZ does not apply).
float tiny_product() {
  volatile float a = std::numeric_limits<float>::min(), half = 0.5f;
  return a * half;  // 2^-127: denormal, or 0 when flushed
}
float denormal_times_one() {
  const uint32_t bits = 1;  // the smallest denormal, 2^-149
  float d;
  std::memcpy(&d, &bits, sizeof d);
  volatile float v = d, one = 1.0f;
  return v * one;
}

TEST(Denormals, FlushInEveryThread) {
  if (!set_flush_denormals(true)) GTEST_SKIP() << "this CPU has no flush-to-zero control";
  EXPECT_TRUE(flush_denormals_enabled());
  EXPECT_EQ(tiny_product(), 0.0f);
  EXPECT_EQ(denormal_times_one(), 0.0f);
  const int threads = std::max(omp_get_max_threads(), 2);
  std::vector<float> seen(threads, -1.0f), daz(threads, -1.0f);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) {
    seen[t] = tiny_product();
    daz[t] = denormal_times_one();
  }
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(seen[t], 0.0f) << "thread " << t;
    EXPECT_EQ(daz[t], 0.0f) << "thread " << t;
  }

  ASSERT_TRUE(set_flush_denormals(false));
  EXPECT_FALSE(flush_denormals_enabled());
  EXPECT_EQ(tiny_product(), std::numeric_limits<float>::min() / 2);
  EXPECT_GT(denormal_times_one(), 0.0f);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) seen[t] = tiny_product();
  for (int t = 0; t < threads; ++t) EXPECT_GT(seen[t], 0.0f) << "thread " << t;
}

}  // namespace
}  // namespace figs

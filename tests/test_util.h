// Helpers shared by the tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "figs.h"

namespace figs::test {

// Runs fn and returns the figs::Error message it threw ("" and a test failure if none).
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-figs exception: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a figs::Error, nothing was thrown";
  return "";
}

inline TensorOptions f64() { return {DType::Float64}; }

// Noisy 8x8 images of one bar each; label 0 = horizontal, 1 = vertical, 2 = diagonal.
inline void make_bars(int count, Tensor& images, Tensor& labels, uint64_t seed = 5) {
  constexpr int S = 8;
  Generator gen(seed, 77);
  const std::vector<float> noise = uniform({count, 1, S, S}, -0.2, 0.2, gen).to_vector<float>();
  const std::vector<float> where = uniform({count, 2}, 0, 1, gen).to_vector<float>();
  std::vector<float> px(noise);
  std::vector<int64_t> lab(count);
  for (int i = 0; i < count; ++i) {
    const int kind = i % 3;
    const int pos = static_cast<int>(where[2 * i] * S), start = static_cast<int>(where[2 * i + 1] * 3);
    lab[i] = kind;
    for (int t = start; t < start + 5; ++t) {
      const int h = kind == 0 ? pos : t, w = kind == 1 ? pos : (kind == 0 ? t : (t + pos) % S);
      px[(i * S + h) * S + w] += 1.0f;
    }
  }
  images = from_vector(px, {count, 1, S, S});
  labels = from_vector(lab, {count});
}

}  // namespace figs::test

#define EXPECT_ERROR_MENTIONS(statement, text)                              \
  do {                                                                      \
    const std::string figs_msg_ = ::figs::test::error_of([&] { statement; }); \
    EXPECT_NE(figs_msg_.find(text), std::string::npos)                      \
        << "error message \"" << figs_msg_ << "\" does not mention \"" << text << "\""; \
  } while (false)

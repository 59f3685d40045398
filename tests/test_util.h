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

}  // namespace figs::test

#define EXPECT_ERROR_MENTIONS(statement, text)                              \
  do {                                                                      \
    const std::string figs_msg_ = ::figs::test::error_of([&] { statement; }); \
    EXPECT_NE(figs_msg_.find(text), std::string::npos)                      \
        << "error message \"" << figs_msg_ << "\" does not mention \"" << text << "\""; \
  } while (false)

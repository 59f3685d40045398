// gradcheck: backward() against central finite differences, in float64, on the CPU.
//
// For a function f of several tensors with output y, it draws a fixed random projection v (the
// shape of y), and compares, for every element x_j of every floating input,
//   analytical:  (J^T v)_j                         from backward(y, v)
//   numerical:   (<v, f(x + eps e_j)> - <v, f(x - eps e_j)>) / (2 eps)
// A random projection checks every output's gradient at once (a full Jacobian would cost one
// backward per output element) and cannot be fooled by a gradient that is wrong only along some
// outputs, except with probability zero.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace figs {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  uint64_t seed = 1234;  // of the projection v
  // Which inputs to check; empty = every floating input.
  std::vector<bool> check_input;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  int64_t elements_checked = 0;
  std::string report;  // the first mismatches, one per line
};

using GradcheckFunction = std::function<Tensor(const std::vector<Tensor>& inputs)>;

// `inputs` must be CPU float64 tensors (int64 inputs such as labels pass through unchecked).
GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace figs

#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/autograd_meta.h"
#include "core/view.h"

namespace figs {

namespace {
double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < va.size(); ++i) s += va[i] * vb[i];
  return s;
}
}  // namespace

GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  std::vector<Tensor> leaves;
  std::vector<bool> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    FIGS_CHECK(x.defined() && x.device().is_cpu(), "gradcheck: input ", i, " must be a defined CPU tensor");
    const bool floating = is_floating(x.dtype());
    const bool check = floating && (options.check_input.empty() ||
                                    (i < options.check_input.size() && options.check_input[i]));
    FIGS_CHECK(!check || x.dtype() == DType::Float64, "gradcheck: input ", i, " is ", x.describe(),
               "; finite differences need float64");
    Tensor leaf = raw::contiguous(raw::clone(x.detach()));
    if (check) leaf.set_requires_grad(true);
    leaves.push_back(leaf);
    checked.push_back(check);
  }

  const Tensor y = f(leaves);
  FIGS_CHECK(y.requires_grad(), "gradcheck: the output does not depend on any checked input");
  Generator gen(options.seed, /*stream=*/0xC0FFEE);
  const Tensor v = normal(y.shape(), 0.0, 1.0, gen, {DType::Float64});
  backward(y, v);

  GradcheckResult result;
  std::ostringstream report;
  int mismatches = 0;
  NoGradGuard no_grad;
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (!checked[i]) continue;
    Tensor& x = leaves[i];
    const Tensor& g = x.grad();
    const std::vector<double> analytical =
        g.defined() ? g.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* data = x.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      const double saved = data[j];
      data[j] = saved + options.eps;
      const double plus = dot(f(leaves), v);
      data[j] = saved - options.eps;
      const double minus = dot(f(leaves), v);
      data[j] = saved;
      const double numerical = (plus - minus) / (2 * options.eps);
      const double err = std::abs(numerical - analytical[j]);
      result.max_abs_error = std::max(result.max_abs_error, err);
      ++result.elements_checked;
      if (err > options.atol + options.rtol * std::abs(numerical)) {
        result.ok = false;
        if (mismatches++ < 10)
          report << "input " << i << " " << x.shape() << " element " << j << ": numerical " << numerical
                 << ", analytical " << analytical[j] << "\n";
      }
    }
  }
  if (mismatches > 10) report << "... " << mismatches - 10 << " more mismatches\n";
  result.report = report.str();
  return result;
}

}  // namespace figs

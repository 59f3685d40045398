// Trains one step of logistic regression through the installed library and checks the gradient
// against its closed form: d/dw mean(-log sigmoid(w x)) at w = 0 is -x / 2.
#include <figs/figs.h>

#include <cmath>
#include <cstdio>

int main() {
  using namespace figs;
  Tensor w = zeros({1, 2}, {DType::Float64}).set_requires_grad();
  const Tensor x = from_vector<double>({3, -1}, {1, 2});
  const Tensor loss = neg(log(sigmoid(sum(mul(w, x)))));
  backward(loss);
  const auto g = w.grad().to_vector<double>();
  std::printf("%s\ngrad = [%g, %g]\n", build_info().summary().c_str(), g[0], g[1]);
  return (std::abs(g[0] + 1.5) < 1e-12 && std::abs(g[1] - 0.5) < 1e-12) ? 0 : 1;
}

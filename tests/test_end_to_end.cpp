// A tiny end-to-end: a 2-layer conv net learns oriented bars (horizontal / vertical / diagonal,
// anywhere in a noisy 8x8 image) to 100% train accuracy, with plain SGD written right here.
#include <algorithm>
#include <cmath>

#include "test_util.h"

namespace figs {
namespace {

TEST(EndToEnd, TwoLayerConvNetLearnsOrientedBars) {
  Tensor images, labels;
  test::make_bars(60, images, labels);

  Generator init(1, 1);
  auto he = [&](const Shape& s, double fan_in) { return normal(s, 0, std::sqrt(2.0 / fan_in), init).set_requires_grad(); };
  Tensor w1 = he({8, 1, 3, 3}, 9), b1 = zeros({8}).set_requires_grad();
  Tensor w2 = he({16, 8, 3, 3}, 72), b2 = zeros({16}).set_requires_grad();
  Tensor wf = he({3, 16}, 16), bf = zeros({3}).set_requires_grad();
  std::vector<Tensor*> params{&w1, &b1, &w2, &b2, &wf, &bf};

  Conv2dParams same;
  same.pad_h = same.pad_w = 1;
  auto forward = [&](const Tensor& x) {
    Tensor h = max_pool2d(relu(conv2d(x, w1, b1, same)), {2, 2, 2, 2, 0, 0, true});
    h = relu(conv2d(h, w2, b2, same));
    return linear(flatten(global_avg_pool2d(h)), wf, bf);
  };
  auto accuracy = [&] {
    NoGradGuard no_grad;
    const std::vector<float> logits = forward(images).to_vector<float>();
    const std::vector<int64_t> y = labels.to_vector<int64_t>();
    int correct = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      const float* row = &logits[3 * i];
      const int64_t pred = std::max_element(row, row + 3) - row;
      correct += pred == y[i];
    }
    return static_cast<double>(correct) / y.size();
  };

  // SGD with momentum 0.9, full batch.
  std::vector<Tensor> velocity;
  for (Tensor* p : params) velocity.push_back(zeros(p->shape()));
  const double lr = 0.05;
  double acc = 0;
  int step = 0;
  for (; step < 600 && acc < 1.0; ++step) {
    for (Tensor* p : params) p->zero_grad();
    const Tensor loss = cross_entropy(forward(images), labels);
    backward(loss);
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor& p = *params[i];
      float* v = velocity[i].data<float>();
      float* w = p.data<float>();
      const float* g = p.grad().data<float>();
      for (int64_t j = 0; j < p.numel(); ++j) {
        v[j] = 0.9f * v[j] + g[j];
        w[j] -= static_cast<float>(lr) * v[j];
      }
    }
    if (step % 10 == 9) acc = accuracy();
  }
  EXPECT_EQ(acc, 1.0) << "train accuracy after " << step << " steps";
}

}  // namespace
}  // namespace figs

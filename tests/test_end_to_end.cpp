// A tiny end-to-end: a 2-layer conv net learns oriented bars (horizontal / vertical / diagonal,
// anywhere in a noisy 8x8 image) to 100% train accuracy, with plain SGD written right here.
#include <algorithm>
#include <cmath>

#include "test_util.h"

namespace figs {
namespace {

// Images of one bar each; label 0 = horizontal, 1 = vertical, 2 = diagonal.
void make_bars(int count, Tensor& images, Tensor& labels) {
  constexpr int S = 8;
  Generator gen(5, 77);
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

TEST(EndToEnd, TwoLayerConvNetLearnsOrientedBars) {
  Tensor images, labels;
  make_bars(60, images, labels);

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

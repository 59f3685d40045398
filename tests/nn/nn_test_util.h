// Helpers shared by the nn tests: a parameter holder, a toy image task, a small CNN, temp files.
#pragma once

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "nn/nn.h"
#include "test_util.h"

namespace figs::nn::test {

using figs::test::make_bars;  // tests/test_util.h

// A module holding parameters with given values; a name "a.b" puts b in a child Holder "a".
class Holder : public Module {
 public:
  explicit Holder(const std::vector<std::pair<std::string, std::vector<float>>>& params) : Module("Holder") {
    for (const auto& [name, values] : params) {
      const size_t dot = name.find('.');
      if (dot == std::string::npos) {
        register_parameter(name, from_vector(values, {static_cast<int64_t>(values.size())}));
      } else {
        register_module(name.substr(0, dot),
                        std::make_shared<Holder>(std::vector<std::pair<std::string, std::vector<float>>>{
                            {name.substr(dot + 1), values}}));
      }
    }
  }
};

// A Model over Holder params, values kept (no initialisation).
inline std::unique_ptr<Model> holder_model(const std::vector<std::pair<std::string, std::vector<float>>>& params) {
  return std::make_unique<Model>(std::make_shared<Holder>(params), ModelOptions{false, 0});
}

// Writes `values` into the gradient of parameter `name` (its view of the gradient arena).
inline void set_grad(const Model& model, const std::string& name, const std::vector<float>& values) {
  const ArenaSlot& s = model.param_slot(name);
  std::copy(values.begin(), values.end(), s.grad.data<float>());
}

inline std::vector<float> values(const Model& model, const std::string& name) {
  return model.param_slot(name).tensor.to_vector<float>();
}

// conv-BN-ReLU, pool, separable conv-BN-ReLU6, global pool, linear: every layer family once.
inline std::shared_ptr<Sequential> small_cnn(int classes = 3) {
  auto net = std::make_shared<Sequential>();
  auto stem = net->add("stem", std::make_shared<Sequential>());
  stem->add("conv", std::make_shared<Conv2d>(1, 8, 3, Conv2dOptions{.padding = 1, .bias = false}));
  stem->add("bn", std::make_shared<BatchNorm2d>(8));
  stem->add("act", std::make_shared<ReLU>());
  net->add("pool", std::make_shared<MaxPool2d>(2));
  auto block = net->add("block", std::make_shared<Sequential>());
  block->add("sep", std::make_shared<SeparableConv2d>(8, 16, 3, SeparableConv2dOptions{.padding = 1}));
  block->add("bn", std::make_shared<BatchNorm2d>(16));
  block->add("act", std::make_shared<ReLU6>());
  net->add("gap", std::make_shared<GlobalAvgPool>());
  net->add("flat", std::make_shared<Flatten>());
  net->add("fc", std::make_shared<Linear>(16, classes));
  return net;
}

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("figs-nn-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Bytes of a float tensor, for bit-exact comparisons.
inline std::vector<uint32_t> bits(const Tensor& t) {
  const std::vector<float> v = t.to_vector<float>();
  std::vector<uint32_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(float));
  return out;
}

}  // namespace figs::nn::test

namespace figs::nn::test {

// A small training run with every piece a trainer has: model, optimizer, schedule, EMA and a
// data RNG drawing minibatches. Two Runs built alike and fed the same steps agree bit for bit.
struct TrainingRun {
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<Ema> ema;
  Generator data{21, 5};
  LrSchedule schedule{{.kind = ScheduleKind::Cosine, .warmup_steps = 2, .warmup_start_factor = 0.1, .total_steps = 40}};
  Tensor images, labels;
  int batch = 8;

  explicit TrainingRun(bool adam = true, int classes = 3, uint64_t seed = 1) {
    model = std::make_unique<Model>(small_cnn(classes), ModelOptions{.seed = seed});
    if (adam)
      optimizer = std::make_unique<Adam>(*model, AdamOptions{.lr = 0.01, .eps = 1.0, .weight_decay = 1e-4});
    else
      optimizer = std::make_unique<Sgd>(*model, SgdOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
    optimizer->set_max_grad_norm(5.0);
    ema = std::make_unique<Ema>(*model, EmaOptions{.decay = 0.9, .warmup = true});
    make_bars(30, images, labels);
  }

  // A minibatch drawn with the data RNG (indices from uniform draws).
  void next_batch(Tensor& x, Tensor& y) {
    const std::vector<float> u = uniform({batch}, 0.0, 1.0, data).to_vector<float>();
    const int64_t n = images.size(0), pixels = images.numel() / n;
    const std::vector<float> px = images.to_vector<float>();
    const std::vector<int64_t> lab = labels.to_vector<int64_t>();
    std::vector<float> bx;
    std::vector<int64_t> by;
    for (float v : u) {
      const int64_t i = std::min<int64_t>(static_cast<int64_t>(v * n), n - 1);
      bx.insert(bx.end(), px.begin() + i * pixels, px.begin() + (i + 1) * pixels);
      by.push_back(lab[i]);
    }
    Shape shape = images.shape();
    shape[0] = batch;
    x = from_vector(bx, shape);
    y = from_vector(by, {batch});
  }

  void train(int steps) {
    for (int s = 0; s < steps; ++s) {
      Tensor x, y;
      next_batch(x, y);
      optimizer->set_lr_factor(schedule.factor(optimizer->step_count()));
      optimizer->zero_grad();
      backward(CrossEntropyLoss{0.1}((*model)(x), y));
      optimizer->step();
      ema->update();
    }
  }

  TrainingState state(uint64_t hash = 0x5eed) {
    TrainingState s;
    s.model = model.get();
    s.optimizer = optimizer.get();
    s.ema = ema.get();
    s.rngs = {{"data", &data}};
    s.step = optimizer->step_count();
    s.epoch = s.step / 4;
    s.config_hash = hash;
    return s;
  }
};

}  // namespace figs::nn::test

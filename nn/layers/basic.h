// Parameterless layers: Identity, ReLU, ReLU6, Flatten.
#pragma once

#include "nn/module.h"

namespace figs::nn {

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

class ReLU6 : public Module {
 public:
  ReLU6() : Module("ReLU6") {}
  Tensor forward(const Tensor& x) override;
};

// Merges dims start_dim.. into one: (N, C, 1, 1) -> (N, C).
class Flatten : public Module {
 public:
  explicit Flatten(int start_dim = 1) : Module("Flatten"), start_dim_(start_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int start_dim_;
};

}  // namespace figs::nn

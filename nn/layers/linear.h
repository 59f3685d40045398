// Linear: y = x W^T + b on (N, in) inputs.
#pragma once

#include "nn/module.h"

namespace figs::nn {

// Default init: weight Xavier uniform, bias zero.
class Linear : public Module {
 public:
  Linear(int in_features, int out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t macs(const Shape& input, const Shape& output) const override;  // N * in * out
  void reset_parameters(Generator& gen) override;

  int in_features() const { return in_; }
  int out_features() const { return out_; }
  const Tensor& weight() const { return weight_; }  // (out, in)
  const Tensor& bias() const { return bias_; }      // (out) or undefined

 private:
  int in_, out_;
  Tensor weight_, bias_;
};

}  // namespace figs::nn

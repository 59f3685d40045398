// BatchNorm2d over (N, H, W) per channel.
#pragma once

#include "nn/module.h"

namespace figs::nn {

struct BatchNorm2dOptions {
  // running = (1 - momentum) * running + momentum * batch (PyTorch's convention; a TensorFlow
  // "decay" d is momentum = 1 - d).
  double momentum = 0.1;
  double eps = 1e-5;
  bool affine = true;               // learnable "weight" (gamma, init 1) and "bias" (beta, init 0)
  bool track_running_stats = true;  // buffers "running_mean" (0) and "running_var" (1)
};

// Training mode normalises with batch statistics and updates the running ones; eval mode uses
// the running statistics (or batch statistics when they are not tracked).
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels, const BatchNorm2dOptions& options = {});
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) as one op (batch_norm's fused ReLU): one pass each way instead of two.
  Tensor forward_relu(const Tensor& x);
  // forward(x) * scale[c] for a per-channel scale (C), in one pass: the normalisation with gamma *
  // scale and beta * scale as its affine (the statistics are x's, as in forward). Differentiable
  // in scale too; with relu, the ReLU is fused as well. The FiGS mask after a BatchNorm runs this
  // way in training (nas/conv_unit.cpp).
  Tensor forward_scaled(const Tensor& x, const Tensor& scale, bool relu = false);
  std::string extra_repr() const override;
  void reset_parameters(Generator& gen) override;  // gamma 1, beta 0; statistics untouched

  int channels() const { return channels_; }
  const BatchNorm2dOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }  // gamma (C) or undefined
  const Tensor& bias() const { return bias_; }      // beta (C) or undefined
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }

 private:
  Tensor normalise(const Tensor& x, const Tensor& gamma, const Tensor& beta, bool relu);
  int channels_;
  BatchNorm2dOptions options_;
  Tensor weight_, bias_, running_mean_, running_var_;
};

}  // namespace figs::nn

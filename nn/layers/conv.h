// Convolutions: Conv2d (dense, grouped, pointwise), DepthwiseConv2d, SeparableConv2d.
// Square kernels, symmetric stride/padding/dilation. Weight (C_out, C_in / groups, K, K).
#pragma once

#include "core/params.h"
#include "nn/module.h"

namespace figs::nn {

struct Conv2dOptions {
  int stride = 1;
  int padding = 0;  // same_padding(k) keeps H, W at stride 1
  int dilation = 1;
  int groups = 1;
  bool bias = true;
};

// Padding that keeps the spatial size at stride 1 (odd kernels).
inline int same_padding(int kernel, int dilation = 1) { return dilation * (kernel - 1) / 2; }

// Default init: weight Kaiming normal (fan_out, ReLU gain, as torchvision's MobileNet/ResNet),
// bias zero.
class Conv2d : public Module {
 public:
  Conv2d(int in_channels, int out_channels, int kernel, const Conv2dOptions& options = {});

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  // Per output element: (C_in / groups) * K * K multiply-adds (bias adds are not counted).
  int64_t macs(const Shape& input, const Shape& output) const override;
  void reset_parameters(Generator& gen) override;

  int in_channels() const { return in_; }
  int out_channels() const { return out_; }
  int kernel() const { return kernel_; }
  const Conv2dOptions& options() const { return options_; }
  Conv2dParams params() const;
  const Tensor& weight() const { return weight_; }  // (C_out, C_in / groups, K, K)
  const Tensor& bias() const { return bias_; }      // (C_out) or undefined

 protected:
  Conv2d(std::string type_name, int in_channels, int out_channels, int kernel, const Conv2dOptions& options);

 private:
  int in_, out_, kernel_;
  Conv2dOptions options_;
  Tensor weight_, bias_;
};

struct DepthwiseConv2dOptions {
  int stride = 1;
  int padding = 0;
  int dilation = 1;
  bool bias = false;
};

// One K x K filter per channel: Conv2d with groups = in = out channels.
class DepthwiseConv2d : public Conv2d {
 public:
  DepthwiseConv2d(int channels, int kernel, const DepthwiseConv2dOptions& options = {});
};

struct SeparableConv2dOptions {
  int stride = 1;
  int padding = 0;
  int dilation = 1;
  bool bias = false;  // of the pointwise conv (the depthwise one never has a bias)
};

// Depthwise K x K (child "dw") then pointwise 1 x 1 (child "pw"), nothing in between
// (Xception / Keras SeparableConv2D).
class SeparableConv2d : public Module {
 public:
  SeparableConv2d(int in_channels, int out_channels, int kernel, const SeparableConv2dOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  DepthwiseConv2d& dw() const { return *dw_; }
  Conv2d& pw() const { return *pw_; }

 private:
  int in_, out_, kernel_, stride_;
  std::shared_ptr<DepthwiseConv2d> dw_;
  std::shared_ptr<Conv2d> pw_;
};

}  // namespace figs::nn

// ConvUnit: [ReLU ->] conv -> BatchNorm -> [mask ->] [ReLU], the masked building block of every
// search space (masks after the BN that follows a conv: a scale before BN would be normalised
// away, spec section 2). Kernels may be rectangular (One-Shot's 1x7 / 7x1), padding keeps the
// spatial size at stride 1.
//
// Its path in the network is its key in width maps (nas/space.h): the width of a unit is its
// conv's output channels, and its mask's logits are "<path>.mask.logits".
#pragma once

#include "core/params.h"
#include "nas/mask_layer.h"
#include "nn/layers/norm.h"
#include "nn/module.h"

namespace figs::nas {

struct ConvUnitOptions {
  int kernel_h = 1, kernel_w = 1;
  int stride = 1;
  bool depthwise = false;  // groups = in = out channels
  bool relu_before = false;
  bool relu_after = false;
  bool mask = false;  // a MaskLayer after the BN (the supernet); none in exported networks
  MaskOptions mask_options;
};

class ConvUnit : public nn::Module {
 public:
  ConvUnit(int in_channels, int out_channels, const ConvUnitOptions& options);

  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t macs(const Shape& input, const Shape& output) const override;
  void reset_parameters(Generator& gen) override;

  int in_channels() const { return in_; }
  int out_channels() const { return out_; }
  const ConvUnitOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }  // (out, in / groups, KH, KW)
  MaskLayer* mask() const { return mask_.get(); }   // null without a mask

 private:
  int in_, out_;
  ConvUnitOptions options_;
  Conv2dParams conv_params_;
  Tensor weight_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
  std::shared_ptr<MaskLayer> mask_;
};

// BatchNorm, then the mask when there is one, then ReLU when asked: the tail of every masked unit
// (ConvUnit, FBNet's grouped pointwise unit). In training the mask is folded into the BN's
// affine (Note [The mask folded into the BatchNorm], conv_unit.cpp).
Tensor batch_norm_and_mask(nn::BatchNorm2d& bn, MaskLayer* mask, const Tensor& x, bool relu_after);

}  // namespace figs::nas

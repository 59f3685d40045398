#include "nas/conv_unit.h"

#include "autograd/ops.h"
#include "nn/init.h"

namespace figs::nas {

ConvUnit::ConvUnit(int in_channels, int out_channels, const ConvUnitOptions& options)
    : nn::Module("ConvUnit"), in_(in_channels), out_(out_channels), options_(options) {
  FIGS_CHECK(in_channels >= 1 && out_channels >= 1, "ConvUnit: channels must be >= 1 (in ", in_channels, ", out ",
             out_channels, ")");
  FIGS_CHECK(!options.depthwise || in_channels == out_channels, "ConvUnit: a depthwise unit keeps its width (in ",
             in_channels, ", out ", out_channels, ")");
  FIGS_CHECK(options.kernel_h >= 1 && options.kernel_w >= 1 && options.kernel_h % 2 == 1 && options.kernel_w % 2 == 1,
             "ConvUnit: kernels must be odd (", options.kernel_h, "x", options.kernel_w, ")");
  conv_params_.stride_h = conv_params_.stride_w = options.stride;
  conv_params_.pad_h = options.kernel_h / 2;
  conv_params_.pad_w = options.kernel_w / 2;
  conv_params_.groups = options.depthwise ? in_channels : 1;
  weight_ = register_parameter(
      "weight", zeros({out_channels, options.depthwise ? 1 : in_channels, options.kernel_h, options.kernel_w}));
  bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (options.mask) mask_ = register_module("mask", std::make_shared<MaskLayer>(out_channels, options.mask_options));
}

Tensor ConvUnit::forward(const Tensor& x) {
  Tensor h = options_.relu_before ? relu(x) : x;
  return batch_norm_and_mask(*bn_, mask_.get(), conv2d(h, weight_, Tensor(), conv_params_), options_.relu_after);
}

// Note [The mask folded into the BatchNorm]: BN then mask is (x_hat gamma + beta) m, which is BN
// with the affine gamma m, beta m: one pass over the activations each way instead of two (the
// mask's pass was 14% of the main job's search step on the CPU, `figs bench`, and 11% of its
// inference). In training and in evaluation (the eval masks: hard 0/1, or the probabilities);
// the channel-group trace finds the mask behind the BN's gamma (nas/channel_graph.cpp), and the
// ONNX exporter sees gamma m and beta m as constants (a BN whose dropped channels are 0). A ReLU
// after the unit is fused into the BN as well (relu(h m) = relu(h) m for m >= 0).
Tensor batch_norm_and_mask(nn::BatchNorm2d& bn, MaskLayer* mask, const Tensor& x, bool relu_after) {
  if (mask) return bn.forward_scaled(x, mask->values(), relu_after);
  return relu_after ? bn.forward_relu(x) : bn(x);
}

std::string ConvUnit::extra_repr() const {
  return str_cat(in_, ", ", out_, ", kernel=", options_.kernel_h, "x", options_.kernel_w, ", stride=", options_.stride,
                 options_.depthwise ? ", depthwise" : "", options_.mask ? ", masked" : "");
}

int64_t ConvUnit::macs(const Shape&, const Shape& output) const {
  return output.numel() * (options_.depthwise ? 1 : in_) * options_.kernel_h * options_.kernel_w;
}

void ConvUnit::reset_parameters(Generator& gen) { nn::kaiming_normal_(weight_, gen, nn::FanMode::FanOut); }

}  // namespace figs::nas

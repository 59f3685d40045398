#include "nn/layers/conv.h"

#include "autograd/ops.h"
#include "nn/init.h"

namespace figs::nn {

Conv2d::Conv2d(int in_channels, int out_channels, int kernel, const Conv2dOptions& options)
    : Conv2d("Conv2d", in_channels, out_channels, kernel, options) {}

Conv2d::Conv2d(std::string type_name, int in_channels, int out_channels, int kernel, const Conv2dOptions& o)
    : Module(std::move(type_name)), in_(in_channels), out_(out_channels), kernel_(kernel), options_(o) {
  FIGS_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0, this->type_name(), ": channels and kernel must be > 0 (in ",
             in_channels, ", out ", out_channels, ", kernel ", kernel, ")");
  FIGS_CHECK(o.stride >= 1 && o.dilation >= 1 && o.padding >= 0 && o.groups >= 1, this->type_name(),
             ": needs stride >= 1, dilation >= 1, padding >= 0, groups >= 1 (stride ", o.stride, ", dilation ",
             o.dilation, ", padding ", o.padding, ", groups ", o.groups, ")");
  FIGS_CHECK(in_channels % o.groups == 0 && out_channels % o.groups == 0, this->type_name(), ": groups (", o.groups,
             ") must divide in (", in_channels, ") and out (", out_channels, ") channels");
  weight_ = register_parameter("weight", zeros({out_channels, in_channels / o.groups, kernel, kernel}));
  if (o.bias) bias_ = register_parameter("bias", zeros({out_channels}));
}

Conv2dParams Conv2d::params() const {
  Conv2dParams p;
  p.stride_h = p.stride_w = options_.stride;
  p.pad_h = p.pad_w = options_.padding;
  p.dilation_h = p.dilation_w = options_.dilation;
  p.groups = options_.groups;
  return p;
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight_, bias_, params()); }

std::string Conv2d::extra_repr() const {
  std::string s = str_cat(in_, ", ", out_, ", kernel=", kernel_);
  if (options_.stride != 1) s += str_cat(", stride=", options_.stride);
  if (options_.padding != 0) s += str_cat(", padding=", options_.padding);
  if (options_.dilation != 1) s += str_cat(", dilation=", options_.dilation);
  if (options_.groups != 1) s += str_cat(", groups=", options_.groups);
  if (!options_.bias) s += ", bias=false";
  return s;
}

int64_t Conv2d::macs(const Shape&, const Shape& output) const {
  return output.numel() * (in_ / options_.groups) * kernel_ * kernel_;
}

void Conv2d::reset_parameters(Generator& gen) {
  kaiming_normal_(weight_, gen, FanMode::FanOut);
  if (bias_.defined()) zeros_(bias_);
}

namespace {
Conv2dOptions depthwise(int channels, const DepthwiseConv2dOptions& o) {
  return {o.stride, o.padding, o.dilation, channels, o.bias};
}
}  // namespace

DepthwiseConv2d::DepthwiseConv2d(int channels, int kernel, const DepthwiseConv2dOptions& o)
    : Conv2d("DepthwiseConv2d", channels, channels, kernel, depthwise(channels, o)) {}

SeparableConv2d::SeparableConv2d(int in_channels, int out_channels, int kernel, const SeparableConv2dOptions& o)
    : Module("SeparableConv2d"), in_(in_channels), out_(out_channels), kernel_(kernel), stride_(o.stride) {
  dw_ = register_module("dw", std::make_shared<DepthwiseConv2d>(
                                  in_channels, kernel, DepthwiseConv2dOptions{o.stride, o.padding, o.dilation, false}));
  pw_ = register_module("pw", std::make_shared<Conv2d>(in_channels, out_channels, 1, Conv2dOptions{1, 0, 1, 1, o.bias}));
}

Tensor SeparableConv2d::forward(const Tensor& x) { return (*pw_)((*dw_)(x)); }

std::string SeparableConv2d::extra_repr() const {
  std::string s = str_cat(in_, ", ", out_, ", kernel=", kernel_);
  if (stride_ != 1) s += str_cat(", stride=", stride_);
  return s;
}

}  // namespace figs::nn

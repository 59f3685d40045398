#include "nn/layers/pool.h"

#include "autograd/ops.h"

namespace figs::nn {

namespace {

Pool2dParams make_params(const char* layer, int kernel, const Pool2dOptions& o) {
  FIGS_CHECK(kernel >= 1 && o.stride >= 0 && o.padding >= 0, layer, ": needs kernel >= 1, stride >= 0, padding >= 0 (kernel ",
             kernel, ", stride ", o.stride, ", padding ", o.padding, ")");
  FIGS_CHECK(2 * o.padding <= kernel, layer, ": padding (", o.padding, ") must be at most half the kernel (", kernel, ")");
  Pool2dParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = o.stride == 0 ? kernel : o.stride;
  p.pad_h = p.pad_w = o.padding;
  p.count_include_pad = o.count_include_pad;
  return p;
}

std::string describe(const Pool2dParams& p) {
  std::string s = str_cat("kernel=", p.kernel_h, ", stride=", p.stride_h);
  if (p.pad_h != 0) s += str_cat(", padding=", p.pad_h);
  return s;
}

}  // namespace

MaxPool2d::MaxPool2d(int kernel, const Pool2dOptions& o) : Module("MaxPool2d"), params_(make_params("MaxPool2d", kernel, o)) {}
Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, params_); }
std::string MaxPool2d::extra_repr() const { return describe(params_); }

AvgPool2d::AvgPool2d(int kernel, const Pool2dOptions& o) : Module("AvgPool2d"), params_(make_params("AvgPool2d", kernel, o)) {}
Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, params_); }
std::string AvgPool2d::extra_repr() const {
  return describe(params_) + (params_.count_include_pad ? "" : ", count_include_pad=false");
}

Tensor GlobalAvgPool::forward(const Tensor& x) { return global_avg_pool2d(x); }

}  // namespace figs::nn

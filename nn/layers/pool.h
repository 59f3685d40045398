// Pooling: MaxPool2d, AvgPool2d (square windows), GlobalAvgPool.
#pragma once

#include "core/params.h"
#include "nn/module.h"

namespace figs::nn {

struct Pool2dOptions {
  int stride = 0;  // 0: the kernel size
  int padding = 0;
  bool count_include_pad = true;  // AvgPool2d only: zero padding counts in the divisor
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int kernel, const Pool2dOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Pool2dParams params() const { return params_; }

 private:
  Pool2dParams params_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int kernel, const Pool2dOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Pool2dParams params() const { return params_; }

 private:
  Pool2dParams params_;
};

// (N, C, H, W) -> (N, C, 1, 1); follow with Flatten for a Linear head.
class GlobalAvgPool : public Module {
 public:
  GlobalAvgPool() : Module("GlobalAvgPool") {}
  Tensor forward(const Tensor& x) override;
};

}  // namespace figs::nn

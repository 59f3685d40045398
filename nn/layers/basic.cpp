#include "nn/layers/basic.h"

#include "autograd/ops.h"

namespace figs::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor ReLU6::forward(const Tensor& x) { return relu6(x); }
Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim_); }
std::string Flatten::extra_repr() const { return start_dim_ == 1 ? std::string() : str_cat("start_dim=", start_dim_); }

}  // namespace figs::nn

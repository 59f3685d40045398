#include "nn/layers/linear.h"

#include "autograd/ops.h"
#include "nn/init.h"

namespace figs::nn {

Linear::Linear(int in_features, int out_features, bool bias) : Module("Linear"), in_(in_features), out_(out_features) {
  FIGS_CHECK(in_features > 0 && out_features > 0, "Linear: features must be > 0 (in ", in_features, ", out ",
             out_features, ")");
  weight_ = register_parameter("weight", zeros({out_features, in_features}));
  if (bias) bias_ = register_parameter("bias", zeros({out_features}));
}

Tensor Linear::forward(const Tensor& x) {
  FIGS_CHECK(x.dim() == 2 && x.size(1) == in_, "Linear: expected input (N, ", in_, "), got ", x.describe(),
             " (Flatten image features first)");
  return linear(x, weight_, bias_);
}

std::string Linear::extra_repr() const { return str_cat(in_, ", ", out_, bias_.defined() ? "" : ", bias=false"); }

int64_t Linear::macs(const Shape&, const Shape& output) const { return output.numel() * in_; }

void Linear::reset_parameters(Generator& gen) {
  xavier_uniform_(weight_, gen);
  if (bias_.defined()) zeros_(bias_);
}

}  // namespace figs::nn

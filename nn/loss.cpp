#include "nn/loss.h"

#include "autograd/ops.h"

namespace figs::nn {

Tensor CrossEntropyLoss::operator()(const Tensor& logits, const Tensor& labels) const {
  return cross_entropy(logits, labels, label_smoothing);
}

}  // namespace figs::nn

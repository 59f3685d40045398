// Losses. Cross-entropy is the fused, numerically stable op of autograd/ops.h; this is its
// configured form for trainers.
#pragma once

#include "core/tensor.h"

namespace figs::nn {

// Mean over the batch of the cross-entropy of logits (N, K) against int64 labels (N), with
// targets (1 - label_smoothing) * onehot + label_smoothing / K.
struct CrossEntropyLoss {
  double label_smoothing = 0.0;
  Tensor operator()(const Tensor& logits, const Tensor& labels) const;
};

}  // namespace figs::nn

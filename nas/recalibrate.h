// Supernet evaluation re-estimates BatchNorm statistics under the eval masks (spec, section 1):
// the running statistics were gathered under sampled masks, and downstream layers see another
// input distribution once the masks are deterministic (measured on a PyTorch reference: 54% test
// accuracy with the training-time statistics, 80% after re-estimation).
#pragma once

#include <vector>

#include "nn/model.h"

namespace figs::nas {

// Runs `batches` through the model with every BatchNorm2d in training mode and every MaskLayer
// in eval mode, and sets each BatchNorm's running statistics to the plain average of the batch
// statistics it saw (independent of its momentum). Leaves the model in eval mode. No gradients.
// Batches not on the model's device are copied there (pass them there to avoid the copies).
void recalibrate_batch_norm(nn::Model& model, const std::vector<Tensor>& batches);

}  // namespace figs::nas

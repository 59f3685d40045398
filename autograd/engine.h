// backward(): runs the recorded graph in reverse topological order.
#pragma once

#include "core/tensor.h"

namespace figs {

// Accumulates d(root)/d(leaf) into .grad of every leaf that requires grad and is reachable.
// `grad` seeds the root: it may be left undefined only when the root has one element (then 1).
// Gradients reaching a tensor along several paths are summed. The graph is freed afterwards
// unless retain_graph. Backward itself is never recorded (no double backward).
void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

}  // namespace figs

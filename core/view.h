// Layout operations without autograd (namespace figs::raw).
//
// These are the mechanism under the differentiable reshape/permute/narrow/... of autograd/ops.h.
// They refuse a tensor that requires grad while grad mode is on, because their result would
// silently drop out of the graph: use the figs:: versions there.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace figs::raw {

// A view when the strides allow it (always for contiguous tensors), else a contiguous copy.
// One entry of `shape` may be -1 (inferred).
Tensor reshape(const Tensor& t, const std::vector<int64_t>& shape);
// Reorders dims: result dim i is t's dim dims[i]. Always a view.
Tensor permute(const Tensor& t, const std::vector<int>& dims);
// Elements [start, start + length) along `dim`. Always a view.
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
// Broadcasts size-1 dims (and adds leading dims) with stride 0. Always a view.
Tensor expand(const Tensor& t, const Shape& shape);
// t itself if already in `format`, else a copy in it.
Tensor contiguous(const Tensor& t, MemoryFormat format = MemoryFormat::Contiguous);
// A fresh copy with the same layout kind (contiguous or channels-last).
Tensor clone(const Tensor& t);
// dst = src elementwise; same shape and dtype; devices may differ.
void copy_(const Tensor& dst, const Tensor& src);
// A copy on `device` (t itself if it is already there).
Tensor to(const Tensor& t, Device device);
// A copy converted to `dtype` (t itself if it already has it).
Tensor to_dtype(const Tensor& t, DType dtype);

}  // namespace figs::raw

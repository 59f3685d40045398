#include "core/view.h"

#include <algorithm>

#include "core/autograd_meta.h"
#include "core/backend.h"

namespace figs::raw {

namespace {

void check_outside_graph(const char* op, const Tensor& t) {
  FIGS_CHECK(!(t.requires_grad() && GradMode::is_enabled()), op, ": ", t.describe(),
             " requires grad and figs::raw::", op,
             " would drop it from the graph; use figs::", op, " (autograd/ops.h)");
}

Tensor make_view(const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = t.dtype();
  return Tensor(std::move(impl));
}

// Strides for viewing t as `shape` without copying, if they exist: each run of merged/split
// dims must be contiguous within itself (PyTorch's computeStride rule). Empty result = no view.
bool view_strides(const Tensor& t, const Shape& shape, Strides& out) {
  if (t.numel() == 0) {
    out = contiguous_strides(shape);
    return true;
  }
  out = shape;
  const Shape& os = t.shape();
  const Strides& ost = t.strides();
  int view_d = shape.rank() - 1;
  int64_t chunk_base_stride = ost.rank() ? ost[ost.rank() - 1] : 1;
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = os.rank() - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

}  // namespace

Tensor reshape(const Tensor& t, const std::vector<int64_t>& requested) {
  check_outside_graph("reshape", t);
  Shape shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < requested.size(); ++i) {
    const int64_t d = requested[i];
    if (d == -1) {
      FIGS_CHECK(infer < 0, "reshape: more than one -1 in the requested shape");
      infer = static_cast<int>(i);
      shape.push_back(1);
    } else {
      FIGS_CHECK(d >= 0, "reshape: negative size ", d, " in the requested shape");
      known *= d;
      shape.push_back(d);
    }
  }
  if (infer >= 0) {
    FIGS_CHECK(known > 0 && t.numel() % known == 0, "reshape: cannot infer -1 to reshape ",
               t.describe(), " (", t.numel(), " elements)");
    shape[infer] = t.numel() / known;
  }
  FIGS_CHECK(shape.numel() == t.numel(), "reshape: ", t.describe(), " has ", t.numel(),
             " elements, the requested shape ", shape, " has ", shape.numel());
  Strides strides;
  if (view_strides(t, shape, strides)) return make_view(t, shape, strides, t.offset());
  const Tensor c = contiguous(t);
  return make_view(c, shape, contiguous_strides(shape), c.offset());
}

Tensor permute(const Tensor& t, const std::vector<int>& dims) {
  check_outside_graph("permute", t);
  FIGS_CHECK(static_cast<int>(dims.size()) == t.dim(), "permute: ", dims.size(),
             " dims given for ", t.describe());
  std::vector<bool> seen(dims.size(), false);
  Shape shape;
  Strides strides;
  for (int d : dims) {
    const int nd = normalize_dim(d, t.dim(), "permute");
    FIGS_CHECK(!seen[nd], "permute: dim ", d, " appears twice");
    seen[nd] = true;
    shape.push_back(t.shape()[nd]);
    strides.push_back(t.strides()[nd]);
  }
  return make_view(t, shape, strides, t.offset());
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  check_outside_graph("narrow", t);
  const int d = normalize_dim(dim, t.dim(), "narrow");
  FIGS_CHECK(start >= 0 && length >= 0 && start + length <= t.shape()[d], "narrow: range [", start,
             ", ", start + length, ") is outside dim ", d, " of ", t.describe());
  Shape shape = t.shape();
  shape[d] = length;
  return make_view(t, shape, t.strides(), t.offset() + start * t.strides()[d]);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  check_outside_graph("expand", t);
  FIGS_CHECK(broadcast_shapes(t.shape(), shape, "expand") == shape, "expand: cannot expand ",
             t.describe(), " to ", shape);
  return make_view(t, shape, broadcast_strides(t.shape(), t.strides(), shape), t.offset());
}

Tensor contiguous(const Tensor& t, MemoryFormat format) {
  if (t.is_contiguous(format)) {
    // Size-1 dims can make a tensor "contiguous" in both layouts; give it the exact strides of
    // the one asked for (same memory, a view), so its memory_format() reports that one.
    if (t.memory_format() == format || t.dim() != 4) return t;
    return make_view(t, t.shape(), strides_for(t.shape(), format), t.offset());
  }
  Tensor out = empty(t.shape(), {t.dtype(), t.device(), format});
  copy_(out, t);
  return out;
}

Tensor clone(const Tensor& t) {
  Tensor out = empty_like(t);
  copy_(out, t);
  return out;
}

void copy_(const Tensor& dst, const Tensor& src) {
  FIGS_CHECK(dst.shape() == src.shape(), "copy_: destination ", dst.describe(),
             " and source ", src.describe(), " differ in shape");
  if (dst.numel() == 0) return;
  if (dst.device() == src.device()) {
    backend_of(dst).copy(src, dst);
    return;
  }
  // Across devices: stage through contiguous tensors of matching dtype, convert on the host.
  FIGS_CHECK(dst.device().is_cpu() || src.device().is_cpu(), "copy_: ", src.device(), " -> ",
             dst.device(), " must go through the CPU");
  if (src.device().is_cpu()) {
    const Tensor host = contiguous(to_dtype(src, dst.dtype()));
    if (dst.is_contiguous()) {
      backend_of(dst).copy_from_host(host, dst);
    } else {
      const Tensor staged = empty(dst.shape(), {dst.dtype(), dst.device()});
      backend_of(dst).copy_from_host(host, staged);
      backend_of(dst).copy(staged, dst);
    }
  } else {
    const Tensor dev = contiguous(src);
    const Tensor host = empty(src.shape(), {src.dtype(), Device::cpu()});
    backend_of(src).copy_to_host(dev, host);
    backend_of(dst).copy(host, dst);
  }
}

Tensor to(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  Tensor out = empty(t.shape(), {t.dtype(), device});
  copy_(out, t);
  return out;
}

Tensor to_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty(t.shape(), {dtype, t.device(), t.memory_format()});
  copy_(out, t);
  return out;
}

}  // namespace figs::raw

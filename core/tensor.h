// Tensor: a small handle to shared Storage plus offset, shape, strides and dtype.
//
// Copying a Tensor copies the handle; both copies are the same tensor (same data, same .grad).
// Shapes are logical (N, C, H, W); the layout is in the strides (see core/shape.h), so
// channels-last and plain NCHW tensors mean the same thing to every op.
//
// Views without autograd live in core/view.h (namespace figs::raw); the differentiable ops,
// including reshape/permute/narrow, are in autograd/ops.h.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/rng.h"
#include "core/shape.h"
#include "core/storage.h"

namespace figs {

struct AutogradMeta;  // core/autograd_meta.h
class Node;           // autograd/node.h; core only holds a pointer to it

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements, not bytes
  Shape shape;
  Strides strides;
  DType dtype = DType::Float32;
  std::shared_ptr<AutogradMeta> autograd;  // null for tensors that never took part in autograd
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: the "absent" value (no bias, no gradient, ...)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }

  // --- metadata -------------------------------------------------------------------------
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  int dim() const { return shape().rank(); }
  int64_t size(int64_t d) const;    // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape().numel(); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  int64_t offset() const { return impl().offset; }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  bool is_contiguous(MemoryFormat format = MemoryFormat::Contiguous) const;
  // ChannelsLast when the tensor is laid out NHWC, else Contiguous. When size-1 dims make it
  // both (one channel, 1x1 images), its exact strides decide; for a view that is neither (a
  // channel slice), the layout its strides follow (channels fastest = ChannelsLast).
  MemoryFormat memory_format() const;
  std::string describe() const;  // "float32[2,3,5,5] cpu", for error messages

  // --- data -----------------------------------------------------------------------------
  // Pointer to the first element (offset applied). The dtype must be T.
  template <class T> T* data() const;
  void* raw_data() const;
  // Element access for tests and small host-side work (CPU tensors only). Index per dim.
  template <class T> T at(std::initializer_list<int64_t> index) const;
  // The value of a one-element tensor, converted to T (any dtype).
  template <class T> T item() const;
  // All elements in logical row-major order, converted to T (copies from CUDA if needed).
  template <class T> std::vector<T> to_vector() const;

  // --- autograd state (see autograd/ for what uses it) ------------------------------------
  bool requires_grad() const;  // a leaf marked as such, or the output of a recorded op
  Tensor& set_requires_grad(bool enabled = true);  // leaves only
  bool is_leaf() const;
  const Tensor& grad() const;  // undefined until backward() reached this leaf
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the accumulated gradient
  const std::shared_ptr<Node>& grad_fn() const;
  const std::shared_ptr<AutogradMeta>& autograd_meta() const { return impl().autograd; }
  Tensor detach() const;  // same data, no autograd history

  bool same_as(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl& impl() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// --- factories ------------------------------------------------------------------------------
struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = Device::cpu();
  MemoryFormat format = MemoryFormat::Contiguous;
};

Tensor empty(const Shape& shape, const TensorOptions& options = {});
Tensor zeros(const Shape& shape, const TensorOptions& options = {});
Tensor ones(const Shape& shape, const TensorOptions& options = {});
Tensor full(const Shape& shape, double value, const TensorOptions& options = {});
Tensor arange(int64_t n, const TensorOptions& options = {});  // 0, 1, ..., n-1
// Same shape, dtype and device as `like`; layout follows `like` (channels-last stays so).
Tensor empty_like(const Tensor& like);
// A contiguous tensor over memory someone else allocated (e.g. pinned host memory, cuda/pinned.h);
// storage must hold at least shape.numel() elements of dtype.
Tensor tensor_on_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype = DType::Float32);
Tensor zeros_like(const Tensor& like);

// Random fills per Note [RNG layout] (core/rng.h): each consumes numel() counters of `gen`.
Tensor uniform(const Shape& shape, double low, double high, Generator& gen,
               const TensorOptions& options = {});
Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen,
              const TensorOptions& options = {});

// A CPU tensor holding `values` in row-major order (moved to `device` if not the CPU).
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());

}  // namespace figs

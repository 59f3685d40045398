#include "nn/model.h"

#include <cstring>

#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/view.h"
#include "nn/init.h"

namespace figs::nn {

namespace {

int64_t align_up(int64_t n) { return (n + Model::kAlignment - 1) / Model::kAlignment * Model::kAlignment; }

// Lays `tensors` out in one float32 arena and re-points each TensorImpl at its range (Note
// [Parameter arenas]). Returns the arena; fills `slots`.
Tensor pack(const std::vector<NamedTensor>& tensors, const char* what, std::vector<ArenaSlot>& slots) {
  int64_t size = 0;
  for (const NamedTensor& t : tensors) {
    FIGS_CHECK(t.tensor.dtype() == DType::Float32 && t.tensor.device().is_cpu(), "Model: ", what, " '", t.name,
               "' is ", t.tensor.describe(), "; arenas hold float32 CPU tensors");
    FIGS_CHECK(t.tensor.is_leaf(), "Model: ", what, " '", t.name, "' is not a leaf tensor");
    slots.push_back({t.name, t.tensor, Tensor(), size, t.tensor.numel()});
    size = align_up(size + t.tensor.numel());
  }
  Tensor arena = zeros({size});
  NoGradGuard no_grad;
  for (ArenaSlot& s : slots) {
    TensorImpl& impl = s.tensor.impl();
    const Shape shape = impl.shape;
    Tensor place = raw::reshape(raw::narrow(arena, 0, s.offset, s.numel), shape.vec());
    if (s.numel > 0) raw::copy_(place, s.tensor);
    impl.storage = arena.storage();
    impl.offset = arena.offset() + s.offset;
    impl.strides = contiguous_strides(shape);
  }
  return arena;
}

// A copy of the arena on `device`; between two GPUs through the host (raw::copy_ connects a
// device only with the CPU).
Tensor arena_on(const Tensor& arena, Device device) {
  if (!arena.device().is_cpu() && !device.is_cpu() && arena.device() != device)
    return raw::to(raw::to(arena, Device::cpu()), device);
  return raw::to(arena, device);
}

// Points `view` (a view of an arena, `offset` elements from its start) at the same elements of
// `arena`, keeping its shape and strides.
void repoint(const Tensor& view, const Tensor& arena, int64_t offset) {
  TensorImpl& impl = view.impl();
  impl.storage = arena.storage();
  impl.offset = arena.offset() + offset;
}

}  // namespace

Model::Model(ModulePtr root, const ModelOptions& options) : root_(std::move(root)) {
  FIGS_CHECK(root_ != nullptr, "Model: the root module is null");
  (void)backend_for(options.device);  // e.g. "built without CUDA" before the tree is packed for good
  FIGS_CHECK(!root_->is_packed(), "Model: ", root_->type_name(), " is already packed into another Model");
  std::vector<NamedModule> modules = root_->named_modules();
  for (const NamedModule& m : modules)
    FIGS_CHECK(!m.module->is_packed(), "Model: module '", m.name, "' (", m.module->type_name(),
               ") is already packed into another Model");

  params_ = pack(root_->named_parameters(), "parameter", param_slots_);
  buffers_ = pack(root_->named_buffers(), "buffer", buffer_slots_);
  grads_ = zeros(params_.shape());
  for (ArenaSlot& s : param_slots_) {
    s.grad = raw::reshape(raw::narrow(grads_, 0, s.offset, s.numel), s.tensor.shape().vec());
    s.tensor.set_grad(s.grad);
  }
  if (options.initialize) {
    Generator gen(options.seed, kInitStream);
    root_->initialize(gen);
  }
  for (const NamedModule& m : modules) m.module->packed_ = true;
  to(options.device);
}

void Model::to(Device device) {
  if (device == device_) return;
  NoGradGuard no_grad;
  // All three copies first: if one fails (no such device, out of memory), nothing has moved.
  const Tensor params = arena_on(params_, device), grads = arena_on(grads_, device),
               buffers = arena_on(buffers_, device);
  for (ArenaSlot& s : param_slots_) {
    repoint(s.tensor, params, s.offset);
    repoint(s.grad, grads, s.offset);
  }
  for (ArenaSlot& s : buffer_slots_) repoint(s.tensor, buffers, s.offset);
  params_ = params;
  grads_ = grads;
  buffers_ = buffers;
  device_ = device;
}

const ArenaSlot& Model::param_slot(const std::string& name) const {
  for (const ArenaSlot& s : param_slots_)
    if (s.name == name) return s;
  fail("Model: no parameter named '", name, "'");
}

void Model::zero_grad() {
  for (ArenaSlot& s : param_slots_)
    if (!s.tensor.grad().same_as(s.grad)) s.tensor.set_grad(s.grad);
  if (grads_.numel() == 0) return;
  if (device_.is_cpu())
    std::memset(grads_.data<float>(), 0, sizeof(float) * grads_.numel());  // as before devices: no kernel count
  else
    backend_of(grads_).fill(grads_, 0.0);
}

void Model::check_grads_attached(const char* op) const {
  for (const ArenaSlot& s : param_slots_)
    FIGS_CHECK(s.tensor.grad().same_as(s.grad), op, ": the gradient of '", s.name,
               "' is no longer its view of the gradient arena (Tensor::zero_grad() or set_grad() was called on "
               "it); use Model::zero_grad()");
}

int64_t Model::num_parameters() const {
  int64_t n = 0;
  for (const ArenaSlot& s : param_slots_) n += s.numel;
  return n;
}

}  // namespace figs::nn

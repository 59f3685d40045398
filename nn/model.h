// Model: the root of a finished module tree, with its parameters packed into one arena.
//
// Note [Parameter arenas]
// Constructing a Model is the moment the tree is finalised:
//   1. every parameter (named_parameters() order) gets a 64-byte-aligned range of one float32
//      tensor, the parameter arena; its values are copied there and its TensorImpl is re-pointed
//      in place (storage, offset, contiguous strides), so every handle a layer holds now reads and
//      writes the arena;
//   2. every parameter's .grad is set to the matching view of a second arena, the gradient arena.
//      backward() adds into a leaf's existing .grad in place (autograd/engine.cpp), so gradients
//      land in the arena directly, and zero_grad() is one fill;
//   3. buffers (BatchNorm running statistics) are packed the same way into a buffer arena;
//   4. the parameters are initialised (unless ModelOptions::initialize is false), and every
//      module of the tree is marked packed: registering anything more throws.
// Optimizers, moving averages and checkpoints then work on the arenas as flat float arrays:
// one pass each. Padding between parameters is zero in every arena and stays zero under every
// update (SGD, Adam, EMA all map 0 to 0 when the gradient is 0).
// Tensor::zero_grad() on a single parameter would detach it from the gradient arena;
// Model::zero_grad() re-attaches such parameters, and optimizers refuse to step when a
// parameter's gradient lives elsewhere.
//
// Devices. A Model is built and initialised on the CPU (so a seed gives the same initial
// weights whatever the device), then Model::to(device) — or ModelOptions::device, which is the
// same call at the end of construction — moves it: the three arenas are copied to the device
// and every parameter's, gradient view's and buffer's TensorImpl is re-pointed in place at the
// new arena (storage and offset; shape and strides are unchanged), exactly as in step 1. Every
// handle a layer holds therefore follows, a forward pass with inputs on the device runs there,
// and backward() accumulates into the device gradient arena. to() is all-or-nothing (the copies
// are made before anything is re-pointed) and a no-op for the model's own device.
// Optimizers and moving averages allocate their arena-shaped state on the model's device when
// they are built and refuse to run once the model has moved away from it: build them after
// to(). Checkpoints copy device arenas through the host.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"

namespace figs::nn {

// One tensor's place in an arena.
struct ArenaSlot {
  std::string name;  // dotted path from the root
  Tensor tensor;     // the parameter or buffer: a view into the arena
  Tensor grad;       // parameters: its view into the gradient arena
  int64_t offset = 0;  // in elements from the arena's start
  int64_t numel = 0;
};

struct ModelOptions {
  bool initialize = true;  // draw every parameter with its layer's default initialiser ...
  uint64_t seed = 0;       // ... from Generator(seed, kInitStream) (nn/init.h)
  Device device = Device::cpu();  // where the arenas live: to(device) once built and initialised
};

class Model {
 public:
  static constexpr int64_t kAlignment = 16;  // elements: each slot starts 64-byte aligned

  explicit Model(ModulePtr root, const ModelOptions& options = {});
  // Optimizers and moving averages keep a pointer to their Model: it stays where it was built.
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  Module& root() const { return *root_; }
  const ModulePtr& root_ptr() const { return root_; }
  Tensor operator()(const Tensor& x) const { return (*root_)(x); }

  // Moves the arenas to `device` and re-points every parameter, gradient view and buffer at
  // them (Note [Parameter arenas]); nothing happens when the model is already there.
  void to(Device device);
  Device device() const { return device_; }

  // The arenas: float32, rank 1, contiguous, on device().
  const Tensor& params() const { return params_; }
  const Tensor& grads() const { return grads_; }
  const Tensor& buffers() const { return buffers_; }
  const std::vector<ArenaSlot>& param_slots() const { return param_slots_; }
  const std::vector<ArenaSlot>& buffer_slots() const { return buffer_slots_; }
  const ArenaSlot& param_slot(const std::string& name) const;

  // Zeroes the gradient arena (one fill on its device), re-attaching any parameter whose .grad
  // was replaced.
  void zero_grad();
  // Throws (naming `op` and the parameter) unless every parameter's .grad is its arena view.
  void check_grads_attached(const char* op) const;

  void train(bool on = true) { root_->train(on); }
  void eval() { root_->train(false); }
  bool is_training() const { return root_->is_training(); }
  int64_t num_parameters() const;  // excluding arena padding

 private:
  ModulePtr root_;
  Device device_ = Device::cpu();
  Tensor params_, grads_, buffers_;
  std::vector<ArenaSlot> param_slots_, buffer_slots_;
};

}  // namespace figs::nn

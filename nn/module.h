// Module: the unit networks are built from. A module owns named parameters (leaf tensors that
// require grad), named buffers (state that is not trained, e.g. BatchNorm running statistics)
// and named children; names compose into dotted paths ("cell2.block1.sep5.pw.weight").
//
// Modules are value-configured and built once: construct the whole tree, then wrap its root in
// an nn::Model (nn/model.h), which packs every parameter into one arena and freezes the tree.
// Layers call their children through operator(), which is what lets summarize() (nn/summary.h)
// and other ForwardObservers see every call with its shapes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace figs::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct NamedModule {
  std::string name;  // "" for the module the walk started from
  Module* module;
};

class Module {
 public:
  explicit Module(std::string type_name);
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The computation of single-input layers. The default throws: a composite module with
  // several inputs exposes its own methods instead.
  virtual Tensor forward(const Tensor& x);
  // forward(x), reported to the active ForwardObserver (if any). Call children through this.
  Tensor operator()(const Tensor& x);

  // "Conv2d", "BatchNorm2d", ...
  const std::string& type_name() const { return type_name_; }
  // The configuration in one line for printing, e.g. "3, 16, kernel=3, stride=2".
  virtual std::string extra_repr() const { return {}; }
  // Multiply-accumulates of one forward() from `input` to `output` (whole batch), counting this
  // module's own arithmetic only (children report theirs). 0 unless a layer overrides it.
  virtual int64_t macs(const Shape& /*input*/, const Shape& /*output*/) const { return 0; }
  // Draws this module's own parameters (not its children's) from `gen` with its default
  // initialiser (nn/init.h). Parameterless modules do nothing.
  virtual void reset_parameters(Generator& /*gen*/) {}

  // --- building the tree (only before the tree is packed into a Model) ---------------------
  // Names are non-empty, contain no '.', and are unique among a module's parameters, buffers
  // and children. register_parameter returns a detached leaf that requires grad, holding the
  // same values; keep the returned handle (Model later moves its data into the arena in place,
  // so the handle stays valid).
  Tensor register_parameter(const std::string& name, const Tensor& value);
  Tensor register_buffer(const std::string& name, const Tensor& value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // --- walking the tree: pre-order, own entries in registration order, then children ---------
  std::vector<NamedTensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<NamedTensor> named_buffers(bool recurse = true) const;
  std::vector<NamedModule> named_modules();  // this module first, with name ""
  const std::vector<std::pair<std::string, ModulePtr>>& named_children() const { return children_; }
  // By dotted path from this module; throw naming the missing part.
  Module& module(const std::string& path);
  Tensor parameter(const std::string& path) const;
  Tensor buffer(const std::string& path) const;

  // --- state ------------------------------------------------------------------------------
  void train(bool on = true);  // this module and all below it
  void eval() { train(false); }
  bool is_training() const { return training_; }
  int64_t num_parameters() const;  // elements of all parameters below (shared ones once)
  // reset_parameters() on every module of named_modules(), in that order.
  void initialize(Generator& gen);
  bool is_packed() const { return packed_; }
  // The tree, one module per line with its configuration and own parameter count.
  std::string to_string() const;

 private:
  friend class Model;
  void add_child(const std::string& name, ModulePtr child);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool parameters, bool recurse, std::vector<NamedTensor>& out) const;
  void print(std::string& out, const std::string& name, int depth) const;

  std::string type_name_;
  bool training_ = true;
  bool packed_ = false;  // set by Model: the tree can no longer change
  std::vector<NamedTensor> params_;
  std::vector<NamedTensor> buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
};

// Sees every Module::operator() call on this thread while installed (summaries, cost models).
class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual void before(const Module& /*module*/, const Tensor& /*input*/) {}
  virtual void after(const Module& /*module*/, const Tensor& /*input*/, const Tensor& /*output*/) {}
};

// Installs an observer for its scope (thread-local; nests by restoring the previous one).
class ObserveForwards {
 public:
  explicit ObserveForwards(ForwardObserver* observer);
  ~ObserveForwards();
  ObserveForwards(const ObserveForwards&) = delete;
  ObserveForwards& operator=(const ObserveForwards&) = delete;

 private:
  ForwardObserver* previous_;
};

}  // namespace figs::nn

// Sequential: runs its children in order, each on the previous one's output.
#pragma once

#include <initializer_list>

#include "nn/module.h"

namespace figs::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  // Children named "0", "1", ... in order.
  Sequential(std::initializer_list<ModulePtr> modules);

  // Appends a child named by its position ("0", "1", ...) or by `name`; returns it.
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> module) {
    return register_module(std::to_string(named_children().size()), std::move(module));
  }
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> module) {
    return register_module(name, std::move(module));
  }
  size_t size() const { return named_children().size(); }
  Module& operator[](size_t i) const;

  Tensor forward(const Tensor& x) override;
};

}  // namespace figs::nn

#include "nn/layers/sequential.h"

namespace figs::nn {

Sequential::Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
  for (const ModulePtr& m : modules) add(m);
}

Module& Sequential::operator[](size_t i) const {
  FIGS_CHECK(i < size(), "Sequential: index ", i, " out of range (size ", size(), ")");
  return *named_children()[i].second;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [name, child] : named_children()) h = (*child)(h);
  return h;
}

}  // namespace figs::nn

// The autograd state a tensor carries. core stores it; autograd/ gives it meaning.
#pragma once

#include <memory>

#include "core/tensor.h"

namespace figs {

struct AutogradMeta {
  bool requires_grad = false;     // set on leaves the user wants gradients for
  Tensor grad;                    // accumulated by backward() on leaves
  std::shared_ptr<Node> grad_fn;  // set on outputs of recorded ops (non-leaves)
};

// Whether ops record the graph (thread-local; on by default).
class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Disables recording for its scope: evaluation, optimizer steps, backward itself.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace figs

#include "autograd/engine.h"

#include <unordered_map>
#include <vector>

#include "autograd/node.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

namespace {

// Gradient flowing into a node: the first contribution is kept as is, later ones make a new
// sum (a backward function may return a view that other nodes also hold, so never add in place).
void accumulate_flowing(Tensor& sum, const Tensor& g) {
  if (!sum.defined()) {
    sum = g;
    return;
  }
  Tensor total = empty_like(sum);  // keeps the layout (a channels-last backward stays channels-last)
  backend_of(sum).binary(BinaryOp::Add, sum, g, total);
  sum = total;
}

// A leaf's .grad: owned by the leaf (optimizers update it in place), so the first contribution
// is copied and later ones are added in place.
void accumulate_leaf(Tensor& grad, const Tensor& g) {
  if (!grad.defined()) {
    grad = raw::clone(g);  // never a view: the same gradient may reach several leaves
    return;
  }
  backend_of(grad).binary(BinaryOp::Add, grad, g, grad);
}

// Nodes reachable from root, each listed after every node that feeds it a gradient.
std::vector<Node*> reverse_topological_order(Node* root) {
  std::unordered_map<Node*, int> pending;  // consumers not yet visited
  std::vector<Node*> stack{root};
  pending[root] = 0;
  while (!stack.empty()) {  // count, for each node, the edges into it
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->inputs()) {
      if (!e.node) continue;
      auto [it, inserted] = pending.try_emplace(e.node.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(e.node.get());
    }
  }
  std::vector<Node*> order;
  std::vector<Node*> ready{root};
  while (!ready.empty()) {  // Kahn's algorithm
    Node* n = ready.back();
    ready.pop_back();
    order.push_back(n);
    for (const Edge& e : n->inputs())
      if (e.node && --pending[e.node.get()] == 0) ready.push_back(e.node.get());
  }
  return order;
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  FIGS_CHECK(root.defined(), "backward: called on an undefined tensor");
  FIGS_CHECK(root.requires_grad(), "backward: ", root.describe(),
             " does not require grad (no input of the computation requires grad)");
  Tensor seed = grad;
  if (!seed.defined()) {
    FIGS_CHECK(root.numel() == 1, "backward: output ", root.describe(),
               " is not a scalar; pass a gradient of its shape");
    seed = ones(root.shape(), {root.dtype(), root.device()});
  }
  FIGS_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype() &&
                 seed.device() == root.device(),
             "backward: gradient ", seed.describe(), " does not match output ", root.describe());

  NoGradGuard no_grad;
  if (!root.grad_fn()) {  // the root is itself a leaf
    accumulate_leaf(root.autograd_meta()->grad, seed);
    return;
  }
  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = seed;
  for (Node* node : reverse_topological_order(root.grad_fn().get())) {
    auto found = grads.find(node);
    if (found == grads.end()) continue;  // no gradient reached it (e.g. only through unneeded inputs)
    const Tensor g = std::move(found->second);
    grads.erase(found);
    std::vector<Tensor> input_grads;
    {
      const OpScope op_scope(node->kind());  // the kernel statistics book the backward's calls under its op
      input_grads = node->apply(g);
    }
    if (!retain_graph) node->release();
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& e = node->inputs()[i];
      const Tensor& gi = input_grads[i];
      if (!e.active() || !gi.defined()) continue;
      const Shape& expected = e.node ? e.node->output_shape() : gi.shape();
      FIGS_CHECK(gi.shape() == expected, node->name(), " backward: gradient for input ", i, " has shape ",
                 gi.shape(), ", expected ", expected);
      if (e.node)
        accumulate_flowing(grads[e.node.get()], gi);
      else
        accumulate_leaf(e.leaf->grad, gi);
    }
  }
}

}  // namespace figs

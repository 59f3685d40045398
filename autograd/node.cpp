#include "autograd/node.h"

namespace figs {

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  FIGS_CHECK(backward_ != nullptr, name(), " backward: the graph was already freed by an earlier "
             "backward() (pass retain_graph = true to run backward twice)");
  std::vector<bool> needed;
  needed.reserve(inputs_.size());
  for (const Edge& e : inputs_) needed.push_back(e.active());
  InputGrads grads(std::move(needed));
  backward_(grad_output, grads);
  std::vector<Tensor> out;
  out.reserve(grads.size());
  for (size_t i = 0; i < grads.size(); ++i) out.push_back(grads.needs(i) ? grads[i] : Tensor());
  return out;
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

namespace {
Edge edge_to(const Tensor& t) {
  if (!t.defined()) return {};
  Edge e;
  e.shape = t.shape();
  e.defined = true;
  if (!t.requires_grad()) return e;
  if (t.grad_fn())
    e.node = t.grad_fn();
  else
    e.leaf = t.autograd_meta();
  return e;
}

void attach(OpKind kind, std::vector<Edge> edges, Tensor& output, BackwardFn backward, OpParams params) {
  auto node = std::make_shared<Node>(kind, std::move(edges), output.shape(), std::move(backward), std::move(params));
  auto& meta = output.impl().autograd;
  if (!meta) meta = std::make_shared<AutogradMeta>();
  meta->grad_fn = std::move(node);
}
}  // namespace

void record(OpKind kind, std::initializer_list<const Tensor*> inputs, Tensor& output, BackwardFn backward,
            OpParams params) {
  std::vector<Edge> edges;
  for (const Tensor* t : inputs) edges.push_back(edge_to(*t));
  attach(kind, std::move(edges), output, std::move(backward), std::move(params));
}

void record(OpKind kind, const std::vector<Tensor>& inputs, Tensor& output, BackwardFn backward, OpParams params) {
  std::vector<Edge> edges;
  for (const Tensor& t : inputs) edges.push_back(edge_to(t));
  attach(kind, std::move(edges), output, std::move(backward), std::move(params));
}

}  // namespace figs

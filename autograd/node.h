// The recorded graph: one Node per differentiable op call, pointing at its inputs' producers.
// A Node knows its op by kind (core/ops.inc) and keeps the op's typed parameters (OpParams), so
// the graph can be read as a description of the computation (nas/channel_graph.cpp traces it).
//
// Every op has exactly one differentiable output (max_pool2d's indices and batch_norm's saved
// statistics are not differentiable), so a Node receives one gradient and returns one per input.
// A Node's backward function captures exactly what it needs (style: Flashlight's closures);
// the engine drops it after use so saved activations are freed as backward proceeds.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/autograd_meta.h"
#include "core/error.h"
#include "core/op_kind.h"
#include "core/tensor.h"

namespace figs {

// Where the gradient for one input goes: into the Node that produced it, or into a leaf's .grad.
// `shape` is the input's shape (recorded for every input, active or not).
struct Edge {
  std::shared_ptr<Node> node;          // non-leaf input
  std::shared_ptr<AutogradMeta> leaf;  // leaf input that requires grad
  Shape shape;                         // of the input; rank 0 and !defined for absent inputs
  bool defined = false;                // false for an absent optional input (no bias, ...)
  bool active() const { return node || leaf; }
};

// Gradients a backward function produces, one slot per input of the op.
class InputGrads {
 public:
  explicit InputGrads(std::vector<bool> needed) : needed_(std::move(needed)), grads_(needed_.size()) {}
  // Whether input i wants a gradient (skip the work when not).
  bool needs(size_t i) const { return needed_[i]; }
  void set(size_t i, Tensor g) { grads_[i] = std::move(g); }
  Tensor& operator[](size_t i) { return grads_[i]; }
  size_t size() const { return grads_.size(); }

 private:
  std::vector<bool> needed_;
  std::vector<Tensor> grads_;
};

using BackwardFn = std::function<void(const Tensor& grad_output, InputGrads& grads)>;

class Node {
 public:
  Node(OpKind kind, std::vector<Edge> inputs, Shape output_shape, BackwardFn backward, OpParams params = {})
      : kind_(kind), inputs_(std::move(inputs)), output_shape_(output_shape), backward_(std::move(backward)),
        params_(std::move(params)) {}

  OpKind kind() const { return kind_; }
  const char* name() const { return op_name(kind_); }
  const OpParams& params() const { return params_; }
  // The typed parameters of an op that has them (throws when the node holds another type).
  template <class P>
  const P& params_as() const {
    const P* p = std::get_if<P>(&params_);
    FIGS_CHECK(p != nullptr, name(), ": the recorded node holds no parameters of the requested type");
    return *p;
  }
  const std::vector<Edge>& inputs() const { return inputs_; }
  const Shape& output_shape() const { return output_shape_; }
  // Runs the op's backward; throws if the graph was already released by an earlier backward().
  std::vector<Tensor> apply(const Tensor& grad_output);
  // Frees what the backward function captured (saved tensors).
  void release() { backward_ = nullptr; }

 private:
  OpKind kind_;
  std::vector<Edge> inputs_;
  Shape output_shape_;
  BackwardFn backward_;
  OpParams params_;
};

// True when an op with these inputs should record a Node (grad mode on, some input requires grad).
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

// Records `output` as produced by op `kind` from `inputs` (undefined inputs are allowed and
// never receive a gradient), with the op's parameters. Call only when any_requires_grad(inputs).
void record(OpKind kind, std::initializer_list<const Tensor*> inputs, Tensor& output, BackwardFn backward,
            OpParams params = {});
void record(OpKind kind, const std::vector<Tensor>& inputs, Tensor& output, BackwardFn backward,
            OpParams params = {});

}  // namespace figs

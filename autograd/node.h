// The recorded graph: one Node per differentiable op call, pointing at its inputs' producers.
//
// Every op has exactly one differentiable output (max_pool2d's indices and batch_norm's saved
// statistics are not differentiable), so a Node receives one gradient and returns one per input.
// A Node's backward function captures exactly what it needs (style: Flashlight's closures);
// the engine drops it after use so saved activations are freed as backward proceeds.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd_meta.h"
#include "core/tensor.h"

namespace figs {

// Where the gradient for one input goes: into the Node that produced it, or into a leaf's .grad.
// `shape` is the input's shape (recorded for every input, active or not), so the graph can be
// read as a description of the computation (nas/cost_model.cpp traces it).
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
  Node(std::string name, std::vector<Edge> inputs, Shape output_shape, BackwardFn backward)
      : name_(std::move(name)), inputs_(std::move(inputs)), output_shape_(output_shape),
        backward_(std::move(backward)) {}

  const std::string& name() const { return name_; }
  const std::vector<Edge>& inputs() const { return inputs_; }
  const Shape& output_shape() const { return output_shape_; }
  // Runs the op's backward; throws if the graph was already released by an earlier backward().
  std::vector<Tensor> apply(const Tensor& grad_output);
  // Frees what the backward function captured (saved tensors).
  void release() { backward_ = nullptr; }

 private:
  std::string name_;
  std::vector<Edge> inputs_;
  Shape output_shape_;
  BackwardFn backward_;
};

// True when an op with these inputs should record a Node (grad mode on, some input requires grad).
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

// Records `output` as produced by op `name` from `inputs` (undefined inputs are allowed and
// never receive a gradient). Call only when any_requires_grad(inputs).
void record(const char* name, std::initializer_list<const Tensor*> inputs, Tensor& output,
            BackwardFn backward);
void record(const char* name, const std::vector<Tensor>& inputs, Tensor& output, BackwardFn backward);

}  // namespace figs

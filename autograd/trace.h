// Op tracing: while an OpTracer is installed on a thread, every differentiable op called there
// reports itself once — its name, the tensors it was given, its output and its non-tensor
// arguments — whether or not grad mode records a graph. The autograd graph (node.h) only keeps
// shapes; a trace keeps everything needed to write the computation down in another format
// (deploy/onnx_export.h turns a traced forward pass into an ONNX graph).
//
// An op built from other ops (linear = matmul + permute + add, global_avg_pool2d = mean, mean =
// sum * scalar, flatten = reshape) holds a trace::Composite while it runs: the trace then shows
// the composite op alone, never its parts (Note [trace nesting]).
//
// Identity: a traced tensor is known by its TensorImpl (Tensor::impl()); the records hold the
// tensors, so no impl is freed and reused while the tracer lives. An op that returns its input
// unchanged (contiguous of a contiguous tensor) reports output == input.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/op_kind.h"
#include "core/params.h"
#include "core/tensor.h"

namespace figs {

struct TracedOp {
  OpKind kind = OpKind::Add;   // core/ops.inc
  std::string name;            // op_name(kind): "conv2d", "relu", "concat", "linear", ...
  std::vector<Tensor> inputs;  // as passed, in the op's argument order; undefined = absent optional input
  Tensor output;
  // Non-tensor arguments; each op fills what it has (the rest stay at their defaults):
  Conv2dParams conv;          // conv2d
  Pool2dParams pool;          // max_pool2d, avg_pool2d
  BatchNormParams norm;       // batch_norm
  std::vector<int64_t> ints;  // permute: dims; concat: {dim}; narrow: {dim, start, length};
                              // mean, sum: the reduced dims (normalised); reshape: the target shape;
                              // flatten: {start_dim}
  bool keepdim = false;       // mean, sum
  double scalar = 0;          // add_scalar, mul_scalar: the scalar; pow: the exponent
};

class OpTracer {
 public:
  virtual ~OpTracer() = default;
  virtual void record(TracedOp op) = 0;
};

// Installs a tracer for its scope on this thread (nests by restoring the previous one).
class TraceOps {
 public:
  explicit TraceOps(OpTracer* tracer);
  ~TraceOps();
  TraceOps(const TraceOps&) = delete;
  TraceOps& operator=(const TraceOps&) = delete;

 private:
  OpTracer* previous_;
  int previous_depth_;
};

namespace trace {

// Whether an op called now must report itself: a tracer is installed and no composite op is
// running (Note [trace nesting]). One thread-local load when tracing is off.
bool active();
// Hands `op` to the installed tracer (call only when active()).
void record(TracedOp op);
// A record with its name, tensors and (when the op has them) integer arguments; ops set the
// other fields they have before recording it.
inline TracedOp op(OpKind kind, std::vector<Tensor> inputs, const Tensor& output, std::vector<int64_t> ints = {}) {
  TracedOp r;
  r.kind = kind;
  r.name = op_name(kind);
  r.inputs = std::move(inputs);
  r.output = output;
  r.ints = std::move(ints);
  return r;
}
// The usual report of a leaf op: name, inputs, output.
inline void record(OpKind kind, std::initializer_list<const Tensor*> inputs, const Tensor& output) {
  std::vector<Tensor> in;
  for (const Tensor* t : inputs) in.push_back(*t);
  record(op(kind, std::move(in), output));
}

// Note [trace nesting]: a composite op constructs one of these before calling other ops; while
// it lives, active() is false, so its parts stay out of the trace. finish() reports the
// composite op itself (when it was called outside any other composite with a tracer installed).
class Composite {
 public:
  Composite();
  ~Composite();
  Composite(const Composite&) = delete;
  Composite& operator=(const Composite&) = delete;
  // Whether finish() will report (the op was called while active()).
  bool reporting() const { return reporting_; }
  // Ends the nesting and reports `op` if reporting().
  void finish(TracedOp op);

 private:
  bool reporting_ = false;
  bool nested_ = false;  // this object raised the depth and must lower it
};

}  // namespace trace
}  // namespace figs

// The ONNX writer: a traced forward pass (autograd/trace.h) -> onnx::ModelProto (deploy/onnx_export.h).
#include "deploy/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/trace.h"
#include "core/autograd_meta.h"
#include "core/error.h"
#include "core/view.h"

namespace figs::deploy {

namespace {

// Opset 13 / IR 7: what Debian's onnx 1.12 checks and current ONNX Runtime and OpenCV load.
constexpr int64_t kOpset = 13;
constexpr int64_t kIrVersion = 7;

const TensorImpl* key_of(const Tensor& t) { return &t.impl(); }

// The trace, each op with the module path it ran in (from a ForwardObserver: the innermost
// module whose forward was running).
struct Recorder final : OpTracer, nn::ForwardObserver {
  std::unordered_map<const nn::Module*, std::string> paths;
  std::vector<const nn::Module*> stack;
  std::vector<TracedOp> ops;
  std::vector<std::string> scopes;

  void record(TracedOp op) override {
    ops.push_back(std::move(op));
    scopes.push_back(stack.empty() ? std::string() : paths[stack.back()]);
  }
  void before(const nn::Module& m, const Tensor&) override { stack.push_back(&m); }
  void after(const nn::Module&, const Tensor&, const Tensor&) override { stack.pop_back(); }
};

// Leaves that require grad lose that flag for the traced pass and get it back afterwards: with
// only the input requiring grad, a tensor with a grad_fn is exactly one computed from the input
// (Note [untraced ops]).
class ParametersFrozen {
 public:
  explicit ParametersFrozen(nn::Module& root) {
    for (const Tensor& p : root.parameters())
      if (p.requires_grad() && p.is_leaf()) {
        frozen_.push_back(p);
        Tensor(p).set_requires_grad(false);
      }
  }
  ~ParametersFrozen() {
    for (Tensor& p : frozen_) p.set_requires_grad(true);
  }

 private:
  std::vector<Tensor> frozen_;
};

std::vector<float> host_floats(const Tensor& t) {
  FIGS_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, "ONNX export: tensor ", t.describe(),
             " is not floating point");
  if (t.dtype() == DType::Float32) return t.to_vector<float>();
  const std::vector<double> d = t.to_vector<double>();
  return std::vector<float>(d.begin(), d.end());
}

class GraphWriter {
 public:
  GraphWriter(onnx::GraphProto& graph, const OnnxExportOptions& options, int64_t trace_batch)
      : graph_(graph), options_(options), trace_batch_(trace_batch) {
    used_names_.insert(options.input_name);
    used_names_.insert(options.output_name);
  }

  // Names every parameter and buffer, so their initializers carry their module paths.
  void name_constants(nn::Module& root) {
    for (const nn::NamedTensor& p : root.named_parameters()) constant_names_[key_of(p.tensor)] = p.name;
    for (const nn::NamedTensor& b : root.named_buffers()) constant_names_[key_of(b.tensor)] = b.name;
  }

  void set_input(const Tensor& x) { values_[key_of(x)] = options_.input_name; }

  // The graph for `ops` (in execution order), whose last value of interest is `output`.
  void write(const std::vector<TracedOp>& ops, const std::vector<std::string>& scopes, const Tensor& output) {
    output_ = key_of(output);
    count_uses(ops);
    for (size_t i = 0; i < ops.size(); ++i) {
      if (skipped_.count(i)) continue;
      scope_ = scopes[i];
      emit(ops, i);
    }
    auto it = values_.find(output_);
    FIGS_CHECK(it != values_.end(), "ONNX export: the network's output is not computed from its input");
    if (it->second != options_.output_name) {  // an alias (e.g. contiguous) or the input itself
      onnx::NodeProto* n = node("Identity", {it->second}, "output");
      n->set_output(0, options_.output_name);
    }
  }

  int64_t folded() const { return folded_; }
  int64_t initializer_values() const { return initializer_values_; }

 private:
  // --- values and constants ---------------------------------------------------------------
  bool is_value(const Tensor& t) const { return t.defined() && values_.count(key_of(t)); }

  // Note [untraced ops]: a tensor that is neither the input nor the output of a traced op is a
  // constant — unless it has a grad_fn, which only tensors computed from the input have during
  // the pass: then an op ran that reported nothing to the tracer, and the export would be wrong.
  // (Not caught: code that reads input-derived values on the host and builds a new tensor from
  // them without recording a node; no module of the spaces does so in eval mode.)
  void check_constant(const Tensor& t) const {
    FIGS_CHECK(!t.grad_fn(), "ONNX export: op '", t.grad_fn() ? t.grad_fn()->name() : "", "' in module '", scope_,
               "' is not traced (autograd/trace.h): it cannot be exported");
  }

  std::string value(const Tensor& t) const { return values_.at(key_of(t)); }

  // The name of a value or of the initializer holding a constant (created once per tensor).
  std::string operand(const Tensor& t) {
    if (is_value(t)) return value(t);
    check_constant(t);
    auto it = initializers_.find(key_of(t));
    if (it != initializers_.end()) return it->second;
    auto named = constant_names_.find(key_of(t));
    const std::string name = unique(named != constant_names_.end() ? named->second : scoped("const"));
    add_initializer(name, t.shape().vec(), host_floats(t));
    initializers_[key_of(t)] = name;
    return name;
  }

  void add_initializer(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& data) {
    onnx::TensorProto* init = graph_.add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) init->add_dims(d);
    init->set_raw_data(std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float)));
    initializer_values_ += static_cast<int64_t>(data.size());
  }
  std::string float_constant(const std::string& base, const std::vector<int64_t>& dims, const std::vector<float>& data) {
    const std::string name = unique(scoped(base));
    add_initializer(name, dims, data);
    return name;
  }
  std::string int64_constant(const std::string& base, const std::vector<int64_t>& data) {
    const std::string name = unique(scoped(base));
    onnx::TensorProto* init = graph_.add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::INT64);
    init->add_dims(static_cast<int64_t>(data.size()));
    for (int64_t v : data) init->add_int64_data(v);
    return name;
  }

  std::string scoped(const std::string& what) const { return scope_.empty() ? what : scope_ + "." + what; }
  std::string unique(const std::string& base) {
    std::string name = base;
    for (int i = 1; !used_names_.insert(name).second; ++i) name = base + "_" + std::to_string(i);
    return name;
  }

  // --- nodes ------------------------------------------------------------------------------
  onnx::NodeProto* node(const std::string& type, const std::vector<std::string>& inputs, const std::string& what) {
    onnx::NodeProto* n = graph_.add_node();
    n->set_op_type(type);
    n->set_name(unique(scoped(what)));
    for (const std::string& in : inputs) n->add_input(in);
    n->add_output("");
    return n;
  }
  // Gives node `n` the value of `t` as its output.
  void define(onnx::NodeProto* n, const Tensor& t) {
    const std::string name = key_of(t) == output_ ? options_.output_name : n->name();
    n->set_output(0, name);
    values_[key_of(t)] = name;
  }
  // Gives `t` the value of node `n`, through a Relu when `relu` (batch_norm's fused ReLU).
  void define_activated(onnx::NodeProto* n, bool relu, const Tensor& t) {
    if (!relu) return define(n, t);
    n->set_output(0, n->name());
    define(node("Relu", {n->name()}, "relu"), t);
  }
  static void attr(onnx::NodeProto* n, const char* name, int64_t v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const char* name, const std::vector<int64_t>& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr_float(onnx::NodeProto* n, const char* name, double v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(v));
  }

  void count_uses(const std::vector<TracedOp>& ops) {
    for (const TracedOp& op : ops)
      for (const Tensor& t : op.inputs)
        if (t.defined()) ++uses_[key_of(t)];
    ++uses_[output_];
    if (!options_.fold_batch_norm) return;
    // A conv whose output only an eval-mode BatchNorm reads is folded with it (its own output
    // then carries the BatchNorm's value); ops come in execution order, so the BatchNorm that
    // reads a conv's output comes after it.
    std::unordered_map<const TensorImpl*, size_t> producer;
    for (size_t i = 0; i < ops.size(); ++i) {
      const TracedOp& op = ops[i];
      if (op.name == "batch_norm" && !op.norm.training) {
        auto p = producer.find(key_of(op.inputs[0]));
        if (p != producer.end() && uses_[key_of(op.inputs[0])] == 1 && key_of(op.inputs[0]) != output_) {
          fold_into_[p->second] = i;
          skipped_.insert(i);
        }
      }
      if (op.name == "conv2d" && op.output.defined()) producer[key_of(op.output)] = i;
    }
  }

  void emit(const std::vector<TracedOp>& ops, size_t index) {
    const TracedOp& op = ops[index];
    const std::string& k = op.name;
    // An op on constants alone is a constant: its traced output is the value (no node).
    bool any_value = false;
    for (const Tensor& t : op.inputs) any_value = any_value || is_value(t);
    if (!any_value) {
      for (const Tensor& t : op.inputs)
        if (t.defined()) check_constant(t);
      return;
    }
    const Tensor& x = op.inputs[0];
    if (k == "conv2d") {
      emit_conv(op, fold_into_.count(index) ? &ops[fold_into_[index]] : nullptr);
    } else if (k == "batch_norm") {
      FIGS_CHECK(!op.norm.training, "ONNX export: batch_norm in module '", scope_,
                 "' ran in training mode (batch statistics); export runs the network in eval mode");
      require_value_only(op, 1);
      const int64_t C = x.size(1);
      const std::string scale = op.inputs[1].defined() ? operand(op.inputs[1])
                                                       : float_constant("bn_scale", {C}, std::vector<float>(C, 1.f));
      const std::string bias = op.inputs[2].defined() ? operand(op.inputs[2])
                                                      : float_constant("bn_bias", {C}, std::vector<float>(C, 0.f));
      auto* n = node("BatchNormalization", {value(x), scale, bias, operand(op.inputs[3]), operand(op.inputs[4])},
                     "batch_norm");
      attr_float(n, "epsilon", op.norm.eps);
      define_activated(n, op.norm.relu, op.output);
    } else if (k == "relu" || k == "sigmoid" || k == "exp" || k == "log" || k == "sqrt" || k == "neg") {
      static const std::map<std::string, std::string> types = {{"relu", "Relu"}, {"sigmoid", "Sigmoid"},
                                                               {"exp", "Exp"},   {"log", "Log"},
                                                               {"sqrt", "Sqrt"}, {"neg", "Neg"}};
      define(node(types.at(k), {value(x)}, k), op.output);
    } else if (k == "relu6") {
      define(node("Clip", {value(x), float_constant("clip_min", {}, {0.f}), float_constant("clip_max", {}, {6.f})}, k),
             op.output);
    } else if (k == "add_scalar" || k == "mul_scalar" || k == "pow") {
      const std::string type = k == "add_scalar" ? "Add" : k == "mul_scalar" ? "Mul" : "Pow";
      define(node(type, {value(x), float_constant(k, {}, {static_cast<float>(op.scalar)})}, k), op.output);
    } else if (k == "add" || k == "sub" || k == "mul" || k == "div") {
      static const std::map<std::string, std::string> types = {
          {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}};
      define(node(types.at(k), {operand(op.inputs[0]), operand(op.inputs[1])}, k), op.output);
    } else if (k == "channel_scale" || k == "mask") {  // mask: traced with its values m as the constant
      require_value_only(op, 1);
      check_constant(op.inputs[1]);
      const std::string s = float_constant("mask", {1, x.size(1), 1, 1}, host_floats(op.inputs[1]));
      define(node("Mul", {value(x), s}, "mask"), op.output);
    } else if (k == "max_pool2d" || k == "avg_pool2d") {
      const Pool2dParams& p = op.pool;
      auto* n = node(k == "max_pool2d" ? "MaxPool" : "AveragePool", {value(x)}, k);
      attr(n, "kernel_shape", std::vector<int64_t>{p.kernel_h, p.kernel_w});
      attr(n, "strides", std::vector<int64_t>{p.stride_h, p.stride_w});
      attr(n, "pads", std::vector<int64_t>{p.pad_h, p.pad_w, p.pad_h, p.pad_w});
      if (k == "avg_pool2d") attr(n, "count_include_pad", p.count_include_pad ? 1 : 0);
      define(n, op.output);
    } else if (k == "global_avg_pool2d" ||
               (k == "mean" && x.dim() == 4 && op.ints == std::vector<int64_t>{2, 3} && op.keepdim)) {
      define(node("GlobalAveragePool", {value(x)}, "global_avg_pool"), op.output);
    } else if (k == "mean") {
      auto* n = node("ReduceMean", {value(x)}, k);
      attr(n, "axes", op.ints);
      attr(n, "keepdims", op.keepdim ? 1 : 0);
      define(n, op.output);
    } else if (k == "sum") {
      auto* n = node("ReduceSum", {value(x), int64_constant("axes", op.ints)}, k);
      attr(n, "keepdims", op.keepdim ? 1 : 0);
      define(n, op.output);
    } else if (k == "concat") {
      std::vector<std::string> ins;
      for (const Tensor& t : op.inputs) ins.push_back(operand(t));
      auto* n = node("Concat", ins, k);
      attr(n, "axis", op.ints.at(0));
      define(n, op.output);
    } else if (k == "reshape") {
      define(node("Reshape", {value(x), int64_constant("shape", reshape_target(x, op.ints))}, k), op.output);
    } else if (k == "flatten") {
      if (op.ints.at(0) == 1) {  // ONNX Flatten makes 2-D: the same as figs' only from dim 1
        auto* n = node("Flatten", {value(x)}, k);
        attr(n, "axis", 1);
        define(n, op.output);
      } else {
        define(node("Reshape", {value(x), int64_constant("shape", reshape_target(x, op.output.shape().vec()))}, k),
               op.output);
      }
    } else if (k == "permute") {
      FIGS_CHECK(options_.batch != 0 || op.ints.at(0) == 0, "ONNX export: permute in module '", scope_,
                 "' moves the batch dimension; export with a fixed --batch");
      auto* n = node("Transpose", {value(x)}, k);
      attr(n, "perm", op.ints);
      define(n, op.output);
    } else if (k == "contiguous") {
      values_[key_of(op.output)] = value(x);  // a layout change: the same value in ONNX
    } else if (k == "narrow") {
      const int64_t d = op.ints.at(0), start = op.ints.at(1), length = op.ints.at(2);
      FIGS_CHECK(options_.batch != 0 || d != 0, "ONNX export: narrow in module '", scope_,
                 "' slices the batch dimension; export with a fixed --batch");
      define(node("Slice",
                  {value(x), int64_constant("starts", {start}), int64_constant("ends", {start + length}),
                   int64_constant("axes", {d})},
                  k),
             op.output);
    } else if (k == "linear") {
      FIGS_CHECK(x.dim() == 2 && is_value(x), "ONNX export: linear in module '", scope_, "' on ", x.describe());
      std::vector<std::string> ins = {value(x), operand(op.inputs[1])};
      if (op.inputs[2].defined()) ins.push_back(operand(op.inputs[2]));
      auto* n = node("Gemm", ins, k);
      attr(n, "transB", 1);
      define(n, op.output);
    } else if (k == "matmul") {
      define(node("MatMul", {operand(op.inputs[0]), operand(op.inputs[1])}, k), op.output);
    } else if (k == "log_softmax") {
      auto* n = node("LogSoftmax", {value(x)}, k);
      attr(n, "axis", 1);
      define(n, op.output);
    } else {
      fail("ONNX export: op '", k, "' in module '", scope_.empty() ? "(root)" : scope_,
           "' has no ONNX mapping (deploy/onnx_export.h lists the ops that export)");
    }
  }

  // Ops whose tensor arguments after the first must be constants (weights, statistics).
  void require_value_only(const TracedOp& op, size_t first_constant) const {
    for (size_t i = first_constant; i < op.inputs.size(); ++i)
      FIGS_CHECK(!is_value(op.inputs[i]), "ONNX export: ", op.name, " in module '", scope_, "' takes argument ", i,
                 " from the network's input; only constant ", op.name, " parameters export");
  }

  // A Reshape target: the batch dimension as 0 ("copy the input's"), so the model works at any
  // batch size when it is dynamic; reshapes that change the batch dimension need a fixed batch.
  std::vector<int64_t> reshape_target(const Tensor& x, std::vector<int64_t> target) const {
    FIGS_CHECK(!target.empty() && x.dim() >= 1, "ONNX export: reshape in module '", scope_, "' of ", x.describe());
    if (target[0] == x.size(0) && x.size(0) == trace_batch_) {
      target[0] = 0;
    } else {
      FIGS_CHECK(options_.batch != 0, "ONNX export: reshape in module '", scope_, "' changes the batch dimension (",
                 x.describe(), " to ", Shape(target), "); export with a fixed --batch");
    }
    return target;
  }

  void emit_conv(const TracedOp& op, const TracedOp* bn) {
    const Tensor& x = op.inputs[0];
    const Tensor& w = op.inputs[1];
    const Tensor& b = op.inputs[2];
    require_value_only(op, 1);
    const Conv2dParams& p = op.conv;
    std::vector<std::string> ins = {value(x)};
    if (bn == nullptr) {
      ins.push_back(operand(w));
      if (b.defined()) ins.push_back(operand(b));
    } else {
      fold(op, *bn, ins);
    }
    auto* n = node("Conv", ins, "conv");
    attr(n, "kernel_shape", std::vector<int64_t>{w.size(2), w.size(3)});
    attr(n, "strides", std::vector<int64_t>{p.stride_h, p.stride_w});
    attr(n, "pads", std::vector<int64_t>{p.pad_h, p.pad_w, p.pad_h, p.pad_w});
    attr(n, "dilations", std::vector<int64_t>{p.dilation_h, p.dilation_w});
    attr(n, "group", p.groups);
    if (bn)
      define_activated(n, bn->norm.relu, bn->output);
    else
      define(n, op.output);
  }

  // W' = W * s[co], b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps), in double.
  void fold(const TracedOp& conv, const TracedOp& bn, std::vector<std::string>& ins) {
    const Tensor& w = conv.inputs[1];
    for (size_t i = 1; i < bn.inputs.size(); ++i)
      FIGS_CHECK(!is_value(bn.inputs[i]), "ONNX export: batch_norm in module '", scope_,
                 "' takes a parameter from the network's input");
    check_constant(w);
    const int64_t co = w.size(0), per = w.numel() / co;
    std::vector<float> weight = host_floats(w);
    const std::vector<float> bias = conv.inputs[2].defined() ? host_floats(conv.inputs[2]) : std::vector<float>(co, 0.f);
    const std::vector<float> gamma = bn.inputs[1].defined() ? host_floats(bn.inputs[1]) : std::vector<float>(co, 1.f);
    const std::vector<float> beta = bn.inputs[2].defined() ? host_floats(bn.inputs[2]) : std::vector<float>(co, 0.f);
    const std::vector<float> mean = host_floats(bn.inputs[3]), var = host_floats(bn.inputs[4]);
    std::vector<float> folded_bias(co);
    for (int64_t c = 0; c < co; ++c) {
      const double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + bn.norm.eps);
      for (int64_t i = 0; i < per; ++i) weight[c * per + i] = static_cast<float>(weight[c * per + i] * s);
      folded_bias[c] = static_cast<float>((static_cast<double>(bias[c]) - mean[c]) * s + beta[c]);
    }
    auto named = constant_names_.find(key_of(w));
    const std::string base = named != constant_names_.end() ? named->second : scoped("weight");
    const std::string wn = unique(base + ".bn_folded"), bnm = unique(base + ".bn_folded_bias");
    add_initializer(wn, w.shape().vec(), weight);
    add_initializer(bnm, {co}, folded_bias);
    ins.push_back(wn);
    ins.push_back(bnm);
    ++folded_;
  }

  onnx::GraphProto& graph_;
  const OnnxExportOptions& options_;
  int64_t trace_batch_;
  std::string scope_;
  const TensorImpl* output_ = nullptr;
  std::unordered_map<const TensorImpl*, std::string> values_, initializers_, constant_names_;
  std::unordered_map<const TensorImpl*, int64_t> uses_;
  std::unordered_map<size_t, size_t> fold_into_;  // conv op index -> the batch_norm folded into it
  std::unordered_set<size_t> skipped_;            // batch_norms folded into their conv
  std::unordered_set<std::string> used_names_;
  int64_t folded_ = 0, initializer_values_ = 0;
};

void set_tensor_type(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims,
                     bool dynamic_batch) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* s = t->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    onnx::TensorShapeProto_Dimension* d = s->add_dim();
    if (i == 0 && dynamic_batch)
      d->set_dim_param("batch");
    else
      d->set_dim_value(dims[i]);
  }
}

onnx::ModelProto parse(const std::string& serialized, const std::string& origin) {
  onnx::ModelProto model;
  FIGS_CHECK(model.ParseFromString(serialized), origin, ": not an ONNX model (the protobuf does not parse)");
  return model;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FIGS_CHECK(in.good(), "cannot open '", path, "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string export_onnx(nn::Module& network, const Shape& input_shape, const OnnxExportOptions& options,
                        OnnxExportSummary* summary) {
  FIGS_CHECK(input_shape.rank() == 3, "ONNX export: the input shape must be (C, H, W), got ", input_shape);
  FIGS_CHECK(options.batch >= 0, "ONNX export: batch must be >= 1, or 0 for a dynamic batch (got ", options.batch, ")");
  // A dynamic batch is traced at 2, so the batch dimension cannot be mistaken for a size-1 one.
  const int64_t trace_batch = options.batch == 0 ? 2 : options.batch;
  Device device = Device::cpu();
  for (const Tensor& p : network.parameters()) {
    device = p.device();
    break;
  }
  network.eval();

  Recorder recorder;
  for (const nn::NamedModule& m : network.named_modules()) recorder.paths[m.module] = m.name;
  Tensor x = zeros({trace_batch, input_shape[0], input_shape[1], input_shape[2]}, {DType::Float32, device});
  x.set_requires_grad(true);
  Tensor y;
  {
    ParametersFrozen frozen(network);
    const bool grad_mode = GradMode::is_enabled();
    GradMode::set_enabled(true);  // the graph is what finds untraced ops (Note [untraced ops])
    try {
      TraceOps tracing(&recorder);
      nn::ObserveForwards observing(&recorder);
      y = network(x);
    } catch (...) {
      GradMode::set_enabled(grad_mode);
      throw;
    }
    GradMode::set_enabled(grad_mode);
  }
  FIGS_CHECK(y.defined() && y.dim() >= 1 && y.size(0) == trace_batch, "ONNX export: the network's output ",
             y.defined() ? y.describe() : std::string("(undefined)"), " has no batch dimension of ", trace_batch);

  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("figs");
  model.set_producer_version("0.1");
  model.set_domain("org.figs");
  model.set_model_version(1);
  if (!options.doc_string.empty()) model.set_doc_string(options.doc_string);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  for (const auto& [key, value] : options.metadata) {
    onnx::StringStringEntryProto* e = model.add_metadata_props();
    e->set_key(key);
    e->set_value(value);
  }
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(options.graph_name);
  set_tensor_type(graph->add_input(), options.input_name,
                  {trace_batch, input_shape[0], input_shape[1], input_shape[2]}, options.batch == 0);
  set_tensor_type(graph->add_output(), options.output_name, y.shape().vec(), options.batch == 0);

  GraphWriter writer(*graph, options, trace_batch);
  writer.name_constants(network);
  writer.set_input(x);
  writer.write(recorder.ops, recorder.scopes, y);

  if (summary) {
    *summary = {};
    summary->nodes = graph->node_size();
    for (const onnx::NodeProto& n : graph->node()) ++summary->op_types[n.op_type()];
    summary->folded_batch_norms = writer.folded();
    summary->initializer_values = writer.initializer_values();
  }
  std::string out;
  FIGS_CHECK(model.SerializeToString(&out), "ONNX export: the model does not serialize (over 2 GiB?)");
  return out;
}

void check_onnx(const std::string& serialized, const std::string& origin) {
  onnx::ModelProto model = parse(serialized, origin);
  try {
    onnx::checker::check_model(model);
    // Strict shape inference over the whole graph, then the inferred output against the declared.
    onnx::ModelProto inferred = model;
    inferred.mutable_graph()->clear_output();
    for (const onnx::ValueInfoProto& out : model.graph().output()) inferred.mutable_graph()->add_output()->set_name(out.name());
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
    for (int i = 0; i < model.graph().output_size(); ++i) {
      const onnx::ValueInfoProto& want = model.graph().output(i);
      const onnx::ValueInfoProto& got = inferred.graph().output(i);
      FIGS_CHECK(got.type().tensor_type().has_shape(), origin, ": shape inference gives no shape for output '",
                 want.name(), "'");
      const auto& a = want.type().tensor_type().shape();
      const auto& b = got.type().tensor_type().shape();
      bool same = a.dim_size() == b.dim_size();
      for (int d = 0; same && d < a.dim_size(); ++d)
        same = a.dim(d).has_dim_value() ? b.dim(d).has_dim_value() && a.dim(d).dim_value() == b.dim(d).dim_value()
                                        : !b.dim(d).has_dim_value() || b.dim(d).dim_value() >= 1;
      FIGS_CHECK(same, origin, ": output '", want.name(), "' is declared ", a.DebugString(), " but infers to ",
                 b.DebugString());
    }
  } catch (const onnx::checker::ValidationError& e) {
    fail(origin, ": the ONNX checker rejects it: ", e.what());
  } catch (const onnx::InferenceError& e) {
    fail(origin, ": ONNX shape inference fails: ", e.what());
  }
}

void check_onnx_file(const std::string& path) { check_onnx(read_file(path), path); }

std::vector<std::pair<std::string, std::string>> read_onnx_metadata(const std::string& path) {
  const onnx::ModelProto model = parse(read_file(path), path);
  std::vector<std::pair<std::string, std::string>> out;
  for (const onnx::StringStringEntryProto& e : model.metadata_props()) out.emplace_back(e.key(), e.value());
  return out;
}

}  // namespace figs::deploy

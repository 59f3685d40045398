// Running one case of the table on one target: the targets, the deterministic inputs, forward +
// backward, and the results on the host (op_cases.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "op_cases.h"

namespace figs::backend_ops {

// --- targets ----------------------------------------------------------------------------------
const Target& reference_target() {
  static const Target t{"reference", DType::Float64, Device::cpu(), cpu::KernelMode::Reference};
  return t;
}
const Target& cpu_fast_target() {
  static const Target t{"cpu-fast", DType::Float32, Device::cpu(), cpu::KernelMode::Fast};
  return t;
}
const Target& cuda_target() {
  static const Target t{"cuda", DType::Float32, Device::cuda(), cpu::KernelMode::Fast};
  return t;
}

TargetScope::TargetScope(const Target& target) : previous_(cpu::kernel_mode()) {
  cpu::set_kernel_mode(target.cpu_mode);
}
TargetScope::~TargetScope() { cpu::set_kernel_mode(previous_); }

// --- inputs -----------------------------------------------------------------------------------
namespace {

// Streams of one case's key: inputs and host values take 0, 1, 2, ... in order of creation; the
// upstream gradient has its own.
constexpr uint64_t kUpstreamStream = 1'000'000;

// Uniform float32 numbers in [low, high) on the host, contiguous, from (seed, stream).
Tensor host_uniform(const Shape& shape, double low, double high, uint64_t seed, uint64_t stream) {
  Generator gen(seed, stream);
  return uniform(shape, low, high, gen, {DType::Float32, Device::cpu()});
}

// The float32 numbers of `host` in dtype on device, laid out as `format`.
Tensor place(const Tensor& host, DType dtype, Device device, MemoryFormat format) {
  const Tensor t = raw::to(raw::to_dtype(host, dtype), device);
  return host.dim() == 4 ? raw::contiguous(t, format) : raw::contiguous(t);
}

NamedValues to_host(const std::string& name, const Tensor& t) {
  return {name, t.shape(), t.to_vector<double>()};
}

}  // namespace

CaseInputs::CaseInputs(const Target& target, MemoryFormat format, uint64_t seed)
    : target_(target), format_(format), seed_(seed) {}

void CaseInputs::begin_run() {
  next_stream_ = 0;
  cursor_ = 0;
}

Tensor CaseInputs::input(const std::string& name, const Shape& shape, const InputSpec& spec) {
  const uint64_t stream = next_stream_++;
  if (cursor_ < inputs_.size()) {  // a later run: the same tensor, gradient cleared
    Input& in = inputs_[cursor_++];
    FIGS_CHECK(in.name == name, "CaseInputs: run asked for input '", name, "' where the first run made '", in.name, "'");
    if (in.differentiable) in.tensor.zero_grad();
    return in.tensor;
  }
  const MemoryFormat format = spec.format.value_or(shape.rank() == 4 ? format_ : MemoryFormat::Contiguous);
  Tensor t = as_setup([&] {
    Tensor host = host_uniform(shape, spec.low, spec.high, seed_, stream);
    if (spec.zero_negatives) {
      float* v = host.data<float>();
      for (int64_t i = 0; i < host.numel(); ++i) v[i] = std::max(v[i], 0.0f);
    }
    return place(host, target_.dtype, target_.device, format);
  });
  if (spec.differentiable) t.set_requires_grad();
  inputs_.push_back({name, t, spec.differentiable});
  ++cursor_;
  return t;
}

Tensor CaseInputs::labels(const std::string& name, int64_t count, int64_t classes) {
  const uint64_t stream = next_stream_++;
  if (cursor_ < inputs_.size()) {
    FIGS_CHECK(inputs_[cursor_].name == name, "CaseInputs: run asked for labels '", name, "' out of order");
    return inputs_[cursor_++].tensor;
  }
  std::vector<int64_t> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    v[static_cast<size_t>(i)] = philox_draw(seed_, stream, static_cast<uint64_t>(i)).w[0] % static_cast<uint32_t>(classes);
  Tensor t = as_setup([&] { return from_vector(v, {count}, target_.device); });
  inputs_.push_back({name, t, false});
  ++cursor_;
  return t;
}

std::vector<double> CaseInputs::host_values(int64_t count, double low, double high) {
  const uint64_t stream = next_stream_++;
  const std::vector<float> v = as_setup([&] { return host_uniform({count}, low, high, seed_, stream).to_vector<float>(); });
  return {v.begin(), v.end()};
}

Tensor CaseInputs::upstream_gradient(const Tensor& y) {
  if (!upstream_.defined())
    upstream_ = as_setup([&] {
      const Tensor host = host_uniform(y.shape(), -1, 1, seed_, kUpstreamStream);
      return place(host, y.dtype(), y.device(), y.dim() == 4 ? y.memory_format() : MemoryFormat::Contiguous);
    });
  return upstream_;
}

void add_kernel_counts(KernelCounts& into, const KernelCounts& after, const KernelCounts& before) {
  for (const auto& [key, n] : after) {
    const auto it = before.find(key);
    const long added = n - (it == before.end() ? 0 : it->second);
    if (added != 0) into[key] += added;
  }
}

// --- running ----------------------------------------------------------------------------------
namespace {

// FNV-1a: a case's key from its id, so reordering or adding cases changes no other case's numbers.
uint64_t key_of(const std::string& id) {
  uint64_t h = 14695981039346656037ull;
  for (const unsigned char ch : id) h = (h ^ ch) * 1099511628211ull;
  return h;
}

int64_t bytes_of(const Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(dtype_size(t.dtype())) : 0; }

}  // namespace

CaseRunner::CaseRunner(const OpCase& c, const Target& target, bool count_kernels)
    : case_(c), inputs_(target, c.format, key_of(c.id())), count_kernels_(count_kernels) {}

void CaseRunner::step() {
  const KernelCounts before = count_kernels_ ? kernel_counts() : KernelCounts();
  const OpKernelCounts booked_before = count_kernels_ ? op_kernel_counts() : OpKernelCounts();
  const KernelCounts setup_before = inputs_.setup_kernels();
  inputs_.begin_run();
  outputs_ = case_.build(inputs_);
  const Tensor& y = outputs_.y;
  FIGS_CHECK(y.defined(), "case ", case_.id(), " returned no output");
  if (y.requires_grad()) backward(y, inputs_.upstream_gradient(y));
  outputs_.scope.reset();  // e.g. uninstalls the case's process group
  if (count_kernels_) {
    KernelCounts all, setup;
    add_kernel_counts(all, kernel_counts(), before);
    add_kernel_counts(setup, inputs_.setup_kernels(), setup_before);
    step_kernels_.clear();
    add_kernel_counts(step_kernels_, all, setup);
    booked_ops_.clear();
    for (const auto& [key, n] : op_kernel_counts()) {
      const auto it = booked_before.find(key);
      if (const long added = n - (it == booked_before.end() ? 0 : it->second); added > 0)
        booked_ops_[std::get<0>(key)] += added;
    }
  }
}

CaseResult CaseRunner::result() const {
  CaseResult r;
  r.kernels = step_kernels_;
  r.booked_ops = booked_ops_;
  r.outputs.push_back(to_host("y", outputs_.y));
  for (const auto& [name, t] : outputs_.extras) r.outputs.push_back(to_host(name, t));
  for (const CaseInputs::Input& in : inputs_.inputs()) {
    if (!in.differentiable) continue;
    if (in.tensor.grad().defined())
      r.gradients.push_back(to_host(in.name, in.tensor.grad()));
    else
      r.missing_gradients.push_back(in.name);
  }
  return r;
}

int64_t CaseRunner::bytes_per_step() const {
  int64_t bytes = bytes_of(outputs_.y);
  for (const auto& [name, t] : outputs_.extras) bytes += bytes_of(t);
  for (const CaseInputs::Input& in : inputs_.inputs()) {
    bytes += bytes_of(in.tensor);
    if (in.differentiable) bytes += bytes_of(in.tensor);  // its gradient
  }
  return bytes;
}

CaseResult run_case(const OpCase& c, const Target& target) {
  const TargetScope scope(target);
  CaseRunner runner(c, target);
  runner.step();
  return runner.result();
}

double normalised_error(const std::vector<double>& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double scale = 1, err = 0;
  for (const double v : ref) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(got[i] - ref[i]);
    if (!(d <= err)) err = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;  // NaN never passes
  }
  return err / scale;
}

}  // namespace figs::backend_ops

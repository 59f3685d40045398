// The cross-backend op harness's case table (in the spirit of ggml's test-backend-ops), shared by
// tests/backend_ops/test_backend_ops.cpp (every case on every backend against the float64
// reference) and benchmarks/bench_ops.cpp (every case, scaled up, timed on the fast backends).
//
// A case is one op of core/ops.inc on one shape: it builds its inputs deterministically (Philox,
// keyed by the case's name) in a target's dtype, device and memory format, runs the op's forward
// through the autograd API, seeds backward with a deterministic upstream gradient and hands back
// the outputs and the gradients of its differentiable inputs.
//
// Adding an op: give it cases in op_cases.cpp (a family function, registered in op_cases()) or,
// when no backend runs it, an exemption with the reason; test_backend_ops fails while an op of
// the list has neither.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/kernel_stats.h"
#include "cpu/cpu_backend.h"
#include "figs.h"

namespace figs::backend_ops {

// --- where a case runs ----------------------------------------------------------------------
struct Target {
  const char* name;  // "reference", "cpu-fast", "cuda"
  DType dtype;
  Device device;
  cpu::KernelMode cpu_mode;  // the CPU backend's mode while the case runs (CPU targets)
};

// The oracle: the CPU reference kernels in float64.
const Target& reference_target();
// The CPU backend as it trains: oneDNN and the own AVX2 kernels, float32.
const Target& cpu_fast_target();
// The CUDA backend in float32; usable only where cuda::is_available().
const Target& cuda_target();

// Puts the CPU backend in the target's kernel mode for its lifetime, then restores the old one.
class TargetScope {
 public:
  explicit TargetScope(const Target& target);
  ~TargetScope();
  TargetScope(const TargetScope&) = delete;
  TargetScope& operator=(const TargetScope&) = delete;

 private:
  cpu::KernelMode previous_;
};

// --- inputs ---------------------------------------------------------------------------------
struct InputSpec {
  double low = -1, high = 1;  // uniform in [low, high)
  bool differentiable = true; // requires grad; its gradient is part of the result
  // Layout of the input; unset: the case's format for rank-4 inputs, contiguous otherwise.
  std::optional<MemoryFormat> format = std::nullopt;
  bool zero_negatives = false;  // max(v, 0): windows full of ties at 0, as after a ReLU
};

// The inputs of one case on one target. Values are drawn in float32 on the host from the case's
// key (seed = hash of the case's id, one stream per input, in order of creation) and converted
// to the target's dtype exactly, so every target computes on the same numbers.
//
// Built once, reused: a second run of the case's build function on the same CaseInputs gets the
// same tensors back (gradients cleared), which is how benchmarks time the op without the input
// set-up.
class CaseInputs {
 public:
  CaseInputs(const Target& target, MemoryFormat format, uint64_t seed);

  Tensor input(const std::string& name, const Shape& shape, const InputSpec& spec = {});
  // Integer class labels in [0, classes), never differentiable.
  Tensor labels(const std::string& name, int64_t count, int64_t classes);
  // float32-exact numbers in [low, high) for host-side constants (sparse matrix entries), from
  // their own stream.
  std::vector<double> host_values(int64_t count, double low, double high);
  // A constant the case builds once (a sparse matrix): make() on the first run, cached after.
  template <class T, class Make>
  const T& constant(const std::string& name, Make&& make);
  // The upstream gradient backward is seeded with: uniform in [-1, 1) of y's shape, dtype,
  // device and layout, from its own stream; made on the first run, cached after.
  Tensor upstream_gradient(const Tensor& y);

  const Target& target() const { return target_; }
  DType dtype() const { return target_.dtype; }
  Device device() const { return target_.device; }
  MemoryFormat format() const { return format_; }
  uint64_t seed() const { return seed_; }

  // Called by the runner before each run of the build function.
  void begin_run();
  struct Input {
    std::string name;
    Tensor tensor;
    bool differentiable;
  };
  const std::vector<Input>& inputs() const { return inputs_; }
  // Kernel calls made building the inputs (placing them, changing their layout), which are not
  // the op's.
  const KernelCounts& setup_kernels() const { return setup_kernels_; }

 private:
  const Target& target_;
  MemoryFormat format_;
  uint64_t seed_;
  uint64_t next_stream_ = 0;
  size_t cursor_ = 0;  // inputs handed out in this run
  std::vector<Input> inputs_;
  std::vector<std::pair<std::string, std::shared_ptr<void>>> constants_;
  Tensor upstream_;
  KernelCounts setup_kernels_;
  bool in_setup_ = false;

  // Runs make(), booking the kernel calls it makes as set-up.
  template <class Make>
  auto as_setup(Make&& make);
};

// into += after - before
void add_kernel_counts(KernelCounts& into, const KernelCounts& after, const KernelCounts& before);

template <class Make>
auto CaseInputs::as_setup(Make&& make) {
  if (in_setup_) return make();  // nested (host values inside a constant): the outer call books it
  in_setup_ = true;
  const KernelCounts before = kernel_counts();
  auto made = make();
  add_kernel_counts(setup_kernels_, kernel_counts(), before);
  in_setup_ = false;
  return made;
}

template <class T, class Make>
const T& CaseInputs::constant(const std::string& name, Make&& make) {
  for (const auto& [n, p] : constants_)
    if (n == name) return *static_cast<const T*>(p.get());
  auto p = as_setup([&] { return std::make_shared<T>(make()); });
  constants_.emplace_back(name, p);
  return *p;
}

// --- cases ----------------------------------------------------------------------------------
struct CaseOutputs {
  Tensor y;  // the output backward is seeded at (with a random upstream gradient of its shape)
  // Further results compared with the oracle: state the op updates (running statistics).
  std::vector<std::pair<std::string, Tensor>> extras = {};
  // Held until backward has run, then released (e.g. a process group installed for the case).
  std::shared_ptr<void> scope = nullptr;
};

// Normalised error bound (max |got - ref| / max(max |ref|, 1)) of a float32 target's outputs
// and gradients against the float64 reference.
struct Tolerance {
  double output;
  double gradient;
};

// A kernel the CPU backend has a fast implementation of and must use for this case on cpu-fast
// (every call counted on a non-reference implementation), when the engine is present.
struct FastKernel {
  enum Engine { Avx2, OneDnn };
  const char* kernel;  // as counted by core/kernel_stats.h
  Engine engine;
};

struct OpCase {
  std::string op;    // its name in core/ops.inc
  std::string name;  // readable: what varies (e.g. "dw_k3_s2_c37_13x13_cl"); unique within the op
  MemoryFormat format = MemoryFormat::Contiguous;
  Tolerance tolerance;
  std::vector<FastKernel> fast_kernels;
  std::function<CaseOutputs(CaseInputs&)> build;

  std::string id() const { return op + "/" + name; }
};

// Test sizes keep the whole harness to seconds; benchmark sizes grow each case (batch and spatial
// size, or the matrix dims) by its family's rule, and the names say the grown shape.
enum class CaseScale { Test, Bench };
std::vector<OpCase> op_cases(CaseScale scale);

// Ops of the list without cases, each with the reason.
struct OpExemption {
  const char* op;
  const char* reason;
};
const std::vector<OpExemption>& op_exemptions();

// --- running ----------------------------------------------------------------------------------
// Values copied to the host as float64, in logical row-major order.
struct NamedValues {
  std::string name;
  Shape shape;
  std::vector<double> values;
};

struct CaseResult {
  std::vector<NamedValues> outputs;    // "y", then the extras
  std::vector<NamedValues> gradients;  // per differentiable input, in creation order
  std::vector<std::string> missing_gradients;  // differentiable inputs backward did not reach
  KernelCounts kernels;  // the op's calls, forward and backward (input set-up not included)
  // The ops the kernel statistics booked this step's calls under ("" outside every op: the
  // inputs' set-up, the engine's seeding), with their call counts.
  std::map<std::string, long> booked_ops;
};

// One case on one target, run step by step: inputs are built on the first step and reused.
class CaseRunner {
 public:
  // count_kernels: record the kernel calls of each step (benchmarks read the global counters
  // instead, which costs nothing per step).
  CaseRunner(const OpCase& c, const Target& target, bool count_kernels = true);
  // Forward, then backward from the upstream gradient. The caller holds a TargetScope.
  void step();
  // The last step's outputs, gradients and kernel calls, on the host.
  CaseResult result() const;
  // Bytes of the op's inputs, outputs and input gradients: the least traffic of one step.
  int64_t bytes_per_step() const;

 private:
  const OpCase& case_;
  CaseInputs inputs_;
  CaseOutputs outputs_;
  bool count_kernels_;
  KernelCounts step_kernels_;
  std::map<std::string, long> booked_ops_;
};

// One step of the case on the target (in its kernel mode), results on the host.
CaseResult run_case(const OpCase& c, const Target& target);

// max |got - ref| / max(max |ref|, 1); infinity when the sizes differ or got has a NaN.
double normalised_error(const std::vector<double>& got, const std::vector<double>& ref);

}  // namespace figs::backend_ops

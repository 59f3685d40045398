// The cross-backend op harness: every case of the table (op_cases.h) on every backend present,
// outputs and input gradients against the float64 reference kernels (the oracle), one named test
// per op / case / backend:
//
//   Reference/ReferenceOracle.*/conv2d__dw_k3_s2_c37_13x13_cl     the oracle's own checks
//   CpuFast/BackendOps.*/conv2d__dw_k3_s2_c37_13x13_cl            oneDNN + AVX2, float32
//   Cuda/BackendOps.*/conv2d__dw_k3_s2_c37_13x13_cl               CUDA, float32 (skips without a GPU)
//
// Each float32 run is compared with the float64 reference run of the same case on the same
// numbers (normalised error, tolerances per family in op_cases.cpp). On cpu-fast the kernel
// counters must show the case's fast kernels running on their fast implementation, so a
// reference-vs-reference comparison cannot pass as a test of the fast kernels; every run prints
// which implementations ran.
#include <gtest/gtest.h>

#include <cctype>
#include <iostream>
#include <map>
#include <set>

#include "core/kernel_stats.h"
#include "cpu/cpu_backend.h"
#include "op_cases.h"

namespace figs::backend_ops {
namespace {

// The CUDA comparisons are to float32 rounding: TF32 tensor-core math (on by default,
// cuda/cuda.h) is off for the whole program, as in test_cuda.
class StrictFloat32 : public ::testing::Environment {
 public:
  void SetUp() override { cuda::set_tf32(false); }
};
[[maybe_unused]] ::testing::Environment* const kStrictFloat32 =
    ::testing::AddGlobalTestEnvironment(new StrictFloat32);

const std::vector<OpCase>& test_cases() {
  static const std::vector<OpCase> cases = op_cases(CaseScale::Test);
  return cases;
}

// gtest names allow letters, digits and '_': "conv2d__dw_k3_s2_c37_13x13_cl".
std::string test_name(const OpCase& c) { return c.op + "__" + c.name; }

struct Param {
  const OpCase* op_case;
  const Target* target;
};
void PrintTo(const Param& p, std::ostream* os) { *os << p.op_case->id() << " on " << p.target->name; }

std::vector<Param> params_for(const Target& target) {
  std::vector<Param> params;
  for (const OpCase& c : test_cases()) params.push_back({&c, &target});
  return params;
}
std::string param_name(const ::testing::TestParamInfo<Param>& info) { return test_name(*info.param.op_case); }

// The oracle's result per case, computed once (each backend compares with it).
const CaseResult& oracle(const OpCase& c) {
  static std::map<std::string, CaseResult> results;
  auto it = results.find(c.id());
  if (it == results.end()) it = results.emplace(c.id(), run_case(c, reference_target())).first;
  return it->second;
}

std::string compact_counts(const KernelCounts& counts) {
  std::string s;
  for (const auto& [key, n] : counts) s += str_cat(s.empty() ? "" : ", ", key.first, ":", key.second, " x", n);
  return s.empty() ? "(no counted kernel)" : s;
}

void expect_same_names_and_shapes(const std::vector<NamedValues>& got, const std::vector<NamedValues>& want,
                                  const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name) << what;
    EXPECT_EQ(got[i].shape, want[i].shape) << what << " " << got[i].name;
  }
}

// --- the table itself ---------------------------------------------------------------------------

TEST(BackendOpsTable, EveryOpOfTheListHasCasesOrAnExemption) {
  std::map<std::string, int> cases_per_op;
  for (const OpCase& c : test_cases()) ++cases_per_op[c.op];
  std::set<std::string> exempt;
  for (const OpExemption& e : op_exemptions()) {
    exempt.insert(e.op);
    EXPECT_GT(std::string(e.reason).size(), 20u) << e.op << ": an exemption needs its reason";
    EXPECT_EQ(cases_per_op.count(e.op), 0u) << e.op << " is exempt and has cases: drop one";
  }
  int covered = 0;
  for (const OpInfo& op : op_list()) {
    if (cases_per_op.count(op.name)) {
      ++covered;
      continue;
    }
    EXPECT_TRUE(exempt.count(op.name)) << "op '" << op.name << "' (" << op.file
                                       << ") has no case in tests/backend_ops/op_cases.cpp and no exemption";
  }
  std::cout << "[ coverage ] " << covered << " ops with cases, " << exempt.size() << " exempt, "
            << test_cases().size() << " cases\n";
}

TEST(BackendOpsTable, CasesNameOpsOfTheListAndAreUnique) {
  std::set<std::string> names;
  for (const OpCase& c : test_cases()) {
    EXPECT_NO_THROW(op_kind_named(c.op)) << c.id();
    EXPECT_TRUE(names.insert(test_name(c)).second) << "two cases named " << c.id();
    for (const char ch : c.name) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << c.id();
    EXPECT_TRUE(c.build) << c.id();
  }
  for (const OpExemption& e : op_exemptions()) EXPECT_NO_THROW(op_kind_named(e.op)) << e.op;
}

TEST(BackendOpsTable, BenchmarkCasesAreTheTestCasesGrown) {
  const std::vector<OpCase> bench = op_cases(CaseScale::Bench);
  ASSERT_EQ(bench.size(), test_cases().size());
  for (size_t i = 0; i < bench.size(); ++i) EXPECT_EQ(bench[i].op, test_cases()[i].op) << bench[i].id();
}

// --- the oracle -------------------------------------------------------------------------------
// The float64 reference run is the oracle of the other backends; here it must reach every
// differentiable input, give finite numbers, run on the reference kernels only, and repeat
// bit for bit (the comparisons would otherwise measure noise).
class ReferenceOracle : public ::testing::TestWithParam<Param> {};

TEST_P(ReferenceOracle, IsFiniteDeterministicAndReferenceOnly) {
  const OpCase& c = *GetParam().op_case;
  reset_kernel_counts();
  const CaseResult first = run_case(c, reference_target());
  for (const auto& [key, n] : kernel_counts())
    EXPECT_EQ(key.second, "reference") << key.first << " ran on " << key.second << " in the float64 oracle";
  EXPECT_TRUE(first.missing_gradients.empty()) << "backward did not reach " << first.missing_gradients.front();
  for (const auto* values : {&first.outputs, &first.gradients})
    for (const NamedValues& v : *values) {
      EXPECT_EQ(static_cast<int64_t>(v.values.size()), v.shape.numel()) << v.name;
      for (const double x : v.values) ASSERT_TRUE(std::isfinite(x)) << v.name << " has " << x;
    }
  const CaseResult second = run_case(c, reference_target());
  ASSERT_EQ(second.outputs.size(), first.outputs.size());
  ASSERT_EQ(second.gradients.size(), first.gradients.size());
  for (size_t i = 0; i < first.outputs.size(); ++i)
    EXPECT_EQ(second.outputs[i].values, first.outputs[i].values) << first.outputs[i].name;
  for (size_t i = 0; i < first.gradients.size(); ++i)
    EXPECT_EQ(second.gradients[i].values, first.gradients[i].values) << first.gradients[i].name;
}

INSTANTIATE_TEST_SUITE_P(Reference, ReferenceOracle, ::testing::ValuesIn(params_for(reference_target())),
                         param_name);

// --- the float32 backends against the oracle --------------------------------------------------
class BackendOps : public ::testing::TestWithParam<Param> {};

bool engine_present(FastKernel::Engine e) {
  return e == FastKernel::OneDnn ? build_info().with_onednn : cpu::vector_isa() != cpu::fast::VectorIsa::None;
}

// Every call of each of the case's fast kernels ran on a fast implementation (never "reference").
void expect_fast_kernels_ran(const OpCase& c, const KernelCounts& counts) {
  for (const FastKernel& fk : c.fast_kernels) {
    if (!engine_present(fk.engine)) continue;  // e.g. built without oneDNN: the reference serves it
    long fast = 0, reference = 0;
    for (const auto& [key, n] : counts)
      if (key.first == fk.kernel) (key.second == "reference" ? reference : fast) += n;
    EXPECT_GT(fast, 0) << fk.kernel << " never ran on a fast implementation: " << compact_counts(counts);
    EXPECT_EQ(reference, 0) << fk.kernel << " ran on the reference kernels " << reference
                            << " time(s): " << compact_counts(counts);
  }
}

TEST_P(BackendOps, MatchesTheFloat64Reference) {
  const OpCase& c = *GetParam().op_case;
  const Target& target = *GetParam().target;
  if (target.device.is_cuda() && !cuda::is_available())
    GTEST_SKIP() << (build_info().with_cuda ? "no CUDA device visible" : "figs built without CUDA");
  const CaseResult& want = oracle(c);

  const CaseResult got = run_case(c, target);
  const KernelCounts& counts = got.kernels;

  EXPECT_TRUE(got.missing_gradients.empty()) << "backward did not reach " << got.missing_gradients.front();
  expect_same_names_and_shapes(got.outputs, want.outputs, "outputs");
  expect_same_names_and_shapes(got.gradients, want.gradients, "gradients");
  if (HasFatalFailure()) return;
  std::string errors;
  const auto compare = [&](const std::vector<NamedValues>& g, const std::vector<NamedValues>& w, double tolerance,
                           const char* what) {
    for (size_t i = 0; i < g.size(); ++i) {
      const double e = normalised_error(g[i].values, w[i].values);
      errors += str_cat(errors.empty() ? "" : ", ", what, " ", g[i].name, " ", e);
      EXPECT_LE(e, tolerance) << what << " " << g[i].name << " of " << c.id() << " on " << target.name
                              << " (normalised error)";
    }
  };
  compare(got.outputs, want.outputs, c.tolerance.output, "output");
  compare(got.gradients, want.gradients, c.tolerance.gradient, "gradient");
  // The kernel statistics book the op's calls under its own kind (core/kernel_stats.h, OpScope):
  // a case of a non-composite op books under that op, or under no op (the inputs' set-up).
  if (!op_info(op_kind_named(c.op)).composite) {
    for (const auto& [op, n] : got.booked_ops)
      EXPECT_TRUE(op.empty() || op == c.op) << c.id() << " booked " << n << " kernel calls under '" << op << "'";
    // Its fast kernels (counted on every implementation) book under it.
    if (&target == &cpu_fast_target() && !c.fast_kernels.empty()) {
      EXPECT_GT(got.booked_ops.count(c.op), 0u) << c.id() << ": no kernel call booked under it";
    }
  }
  std::string asserted;
  if (&target == &cpu_fast_target()) {
    expect_fast_kernels_ran(c, counts);
    for (const FastKernel& fk : c.fast_kernels) asserted += str_cat(asserted.empty() ? "" : ", ", fk.kernel);
    // Where the case asserts no fast kernel, what ran is the reference code in float32: the
    // comparison checks its float32 path; gradcheck and hand-computed values are its oracles.
    if (asserted.empty()) asserted = "none";
    asserted = " | fast asserted: " + asserted;
  }
  std::cout << "[ " << target.name << " ] " << c.id() << ": " << compact_counts(counts) << asserted
            << " | errors: " << errors << "\n";
}

INSTANTIATE_TEST_SUITE_P(CpuFast, BackendOps, ::testing::ValuesIn(params_for(cpu_fast_target())), param_name);
INSTANTIATE_TEST_SUITE_P(Cuda, BackendOps, ::testing::ValuesIn(params_for(cuda_target())), param_name);

}  // namespace
}  // namespace figs::backend_ops

// The CUDA tests compare against the CPU to float32 rounding: TF32 tensor-core math (on by
// default, cuda/cuda.h) is turned off for the whole test program before any test runs.
#include <gtest/gtest.h>

#include "cuda/cuda.h"

namespace {

class StrictFloat32 : public ::testing::Environment {
 public:
  void SetUp() override { figs::cuda::set_tf32(false); }
};

[[maybe_unused]] ::testing::Environment* const kStrictFloat32 = ::testing::AddGlobalTestEnvironment(new StrictFloat32);

}  // namespace

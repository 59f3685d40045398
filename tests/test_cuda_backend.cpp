// The CUDA backend against the CPU reference. Every case skips (with the reason) where no GPU
// is visible; the GPU check script (scripts/gpu-check.sh) runs them on a machine that has one.
#include "test_util.h"

namespace figs {
namespace {

#define FIGS_REQUIRE_GPU()                                                           \
  do {                                                                               \
    if (!cuda::is_available())                                                       \
      GTEST_SKIP() << (build_info().with_cuda ? "no CUDA device visible"             \
                                              : "figs built without CUDA");          \
  } while (false)

TEST(CudaBackend, ReportsDevices) {
  FIGS_REQUIRE_GPU();
  EXPECT_GE(cuda::device_count(), 1);
  EXPECT_NE(cuda::device_name(0).find("sm_"), std::string::npos);
}

TEST(CudaBackend, RoundTripCopiesAndStridedCopies) {
  FIGS_REQUIRE_GPU();
  Generator gen(9);
  const Tensor x = uniform({3, 5, 7, 9}, -1, 1, gen);
  const Tensor d = raw::to(x, Device::cuda());
  EXPECT_TRUE(d.device().is_cuda());
  EXPECT_EQ(d.to_vector<float>(), x.to_vector<float>());
  // Channels-last and a channel slice, converted on the device.
  const Tensor cl = raw::contiguous(d, MemoryFormat::ChannelsLast);
  EXPECT_EQ(cl.to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(raw::narrow(cl, 1, 2, 3).to_vector<float>(), raw::narrow(x, 1, 2, 3).to_vector<float>());
  // dtype conversion on the device
  const Tensor d64 = raw::to_dtype(d, DType::Float64);
  EXPECT_EQ(d64.to_vector<double>(), raw::to_dtype(x, DType::Float64).to_vector<double>());
}

TEST(CudaBackend, FillMatchesCpu) {
  FIGS_REQUIRE_GPU();
  EXPECT_EQ(full({17, 3}, 2.5, {DType::Float32, Device::cuda()}).to_vector<float>(), std::vector<float>(51, 2.5f));
  EXPECT_EQ(zeros({5}, {DType::Int64, Device::cuda()}).to_vector<int64_t>(), std::vector<int64_t>(5, 0));
}

TEST(CudaBackend, RandomFillsDrawTheCpuNumbers) {
  FIGS_REQUIRE_GPU();
  // Odd sizes, both dtypes, a channels-last layout: uniform is bit-identical to the CPU.
  for (DType t : {DType::Float32, DType::Float64}) {
    Generator cpu_gen(123, 4), gpu_gen(123, 4);
    const Tensor c = uniform({3, 5, 7, 11}, -2, 3, cpu_gen, {t});
    const Tensor g = uniform({3, 5, 7, 11}, -2, 3, gpu_gen, {t, Device::cuda(), MemoryFormat::ChannelsLast});
    EXPECT_EQ(g.to_vector<double>(), c.to_vector<double>()) << dtype_name(t);
    // Normal goes through log/cos, whose last bit may differ between libm and CUDA's.
    const auto cn = normal({1001}, 0.5, 2, cpu_gen, {t}).to_vector<double>();
    const auto gn = normal({1001}, 0.5, 2, gpu_gen, {t, Device::cuda()}).to_vector<double>();
    for (size_t i = 0; i < cn.size(); ++i) EXPECT_NEAR(gn[i], cn[i], 1e-5 * (1 + std::abs(cn[i]))) << i;
  }
}

TEST(CudaBackend, KernelsNotYetOnCudaSayTheyAreMissing) {
  FIGS_REQUIRE_GPU();
  const Tensor a = ones({2}, {DType::Float32, Device::cuda()});
  EXPECT_ERROR_MENTIONS(relu(a), "relu: the cuda backend has no kernel for it yet");
}

}  // namespace
}  // namespace figs

// The CUDA backend against the CPU reference. Every case skips (with the reason) where no GPU
// is visible; the GPU check script (scripts/gpu-check.sh) runs them on a machine that has one.
#include "cuda/allocator.h"
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

TEST(CudaBackend, CachingAllocatorReusesBlocks) {
  FIGS_REQUIRE_GPU();
  cuda::empty_device_cache();
  const auto before = cuda::device_allocator_stats();
  { const Tensor a = empty({1000, 37}, {DType::Float32, Device::cuda()}); }
  const auto after_first = cuda::device_allocator_stats();
  EXPECT_EQ(after_first.bytes_in_use, before.bytes_in_use);
  EXPECT_GE(after_first.bytes_cached, 1000u * 37 * 4);
  // The same size class again: served from the cache, no cudaMalloc.
  { const Tensor b = empty({37, 1000}, {DType::Float32, Device::cuda()}); }
  const auto after_second = cuda::device_allocator_stats();
  EXPECT_EQ(after_second.device_allocations, after_first.device_allocations);
  EXPECT_EQ(after_second.cache_hits, after_first.cache_hits + 1);
  cuda::empty_device_cache();
  EXPECT_EQ(cuda::device_allocator_stats().bytes_cached, 0u);
}

// A small conv net's training step on the GPU matches the CPU, and once the steps have reached
// their steady state (the second step: the first step's loss is still alive during it) no
// further cudaMalloc happens (static shapes: every block comes from the cache).
TEST(CudaBackend, TrainingStepMatchesCpuAndStopsAllocating) {
  FIGS_REQUIRE_GPU();
  Generator gen(3, 1);
  const Tensor x = uniform({4, 3, 9, 9}, -1, 1, gen), w1 = uniform({8, 3, 3, 3}, -0.5, 0.5, gen);
  const Tensor wd = uniform({8, 1, 5, 5}, -0.5, 0.5, gen), scale = uniform({8}, 0, 1, gen);
  const Tensor fc = uniform({8, 5}, -0.5, 0.5, gen), gamma = uniform({8}, 0.5, 1.5, gen), beta = zeros({8});
  const Tensor labels = from_vector(std::vector<int64_t>{0, 3, 4, 1}, {4});
  auto step = [&](Device dev, size_t* mallocs_after_second) {
    const auto to = [&](const Tensor& t) {
      Tensor r = raw::to(t, dev);
      return t.dim() == 4 && t.size(1) > 1 && t.size(0) == 4 ? raw::contiguous(r, MemoryFormat::ChannelsLast) : r;
    };
    std::vector<Tensor> params{raw::clone(raw::to(w1, dev)), raw::clone(raw::to(wd, dev)), raw::clone(raw::to(fc, dev)),
                               raw::clone(raw::to(gamma, dev))};
    for (Tensor& p : params) p.set_requires_grad();
    Tensor loss;
    for (int it = 0; it < 4; ++it) {
      for (Tensor& p : params) p.zero_grad();
      Tensor h = conv2d(to(x), params[0], Tensor(), Conv2dParams{.pad_h = 1, .pad_w = 1});
      h = relu(batch_norm(h, params[3], raw::to(beta, dev), Tensor(), Tensor(), BatchNormParams{}));
      h = conv2d(h, params[1], Tensor(), Conv2dParams{.stride_h = 2, .stride_w = 2, .pad_h = 2, .pad_w = 2, .groups = 8});
      h = channel_scale(h, raw::to(scale, dev));
      h = max_pool2d(h, Pool2dParams{});
      h = flatten(global_avg_pool2d(h));
      loss = cross_entropy(matmul(h, params[2]), raw::to(labels, dev), 0.1);
      backward(loss);
      if (it == 1 && mallocs_after_second) *mallocs_after_second = cuda::device_allocator_stats().device_allocations;
    }
    std::vector<std::vector<float>> out{loss.to_vector<float>()};
    for (Tensor& p : params) out.push_back(p.grad().to_vector<float>());
    return out;
  };
  size_t mallocs = 0;
  const auto gpu = step(Device::cuda(), &mallocs);
  EXPECT_EQ(cuda::device_allocator_stats().device_allocations, mallocs) << "steady-state steps called cudaMalloc";
  const auto cpu = step(Device::cpu(), nullptr);
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_EQ(gpu[i].size(), cpu[i].size());
    for (size_t j = 0; j < cpu[i].size(); ++j) EXPECT_NEAR(gpu[i][j], cpu[i][j], 1e-4 * (1 + std::abs(cpu[i][j]))) << i << " " << j;
  }
}

}  // namespace
}  // namespace figs

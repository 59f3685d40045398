// Pinned host memory (cuda/pinned.h): batches copied from it reach the GPU intact, a block is not
// handed out again while a copy may still read it, and the loader builds batches in it.
#include <algorithm>

#include "cuda/cuda.h"
#include "cuda/pinned.h"
#include "cuda_test_util.h"
#include "data/data.h"

namespace figs::cudatest {
namespace {

TEST(CudaPinned, CopiesFromPinnedMemoryAreExactAndAsynchronous) {
  FIGS_REQUIRE_GPU();
  const Shape s{64, 3, 57, 61};
  const Tensor values = rand_cpu(s, 5);
  Tensor host = tensor_on_storage(cuda::allocate_pinned(static_cast<size_t>(s.numel()) * sizeof(float)), s);
  EXPECT_TRUE(cuda::is_pinned(host.raw_data()));
  EXPECT_TRUE(cuda::is_pinned(host.data<float>() + 1000));  // interior pointers too
  EXPECT_FALSE(cuda::is_pinned(values.raw_data()));
  raw::copy_(host, values);
  const Tensor device = raw::to(host, Device::cuda());
  EXPECT_EQ(raw::to(device, Device::cpu()).to_vector<float>(), values.to_vector<float>());
}

TEST(CudaPinned, ABlockIsReusedOnlyAfterItsCopyFinished) {
  FIGS_REQUIRE_GPU();
  cuda::empty_pinned_cache();
  const size_t nbytes = 32 << 20;
  const Shape s{static_cast<int64_t>(nbytes / sizeof(float))};
  void* first = nullptr;
  Tensor device;
  {
    Tensor host = tensor_on_storage(cuda::allocate_pinned(nbytes), s);
    first = host.raw_data();
    std::fill(host.data<float>(), host.data<float>() + s.numel(), 1.0f);
    device = raw::to(host, Device::cuda());  // enqueued; the host block is freed right after
  }
  EXPECT_EQ(raw::to(device, Device::cpu()).to_vector<float>()[s.numel() - 1], 1.0f);  // waits for the copy
  const auto before = cuda::pinned_allocator_stats();
  Tensor again = tensor_on_storage(cuda::allocate_pinned(nbytes), s);
  const auto after = cuda::pinned_allocator_stats();
  EXPECT_EQ(again.raw_data(), first);  // the copy finished: the cached block comes back
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.host_allocations, before.host_allocations);
}

TEST(CudaPinned, TheLoaderBuildsBatchesInPinnedMemory) {
  FIGS_REQUIRE_GPU();
  data::SyntheticOptions o;
  o.size = 20;
  o.shape = {3, 8, 8};
  const auto ds = std::make_shared<data::SyntheticDataset>(o);
  data::LoaderConfig c;
  c.batch_size = 8;
  c.num_workers = 2;
  c.batch_allocator = cuda::allocate_pinned;
  data::Loader loader(ds, c);
  loader.start_epoch(0);
  int batches = 0;
  while (auto b = loader.next()) {
    EXPECT_TRUE(cuda::is_pinned(b->images.raw_data()));
    EXPECT_TRUE(cuda::is_pinned(b->labels.raw_data()));
    const Tensor d = raw::to(b->images, Device::cuda());
    EXPECT_EQ(raw::to(d, Device::cpu()).to_vector<float>(), b->images.to_vector<float>());
    ++batches;
  }
  EXPECT_EQ(batches, 3);
}

TEST(CudaPinnedHost, WithoutCudaPinnedMemoryIsAClearError) {
  if (build_info().with_cuda) GTEST_SKIP() << "built with CUDA";
  EXPECT_FALSE(cuda::is_pinned(nullptr));
  EXPECT_THROW(cuda::allocate_pinned(1024), Error);
}

}  // namespace
}  // namespace figs::cudatest

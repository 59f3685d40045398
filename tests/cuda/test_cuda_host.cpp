// Host-side logic of the CUDA backend that needs no GPU: allocator size classes and the launch
// planning of cuda/launch.h (layout classification, tilings). These run everywhere; a build
// without CUDA has no cuda/launch.cpp, so they skip there.
#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <gtest/gtest.h>

#include "figs.h"
#include "figs_build_config.h"

#if FIGS_WITH_CUDA
#include "cuda/allocator.h"
#include "cuda/cublas_library.h"
#include "cuda/launch.h"

namespace figs::cuda {
namespace {

TEST(CudaHost, DeviceSizeClassesRoundUpWithBoundedSlack) {
  EXPECT_EQ(device_size_class(0), 0u);
  EXPECT_EQ(device_size_class(1), 512u);
  EXPECT_EQ(device_size_class(512), 512u);
  EXPECT_EQ(device_size_class(513), 1024u);
  EXPECT_EQ(device_size_class(8192), 8192u);
  EXPECT_EQ(device_size_class(8193), 10240u);  // 8 KiB + a quarter of 8 KiB
  for (size_t n : {size_t{1}, size_t{777}, size_t{4097}, size_t{100000}, size_t{3} << 20, (size_t{1} << 30) + 1}) {
    const size_t c = device_size_class(n);
    EXPECT_GE(c, n);
    EXPECT_EQ(c % kDeviceAlignment, 0u) << n;
    if (n > 8192) {
      EXPECT_LE(c, n + n / 4 + 1) << n;  // at most 25% slack
    }
    EXPECT_EQ(device_size_class(c), c) << "a class is its own class";
  }
}

TEST(CudaHost, BlocksForCoversAndCaps) {
  EXPECT_EQ(blocks_for(0), 1);
  EXPECT_EQ(blocks_for(1), 1);
  EXPECT_EQ(blocks_for(256), 1);
  EXPECT_EQ(blocks_for(257), 2);
  EXPECT_EQ(blocks_for(int64_t{1} << 30), kMaxBlocks);
}

TEST(CudaHost, DenseLayoutsAreRecognised) {
  const Shape s{3, 5, 7, 9};
  EXPECT_TRUE(is_dense(s, contiguous_strides(s)));
  EXPECT_TRUE(is_dense(s, channels_last_strides(s)));
  EXPECT_FALSE(is_dense(s, Strides{5 * 7 * 9 * 2, 7 * 9 * 2, 9 * 2, 2}));  // every other element
  EXPECT_FALSE(is_dense(s, Strides{0, 7 * 9, 9, 1}));                     // broadcast batch
  // A channel slice of a channels-last tensor is not dense; a size-1 dim's stride does not matter.
  EXPECT_FALSE(is_dense(Shape{3, 2, 7, 9}, channels_last_strides(s)));
  EXPECT_TRUE(is_dense(Shape{1, 5, 1, 1}, Strides{123, 1, 77, 5}));
  EXPECT_TRUE(is_dense(Shape{4, 6}, Strides{1, 4}));  // a transposed matrix
}

TEST(CudaHost, SingleVaryingDimFindsPerChannelOperands) {
  const Shape out{2, 5, 3, 3};
  EXPECT_EQ(single_varying_dim(out, Strides{0, 1, 0, 0}), 1);
  EXPECT_EQ(single_varying_dim(out, Strides{0, 0, 0, 0}), -1);
  EXPECT_EQ(single_varying_dim(out, Strides{0, 3, 1, 0}), -2);
  EXPECT_EQ(single_varying_dim(Shape{2, 1, 3, 3}, Strides{0, 7, 0, 1}), 3);  // size-1 dims ignored
}

TEST(CudaHost, BlasOperandsClassifyTransposedViews) {
  // Row-major (M, K) and its transpose view (K, M) with swapped strides.
  EXPECT_EQ(blas_operand(3, 5, 5, 1).kind, BlasOperand::RowMajor);
  EXPECT_EQ(blas_operand(3, 5, 5, 1).ld, 5);
  EXPECT_EQ(blas_operand(5, 3, 1, 5).kind, BlasOperand::ColMajor);
  EXPECT_EQ(blas_operand(5, 3, 1, 5).ld, 5);
  // A column slice of a wider row-major matrix keeps its leading dimension.
  EXPECT_EQ(blas_operand(3, 2, 7, 1).ld, 7);
  // Neither layout: a copy is needed.
  EXPECT_EQ(blas_operand(3, 5, 10, 2).kind, BlasOperand::NeedsCopy);
  // Vectors: size-1 dims never force a copy.
  EXPECT_NE(blas_operand(1, 9, 123, 1).kind, BlasOperand::NeedsCopy);
  EXPECT_NE(blas_operand(9, 1, 1, 0).kind, BlasOperand::NeedsCopy);
  EXPECT_NE(blas_operand(9, 1, 4, 1).kind, BlasOperand::NeedsCopy);
  EXPECT_NE(blas_operand(1, 1, 0, 0).kind, BlasOperand::NeedsCopy);
}

TEST(CudaHost, ChannelReducePlansCoverEveryRowOnce) {
  for (bool cl : {true, false})
    for (int64_t C : {1, 3, 32, 33, 1152})
      for (int64_t rows : {0, 1, 7, 255, 4096, 64 * 112 * 112}) {
        const ChannelReducePlan p = plan_channel_reduce(C, rows, cl, 1056);
        SCOPED_TRACE(testing::Message() << "C " << C << " rows " << rows << " cl " << cl);
        EXPECT_EQ(p.block_x * p.block_y, 256);
        EXPECT_EQ(p.channel_blocks * p.block_x >= C, true);
        EXPECT_LT((p.channel_blocks - 1) * p.block_x, C);
        EXPECT_GE(p.splits * p.rows_per_split, rows);                 // every row covered
        EXPECT_LT((p.splits - 1) * p.rows_per_split, std::max<int64_t>(rows, 1));  // no empty split
        EXPECT_LE(p.splits, 65535);
        if (rows >= p.block_y * 16 * 2) {
          EXPECT_GE(p.rows_per_split, p.block_y * 16) << "splits too thin";
        }
      }
  // A big reduction over few channels is spread over about the requested number of blocks.
  const ChannelReducePlan big = plan_channel_reduce(32, 64 * 112 * 112, true, 1056);
  EXPECT_EQ(big.channel_blocks, 1);
  EXPECT_GE(big.splits, 500);
}

TEST(CudaHost, DepthwiseSpecialisationsAndTiles) {
  EXPECT_EQ(depthwise_specialization(3, 3, 1, 1, 1, 1, true).k, 3);
  EXPECT_EQ(depthwise_specialization(7, 7, 2, 2, 1, 1, true).stride, 2);
  EXPECT_EQ(depthwise_specialization(5, 5, 1, 1, 1, 1, false).k, 0);  // float64: generic
  EXPECT_EQ(depthwise_specialization(3, 5, 1, 1, 1, 1, true).k, 0);
  EXPECT_EQ(depthwise_specialization(3, 3, 1, 2, 1, 1, true).k, 0);
  EXPECT_EQ(depthwise_specialization(3, 3, 3, 3, 1, 1, true).k, 0);
  EXPECT_EQ(depthwise_specialization(3, 3, 1, 1, 2, 2, true).k, 0);
  EXPECT_EQ(depthwise_specialization(9, 9, 1, 1, 1, 1, true).k, 0);
  EXPECT_EQ(depthwise_input_span(kDepthwiseTile, 3, 1), 6);
  EXPECT_EQ(depthwise_input_span(kDepthwiseTile, 7, 2), 13);
  EXPECT_EQ(depthwise_tiles(7, 4), 2);
  EXPECT_EQ(depthwise_tiles(8, 4), 2);
  EXPECT_EQ(depthwise_tiles(1, 4), 1);
  // The backward-weight tile height is one the kernels are built for, for every specialisation.
  for (const int k : {3, 5, 7})
    for (const int s : {1, 2}) {
      const int rows = depthwise_weight_tile_rows(k, s);
      EXPECT_NE(std::find(std::begin(kDepthwiseWeightTileRows), std::end(kDepthwiseWeightTileRows), rows),
                std::end(kDepthwiseWeightTileRows))
          << "k " << k << " s " << s << ": " << rows << " rows";
    }
}

// Loading figs must not load cuBLAS (~217 MiB resident): checked in a fresh process, before any
// other test of this binary could have run a CUDA matmul.
TEST(CudaHost, LoadingFigsLeavesCublasUnloaded) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // re-executes the binary for this test alone
  EXPECT_EXIT(std::exit(cublas_is_loaded() ? 1 : 0), ::testing::ExitedWithCode(0), "");
}

// The first use loads it and resolves every entry point; cuBLAS's own status names answer through
// them (no GPU needed: nothing here creates a handle).
TEST(CudaHost, CublasLoadsOnFirstUse) {
  const CublasLibrary& lib = cublas_library();
  EXPECT_TRUE(cublas_is_loaded());
  for (const void* fn : {reinterpret_cast<const void*>(lib.create), reinterpret_cast<const void*>(lib.set_stream),
                         reinterpret_cast<const void*>(lib.set_workspace),
                         reinterpret_cast<const void*>(lib.set_math_mode), reinterpret_cast<const void*>(lib.sgemm),
                         reinterpret_cast<const void*>(lib.dgemm), reinterpret_cast<const void*>(lib.status_name),
                         reinterpret_cast<const void*>(lib.status_string)})
    EXPECT_NE(fn, nullptr);
  EXPECT_STREQ(lib.status_name(CUBLAS_STATUS_NOT_INITIALIZED), "CUBLAS_STATUS_NOT_INITIALIZED");
  EXPECT_EQ(&cublas_library(), &lib);  // loaded once
}

}  // namespace
}  // namespace figs::cuda

#else
TEST(CudaHost, NeedsACudaBuild) { GTEST_SKIP() << "figs built without CUDA"; }
#endif

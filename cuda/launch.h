// Host-side launch planning for the CUDA kernels: layout classification and tiling arithmetic.
// Plain C++ with no CUDA includes, so it is unit-tested on machines without a GPU
// (tests/cuda/test_cuda_host.cpp); the kernels in cuda/*.cu follow these plans.
#pragma once

#include <cstdint>

#include "core/shape.h"

namespace figs::cuda {

// Threads per block of the one-thread-per-element kernels: 256 keeps 8 warps per block, enough
// to hide latency at full occupancy on sm_80/sm_90 without register pressure.
inline constexpr int kThreads = 256;
// Grid-stride kernels launch at most this many blocks: far more than the SMs can hold at once
// (132 x 8 on an H100), so every SM stays busy, and a grid-stride loop covers the rest.
inline constexpr int64_t kMaxBlocks = 65535;

// Blocks of `threads` threads for n elements (each thread one element), capped at max_blocks
// (the kernel then loops); at least 1.
int64_t blocks_for(int64_t n, int threads = kThreads, int64_t max_blocks = kMaxBlocks);

// True when the strides address every element exactly once within a span of numel elements:
// a permutation of a contiguous layout (NCHW, channels-last, a transposed matrix), ignoring
// size-1 dims. Two dense tensors with equal strides can then be processed as flat arrays.
bool is_dense(const Shape& shape, const Strides& strides);

// Where a binary op's operand b broadcast against out varies: -1 when it is one value (all
// broadcast strides 0), d when it varies only along dim d (e.g. a per-channel (1, C, 1, 1)
// operand), -2 otherwise. `bstrides` are b's strides broadcast to out's shape.
int single_varying_dim(const Shape& out, const Strides& bstrides);

// A matrix operand for cuBLAS (column-major): a (rows, cols) tensor with strides (sr, sc) is
// either column-major with leading dimension ld (sr == 1), row-major (sc == 1, i.e. its
// transpose is column-major with ld), or neither (it must be copied first). Size-1 dims have
// no meaningful stride and never force a copy.
struct BlasOperand {
  enum Kind { ColMajor, RowMajor, NeedsCopy } kind;
  int64_t ld;
};
BlasOperand blas_operand(int64_t rows, int64_t cols, int64_t sr, int64_t sc);

// Per-channel reduction over the other three dims of an (N, C, H, W) tensor (bias gradients,
// the mask gradient, batch-norm statistics, depthwise weight gradients). Blocks are
// block_x channels by block_y row lanes; rows (the N*H*W positions of one channel) are cut into
// `splits` ranges of rows_per_split, one per blockIdx.y, whose partial sums a second kernel adds
// in a fixed order (deterministic, no atomics).
//   channels fastest in memory (channels-last): 32 channels x 8 lanes, so a warp reads 32
//     consecutive channels of one position (one 128-byte line for float32);
//   otherwise (NCHW): 1 channel x 256 lanes, so a warp reads 32 consecutive positions.
// Splits are chosen so that about target_blocks blocks run (several per SM), while each block
// still reduces at least min_rows_per_lane rows per lane (the partial sums stay a small
// fraction of the work).
struct ChannelReducePlan {
  int block_x = 1, block_y = 1;
  int64_t channel_blocks = 1;
  int64_t splits = 1;
  int64_t rows_per_split = 0;
};
ChannelReducePlan plan_channel_reduce(int64_t channels, int64_t rows, bool channels_fastest,
                                      int64_t target_blocks = 1024, int64_t min_rows_per_lane = 16);

// Depthwise convolution (cuda/depthwise_conv.cu). Square kernels k = 3/5/7 with equal strides
// 1 or 2 and no dilation, in float32, run kernels specialised at compile time (taps unrolled,
// weights in registers); everything else (float64, other sizes, dilation, unequal strides)
// runs a generic kernel with run-time loops. {0, 0} means generic.
struct DepthwiseSpecialization {
  int k = 0, stride = 0;
};
DepthwiseSpecialization depthwise_specialization(int64_t kh, int64_t kw, int stride_h, int stride_w, int dilation_h,
                                                 int dilation_w, bool is_float32);

// Forward tiling of the specialised kernels: each thread computes kDepthwiseTile consecutive
// outputs along W for one (n, c, oh), so the (tile - 1) * stride + k input columns of a kernel
// row are loaded once into registers and shared by the tile's outputs; k loads per output
// become (3 * stride + k) / 4 (k = 3, s = 1: 3 -> 1.5). A row of OW outputs takes
// ceil(OW / tile) threads; the last tile's surplus lanes compute nothing.
inline constexpr int kDepthwiseTile = 4;
inline int64_t depthwise_input_span(int tile, int k, int stride) {
  return static_cast<int64_t>(tile - 1) * stride + k;
}
inline int64_t depthwise_tiles(int64_t out_w, int tile) { return (out_w + tile - 1) / tile; }

// Backward-weight of the specialised kernels folds 2-D tiles: depthwise_weight_tile_rows(k, s)
// rows of kDepthwiseTile gy positions per thread (1, 2 or 4), so that an input row is loaded
// once for all the tile's rows that read it. 1 is the 1-D tiling measured on the H200
// (2026-12-04); 2 and 4 are built, tested against the reference and timed side by side by
// bench_cuda_kernels (`rows` in its label), and become the choice where a GPU run shows them
// faster. Taller tiles cut loads but hold more registers (k = 7: 50 accumulators).
inline constexpr int kDepthwiseWeightTileRows[] = {1, 2, 4};
int depthwise_weight_tile_rows(int k, int stride);

}  // namespace figs::cuda

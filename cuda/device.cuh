// Device-side helpers shared by the kernel files (cuda/*.cu): tensor geometry passed by value,
// index arithmetic, block reductions and the temporary buffers kernels need.
//
// Index arithmetic is 32-bit: 64-bit division is emulated on the GPU (tens of instructions per
// div/mod), and the kernels divide on every element. check_index_range() (cuda/runtime.h)
// rejects tensors of 2^31 elements or more with a clear error; memory offsets stay 64-bit.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/tensor.h"
#include "cuda/runtime.h"

namespace figs::cuda {

// Shape and strides of a tensor of any rank (<= 6), passed to kernels by value.
struct StridedLayout {
  int rank;
  int32_t shape[Dims::kMaxRank];
  int64_t strides[Dims::kMaxRank];
};

inline StridedLayout layout_of(const Shape& shape, const Strides& strides) {
  StridedLayout l{};
  l.rank = shape.rank();
  for (int d = 0; d < shape.rank(); ++d) {
    l.shape[d] = static_cast<int32_t>(shape[d]);
    l.strides[d] = strides[d];
  }
  return l;
}
inline StridedLayout layout_of(const Tensor& t) { return layout_of(t.shape(), t.strides()); }

// Element offset of logical row-major index i.
__device__ inline int64_t offset_of(int32_t i, const StridedLayout& l) {
  int64_t off = 0;
  for (int d = l.rank - 1; d >= 0; --d) {
    const int32_t q = i / l.shape[d];
    off += static_cast<int64_t>(i - q * l.shape[d]) * l.strides[d];
    i = q;
  }
  return off;
}

// A rank-4 (N, C, H, W) tensor: sizes and strides.
struct Geom4 {
  int32_t N, C, H, W;
  int64_t sn, sc, sh, sw;
  __host__ __device__ int64_t at(int32_t n, int32_t c, int32_t h, int32_t w) const {
    return n * sn + c * sc + h * sh + w * sw;
  }
};

inline Geom4 geom4(const Tensor& t) {
  return {static_cast<int32_t>(t.size(0)), static_cast<int32_t>(t.size(1)), static_cast<int32_t>(t.size(2)),
          static_cast<int32_t>(t.size(3)), t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

// Logical coordinates of flat index i, enumerated in the memory order the thread mapping wants:
// (n, h, w, c) with c fastest when channels_last, else (n, c, h, w) with w fastest.
struct Coord4 {
  int32_t n, c, h, w;
};
__device__ inline Coord4 coord4(int32_t i, int32_t C, int32_t H, int32_t W, bool channels_last) {
  Coord4 r;
  if (channels_last) {
    r.c = i % C;
    i /= C;
    r.w = i % W;
    i /= W;
    r.h = i % H;
    r.n = i / H;
  } else {
    r.w = i % W;
    i /= W;
    r.h = i % H;
    i /= H;
    r.c = i % C;
    r.n = i / C;
  }
  return r;
}

// Grid-stride loop over [0, n).
#define FIGS_GRID_STRIDE(i, n)                                                    \
  for (int32_t i = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x); i < (n); \
       i += static_cast<int32_t>(blockDim.x * gridDim.x))

template <class T>
__device__ inline T warp_sum(T v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}
template <class T>
__device__ inline T warp_max(T v) {
  for (int off = 16; off > 0; off >>= 1) v = max(v, __shfl_down_sync(0xffffffffu, v, off));
  return v;
}

}  // namespace figs::cuda

namespace figs::cuda {

// Sum of v over threadIdx.y for each threadIdx.x (blockDim.y a power of two), returned to every
// thread of that column; smem holds blockDim.x * blockDim.y values. A fixed tree: deterministic.
template <class Acc>
__device__ inline Acc sum_over_lanes(Acc v, Acc* smem) {
  const int tid = threadIdx.y * blockDim.x + threadIdx.x;
  smem[tid] = v;
  __syncthreads();
  for (int half = blockDim.y / 2; half > 0; half >>= 1) {
    if (static_cast<int>(threadIdx.y) < half) smem[tid] += smem[tid + half * blockDim.x];
    __syncthreads();
  }
  const Acc total = smem[threadIdx.x];
  __syncthreads();  // smem may be reused by the caller's next call
  return total;
}

}  // namespace figs::cuda

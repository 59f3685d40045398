#include "cuda/launch.h"

#include <algorithm>
#include <array>
#include <utility>

namespace figs::cuda {

int64_t blocks_for(int64_t n, int threads, int64_t max_blocks) {
  return std::clamp<int64_t>((n + threads - 1) / threads, 1, max_blocks);
}

bool is_dense(const Shape& shape, const Strides& strides) {
  std::array<int, Dims::kMaxRank> order{};
  int m = 0;
  for (int d = 0; d < shape.rank(); ++d) {
    if (shape[d] == 0) return true;  // nothing to address
    if (shape[d] != 1) order[m++] = d;
  }
  for (int i = 1; i < m; ++i)  // insertion sort by stride (at most 6 dims)
    for (int j = i; j > 0 && strides[order[j]] < strides[order[j - 1]]; --j) std::swap(order[j], order[j - 1]);
  int64_t expected = 1;
  for (int i = 0; i < m; ++i) {
    if (strides[order[i]] != expected) return false;
    expected *= shape[order[i]];
  }
  return true;
}

int single_varying_dim(const Shape& out, const Strides& bstrides) {
  int found = -1;
  for (int d = 0; d < out.rank(); ++d) {
    if (out[d] == 1 || bstrides[d] == 0) continue;
    if (found >= 0) return -2;
    found = d;
  }
  return found;
}

BlasOperand blas_operand(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  // A size-1 dim takes the stride that makes the other dim's layout valid.
  if (cols == 1) sc = sr == 1 ? std::max<int64_t>(rows, 1) : 1;
  if (rows == 1) sr = sc == 1 ? std::max<int64_t>(cols, 1) : 1;
  if (sr == 1 && sc >= std::max<int64_t>(rows, 1)) return {BlasOperand::ColMajor, sc};
  if (sc == 1 && sr >= std::max<int64_t>(cols, 1)) return {BlasOperand::RowMajor, sr};
  return {BlasOperand::NeedsCopy, 0};
}

ChannelReducePlan plan_channel_reduce(int64_t channels, int64_t rows, bool channels_fastest, int64_t target_blocks,
                                      int64_t min_rows_per_lane) {
  ChannelReducePlan p;
  p.block_x = channels_fastest ? 32 : 1;
  p.block_y = channels_fastest ? 8 : 256;
  p.channel_blocks = std::max<int64_t>(1, (channels + p.block_x - 1) / p.block_x);
  const int64_t want = std::max<int64_t>(1, target_blocks / p.channel_blocks);
  const int64_t most = std::max<int64_t>(1, rows / (p.block_y * min_rows_per_lane));
  p.splits = std::clamp<int64_t>(std::min(want, most), 1, 65535);
  p.rows_per_split = std::max<int64_t>(1, (rows + p.splits - 1) / p.splits);
  p.splits = std::max<int64_t>(1, (rows + p.rows_per_split - 1) / p.rows_per_split);  // no empty split
  return p;
}

DepthwiseSpecialization depthwise_specialization(int64_t kh, int64_t kw, int stride_h, int stride_w, int dilation_h,
                                                 int dilation_w, bool is_float32) {
  const bool k_ok = kh == kw && (kh == 3 || kh == 5 || kh == 7);
  const bool s_ok = stride_h == stride_w && (stride_h == 1 || stride_h == 2);
  if (!is_float32 || !k_ok || !s_ok || dilation_h != 1 || dilation_w != 1) return {};
  return {static_cast<int>(kh), stride_h};
}

int depthwise_weight_tile_rows(int /*k*/, int /*stride*/) {
  // Until a GPU run times 2 and 4 against 1 (bench_cuda_kernels, scripts/gpu-check.sh), the
  // measured 1-D tiling stays the choice.
  return 1;
}

}  // namespace figs::cuda

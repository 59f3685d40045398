// Concatenation along the channels of dense channels-last tensors, in one pass over the output.
//
// Copying each input into its channel slice of y writes a few channels of every pixel per input:
// the cell's projection reads a concat of 5-7 inputs, so each cache line of y was fetched and
// written 5-7 times. Here each thread walks its share of y's pixels once, and for each pixel
// copies every input's channels in order.
#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "cpu/fast/kernels.h"

namespace figs::cpu::fast {

namespace {
bool dense_cl_f32(const Tensor& t) {
  return t.dtype() == DType::Float32 && t.dim() == 4 && t.memory_format() == MemoryFormat::ChannelsLast &&
         t.is_contiguous(MemoryFormat::ChannelsLast);
}

void copy_floats(const float* __restrict from, float* __restrict to, int64_t n) {
  for (int64_t i = 0; i < n; ++i) to[i] = from[i];
}
}  // namespace

bool concat_channels_last(const std::vector<Tensor>& xs, int dim, const Tensor& y) {
  if (dim != 1 || !dense_cl_f32(y)) return false;
  for (const Tensor& x : xs)
    if (!dense_cl_f32(x)) return false;
  const int64_t C = y.size(1), pixels = y.numel() / std::max<int64_t>(C, 1);
  std::vector<const float*> src;
  std::vector<int64_t> width;
  for (const Tensor& x : xs) {
    if (x.numel() == 0) continue;
    src.push_back(x.data<float>());
    width.push_back(x.size(1));
  }
  float* out = y.data<float>();
  parallel_for(0, pixels, std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      float* row = out + p * C;
      for (size_t i = 0; i < src.size(); ++i) {
        copy_floats(src[i] + p * width[i], row, width[i]);
        row += width[i];
      }
    }
  });
  return true;
}

}  // namespace figs::cpu::fast

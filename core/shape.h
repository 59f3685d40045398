// Shapes and strides: small fixed-capacity vectors of int64, plus the layout arithmetic on them.
//
// Shapes are always logical (N, C, H, W for images). Memory layout is a matter of strides only:
// a channels-last tensor has shape (N, C, H, W) and strides (H*W*C, 1, W*C, C), as in PyTorch.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"

namespace figs {

class Dims {
 public:
  static constexpr int kMaxRank = 6;

  Dims() = default;
  Dims(std::initializer_list<int64_t> values) { assign(values.begin(), values.end()); }
  explicit Dims(const std::vector<int64_t>& values) { assign(values.begin(), values.end()); }

  int rank() const { return rank_; }
  bool empty() const { return rank_ == 0; }
  int64_t operator[](int i) const { return v_[i]; }
  int64_t& operator[](int i) { return v_[i]; }
  const int64_t* begin() const { return v_.data(); }
  const int64_t* end() const { return v_.data() + rank_; }
  int64_t* begin() { return v_.data(); }
  int64_t* end() { return v_.data() + rank_; }

  void push_back(int64_t x) {
    if (rank_ >= kMaxRank) fail_too_many_dims();
    v_[rank_++] = x;
  }
  // Product of the entries (1 for rank 0): the element count when the Dims is a shape.
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= v_[i];
    return n;
  }
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  std::string str() const;

  friend bool operator==(const Dims& a, const Dims& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.v_[i] != b.v_[i]) return false;
    return true;
  }
  friend bool operator!=(const Dims& a, const Dims& b) { return !(a == b); }

 private:
  // Out of line, so that this header's inline functions instantiate no error-message template:
  // one instantiated in an AVX2 file could be the copy the linker keeps (tests/check_avx2_objects.sh).
  [[noreturn]] static void fail_too_many_dims();
  template <class It>
  void assign(It first, It last) {
    for (; first != last; ++first) push_back(*first);
  }
  std::array<int64_t, kMaxRank> v_{};
  int rank_ = 0;
};

using Shape = Dims;
using Strides = Dims;

inline std::ostream& operator<<(std::ostream& os, const Dims& d) { return os << d.str(); }

enum class MemoryFormat : uint8_t {
  Contiguous,    // row-major in the logical order (NCHW for images)
  ChannelsLast,  // rank-4 only: NHWC in memory, shape still (N, C, H, W)
};

inline const char* memory_format_name(MemoryFormat f) {
  return f == MemoryFormat::Contiguous ? "contiguous" : "channels_last";
}

Strides contiguous_strides(const Shape& shape);
Strides channels_last_strides(const Shape& shape);  // throws unless rank 4
Strides strides_for(const Shape& shape, MemoryFormat format);

// Numpy broadcasting of two shapes; `op` names the caller in the error.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Maps a possibly negative dim into [0, rank); `op` names the caller in the error.
int normalize_dim(int64_t dim, int rank, const char* op);

// Strides of `shape` seen as broadcast to `target` (stride 0 along broadcast dims, leading
// dims added). Precondition: broadcast_shapes(shape, target) == target.
Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target);

}  // namespace figs

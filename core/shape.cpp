#include "core/shape.h"

#include <algorithm>

#include <sstream>

namespace figs {

void Dims::fail_too_many_dims() { fail("Dims: more than ", kMaxRank, " dimensions"); }

std::string Dims::str() const {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < rank_; ++i) os << (i ? "," : "") << v_[i];
  os << ']';
  return os.str();
}

Strides contiguous_strides(const Shape& shape) {
  Strides s = shape;
  int64_t running = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    s[i] = running;
    running *= std::max<int64_t>(shape[i], 1);
  }
  return s;
}

Strides channels_last_strides(const Shape& shape) {
  FIGS_CHECK(shape.rank() == 4, "channels_last: needs a rank-4 (N,C,H,W) shape, got ", shape);
  const int64_t C = std::max<int64_t>(shape[1], 1), H = std::max<int64_t>(shape[2], 1),
                W = std::max<int64_t>(shape[3], 1);
  return Strides{H * W * C, 1, W * C, C};
}

Strides strides_for(const Shape& shape, MemoryFormat format) {
  return format == MemoryFormat::ChannelsLast ? channels_last_strides(shape)
                                              : contiguous_strides(shape);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int rank = std::max(a.rank(), b.rank());
  Shape out;
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.rank()), ib = i - (rank - b.rank());
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    FIGS_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
               " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

int normalize_dim(int64_t dim, int rank, const char* op) {
  FIGS_CHECK(dim >= -rank && dim < rank, op, ": dim ", dim, " is out of range for a rank-", rank,
             " tensor");
  return static_cast<int>(dim < 0 ? dim + rank : dim);
}

Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target) {
  Strides out;
  const int lead = target.rank() - shape.rank();
  for (int i = 0; i < target.rank(); ++i) {
    const int j = i - lead;
    out.push_back(j < 0 || shape[j] == 1 ? 0 : strides[j]);
  }
  return out;
}

}  // namespace figs

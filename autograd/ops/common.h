// Checks shared by the op definitions in autograd/ops/.
#pragma once

#include "core/tensor.h"

namespace figs::ops {

// a and b on one device with one floating dtype.
inline void check_compatible(const char* op, const Tensor& a, const Tensor& b) {
  FIGS_CHECK(a.defined() && b.defined(), op, ": undefined input");
  FIGS_CHECK(a.device() == b.device(), op, ": inputs on different devices (", a.describe(), " and ",
             b.describe(), ")");
  FIGS_CHECK(a.dtype() == b.dtype(), op, ": inputs of different dtypes (", a.describe(), " and ",
             b.describe(), ")");
}

inline void check_floating(const char* op, const Tensor& x) {
  FIGS_CHECK(x.defined(), op, ": undefined input");
  FIGS_CHECK(is_floating(x.dtype()), op, ": needs a floating tensor, got ", x.describe());
}

inline void check_rank(const char* op, const char* what, const Tensor& x, int rank) {
  FIGS_CHECK(x.dim() == rank, op, ": ", what, " must have rank ", rank, ", got ", x.describe());
}

// An optional per-channel tensor (bias, gamma, ...): undefined, or shape (C) like x.
inline void check_per_channel(const char* op, const char* what, const Tensor& t, const Tensor& like,
                              int64_t channels) {
  if (!t.defined()) return;
  check_compatible(op, like, t);
  FIGS_CHECK(t.dim() == 1 && t.size(0) == channels, op, ": ", what, " must have shape [", channels,
             "], got ", t.describe());
}

}  // namespace figs::ops

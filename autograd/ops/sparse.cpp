// sparse_matvec: y = A x for a constant sparse A (CSR, with its transpose for the backward), and
// cast, a differentiable dtype conversion. They carry the FiGS expected cost on the tensors'
// device (nas/channel_graph.cpp): group sums and per-operator channel sums are sparse products.
#include <algorithm>
#include <map>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/view.h"
#include "core/kernel_stats.h"

namespace figs {

namespace {

// CSR of the entries keyed by (major, minor); sums repeated positions.
void to_csr(int64_t rows, const std::map<std::pair<int64_t, int64_t>, double>& cells, DType dtype, Device device,
            Tensor& row_ptr, Tensor& col, Tensor& val) {
  std::vector<int64_t> ptr(static_cast<size_t>(rows + 1), 0), cols;
  std::vector<double> vals;
  for (const auto& [rc, v] : cells) {
    ++ptr[static_cast<size_t>(rc.first + 1)];
    cols.push_back(rc.second);
    vals.push_back(v);
  }
  for (int64_t r = 0; r < rows; ++r) ptr[static_cast<size_t>(r + 1)] += ptr[static_cast<size_t>(r)];
  const auto n = static_cast<int64_t>(cols.size());
  row_ptr = raw::to(from_vector(ptr, {rows + 1}), device);
  col = raw::to(from_vector(cols, {n}), device);
  val = raw::to(raw::to_dtype(from_vector(vals, {n}), dtype), device);
}

Tensor matvec(const Tensor& row_ptr, const Tensor& col, const Tensor& val, int64_t rows, const Tensor& x) {
  Tensor y = empty({rows}, {x.dtype(), x.device()});
  backend_of(x).csr_matvec(row_ptr, col, val, x, y);
  return y;
}

}  // namespace

SparseMatrix SparseMatrix::from_entries(int64_t rows, int64_t cols, const std::vector<SparseEntry>& entries,
                                        DType dtype, Device device) {
  FIGS_CHECK(rows >= 0 && cols >= 0, "SparseMatrix: negative size ", rows, " x ", cols);
  FIGS_CHECK(is_floating(dtype), "SparseMatrix: values must be floating, got ", dtype);
  std::map<std::pair<int64_t, int64_t>, double> a, at;
  for (const SparseEntry& e : entries) {
    FIGS_CHECK(e.row >= 0 && e.row < rows && e.col >= 0 && e.col < cols, "SparseMatrix: entry (", e.row, ", ", e.col,
               ") outside ", rows, " x ", cols);
    a[{e.row, e.col}] += e.value;
    at[{e.col, e.row}] += e.value;
  }
  SparseMatrix m;
  m.rows = rows;
  m.cols = cols;
  to_csr(rows, a, dtype, device, m.row_ptr, m.col, m.val);
  to_csr(cols, at, dtype, device, m.t_row_ptr, m.t_col, m.t_val);
  return m;
}

Tensor sparse_matvec(const SparseMatrix& a, const Tensor& x) {
  const OpScope op_scope(OpKind::SparseMatvec);  // the kernel statistics book its calls under it
  ops::check_floating("sparse_matvec", x);
  FIGS_CHECK(x.dim() == 1 && x.size(0) == a.cols, "sparse_matvec: x must have shape [", a.cols, "], got ",
             x.describe());
  FIGS_CHECK(x.dtype() == a.val.dtype() && x.device() == a.val.device(), "sparse_matvec: the matrix is ",
             a.val.dtype(), " on ", a.val.device(), ", x is ", x.describe());
  Tensor y = matvec(a.row_ptr, a.col, a.val, a.rows, x);
  if (any_requires_grad({&x})) {
    record(OpKind::SparseMatvec, {&x}, y, [a](const Tensor& gy, InputGrads& g) {
      g.set(0, matvec(a.t_row_ptr, a.t_col, a.t_val, a.cols, raw::contiguous(gy)));
    });
  }
  return y;
}

Tensor cast(const Tensor& x, DType dtype) {
  const OpScope op_scope(OpKind::Cast);  // the kernel statistics book its calls under it
  ops::check_floating("cast", x);
  FIGS_CHECK(is_floating(dtype), "cast: to a floating dtype only, got ", dtype);
  Tensor y = raw::to_dtype(x.detach(), dtype);
  if (y.storage() == x.storage()) y = raw::clone(x.detach());  // always a new tensor for the node
  if (any_requires_grad({&x})) {
    const DType from = x.dtype();
    record(OpKind::Cast, {&x}, y, [from](const Tensor& gy, InputGrads& g) { g.set(0, raw::to_dtype(gy, from)); });
  }
  return y;
}

}  // namespace figs

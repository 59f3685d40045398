// Reference kernel: y = A x for a sparse A in CSR form (Backend::csr_matvec), each row summed in
// index order, in float64 for float32 data.
#pragma once

#include "core/tensor.h"

namespace figs::cpu::ref {

template <class T>
void csr_matvec(const Tensor& row_ptr, const Tensor& col, const Tensor& val, const Tensor& x, const Tensor& y) {
  const int64_t rows = y.size(0);
  const int64_t* ptr = row_ptr.data<int64_t>();
  const int64_t* c = col.data<int64_t>();
  const T* v = val.data<T>();
  const T* in = x.data<T>();
  T* out = y.data<T>();
  for (int64_t r = 0; r < rows; ++r) {
    double acc = 0;
    for (int64_t k = ptr[r]; k < ptr[r + 1]; ++k)
      acc += static_cast<double>(v[k * val.stride(0)]) * static_cast<double>(in[c[k] * x.stride(0)]);
    out[r * y.stride(0)] = static_cast<T>(acc);
  }
}

}  // namespace figs::cpu::ref

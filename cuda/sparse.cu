// y = A x for a sparse A in CSR form on the GPU (Backend::csr_matvec): one thread per row sums
// it in index order (deterministic; the rows are the expected cost's few hundred groups and
// operators, so the launch costs its latency, not bandwidth).
#include "cuda/device.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

template <class T>
__global__ void csr_matvec_kernel(const int64_t* row_ptr, const int64_t* col, const T* val, int64_t val_stride,
                                  const T* x, int64_t x_stride, T* y, int64_t y_stride, int32_t rows) {
  FIGS_GRID_STRIDE(r, rows) {
    double acc = 0;
    for (int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k)
      acc += static_cast<double>(val[k * val_stride]) * static_cast<double>(x[col[k] * x_stride]);
    y[r * y_stride] = static_cast<T>(acc);
  }
}

}  // namespace

void csr_matvec(const Tensor& row_ptr, const Tensor& col, const Tensor& val, const Tensor& x, const Tensor& y) {
  const int64_t rows = y.size(0);
  FIGS_CHECK(rows < (int64_t{1} << 31), "csr_matvec: ", rows, " rows is too many for one launch");
  if (rows == 0) return;
  use_device_of(y);
  dispatch_floating(x.dtype(), "csr_matvec", [&](auto tag) {
    using T = decltype(tag);
    csr_matvec_kernel<T><<<static_cast<int>(blocks_for(rows)), kThreads, 0, current_stream()>>>(
        row_ptr.data<int64_t>(), col.data<int64_t>(), val.data<T>(), val.stride(0), x.data<T>(), x.stride(0),
        y.data<T>(), y.stride(0), static_cast<int32_t>(rows));
    FIGS_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace figs::cuda::kernels

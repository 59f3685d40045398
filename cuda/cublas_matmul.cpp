// out (M, N) = a (M, K) @ b (K, N) on cuBLAS (cublasSgemm / cublasDgemm; float32 with TF32 tensor
// cores while cuda::tf32(), else strict float32, matching the CPU to float32 rounding). cuBLAS is
// loaded on the first call (cuda/cublas_library.h).
//
// cuBLAS is column-major; figs matrices are (rows, cols) with any strides. blas_operand()
// (cuda/launch.h) classifies each as column-major (stride 1 down a column), row-major (its
// transpose is column-major) or neither (copied to contiguous first). Transposed views thus cost
// nothing: they become CUBLAS_OP_T. For a row-major output the product is computed as
// out^T = b^T a^T, which cuBLAS writes column-major, i.e. out row-major.
#include <map>
#include <mutex>

#include "core/backend.h"
#include "core/view.h"
#include "cuda/cublas_library.h"
#include "cuda/cuda.h"
#include "cuda/kernels.h"
#include "cuda/runtime.h"

namespace figs::cuda::kernels {

namespace {

#define FIGS_CUBLAS_CHECK(call)                                                                        \
  do {                                                                                                 \
    const cublasStatus_t figs_cublas_status_ = (call);                                                 \
    if (figs_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                  \
      ::figs::fail("cuBLAS error in ", #call, ": ", cublas_library().status_name(figs_cublas_status_), " (", \
                   cublas_library().status_string(figs_cublas_status_), ") at ", __FILE__, ":", __LINE__); \
  } while (false)

// The device's handle, set to the calling thread's current stream, with a workspace of figs's
// own: cublasSetStream puts the handle back on cuBLAS's default workspace pool, which allocates
// per stream, and an allocation inside a CUDA graph's capture would fail it (cuda/graph.h). The
// workspace is shared by the legacy stream and a graph's, which are ordered with each other.
cublasHandle_t cublas_handle(int device) {
  // 32 MiB: what NVIDIA recommends for Hopper; more than enough for the classifier's matmuls.
  constexpr size_t kWorkspace = size_t{32} << 20;
  struct Handle {
    cublasHandle_t handle = nullptr;
    void* workspace = nullptr;
  };
  static std::mutex mutex;
  static std::map<int, Handle>* handles = new std::map<int, Handle>;  // never destroyed
  std::lock_guard<std::mutex> lock(mutex);
  auto it = handles->find(device);
  if (it == handles->end()) {
    Handle h;
    FIGS_CUBLAS_CHECK(cublas_library().create(&h.handle));
    FIGS_CUDA_CHECK(cudaMalloc(&h.workspace, kWorkspace));
    it = handles->emplace(device, h).first;
  }
  FIGS_CUBLAS_CHECK(cublas_library().set_stream(it->second.handle, current_stream()));
  FIGS_CUBLAS_CHECK(cublas_library().set_workspace(it->second.handle, it->second.workspace, kWorkspace));
  return it->second.handle;
}

BlasOperand classify(const Tensor& t) { return blas_operand(t.size(0), t.size(1), t.stride(0), t.stride(1)); }

cublasOperation_t op_for(BlasOperand::Kind have, BlasOperand::Kind want) {
  return have == want ? CUBLAS_OP_N : CUBLAS_OP_T;
}

}  // namespace

void matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& out_in) {
  const int64_t M = a_in.size(0), K = a_in.size(1), N = b_in.size(1);
  if (M == 0 || N == 0) return;
  use_device_of(out_in);
  if (K == 0) {
    backend_of(out_in).fill(out_in, 0.0);
    return;
  }
  FIGS_CHECK(M < (int64_t{1} << 31) && N < (int64_t{1} << 31) && K < (int64_t{1} << 31),
             "matmul: cuBLAS takes 32-bit sizes, got (", M, ", ", K, ") @ (", K, ", ", N, ")");
  const Tensor a = classify(a_in).kind == BlasOperand::NeedsCopy ? raw::contiguous(a_in) : a_in;
  const Tensor b = classify(b_in).kind == BlasOperand::NeedsCopy ? raw::contiguous(b_in) : b_in;
  const Tensor out = classify(out_in).kind == BlasOperand::NeedsCopy ? empty_like(out_in) : out_in;
  const BlasOperand oa = classify(a), ob = classify(b), oo = classify(out);
  cublasHandle_t h = cublas_handle(out.device().index);
  // TF32 tensor cores for float32 when cuda::tf32() (a no-op for float64 and on older GPUs).
  FIGS_CUBLAS_CHECK(cublas_library().set_math_mode(h, tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  // Column-major C = op(A) op(B) with C = out (out column-major) or C = out^T (out row-major).
  const bool out_row_major = oo.kind == BlasOperand::RowMajor;
  const Tensor& first = out_row_major ? b : a;
  const Tensor& second = out_row_major ? a : b;
  const BlasOperand& o1 = out_row_major ? ob : oa;
  const BlasOperand& o2 = out_row_major ? oa : ob;
  // Row-major output: b^T and a^T are wanted, and a row-major operand *is* its transpose in
  // column-major memory (no op); column-major output: a and b as they are.
  const BlasOperand::Kind want = out_row_major ? BlasOperand::RowMajor : BlasOperand::ColMajor;
  const int m = static_cast<int>(out_row_major ? N : M), n = static_cast<int>(out_row_major ? M : N);
  const int k = static_cast<int>(K);
  const cublasOperation_t op1 = op_for(o1.kind, want), op2 = op_for(o2.kind, want);
  if (out.dtype() == DType::Float32) {
    const float one = 1, zero = 0;
    FIGS_CUBLAS_CHECK(cublas_library().sgemm(h, op1, op2, m, n, k, &one, first.data<float>(), static_cast<int>(o1.ld),
                                  second.data<float>(), static_cast<int>(o2.ld), &zero, out.data<float>(),
                                  static_cast<int>(oo.ld)));
  } else {
    FIGS_CHECK(out.dtype() == DType::Float64, "matmul: float32 or float64 expected, got ", dtype_name(out.dtype()));
    const double one = 1, zero = 0;
    FIGS_CUBLAS_CHECK(cublas_library().dgemm(h, op1, op2, m, n, k, &one, first.data<double>(), static_cast<int>(o1.ld),
                                  second.data<double>(), static_cast<int>(o2.ld), &zero, out.data<double>(),
                                  static_cast<int>(oo.ld)));
  }
  if (out.raw_data() != out_in.raw_data()) raw::copy_(out_in, out);
}

}  // namespace figs::cuda::kernels

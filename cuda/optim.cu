// The optimizer kernels (Backend::sgd_step, adam_step, sum_squares; formulas in core/params.h).
//
// sgd_step / adam_step: one thread per arena element, one fused pass over a parameter group's
// span (params, grads and the state read once, written once). Every float operation is spelled
// with a round-to-nearest intrinsic (__fmul_rn, __fadd_rn, ...), which nvcc never contracts
// into an FMA, in the order of the CPU loops (cpu/optim.cpp); sqrt and division are IEEE
// (__fsqrt_rn, __fdiv_rn). Given the same inputs the GPU step is therefore bit-identical to the
// CPU's, which tests/cuda/test_cuda_nn.cpp asserts.
//
// sum_squares: float64 accumulation, a grid-stride pass into one partial per block (a fixed
// tree within the block), then one block adds the partials in a fixed tree. The grid depends
// only on n, so the result is the same on every run; it differs from the CPU's block-sequential
// order only by float64 rounding. The host waits for the value (a clipping decision needs it).
#include <initializer_list>

#include "cuda/device.cuh"
#include "cuda/kernels.h"

namespace figs::cuda::kernels {

namespace {

__global__ void sgd_kernel(SgdStepParams given, float* __restrict__ p, const float* __restrict__ grad, int32_t n) {
  const SgdStepParams o = resolved(given);  // Note [Step values on the device]
  FIGS_GRID_STRIDE(i, n) {
    const float w = p[i];
    p[i] = __fsub_rn(w, __fmul_rn(o.lr, __fadd_rn(grad[i], __fmul_rn(o.weight_decay, w))));
  }
}

__global__ void sgd_momentum_kernel(SgdStepParams given, float* __restrict__ p, const float* __restrict__ grad,
                                    float* __restrict__ v, int32_t n) {
  const SgdStepParams o = resolved(given);  // Note [Step values on the device]
  FIGS_GRID_STRIDE(i, n) {
    const float w = p[i];
    const float g = __fadd_rn(grad[i], __fmul_rn(o.weight_decay, w));
    const float vi = __fadd_rn(__fmul_rn(o.momentum, v[i]), g);
    v[i] = vi;
    const float d = o.nesterov ? __fadd_rn(g, __fmul_rn(o.momentum, vi)) : vi;
    p[i] = __fsub_rn(w, __fmul_rn(o.lr, d));
  }
}

__global__ void adam_kernel(AdamStepParams given, float* __restrict__ p, const float* __restrict__ grad,
                            float* __restrict__ m, float* __restrict__ v, int32_t n) {
  const AdamStepParams o = resolved(given);  // Note [Step values on the device]
  const float one_minus_b1 = __fsub_rn(1.0f, o.beta1), one_minus_b2 = __fsub_rn(1.0f, o.beta2);
  FIGS_GRID_STRIDE(i, n) {
    float w = p[i];
    float g = grad[i];
    if (o.decoupled)
      w = __fmul_rn(w, o.decay);
    else
      g = __fadd_rn(g, __fmul_rn(o.weight_decay, w));
    const float mi = __fadd_rn(__fmul_rn(o.beta1, m[i]), __fmul_rn(one_minus_b1, g));
    const float vi = __fadd_rn(__fmul_rn(o.beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_b2, g), g));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fmul_rn(__fsqrt_rn(vi), o.inv_sqrt_bc2), o.eps);
    p[i] = __fsub_rn(w, __fdiv_rn(__fmul_rn(o.step_size, mi), denom));
  }
}

// Sum of a kThreads-long shared array, returned to thread 0: a fixed tree.
__device__ double block_sum(double v, double* smem) {
  smem[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half >>= 1) {
    if (static_cast<int>(threadIdx.x) < half) smem[threadIdx.x] += smem[threadIdx.x + half];
    __syncthreads();
  }
  return smem[0];
}

__global__ void sum_squares_partial(const float* __restrict__ x, int32_t n, double* __restrict__ partial) {
  __shared__ double smem[kThreads];
  double acc = 0;
  FIGS_GRID_STRIDE(i, n) {
    const double v = x[i];
    acc += v * v;
  }
  const double total = block_sum(acc, smem);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void sum_squares_finish(const double* __restrict__ partial, int32_t count, double* __restrict__ out) {
  __shared__ double smem[kThreads];
  double acc = 0;
  for (int32_t i = static_cast<int32_t>(threadIdx.x); i < count; i += kThreads) acc += partial[i];
  const double total = block_sum(acc, smem);
  if (threadIdx.x == 0) *out = total;
}

// What the nn layer guarantees, checked here because a violation would be a wild memory access
// on the GPU rather than an error: every operand a float32 contiguous arena of params' length
// on params' device, and [begin, end) inside it.
void check_operands(const char* kernel, const Tensor& params, std::initializer_list<const Tensor*> others,
                    int64_t begin, int64_t end) {
  check_index_range(kernel, params);
  FIGS_CHECK(begin >= 0 && begin <= end && end <= params.numel(), kernel, ": range [", begin, ", ", end,
             ") is outside the arena of ", params.numel(), " elements");
  FIGS_CHECK(params.dtype() == DType::Float32 && params.is_contiguous() && params.device().is_cuda(), kernel,
             ": expected a contiguous float32 CUDA arena, got ", params.describe());
  for (const Tensor* t : others)
    FIGS_CHECK(t->dtype() == DType::Float32 && t->is_contiguous() && t->device() == params.device() &&
                   t->numel() == params.numel(),
               kernel, ": ", t->describe(), " does not match the parameter arena ", params.describe());
}

}  // namespace

void sgd_step(const SgdStepParams& o, const Tensor& params, const Tensor& grads, const Tensor& momentum,
              int64_t begin, int64_t end) {
  if (momentum.defined())
    check_operands("sgd_step", params, {&grads, &momentum}, begin, end);
  else
    check_operands("sgd_step", params, {&grads}, begin, end);
  const int64_t n = end - begin;
  if (n == 0) return;
  use_device_of(params);
  const int blocks = static_cast<int>(blocks_for(n));
  if (momentum.defined())
    sgd_momentum_kernel<<<blocks, kThreads, 0, current_stream()>>>(
        o, params.data<float>() + begin, grads.data<float>() + begin, momentum.data<float>() + begin,
        static_cast<int32_t>(n));
  else
    sgd_kernel<<<blocks, kThreads, 0, current_stream()>>>(o, params.data<float>() + begin,
                                                          grads.data<float>() + begin, static_cast<int32_t>(n));
  FIGS_CUDA_CHECK_LAUNCH();
}

void adam_step(const AdamStepParams& o, const Tensor& params, const Tensor& grads, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, int64_t begin, int64_t end) {
  check_operands("adam_step", params, {&grads, &exp_avg, &exp_avg_sq}, begin, end);
  const int64_t n = end - begin;
  if (n == 0) return;
  use_device_of(params);
  adam_kernel<<<static_cast<int>(blocks_for(n)), kThreads, 0, current_stream()>>>(
      o, params.data<float>() + begin, grads.data<float>() + begin, exp_avg.data<float>() + begin,
      exp_avg_sq.data<float>() + begin, static_cast<int32_t>(n));
  FIGS_CUDA_CHECK_LAUNCH();
}

double sum_squares(const Tensor& x) {
  check_operands("sum_squares", x, {}, 0, x.numel());
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  use_device_of(x);
  // At most 1024 partials: enough blocks to fill the GPU, few enough for one finishing block.
  const int64_t blocks = blocks_for(n, kThreads, 1024);
  DeviceBuffer<double> partial(blocks + 1, x.device().index);  // partials, then the total
  sum_squares_partial<<<static_cast<int>(blocks), kThreads, 0, current_stream()>>>(
      x.data<float>(), static_cast<int32_t>(n), partial.data());
  FIGS_CUDA_CHECK_LAUNCH();
  sum_squares_finish<<<1, kThreads, 0, current_stream()>>>(
      partial.data(), static_cast<int32_t>(blocks), partial.data() + blocks);
  FIGS_CUDA_CHECK_LAUNCH();
  double total = 0;
  note_host_sync();
  FIGS_CUDA_CHECK(cudaMemcpy(&total, partial.data() + blocks, sizeof(double), cudaMemcpyDeviceToHost));
  return total;
}

}  // namespace figs::cuda::kernels

// The CUDA backend's compute kernels, one file per op family (cuda/<family>.cu), declared here
// for cuda_backend.cu, which wires them into the Backend interface. Same contracts as the
// Backend methods of core/backend.h: outputs arrive allocated, any strides are honoured,
// float32 and float64 (unless a comment says otherwise). Every launch is checked.
#pragma once

#include "core/params.h"
#include "core/tensor.h"

#include <memory>

namespace figs::cuda::kernels {

// A (C) vector seen as (1, C, 1, 1) (a view sharing its storage), to broadcast or reduce
// against an (N, C, H, W) tensor.
inline Tensor channel_vector_as_4d(const Tensor& v) {
  const int64_t s = v.stride(0);
  return Tensor(std::make_shared<TensorImpl>(TensorImpl{v.storage(), v.offset(), Shape{1, v.size(0), 1, 1},
                                                        Strides{v.size(0) * s, s, s, s}, v.dtype(), nullptr}));
}

// elementwise.cu
void unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y);
void unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy,
                    const Tensor& gx);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);

// reduce.cu: out = x summed over the dims where out has size 1 and x does not (same rank).
void sum(const Tensor& x, const Tensor& out);

// loss.cu
void log_softmax_forward(const Tensor& x, const Tensor& y);
void log_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx);
void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing, const Tensor& loss);
void cross_entropy_backward(const Tensor& logits, const Tensor& labels, double smoothing, const Tensor& gloss,
                            const Tensor& glogits);

// pool.cu
void max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor& indices);
void max_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& indices, const Tensor& gx);
void max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gx);
void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y);
void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx);

// mask.cu: the FiGS mask's per-channel values and their backward (core/mask_math.h).
void csr_matvec(const Tensor& row_ptr, const Tensor& col, const Tensor& val, const Tensor& x, const Tensor& y);
void mask_values(const MaskParams& p, const Tensor& logits, const Tensor& noise, const Tensor& m, const Tensor& slope);
void mask_values_backward(const MaskParams& p, const Tensor& gm, const Tensor& slope, const Tensor& glogits);

// channel_scale.cu: the fused FiGS mask backward (one pass over gy and x).
void channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                            const Tensor& gscale);

// batch_norm.cu (own kernels; statistics accumulate in the tensor's dtype, two passes; p.relu
// fuses the ReLU, whose gate the backward reads from y)
void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                 const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd);
void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                  const Tensor& y);
void batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                         const Tensor& beta, const Tensor& mean, const Tensor& invstd, const Tensor& gx, const Tensor& ggamma,
                         const Tensor& gbeta);

// depthwise_conv.cu: groups == C_in == C_out (one filter per channel).
bool is_depthwise(const Conv2dParams& p, const Tensor& x, const Tensor& w);
void depthwise_conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                              const Tensor& y);
void depthwise_conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx);
// tile_rows: gy rows per thread tile of the specialised kernels (1, 2 or 4; launch.h); 0 takes
// depthwise_weight_tile_rows's choice. Tests and bench_cuda_kernels run each.
void depthwise_conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                                      const Tensor& gbias, int tile_rows = 0);

// cudnn_conv.cpp: every other convolution (dense, pointwise, grouped) through cuDNN. Without
// cuDNN in the build these throw an error saying so.
void cudnn_conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                          const Tensor& y);
void cudnn_conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx);
void cudnn_conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                                  const Tensor& gbias);

// cublas_matmul.cpp: out (M, N) = a (M, K) @ b (K, N) through cuBLAS (FP32/FP64; TF32 while cuda::tf32()).
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);

// optim.cu: the fused optimizer updates over [begin, end) of float32 arenas, bit-identical to
// the CPU's (cpu/optim.cpp), and the float64 sum of squares of gradient clipping.
void sgd_step(const SgdStepParams& p, const Tensor& params, const Tensor& grads, const Tensor& momentum,
              int64_t begin, int64_t end);
void adam_step(const AdamStepParams& p, const Tensor& params, const Tensor& grads, const Tensor& exp_avg,
               const Tensor& exp_avg_sq, int64_t begin, int64_t end);
double sum_squares(const Tensor& x);

}  // namespace figs::cuda::kernels

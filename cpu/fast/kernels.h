// The CPU backend's own vectorised kernels (float32; compiled with AVX2 + FMA, see
// CMakeLists.txt). Each returns true when it ran, false when the tensors' layout is one it does
// not cover — the caller then runs the reference kernel and records that it did
// (core/kernel_stats.h), so no fallback goes unseen.
//
// "Dense" below means: the elements fill their storage span with no gaps (plain contiguous or
// channels-last), so an elementwise op can walk memory linearly when all operands share strides.
#pragma once

#include "core/params.h"
#include "core/tensor.h"
#include "cpu/cpu_features.h"  // cpu_supported(): whether these kernels can run here
#include "cpu/fast/vector_isa.h"

namespace figs::cpu::fast {

bool fill(const Tensor& out, double value);
bool copy(const Tensor& src, const Tensor& dst);
// Channel concatenation of dense channels-last float32 tensors in one pass over y (concat.cpp).
bool concat_channels_last(const std::vector<Tensor>& xs, int dim, const Tensor& y);  // same dtype, same dense strides: memcpy
bool unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y);
bool unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx);
// Same shape, a per-channel (C) operand of an (N, C, H, W) one (the mask's scale), or a scalar.
bool binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
// All elements, per channel of (N, C, H, W), or over rows of (N, K).
bool sum(const Tensor& x, const Tensor& out);
// Fused backward of y = x * scale[c] (cpu/fast/channel_scale.cpp).
bool channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                            const Tensor& gscale);
// Depthwise convolution on channels-last tensors (cpu/fast/depthwise_conv2d.cpp).
bool depthwise_conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                              const Tensor& y);
bool depthwise_conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx);
// Backward-weights at either width; false also when `isa` is AVX-512 and the CPU lacks it.
bool depthwise_conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                                      const Tensor& gbias, VectorIsa isa);
// Batch normalisation, with the fused ReLU of p.relu, on dense channels-last tensors
// (cpu/fast/batch_norm.cpp).
bool batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, const Tensor& y,
                                 const Tensor& save_mean, const Tensor& save_invstd);
bool batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var, const Tensor& y);
// The fused ReLU's gate alone on dense NCHW tensors, for the oneDNN backward (cpu_backend.cpp):
// gated = gy where x scale + shift > 0, scale and shift as the own kernels' (batch_norm.cpp).
bool batch_norm_relu_gate(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& mean, const Tensor& invstd, const Tensor& gated);
bool batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                         const Tensor& beta, const Tensor& mean, const Tensor& invstd, const Tensor& gx, const Tensor& ggamma,
                         const Tensor& gbeta);
// Average pooling on channels-last tensors (cpu/fast/pool2d.cpp).
bool avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y);
bool avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx);
bool max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor& indices);
bool max_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& indices, const Tensor& gx);
// The backward from the forward's input: each window's argmax found with the forward's ties and
// gy added there, one pass, no argmax tensor.
bool max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gx);

}  // namespace figs::cpu::fast

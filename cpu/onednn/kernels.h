// The CPU backend's oneDNN kernels (float32). Same contracts as the Backend methods they serve
// (core/backend.h); callers have checked dtypes. Each records nothing itself: cpu_backend.cpp
// counts which implementation ran.
#pragma once

#include "core/params.h"
#include "core/tensor.h"

namespace figs::cpu::onednn {

void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y);
void conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w, const Tensor& gx);
void conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x, const Tensor& gw,
                            const Tensor& gbias);

void matmul(const Tensor& a, const Tensor& b, const Tensor& out);

void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y);
void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx);

void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                 const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd);
void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                  const Tensor& y);
void batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                         const Tensor& mean, const Tensor& invstd, const Tensor& gx, const Tensor& ggamma,
                         const Tensor& gbeta);

}  // namespace figs::cpu::onednn

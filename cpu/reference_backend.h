// The reference CPU backend: every kernel of core/backend.h as the plain loops of
// cpu/reference/, for float32 and float64. It is the oracle that faster kernels (oneDNN,
// vectorised, CUDA) are tested against; cpu::CpuBackend (cpu/cpu_backend.h) derives from it and
// overrides the kernels it has faster versions of.
#pragma once

#include "core/backend.h"

namespace figs::cpu {

class ReferenceBackend : public Backend {
 public:
  const char* name() const override { return "cpu-reference"; }
  DeviceType device_type() const override { return DeviceType::CPU; }

  std::shared_ptr<Storage> allocate(size_t nbytes, Device device) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void copy_from_host(const Tensor& host_src, const Tensor& dst) override;
  void copy_to_host(const Tensor& src, const Tensor& host_dst) override;

  void fill(const Tensor& out, double value) override;
  void fill_uniform(const Tensor& out, const RngDraw& draw, double low, double high) override;
  void fill_normal(const Tensor& out, const RngDraw& draw, double mean, double stddev) override;

  void unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) override;
  void unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y, const Tensor& gy,
                      const Tensor& gx) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void sum(const Tensor& x, const Tensor& out) override;
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out) override;

  void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& bias,
                      const Tensor& y) override;
  void conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w,
                            const Tensor& gx) override;
  void conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x,
                              const Tensor& gw, const Tensor& gbias) override;

  void max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y,
                          const Tensor& indices) override;
  void max_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& indices,
                           const Tensor& gx) override;
  void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) override;
  void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) override;

  void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                   const Tensor& beta, const Tensor& running_mean,
                                   const Tensor& running_var, const Tensor& y,
                                   const Tensor& save_mean, const Tensor& save_invstd) override;
  void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                    const Tensor& beta, const Tensor& running_mean,
                                    const Tensor& running_var, const Tensor& y) override;
  void batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x,
                           const Tensor& gamma, const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                           const Tensor& gx, const Tensor& ggamma, const Tensor& gbeta) override;
  // The fused ReLU's gate alone (cpu/reference/batch_norm.h): gated = gy where BN(x) > 0.
  void batch_norm_relu_gate(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                            const Tensor& beta, const Tensor& mean, const Tensor& invstd, const Tensor& gated);

  void csr_matvec(const Tensor& row_ptr, const Tensor& col, const Tensor& val, const Tensor& x,
                  const Tensor& y) override;
  void mask_values(const MaskParams& p, const Tensor& logits, const Tensor& noise, const Tensor& m,
                   const Tensor& slope) override;
  void mask_values_backward(const MaskParams& p, const Tensor& gm, const Tensor& slope,
                            const Tensor& glogits) override;
  void channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                              const Tensor& gscale) override;

  void log_softmax_forward(const Tensor& x, const Tensor& y) override;
  void log_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx) override;
  void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing,
                             const Tensor& loss) override;
  void cross_entropy_backward(const Tensor& logits, const Tensor& labels, double smoothing,
                              const Tensor& gloss, const Tensor& glogits) override;

  // Optimizer updates (cpu/optim.cpp): plain loops over the arena range on the thread pool. The
  // compiler vectorises them and there is nothing faster to choose, so CpuBackend inherits them
  // unchanged (and does not count them per implementation).
  void sgd_step(const SgdStepParams& p, const Tensor& params, const Tensor& grads, const Tensor& momentum,
                int64_t begin, int64_t end) override;
  void adam_step(const AdamStepParams& p, const Tensor& params, const Tensor& grads, const Tensor& exp_avg,
                 const Tensor& exp_avg_sq, int64_t begin, int64_t end) override;
  double sum_squares(const Tensor& x) override;
};

// A process-wide instance: the oracle tests compare fast kernels with.
ReferenceBackend& reference_backend();

}  // namespace figs::cpu

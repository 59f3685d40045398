// The kernel set that ops call, one implementation per device type.
//
// core knows this interface, not the backends: cpu/ and cuda/ each register an implementation
// at load time (register_backend). Ops in autograd/ validate shapes, allocate outputs and then
// call exactly one of these kernels per step of their forward or backward, so a new backend
// is "implement this class". Every kernel receives outputs already allocated with the right
// shape; inputs and outputs may have any strides (contiguous, channels-last, views) and a
// kernel must honour them (or make a contiguous copy itself, and say so where it matters).
//
// A kernel a backend does not implement throws an Error naming the backend and the kernel;
// nothing falls back silently to another device.
#pragma once

#include <memory>

#include "core/params.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace figs {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual DeviceType device_type() const = 0;

  // --- memory -----------------------------------------------------------------------------
  virtual std::shared_ptr<Storage> allocate(size_t nbytes, Device device) = 0;
  // dst = src, same shape, both on this backend's device, any strides; converts the dtype
  // when they differ.
  virtual void copy(const Tensor& src, const Tensor& dst);
  // y = the xs side by side along dim: y is allocated with their shapes summed along dim, and
  // each x goes to its slice, in order. The default copies each x into its slice; a backend may
  // write y in one pass (each slice's copy otherwise writes a part of every row of y).
  virtual void concat(const std::vector<Tensor>& xs, int dim, const Tensor& y);
  // Between this device and the host; both tensors contiguous, same shape and dtype.
  virtual void copy_from_host(const Tensor& host_src, const Tensor& dst);
  virtual void copy_to_host(const Tensor& src, const Tensor& host_dst);

  // --- fills ------------------------------------------------------------------------------
  virtual void fill(const Tensor& out, double value);
  virtual void fill_uniform(const Tensor& out, const RngDraw& draw, double low, double high);
  virtual void fill_normal(const Tensor& out, const RngDraw& draw, double mean, double stddev);

  // --- elementwise and reductions ----------------------------------------------------------
  virtual void unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y);
  // gx = gy * d op(x) / dx. The derivative depends on x or y = op(x) or neither
  // (elementwise_math::unary_derivative_reads); the autograd op keeps only that one and passes
  // gy in the other's place, so a kernel's result must not depend on what its op does not need.
  virtual void unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y,
                              const Tensor& gy, const Tensor& gx);
  // out = a (op) b with a and b broadcast to out's shape.
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
  // out = sum of x over the dims where out has size 1 and x does not (same rank).
  virtual void sum(const Tensor& x, const Tensor& out);
  // out (M, N) = a (M, K) @ b (K, N); transposes are views with swapped strides.
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& out);

  // --- convolution (x: (N, C_in, H, W), w: (C_out, C_in / groups, KH, KW), bias: (C_out)) ----
  virtual void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w,
                              const Tensor& bias, const Tensor& y);
  virtual void conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w,
                                    const Tensor& gx);
  // gbias may be undefined (no bias).
  virtual void conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x,
                                      const Tensor& gw, const Tensor& gbias);

  // --- pooling ------------------------------------------------------------------------------
  // indices (int64, y's shape) holds the argmax as ih * W + iw within its (n, c) plane; it is
  // undefined when no backward will run (inference), and then not written.
  virtual void max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y,
                                  const Tensor& indices);
  virtual void max_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& indices,
                                   const Tensor& gx);
  // The backward from the forward's input instead of its argmax (Note [Max pool keeps its input
  // or its argmax], autograd/ops/pool.cpp): the argmax found again with the forward's ties. The
  // default runs the forward for it into temporaries, then the backward; a backend may fuse the two.
  virtual void max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x,
                                              const Tensor& gx);
  virtual void avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y);
  virtual void avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx);

  // --- batch normalisation over (N, H, W) per channel -----------------------------------------
  // Training: y from batch statistics; writes save_mean and save_invstd (C) and, when defined,
  // updates running_mean/running_var in place. gamma/beta may be undefined (no affine). With
  // p.relu every kernel here fuses the ReLU: y = max(0, BN(x)).
  virtual void batch_norm_forward_training(const BatchNormParams& p, const Tensor& x,
                                           const Tensor& gamma, const Tensor& beta,
                                           const Tensor& running_mean, const Tensor& running_var,
                                           const Tensor& y, const Tensor& save_mean,
                                           const Tensor& save_invstd);
  virtual void batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x,
                                            const Tensor& gamma, const Tensor& beta,
                                            const Tensor& running_mean,
                                            const Tensor& running_var, const Tensor& y);
  // mean/invstd are the saved batch statistics (p.training) or derived from the running ones.
  // gamma and beta are the forward's; beta is read only with p.relu, whose gate is recomputed
  // (Note [The fused ReLU's gate is recomputed]). ggamma and gbeta may be undefined when there is
  // no affine transform.
  virtual void batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                   const Tensor& beta, const Tensor& mean, const Tensor& invstd,
                                   const Tensor& gx, const Tensor& ggamma, const Tensor& gbeta);
  // Note [The fused ReLU's gate is recomputed]: the backward of y = max(0, BN(x)) passes gy where
  // BN(x) > 0. Every kernel recomputes BN(x) from x (which the backward reads anyway), the saved
  // statistics, gamma and beta, with the same arithmetic as its training forward, instead of
  // reading a saved y: an output that only feeds a concat, a pool or an add is then freed after
  // its consumer's forward (One-Shot's operators feeding the projection's concat: 63 MiB of the
  // main job's search step). In training the gate equals the forward's sign exactly where one kernel
  // family computes both (reference, own CPU kernels, CUDA: the forward normalises with the
  // statistics it saves, in the backward's arithmetic). Where BN(x) is within rounding of 0 it may
  // differ in evaluation mode (the op derives invstd from the running variance separately) and
  // on the CPU's oneDNN path (NCHW float32, whose forward is oneDNN's).

  // --- per-channel scale (the FiGS mask multiply): y = x * scale[c] --------------------------
  // Fused backward, one pass over gy and x: gx = gy * scale[c] (when gx is defined) and
  // gscale[c] = sum over (n, h, w) of gy * x. x, gy, gx: (N, C, H, W); scale, gscale: (C).
  virtual void channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale, const Tensor& gx,
                                      const Tensor& gscale);

  // --- the FiGS mask's values ------------------------------------------------------------------
  // From logits (C): m (C, the logits' dtype) = the mask of p.mode, and slope (C, float64) =
  // sigmoid'(a) = sigmoid(a) sigmoid(-a) in the cancellation-free form (0 for the evaluation
  // modes). Training modes draw the noise from p's key, or read it from `noise` (C, float64)
  // when that is defined. The per-channel math is float64 on every backend (core/mask_math.h).
  virtual void mask_values(const MaskParams& p, const Tensor& logits, const Tensor& noise, const Tensor& m,
                           const Tensor& slope);
  // glogits[c] = (gm[c] * slope[c]) / p.tau, in float64, stored in glogits' dtype.
  virtual void mask_values_backward(const MaskParams& p, const Tensor& gm, const Tensor& slope,
                                    const Tensor& glogits);
  // The FiGS mask op (autograd/ops/mask.cpp) on x (N, C, H, W): m and slope as mask_values, then
  // y = x * m[c], one pass over x. Backward, one pass over gy and x: gx = gy * m[c] (when gx is
  // defined) and glogits[c] = (sum over n, h, w of gy * x) * slope[c] / p.tau (when glogits is
  // defined: the training modes). The defaults compose mask_values, binary,
  // channel_scale_backward and mask_values_backward, each already a single pass on every backend;
  // a backend may fuse further.
  virtual void mask_forward(const MaskParams& p, const Tensor& x, const Tensor& logits, const Tensor& noise,
                            const Tensor& y, const Tensor& m, const Tensor& slope);
  virtual void mask_backward(const MaskParams& p, const Tensor& gy, const Tensor& x, const Tensor& m,
                             const Tensor& slope, const Tensor& gx, const Tensor& glogits);
  // --- sparse (the expected cost's structure, nas/channel_graph.cpp) -----------------------------
  // y (rows) = A x for A in CSR form: row_ptr (rows + 1, int64), col (nnz, int64), val (nnz, the
  // dtype of x and y). Each row is summed in index order by one thread: deterministic.
  virtual void csr_matvec(const Tensor& row_ptr, const Tensor& col, const Tensor& val, const Tensor& x,
                          const Tensor& y);
  // --- classification ---------------------------------------------------------------------------
  // Over dim 1 of (N, K).
  virtual void log_softmax_forward(const Tensor& x, const Tensor& y);
  virtual void log_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx);
  // loss (0-d) = mean over n of -sum_k q[n,k] log softmax(logits)[n,k], with
  // q = (1 - smoothing) * onehot(labels) + smoothing / K. labels: int64 (N), already range-checked.
  virtual void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing,
                                     const Tensor& loss);
  virtual void cross_entropy_backward(const Tensor& logits, const Tensor& labels, double smoothing,
                                      const Tensor& gloss, const Tensor& glogits);

  // --- optimizer updates on parameter arenas (nn/optim) ---------------------------------------
  // params, grads and the state tensors are rank-1 contiguous float32 tensors of one length on
  // this backend's device (a Model's arenas and the optimizer's arena-shaped state); a step
  // updates elements [begin, end) of them in place, in one fused pass, evaluating exactly the
  // float32 operations of core/params.h in that order (never contracted into FMAs), so every
  // backend produces the same bits from the same inputs. `momentum` undefined: plain SGD.
  virtual void sgd_step(const SgdStepParams& p, const Tensor& params, const Tensor& grads, const Tensor& momentum,
                        int64_t begin, int64_t end);
  virtual void adam_step(const AdamStepParams& p, const Tensor& params, const Tensor& grads, const Tensor& exp_avg,
                         const Tensor& exp_avg_sq, int64_t begin, int64_t end);
  // The sum of the squares of x's elements (x rank-1 contiguous float32), accumulated in
  // float64: the global gradient norm of clipping. The summation order is the backend's own
  // (documented where it is implemented), so backends agree to float64 rounding, not bitwise.
  virtual double sum_squares(const Tensor& x);

 protected:
  [[noreturn]] void missing(const char* kernel) const;
};

// Registration, done once per backend at library load (see cpu/cpu_backend.cpp).
void register_backend(DeviceType type, Backend* backend);
// The backend for a device; throws a clear Error when there is none (e.g. built without CUDA).
Backend& backend_for(Device device);
inline Backend& backend_of(const Tensor& t) { return backend_for(t.device()); }

}  // namespace figs

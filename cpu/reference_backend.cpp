#include "cpu/reference_backend.h"

#include <cstring>

#include "cpu/allocator.h"
#include "cpu/reference/batch_norm.h"
#include "cpu/reference/channel_scale.h"
#include "cpu/reference/mask.h"
#include "cpu/reference/sparse.h"
#include "cpu/reference/conv2d.h"
#include "cpu/reference/elementwise.h"
#include "cpu/reference/pool2d.h"
#include "cpu/reference/reduce.h"
#include "cpu/reference/softmax.h"

namespace figs::cpu {

// Every kernel: pick T from the tensor's dtype (float or double), run the reference loop.
#define FIGS_REF_DISPATCH(kernel_name, dtype, call)                   \
  dispatch_floating(dtype, kernel_name, [&](auto tag) {               \
    using T = decltype(tag);                                          \
    call;                                                             \
  })

std::shared_ptr<Storage> ReferenceBackend::allocate(size_t nbytes, Device) {
  return cpu::allocate(nbytes);
}

void ReferenceBackend::copy(const Tensor& src, const Tensor& dst) {
  auto with_src = [&](auto s_tag) {
    using S = decltype(s_tag);
    switch (dst.dtype()) {
      case DType::Float32: ref::copy<S, float>(src, dst); break;
      case DType::Float64: ref::copy<S, double>(src, dst); break;
      case DType::Int64: ref::copy<S, int64_t>(src, dst); break;
    }
  };
  switch (src.dtype()) {
    case DType::Float32: with_src(float{}); break;
    case DType::Float64: with_src(double{}); break;
    case DType::Int64: with_src(int64_t{}); break;
  }
}

// The host is this device: contiguous same-dtype tensors, so a memcpy.
void ReferenceBackend::copy_from_host(const Tensor& host_src, const Tensor& dst) {
  std::memcpy(dst.raw_data(), host_src.raw_data(), host_src.numel() * dtype_size(host_src.dtype()));
}
void ReferenceBackend::copy_to_host(const Tensor& src, const Tensor& host_dst) {
  copy_from_host(src, host_dst);
}

void ReferenceBackend::fill(const Tensor& out, double value) {
  switch (out.dtype()) {
    case DType::Float32: ref::fill<float>(out, value); break;
    case DType::Float64: ref::fill<double>(out, value); break;
    case DType::Int64: ref::fill<int64_t>(out, value); break;
  }
}

void ReferenceBackend::fill_uniform(const Tensor& out, const RngDraw& draw, double low, double high) {
  FIGS_REF_DISPATCH("fill_uniform", out.dtype(), ref::fill_uniform<T>(out, draw, low, high));
}
void ReferenceBackend::fill_normal(const Tensor& out, const RngDraw& draw, double mean, double stddev) {
  FIGS_REF_DISPATCH("fill_normal", out.dtype(), ref::fill_normal<T>(out, draw, mean, stddev));
}

void ReferenceBackend::unary(UnaryOp op, double alpha, const Tensor& x, const Tensor& y) {
  FIGS_REF_DISPATCH(unary_op_name(op), x.dtype(), ref::unary<T>(op, alpha, x, y));
}
void ReferenceBackend::unary_backward(UnaryOp op, double alpha, const Tensor& x, const Tensor& y,
                                      const Tensor& gy, const Tensor& gx) {
  FIGS_REF_DISPATCH(unary_op_name(op), x.dtype(), ref::unary_backward<T>(op, alpha, x, y, gy, gx));
}
void ReferenceBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  FIGS_REF_DISPATCH(binary_op_name(op), out.dtype(), ref::binary<T>(op, a, b, out));
}
void ReferenceBackend::sum(const Tensor& x, const Tensor& out) {
  FIGS_REF_DISPATCH("sum", x.dtype(), ref::sum<T>(x, out));
}
void ReferenceBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  FIGS_REF_DISPATCH("matmul", out.dtype(), ref::matmul<T>(a, b, out));
}

void ReferenceBackend::conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w,
                                      const Tensor& bias, const Tensor& y) {
  FIGS_REF_DISPATCH("conv2d", y.dtype(), ref::conv2d_forward<T>(p, x, w, bias, y));
}
void ReferenceBackend::conv2d_backward_data(const Conv2dParams& p, const Tensor& gy, const Tensor& w,
                                            const Tensor& gx) {
  FIGS_REF_DISPATCH("conv2d_backward_data", gx.dtype(), ref::conv2d_backward_data<T>(p, gy, w, gx));
}
void ReferenceBackend::conv2d_backward_weight(const Conv2dParams& p, const Tensor& gy, const Tensor& x,
                                              const Tensor& gw, const Tensor& gbias) {
  FIGS_REF_DISPATCH("conv2d_backward_weight", gw.dtype(),
                    ref::conv2d_backward_weight<T>(p, gy, x, gw, gbias));
}

void ReferenceBackend::max_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y,
                                          const Tensor& indices) {
  FIGS_REF_DISPATCH("max_pool2d", x.dtype(), ref::max_pool2d_forward<T>(p, x, y, indices));
}
void ReferenceBackend::max_pool2d_backward(const Pool2dParams& p, const Tensor& gy,
                                           const Tensor& indices, const Tensor& gx) {
  FIGS_REF_DISPATCH("max_pool2d_backward", gx.dtype(), ref::max_pool2d_backward<T>(p, gy, indices, gx));
}
void ReferenceBackend::avg_pool2d_forward(const Pool2dParams& p, const Tensor& x, const Tensor& y) {
  FIGS_REF_DISPATCH("avg_pool2d", x.dtype(), ref::avg_pool2d_forward<T>(p, x, y));
}
void ReferenceBackend::avg_pool2d_backward(const Pool2dParams& p, const Tensor& gy, const Tensor& gx) {
  FIGS_REF_DISPATCH("avg_pool2d_backward", gx.dtype(), ref::avg_pool2d_backward<T>(p, gy, gx));
}

void ReferenceBackend::batch_norm_forward_training(const BatchNormParams& p, const Tensor& x,
                                                   const Tensor& gamma, const Tensor& beta,
                                                   const Tensor& running_mean,
                                                   const Tensor& running_var, const Tensor& y,
                                                   const Tensor& save_mean,
                                                   const Tensor& save_invstd) {
  FIGS_REF_DISPATCH("batch_norm", x.dtype(),
                    ref::batch_norm_forward_training<T>(p, x, gamma, beta, running_mean, running_var,
                                                        y, save_mean, save_invstd));
}
void ReferenceBackend::batch_norm_forward_inference(const BatchNormParams& p, const Tensor& x,
                                                    const Tensor& gamma, const Tensor& beta,
                                                    const Tensor& running_mean,
                                                    const Tensor& running_var, const Tensor& y) {
  FIGS_REF_DISPATCH("batch_norm", x.dtype(),
                    ref::batch_norm_forward_inference<T>(p, x, gamma, beta, running_mean, running_var, y));
}
void ReferenceBackend::batch_norm_backward(const BatchNormParams& p, const Tensor& gy, const Tensor& x,
                                           const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                                           const Tensor& invstd, const Tensor& gx,
                                           const Tensor& ggamma, const Tensor& gbeta) {
  FIGS_REF_DISPATCH("batch_norm_backward", x.dtype(),
                    ref::batch_norm_backward<T>(p, gy, x, gamma, beta, mean, invstd, gx, ggamma, gbeta));
}
void ReferenceBackend::batch_norm_relu_gate(const BatchNormParams&, const Tensor& gy, const Tensor& x,
                                            const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                                            const Tensor& invstd, const Tensor& gated) {
  FIGS_REF_DISPATCH("batch_norm_relu_gate", x.dtype(),
                    ref::batch_norm_relu_gate<T>(gy, x, gamma, beta, mean, invstd, gated));
}

void ReferenceBackend::csr_matvec(const Tensor& row_ptr, const Tensor& col, const Tensor& val, const Tensor& x,
                                  const Tensor& y) {
  FIGS_REF_DISPATCH("csr_matvec", x.dtype(), ref::csr_matvec<T>(row_ptr, col, val, x, y));
}
void ReferenceBackend::mask_values(const MaskParams& p, const Tensor& logits, const Tensor& noise, const Tensor& m,
                                   const Tensor& slope) {
  FIGS_REF_DISPATCH("mask_values", logits.dtype(), ref::mask_values<T>(p, logits, noise, m, slope));
}
void ReferenceBackend::mask_values_backward(const MaskParams& p, const Tensor& gm, const Tensor& slope,
                                            const Tensor& glogits) {
  FIGS_REF_DISPATCH("mask_values_backward", gm.dtype(), ref::mask_values_backward<T>(p, gm, slope, glogits));
}

void ReferenceBackend::channel_scale_backward(const Tensor& gy, const Tensor& x, const Tensor& scale,
                                              const Tensor& gx, const Tensor& gscale) {
  FIGS_REF_DISPATCH("channel_scale_backward", x.dtype(), ref::channel_scale_backward<T>(gy, x, scale, gx, gscale));
}

void ReferenceBackend::log_softmax_forward(const Tensor& x, const Tensor& y) {
  FIGS_REF_DISPATCH("log_softmax", x.dtype(), ref::log_softmax_forward<T>(x, y));
}
void ReferenceBackend::log_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx) {
  FIGS_REF_DISPATCH("log_softmax_backward", y.dtype(), ref::log_softmax_backward<T>(y, gy, gx));
}
void ReferenceBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                             double smoothing, const Tensor& loss) {
  FIGS_REF_DISPATCH("cross_entropy", logits.dtype(),
                    ref::cross_entropy_forward<T>(logits, labels, smoothing, loss));
}
void ReferenceBackend::cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                              double smoothing, const Tensor& gloss,
                                              const Tensor& glogits) {
  FIGS_REF_DISPATCH("cross_entropy_backward", logits.dtype(),
                    ref::cross_entropy_backward<T>(logits, labels, smoothing, gloss, glogits));
}

#undef FIGS_REF_DISPATCH

ReferenceBackend& reference_backend() {
  static ReferenceBackend instance;
  return instance;
}


}  // namespace figs::cpu

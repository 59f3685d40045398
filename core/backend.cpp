#include "core/backend.h"

#include "core/op_kind.h"
#include "core/view.h"

#include <array>

#include "figs_build_config.h"

namespace figs {

void Backend::missing(const char* kernel) const {
  fail(kernel, ": the ", name(), " backend has no kernel for it yet");
}

void Backend::copy(const Tensor&, const Tensor&) { missing("copy"); }
void Backend::copy_from_host(const Tensor&, const Tensor&) { missing("copy_from_host"); }
void Backend::copy_to_host(const Tensor&, const Tensor&) { missing("copy_to_host"); }
void Backend::fill(const Tensor&, double) { missing("fill"); }
void Backend::fill_uniform(const Tensor&, const RngDraw&, double, double) { missing("fill_uniform"); }
void Backend::fill_normal(const Tensor&, const RngDraw&, double, double) { missing("fill_normal"); }
void Backend::unary(UnaryOp op, double, const Tensor&, const Tensor&) { missing(unary_op_name(op)); }
void Backend::unary_backward(UnaryOp op, double, const Tensor&, const Tensor&, const Tensor&,
                             const Tensor&) {
  missing(unary_op_name(op));
}
void Backend::binary(BinaryOp op, const Tensor&, const Tensor&, const Tensor&) {
  missing(binary_op_name(op));
}
void Backend::sum(const Tensor&, const Tensor&) { missing("sum"); }
void Backend::matmul(const Tensor&, const Tensor&, const Tensor&) { missing("matmul"); }
void Backend::conv2d_forward(const Conv2dParams&, const Tensor&, const Tensor&, const Tensor&,
                             const Tensor&) {
  missing("conv2d_forward");
}
void Backend::conv2d_backward_data(const Conv2dParams&, const Tensor&, const Tensor&,
                                   const Tensor&) {
  missing("conv2d_backward_data");
}
void Backend::conv2d_backward_weight(const Conv2dParams&, const Tensor&, const Tensor&,
                                     const Tensor&, const Tensor&) {
  missing("conv2d_backward_weight");
}
void Backend::max_pool2d_forward(const Pool2dParams&, const Tensor&, const Tensor&, const Tensor&) {
  missing("max_pool2d_forward");
}
void Backend::max_pool2d_backward(const Pool2dParams&, const Tensor&, const Tensor&,
                                  const Tensor&) {
  missing("max_pool2d_backward");
}
void Backend::max_pool2d_backward_from_input(const Pool2dParams& p, const Tensor& gy, const Tensor& x,
                                             const Tensor& gx) {
  const TensorOptions at_x{x.dtype(), x.device(), x.memory_format()};
  const Tensor argmax = empty(gy.shape(), {DType::Int64, x.device(), x.memory_format()});
  max_pool2d_forward(p, x, empty(gy.shape(), at_x), argmax);
  max_pool2d_backward(p, gy, argmax, gx);
}
void Backend::avg_pool2d_forward(const Pool2dParams&, const Tensor&, const Tensor&) {
  missing("avg_pool2d_forward");
}
void Backend::avg_pool2d_backward(const Pool2dParams&, const Tensor&, const Tensor&) {
  missing("avg_pool2d_backward");
}
void Backend::batch_norm_forward_training(const BatchNormParams&, const Tensor&, const Tensor&,
                                          const Tensor&, const Tensor&, const Tensor&,
                                          const Tensor&, const Tensor&, const Tensor&) {
  missing("batch_norm_forward_training");
}
void Backend::batch_norm_forward_inference(const BatchNormParams&, const Tensor&, const Tensor&,
                                           const Tensor&, const Tensor&, const Tensor&,
                                           const Tensor&) {
  missing("batch_norm_forward_inference");
}
void Backend::batch_norm_backward(const BatchNormParams&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&) {
  missing("batch_norm_backward");
}
void Backend::csr_matvec(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  missing("csr_matvec");
}
void Backend::mask_values(const MaskParams&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  missing("mask_values");
}
void Backend::mask_values_backward(const MaskParams&, const Tensor&, const Tensor&, const Tensor&) {
  missing("mask_values_backward");
}
void Backend::concat(const std::vector<Tensor>& xs, int dim, const Tensor& y) {
  int64_t at = 0;
  for (const Tensor& x : xs) {
    copy(x, raw::narrow(y, dim, at, x.size(dim)));
    at += x.size(dim);
  }
}
void Backend::mask_forward(const MaskParams& p, const Tensor& x, const Tensor& logits, const Tensor& noise,
                           const Tensor& y, const Tensor& m, const Tensor& slope) {
  mask_values(p, logits, noise, m, slope);
  binary(BinaryOp::Mul, x, raw::reshape(m, {1, x.size(1), 1, 1}), y);
}
void Backend::mask_backward(const MaskParams& p, const Tensor& gy, const Tensor& x, const Tensor& m,
                            const Tensor& slope, const Tensor& gx, const Tensor& glogits) {
  // channel_scale_backward always produces the per-channel sums; without glogits they are dropped.
  const Tensor gm = empty(m.shape(), {m.dtype(), m.device()});
  channel_scale_backward(gy, x, m, gx, gm);
  if (glogits.defined()) mask_values_backward(p, gm, slope, glogits);
}
void Backend::channel_scale_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  missing("channel_scale_backward");
}
void Backend::log_softmax_forward(const Tensor&, const Tensor&) { missing("log_softmax_forward"); }
void Backend::log_softmax_backward(const Tensor&, const Tensor&, const Tensor&) {
  missing("log_softmax_backward");
}
void Backend::cross_entropy_forward(const Tensor&, const Tensor&, double, const Tensor&) {
  missing("cross_entropy_forward");
}
void Backend::cross_entropy_backward(const Tensor&, const Tensor&, double, const Tensor&,
                                     const Tensor&) {
  missing("cross_entropy_backward");
}
void Backend::sgd_step(const SgdStepParams&, const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t) {
  missing("sgd_step");
}
void Backend::adam_step(const AdamStepParams&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                        int64_t) {
  missing("adam_step");
}
double Backend::sum_squares(const Tensor&) { missing("sum_squares"); }

// The names come from the op list (core/ops.inc).
const char* unary_op_name(UnaryOp op) { return op_name(op_kind_of(op)); }
const char* binary_op_name(BinaryOp op) { return op_name(op_kind_of(op)); }

namespace {
std::array<Backend*, kNumDeviceTypes>& registry() {
  static std::array<Backend*, kNumDeviceTypes> backends{};
  return backends;
}
}  // namespace

void register_backend(DeviceType type, Backend* backend) {
  registry()[static_cast<int>(type)] = backend;
}

Backend& backend_for(Device device) {
  Backend* b = registry()[static_cast<int>(device.type)];
  if (b == nullptr) {
    if (device.is_cuda() && !FIGS_WITH_CUDA)
      fail("device ", device, ": figs was built without CUDA (configure with -DFIGS_WITH_CUDA=ON)");
    fail("device ", device, ": no backend is registered for it");
  }
  return *b;
}

}  // namespace figs

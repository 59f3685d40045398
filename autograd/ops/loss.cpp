// log_softmax and the fused cross-entropy loss. Formulas: cpu/reference/softmax.h.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "autograd/trace.h"
#include "core/backend.h"
#include "core/kernel_stats.h"

namespace figs {

Tensor log_softmax(const Tensor& x) {
  const OpScope op_scope(OpKind::LogSoftmax);  // the kernel statistics book its calls under it
  ops::check_floating("log_softmax", x);
  ops::check_rank("log_softmax", "input", x, 2);
  FIGS_CHECK(x.size(1) >= 1, "log_softmax: needs at least one class, got ", x.describe());
  Tensor y = empty(x.shape(), {x.dtype(), x.device()});
  backend_of(x).log_softmax_forward(x, y);
  if (trace::active()) trace::record(OpKind::LogSoftmax, {&x}, y);
  if (any_requires_grad({&x})) {
    record(OpKind::LogSoftmax, {&x}, y, [y = y.detach()](const Tensor& gy, InputGrads& g) {
      Tensor gx = empty_like(y);
      backend_of(y).log_softmax_backward(y, gy, gx);
      g.set(0, gx);
    });
  }
  return y;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing) {
  const OpScope op_scope(OpKind::CrossEntropy);  // the kernel statistics book its calls under it
  ops::check_floating("cross_entropy", logits);
  ops::check_rank("cross_entropy", "logits", logits, 2);
  FIGS_CHECK(labels.defined() && labels.dtype() == DType::Int64 && labels.dim() == 1 &&
                 labels.size(0) == logits.size(0),
             "cross_entropy: labels must be int64 of shape [", logits.size(0), "] for logits ",
             logits.describe(), ", got ", labels.describe());
  FIGS_CHECK(labels.device() == logits.device(), "cross_entropy: labels on ", labels.device(), ", logits on ",
             logits.device());
  FIGS_CHECK(smoothing >= 0 && smoothing < 1, "cross_entropy: label_smoothing must be in [0, 1), got ", smoothing);
  FIGS_CHECK(logits.size(0) >= 1, "cross_entropy: empty batch");
  const int64_t K = logits.size(1);
  // CPU labels are checked here. A device's labels are not read back: that copy would make every
  // training step wait for the GPU, and could not be captured in a CUDA graph (nas/search.h). The
  // loader checks every label on the host (data/loader.cpp), and the device kernels give a NaN
  // loss and gradient for a label outside [0, K), which the divergence guard reports.
  if (labels.device().is_cpu()) {
    const std::vector<int64_t> values = labels.to_vector<int64_t>();
    for (size_t n = 0; n < values.size(); ++n)
      FIGS_CHECK(values[n] >= 0 && values[n] < K, "cross_entropy: label ", values[n], " at index ", n,
                 " is outside [0, ", K, ")");
  }

  Tensor loss = empty({}, {logits.dtype(), logits.device()});
  backend_of(logits).cross_entropy_forward(logits, labels, smoothing, loss);
  if (trace::active()) trace::record(OpKind::CrossEntropy, {&logits, &labels}, loss);
  if (any_requires_grad({&logits})) {
    record(OpKind::CrossEntropy, {&logits}, loss,
           [logits = logits.detach(), labels, smoothing](const Tensor& gy, InputGrads& g) {
             Tensor gx = empty(logits.shape(), {logits.dtype(), logits.device()});
             backend_of(logits).cross_entropy_backward(logits, labels, smoothing, gy, gx);
             g.set(0, gx);
           });
  }
  return loss;
}

}  // namespace figs

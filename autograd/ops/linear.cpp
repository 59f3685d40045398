// matmul and linear.  d(A B)/dA = G B^T,  d(A B)/dB = A^T G  (transposes are stride views).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "autograd/trace.h"
#include "core/backend.h"
#include "core/kernel_stats.h"

namespace figs {

Tensor matmul(const Tensor& a, const Tensor& b) {
  const OpScope op_scope(OpKind::Matmul);  // the kernel statistics book its calls under it
  ops::check_compatible("matmul", a, b);
  ops::check_floating("matmul", a);
  FIGS_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "matmul: cannot multiply ",
             a.describe(), " by ", b.describe(), " (needs (M, K) @ (K, N))");
  Tensor out = empty({a.size(0), b.size(1)}, {a.dtype(), a.device()});
  backend_of(out).matmul(a, b, out);
  if (trace::active()) trace::record(OpKind::Matmul, {&a, &b}, out);
  if (any_requires_grad({&a, &b})) {
    record(OpKind::Matmul, {&a, &b}, out, [a = a.detach(), b = b.detach()](const Tensor& gy, InputGrads& g) {
      if (g.needs(0)) g.set(0, matmul(gy, permute(b, {1, 0})));
      if (g.needs(1)) g.set(1, matmul(permute(a, {1, 0}), gy));
    });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const OpScope op_scope(OpKind::Linear);  // composite: its parts' forward calls book under it
  ops::check_compatible("linear", x, weight);
  FIGS_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1), "linear: input ",
             x.describe(), " does not match weight ", weight.describe(), " (needs (N, in) and (out, in))");
  ops::check_per_channel("linear", "bias", bias, x, weight.size(0));
  trace::Composite composite;  // one op in a trace: x @ weight^T + bias
  Tensor y = matmul(x, permute(weight, {1, 0}));
  if (bias.defined()) y = add(y, bias);
  if (composite.reporting()) composite.finish(trace::op(OpKind::Linear, {x, weight, bias}, y));
  return y;
}

}  // namespace figs

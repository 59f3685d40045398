// Elementwise ops: one backend kernel each way. Binary ops broadcast; their backward sums the
// gradient back to each input's shape (sum_to).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/common.h"
#include "autograd/trace.h"
#include "core/backend.h"
#include "core/elementwise_math.h"
#include "core/kernel_stats.h"

namespace figs {

namespace {

// Output buffer of `shape`, in `like`'s memory format when the shapes agree.
Tensor empty_output(const Shape& shape, const Tensor& like) {
  const MemoryFormat f = like.shape() == shape ? like.memory_format() : MemoryFormat::Contiguous;
  return empty(shape, {like.dtype(), like.device(), f});
}

Tensor unary_op(UnaryOp op, double alpha, const Tensor& x) {
  const OpScope op_scope(op_kind_of(op));  // the kernel statistics book its calls under it
  const OpKind kind = op_kind_of(op);
  ops::check_floating(op_name(kind), x);
  Tensor y = empty_like(x);
  backend_of(x).unary(op, alpha, x, y);
  if (trace::active()) {
    TracedOp traced = trace::op(kind, {x}, y);
    traced.scalar = alpha;
    trace::record(std::move(traced));
  }
  if (any_requires_grad({&x})) {
    // Keeps only the tensor the derivative depends on (detached: the graph must not own itself).
    // The backend takes x and y in fixed places; gy, of the same shape, stands in for one not kept,
    // and the kernel's result does not depend on it.
    using elementwise_math::UnaryDerivativeReads;
    const UnaryDerivativeReads reads = elementwise_math::unary_derivative_reads(op);
    record(
        kind, {&x}, y,
        [op, alpha, format = x.memory_format(), xd = reads == UnaryDerivativeReads::Input ? x.detach() : Tensor(),
         yd = reads == UnaryDerivativeReads::Output ? y.detach() : Tensor()](const Tensor& gy, InputGrads& g) {
          Tensor gx = empty(gy.shape(), {gy.dtype(), gy.device(), format});
          backend_of(gy).unary_backward(op, alpha, xd.defined() ? xd : gy, yd.defined() ? yd : gy, gy, gx);
          g.set(0, gx);
        },
        ScalarArg{alpha});
  }
  return y;
}

Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b) {
  const OpScope op_scope(op_kind_of(op));  // the kernel statistics book its calls under it
  const OpKind kind = op_kind_of(op);
  const char* name = op_name(kind);
  ops::check_compatible(name, a, b);
  ops::check_floating(name, a);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty_output(shape, a);
  backend_of(out).binary(op, a, b, out);
  if (trace::active()) trace::record(kind, {&a, &b}, out);
  if (any_requires_grad({&a, &b})) {
    // Add and Sub read nothing in backward. Mul reads each operand for the other's gradient only;
    // Div reads b for both gradients and a for b's.
    const bool keeps_a = (op == BinaryOp::Mul || op == BinaryOp::Div) && b.requires_grad();
    const bool keeps_b = (op == BinaryOp::Mul && a.requires_grad()) || op == BinaryOp::Div;
    record(kind, {&a, &b}, out,
           [op, a = keeps_a ? a.detach() : Tensor(), b = keeps_b ? b.detach() : Tensor(),
            sa = a.shape(), sb = b.shape()](const Tensor& gy, InputGrads& g) {
             switch (op) {
               case BinaryOp::Add:
                 if (g.needs(0)) g.set(0, sum_to(gy, sa));
                 if (g.needs(1)) g.set(1, sum_to(gy, sb));
                 break;
               case BinaryOp::Sub:
                 if (g.needs(0)) g.set(0, sum_to(gy, sa));
                 if (g.needs(1)) g.set(1, neg(sum_to(gy, sb)));
                 break;
               case BinaryOp::Mul:
                 if (g.needs(0)) g.set(0, sum_to(mul(gy, b), sa));
                 if (g.needs(1)) g.set(1, sum_to(mul(gy, a), sb));
                 break;
               case BinaryOp::Div:  // d(a/b)/db = -a / b^2
                 if (g.needs(0)) g.set(0, sum_to(div(gy, b), sa));
                 if (g.needs(1)) g.set(1, neg(sum_to(div(mul(gy, a), mul(b, b)), sb)));
                 break;
             }
           });
  }
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::Div, a, b); }

Tensor neg(const Tensor& x) { return unary_op(UnaryOp::Neg, 0, x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, 0, x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, 0, x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, 0, x); }
Tensor pow(const Tensor& x, double exponent) { return unary_op(UnaryOp::Pow, exponent, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, 0, x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, 0, x); }
Tensor relu6(const Tensor& x) { return unary_op(UnaryOp::Relu6, 0, x); }
Tensor add_scalar(const Tensor& x, double value) { return unary_op(UnaryOp::AddScalar, value, x); }
Tensor mul_scalar(const Tensor& x, double value) { return unary_op(UnaryOp::MulScalar, value, x); }

}  // namespace figs

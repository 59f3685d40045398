#include "core/op_kind.h"

#include <string>

#include "core/error.h"

namespace figs {

const std::vector<OpInfo>& op_list() {
  static const std::vector<OpInfo> list = {
#define FIGS_OP(kind, name, file, composite) {OpKind::kind, name, file, composite},
#include "core/ops.inc"
#undef FIGS_OP
  };
  return list;
}

const OpInfo& op_info(OpKind kind) { return op_list()[static_cast<size_t>(kind)]; }

OpKind op_kind_named(std::string_view name) {
  for (const OpInfo& op : op_list())
    if (name == op.name) return op.kind;
  fail("unknown op '", std::string(name), "' (core/ops.inc lists the ops)");
}

OpKind op_kind_of(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return OpKind::Neg;
    case UnaryOp::Exp: return OpKind::Exp;
    case UnaryOp::Log: return OpKind::Log;
    case UnaryOp::Sqrt: return OpKind::Sqrt;
    case UnaryOp::Pow: return OpKind::Pow;
    case UnaryOp::Sigmoid: return OpKind::Sigmoid;
    case UnaryOp::Relu: return OpKind::Relu;
    case UnaryOp::Relu6: return OpKind::Relu6;
    case UnaryOp::AddScalar: return OpKind::AddScalar;
    case UnaryOp::MulScalar: return OpKind::MulScalar;
  }
  fail("op_kind_of: unknown UnaryOp ", static_cast<int>(op));
}

OpKind op_kind_of(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return OpKind::Add;
    case BinaryOp::Sub: return OpKind::Sub;
    case BinaryOp::Mul: return OpKind::Mul;
    case BinaryOp::Div: return OpKind::Div;
  }
  fail("op_kind_of: unknown BinaryOp ", static_cast<int>(op));
}

}  // namespace figs

// Every op's identity (the list is core/ops.inc): the kind an autograd Node and a trace record
// carry, its name, the file that defines it, and the typed parameters a Node keeps for readers
// of the graph (nas/channel_graph.cpp).
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "core/params.h"

namespace figs {

enum class OpKind : uint8_t {
#define FIGS_OP(kind, name, file, composite) kind,
#include "core/ops.inc"
#undef FIGS_OP
};

inline constexpr int kNumOpKinds = 0
#define FIGS_OP(kind, name, file, composite) +1
#include "core/ops.inc"
#undef FIGS_OP
    ;

struct OpInfo {
  OpKind kind;
  const char* name;
  const char* file;
  bool composite;
};

const OpInfo& op_info(OpKind kind);
inline const char* op_name(OpKind kind) { return op_info(kind).name; }
// The whole list, in ops.inc order.
const std::vector<OpInfo>& op_list();
// The kind named `name`; throws naming the unknown name.
OpKind op_kind_named(std::string_view name);

OpKind op_kind_of(UnaryOp op);
OpKind op_kind_of(BinaryOp op);

// A Node's non-tensor arguments, for the ops that have any (the others: monostate).
//   conv2d: Conv2dParams; max_pool2d, avg_pool2d: Pool2dParams; batch_norm: BatchNormParams;
//   pow, add_scalar, mul_scalar: the scalar; reshape, expand: the target shape; permute: the
//   dims; narrow: {dim, start, length}; concat: {dim}; sum: the reduced dims.
struct ScalarArg {
  double value = 0;
};
struct IntsArg {
  std::vector<int64_t> values;
};
using OpParams = std::variant<std::monostate, Conv2dParams, Pool2dParams, BatchNormParams, ScalarArg, IntsArg>;

}  // namespace figs

// The FiGS expected cost (CostForm::Expected; ../shared/spec/figs-method.md, section 3) as ops on
// the logits' device. With T mask channels (the masks' logits concatenated), G groups that carry
// masks and O costed operators:
//
//   q     = log(1 - sigmoid(l)) = -softplus(l)        (T)   stable for any l
//   p     = 1 - exp(B q)                              (G)   B: group <- its mask channels (0/1)
//   s_in  = A_in p + c_in,  s_out = A_out p + c_out   (O)   A: operator <- channel count per group;
//                                                           c: its channels in mask-free groups (p = 1)
//   cost  = sum(k * s_in * s_out)                           k: coefficient / groups; a depthwise
//                                                           conv has s_out = 1 (A_out row empty, c_out = 1)
//
// which is ChannelGraph::cost_on_host's arithmetic (the test oracle) written as sparse products:
// B, A_in, A_out are built once per (kind, device) from the traced graph. Float64 inside (the
// host's precision; a few thousand numbers), the logits' dtype out.
#include "autograd/ops.h"
#include "core/error.h"
#include "core/view.h"
#include "nas/channel_graph.h"

namespace figs::nas {

struct ChannelGraph::ExpectedCostPlan {
  SparseMatrix groups, in, out;  // B (G x T), A_in (O x G), A_out (O x G)
  Tensor in_const, out_const, coeff;  // (O) float64
};

const ChannelGraph::ExpectedCostPlan& ChannelGraph::plan(CostKind kind, Device device) const {
  const auto key = std::make_pair(static_cast<int>(kind), str_cat(device));
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;

  // Masked groups get dense ids 0..G-1; mask channels are numbered in masks() order.
  std::vector<int64_t> masked_id(static_cast<size_t>(num_groups_), -1);
  int64_t G = 0;
  for (int64_t g = 0; g < num_groups_; ++g)
    if (!group_masks_[static_cast<size_t>(g)].empty()) masked_id[static_cast<size_t>(g)] = G++;
  std::vector<SparseEntry> b;
  int64_t t = 0;
  for (const TracedMask& m : masks_)
    for (int64_t c = 0; c < m.channels; ++c, ++t) b.push_back({masked_id[static_cast<size_t>(group_of_[m.slot + c])], t, 1.0});

  const auto O = static_cast<int64_t>(ops_.size());
  std::vector<SparseEntry> a_in, a_out;
  std::vector<double> in_const(static_cast<size_t>(O), 0.0), out_const(static_cast<size_t>(O), 0.0),
      coeff(static_cast<size_t>(O), 0.0);
  // One channel of operator o's input or output: a count on its group, or a constant 1 (p = 1).
  auto add = [&](std::vector<SparseEntry>& a, std::vector<double>& constant, int64_t o, int64_t slot) {
    const int64_t id = masked_id[static_cast<size_t>(group_of_[slot])];
    if (id < 0) constant[static_cast<size_t>(o)] += 1;
    else a.push_back({o, id, 1.0});
  };
  for (int64_t o = 0; o < O; ++o) {
    const CostedOp& op = ops_[static_cast<size_t>(o)];
    const bool depthwise = op.kind == "depthwise_conv2d";
    coeff[static_cast<size_t>(o)] = depthwise ? op.coeff(kind) : op.coeff(kind) / static_cast<double>(op.groups);
    for (int64_t c = 0; c < op.in_channels; ++c) add(a_in, in_const, o, op.in_slot + c);
    if (depthwise) {
      out_const[static_cast<size_t>(o)] = 1;
    } else {
      for (int64_t c = 0; c < op.out_channels; ++c) add(a_out, out_const, o, op.out_slot + c);
    }
  }
  auto plan = std::make_shared<ExpectedCostPlan>();
  plan->groups = SparseMatrix::from_entries(G, t, b, DType::Float64, device);
  plan->in = SparseMatrix::from_entries(O, G, a_in, DType::Float64, device);
  plan->out = SparseMatrix::from_entries(O, G, a_out, DType::Float64, device);
  plan->in_const = raw::to(from_vector(in_const, {O}), device);
  plan->out_const = raw::to(from_vector(out_const, {O}), device);
  plan->coeff = raw::to(from_vector(coeff, {O}), device);
  return *plans_.emplace(key, std::move(plan)).first->second;
}

Tensor ChannelGraph::expected_cost(CostKind kind) const {
  FIGS_CHECK(!masks_.empty(), "ChannelGraph::expected_cost: the traced network has no masks");
  const Tensor& first = masks_.front().logits;
  const ExpectedCostPlan& p = plan(kind, first.device());
  std::vector<Tensor> logits;
  for (const TracedMask& m : masks_) logits.push_back(m.logits);
  const Tensor l = cast(concat(logits, 0), DType::Float64);
  // -softplus(l) = -(max(l, 0) + log(1 + exp(-|l|))); its gradient is -sigmoid(l) everywhere.
  const Tensor abs_l = add(relu(l), relu(neg(l)));
  const Tensor log_not_kept = neg(add(relu(l), log(add_scalar(exp(neg(abs_l)), 1.0))));
  const Tensor keep = neg(add_scalar(exp(sparse_matvec(p.groups, log_not_kept)), -1.0));  // 1 - prod(1 - pi)
  const Tensor s_in = add(sparse_matvec(p.in, keep), p.in_const);
  const Tensor s_out = add(sparse_matvec(p.out, keep), p.out_const);
  return cast(sum(mul(mul(p.coeff, s_in), s_out)), first.dtype());
}

}  // namespace figs::nas

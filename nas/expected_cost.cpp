// The FiGS expected cost (CostForm::Expected; ../shared/spec/figs-method.md, section 3) as ops on
// the logits' device. With T mask channels (the masks' logits concatenated), G groups that carry
// masks, K removal keys and R cost terms:
//
//   q     = log(1 - sigmoid(l)) = -softplus(l)        (T)   stable for any l
//   d     = log P(group dropped)                      (G)   Any rule: B q (B: group <- its mask
//                                                           channels); Max rule: min over the
//                                                           group's masks of q (= log(1 - max pi))
//   p     = 1 - exp(d)                                (G)
//   s_in  = A_in p + c_in,  s_out = A_out p + c_out   (R)   A: term <- channel count per group;
//                                                           c: its channels in mask-free groups (p = 1)
//   cost  = sum(k * s_in * s_out * f)                       k: coefficient / groups; a depthwise
//                                                           conv has s_out = 1 (A_out row empty, c_out = 1)
//
// Without removal a term is an operator and f = 1: ChannelGraph::cost_on_host's arithmetic (the
// test oracle) written as sparse products. Removal-aware (nas/cost_accounting.cpp), an operator's
// input channels split into segments by the keys their presence needs beyond their own group's
// (the operator's keys and those of the operator producing them, less the keys holding the
// channel itself: given the channel, those are alive), its output channels by the keys holding
// them; a term is one (input segment, output segment) pair, and
//   f     = prod over the term's keys of P(key alive),  P = 1 - exp(H d)   (H: key <- its groups)
// which is exact when the keys' groups are disjoint from each other and from the term's channels
// (different masks are independent; tests/nas/test_cost_accounting.cpp checks it by Monte Carlo).
// All matrices are built once per (kind, device). Float64 inside (a few thousand numbers), the
// logits' dtype out.
#include <algorithm>
#include <iterator>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/view.h"
#include "nas/channel_graph.h"

namespace figs::nas {

struct ChannelGraph::ExpectedCostPlan {
  SparseMatrix groups;               // Any rule: B (G x T)
  std::vector<SparseMatrix> pick;    // Max rule: pick[r] (G x T) selects each group's r-th mask channel
  SparseMatrix in, out;              // A_in, A_out (R x G)
  Tensor in_const, out_const, coeff;  // (R) float64
  SparseMatrix keys;                 // removal: H (K x G)
  std::vector<SparseMatrix> factor;  // removal: factor[r] (R x K) selects each term's r-th key
  std::vector<Tensor> factor_const;  // (R): 1 where factor[r]'s row is empty (the term has fewer keys)
};

namespace {

std::vector<int> minus(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}
std::vector<int> either(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// Channels of one side of an operator: masked group ids in channel order, and the count of
// channels in mask-free groups.
struct Segment {
  std::vector<int64_t> masked;
  double constant = 0;
};

}  // namespace

const ChannelGraph::ExpectedCostPlan& ChannelGraph::plan(CostKind kind, Device device) const {
  const auto key = std::make_pair(static_cast<int>(kind), str_cat(device));
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;

  // Masked groups get dense ids 0..G-1; mask channels are numbered in masks() order.
  std::vector<int64_t> masked_id(static_cast<size_t>(num_groups_), -1);
  int64_t G = 0;
  for (int64_t g = 0; g < num_groups_; ++g)
    if (!group_masks_[static_cast<size_t>(g)].empty()) masked_id[static_cast<size_t>(g)] = G++;
  std::vector<SparseEntry> b;
  std::vector<std::vector<SparseEntry>> pick;
  std::vector<int> picked(static_cast<size_t>(G), 0);  // mask channels picked per group so far
  int64_t t = 0;
  for (const TracedMask& m : masks_)
    for (int64_t c = 0; c < m.channels; ++c, ++t) {
      const int64_t id = masked_id[static_cast<size_t>(group_of_[m.slot + c])];
      b.push_back({id, t, 1.0});
      const auto r = static_cast<size_t>(picked[static_cast<size_t>(id)]++);
      if (pick.size() <= r) pick.emplace_back();
      pick[r].push_back({id, t, 1.0});
    }

  const bool removal = removal_aware();
  static const std::vector<int> kNone;
  auto needs_of_op = [&](size_t o) -> const std::vector<int>& { return removal ? op_needs_[o] : kNone; };
  auto needs_of_group = [&](int64_t g) -> const std::vector<int>& {
    return removal ? group_needs_[static_cast<size_t>(g)] : kNone;
  };
  auto holders_of = [&](int64_t g) -> const std::vector<int>& {
    return removal ? contained_in_[static_cast<size_t>(g)] : kNone;
  };

  std::vector<SparseEntry> a_in, a_out;
  std::vector<double> in_const, out_const, coeff;
  std::vector<std::vector<int>> term_keys;
  // A key with a mask-free group (p = 1) is always alive: it never weighs a term.
  std::vector<bool> always_alive(key_groups_.size(), false);
  for (size_t key = 0; key < key_groups_.size(); ++key)
    for (int64_t g : key_groups_[key]) always_alive[key] = always_alive[key] || masked_id[static_cast<size_t>(g)] < 0;
  auto add_term = [&](double k, const Segment& in, const Segment* out, std::vector<int> keys) {
    const auto never_weighs = [&](int key) { return always_alive[static_cast<size_t>(key)]; };
    keys.erase(std::remove_if(keys.begin(), keys.end(), never_weighs), keys.end());
    const auto row = static_cast<int64_t>(coeff.size());
    for (int64_t id : in.masked) a_in.push_back({row, id, 1.0});
    in_const.push_back(in.constant);
    if (out) {
      for (int64_t id : out->masked) a_out.push_back({row, id, 1.0});
      out_const.push_back(out->constant);
    } else {
      out_const.push_back(1);  // depthwise: the input is the output
    }
    coeff.push_back(k);
    term_keys.push_back(std::move(keys));
  };
  for (size_t o = 0; o < ops_.size(); ++o) {
    const CostedOp& op = ops_[o];
    const bool depthwise = op.kind == "depthwise_conv2d";
    const double k = depthwise ? op.coeff(kind) : op.coeff(kind) / static_cast<double>(op.groups);
    // Input channels by the keys their presence needs beyond their own group (first-seen order).
    std::vector<std::pair<std::vector<int>, Segment>> ins, outs;
    auto place = [&](std::vector<std::pair<std::vector<int>, Segment>>& segs, std::vector<int> keys, int64_t g) {
      auto it = std::find_if(segs.begin(), segs.end(), [&](const auto& s) { return s.first == keys; });
      if (it == segs.end()) it = segs.insert(segs.end(), {std::move(keys), Segment{}});
      const int64_t id = masked_id[static_cast<size_t>(g)];
      if (id < 0) it->second.constant += 1;
      else it->second.masked.push_back(id);
    };
    for (int64_t c = 0; c < op.in_channels; ++c) {
      const int64_t g = group_of_[op.in_slot + c];
      place(ins, minus(either(needs_of_op(o), needs_of_group(g)), holders_of(g)), g);
    }
    if (depthwise) {
      for (auto& [keys, seg] : ins) add_term(k, seg, nullptr, keys);
      continue;
    }
    for (int64_t c = 0; c < op.out_channels; ++c) {
      const int64_t g = group_of_[op.out_slot + c];
      place(outs, holders_of(g), g);
    }
    if (outs.empty()) outs.push_back({{}, Segment{}});  // no output channels: a zero term, as before
    for (const auto& [in_keys, in_seg] : ins)
      for (const auto& [out_keys, out_seg] : outs) add_term(k, in_seg, &out_seg, minus(in_keys, out_keys));
  }

  auto plan = std::make_shared<ExpectedCostPlan>();
  const auto R = static_cast<int64_t>(coeff.size());
  plan->groups = SparseMatrix::from_entries(G, t, b, DType::Float64, device);
  if (accounting_.group_rule == GroupRule::Max)
    for (const auto& entries : pick)
      plan->pick.push_back(SparseMatrix::from_entries(G, t, entries, DType::Float64, device));
  plan->in = SparseMatrix::from_entries(R, G, a_in, DType::Float64, device);
  plan->out = SparseMatrix::from_entries(R, G, a_out, DType::Float64, device);
  plan->in_const = raw::to(from_vector(in_const, {R}), device);
  plan->out_const = raw::to(from_vector(out_const, {R}), device);
  plan->coeff = raw::to(from_vector(coeff, {R}), device);
  if (removal) {
    std::vector<SparseEntry> h;
    for (size_t key = 0; key < key_groups_.size(); ++key)
      if (!always_alive[key])
        for (int64_t g : key_groups_[key])
          h.push_back({static_cast<int64_t>(key), masked_id[static_cast<size_t>(g)], 1.0});
    const auto K = static_cast<int64_t>(key_groups_.size());
    plan->keys = SparseMatrix::from_entries(K, G, h, DType::Float64, device);
    size_t most = 0;
    for (const auto& keys : term_keys) most = std::max(most, keys.size());
    for (size_t r = 0; r < most; ++r) {
      std::vector<SparseEntry> f;
      std::vector<double> one(static_cast<size_t>(R), 0.0);
      for (int64_t row = 0; row < R; ++row) {
        const std::vector<int>& keys = term_keys[static_cast<size_t>(row)];
        if (r < keys.size()) f.push_back({row, keys[r], 1.0});
        else one[static_cast<size_t>(row)] = 1;
      }
      plan->factor.push_back(SparseMatrix::from_entries(R, K, f, DType::Float64, device));
      plan->factor_const.push_back(raw::to(from_vector(one, {R}), device));
    }
  }
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
  Tensor dropped;  // log P(group dropped)
  if (accounting_.group_rule == GroupRule::Max) {
    // min(a, b) = a - relu(a - b); a group without an r-th mask reads 0 there, never below a log.
    dropped = sparse_matvec(p.pick.front(), log_not_kept);
    for (size_t r = 1; r < p.pick.size(); ++r)
      dropped = sub(dropped, relu(sub(dropped, sparse_matvec(p.pick[r], log_not_kept))));
  } else {
    dropped = sparse_matvec(p.groups, log_not_kept);
  }
  const Tensor keep = neg(add_scalar(exp(dropped), -1.0));  // 1 - P(dropped)
  const Tensor s_in = add(sparse_matvec(p.in, keep), p.in_const);
  const Tensor s_out = add(sparse_matvec(p.out, keep), p.out_const);
  Tensor terms = mul(mul(p.coeff, s_in), s_out);
  if (!p.factor.empty()) {
    const Tensor key_alive = neg(add_scalar(exp(sparse_matvec(p.keys, dropped)), -1.0));
    for (size_t r = 0; r < p.factor.size(); ++r)
      terms = mul(terms, add(sparse_matvec(p.factor[r], key_alive), p.factor_const[r]));
  }
  return cast(sum(terms), first.dtype());
}

}  // namespace figs::nas

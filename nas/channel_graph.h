// Channel groups and the cost model of FiGS (../shared/spec/figs-method.md, sections 2 and 3).
//
// ChannelGraph::trace() reads the autograd graph of one forward pass (any batch size, grad on)
// and finds, by union-find over channel slots (one slot per channel of every traced tensor),
// which channels are "the same channel":
//   elementwise ops, BatchNorm, ReLU, pooling, the mask multiply   out c == in c
//   depthwise convolution                                          out c == in c
//   residual add of equal shapes                                   out c == a c == b c
//   concat along channels                                          inputs side by side
//   dense convolution, linear                                      no tie (a cut)
// Masks are found where a channel_scale multiplies by mask_values(logits): the logits' name comes
// from the parameter list given to trace(). A group's keep probability p combines the keep
// probabilities pi_s of the masks s on it by the accounting's GroupRule (the spec's
// p = 1 - prod_s (1 - pi_s) by default; p = 1 for a group with none, e.g. the image).
//
// Costs per dense conv / linear op:  coeff * (sum_in p) * (sum_out p) / groups;  per depthwise
// conv: coeff * sum_c p[c]. coeff = KH*KW for parameters (1 for linear), KH*KW*OH*OW for MACs.
// Biases and BatchNorm parameters are outside the penalised cost; count() includes them.
//
// Removal-aware accounting (CostAccounting::removable, nas/cost_accounting.cpp): the export
// drops an operator when any of its keys loses every channel, and with it the channels it
// produces. Each term above is then weighted by the probability that the export keeps what it
// charges, so the expected cost is the expected cost of the network the export builds.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace figs::nas {

enum class CostKind { Params, Macs };
enum class CostForm {
  Expected,   // eq. (6), default: keep probabilities pi
  Sampled,    // eq. (5): this step's relaxed masks m in place of p
  Reference,  // the public reference implementation: coeff (A_in R_out + A_out R_in), A = #(m >= 0.1)
};

const char* cost_kind_name(CostKind kind);

// How the masks on one channel group combine into the group's keep probability p.
enum class GroupRule {
  Any,  // the spec's rule: p = 1 - prod_s (1 - pi_s), a channel stays while any mask keeps it
  Max,  // p = max_s pi_s: the cost's gradient reaches the most probable mask undiminished, so a
        // group of many masks (a cell's stream) can shrink; under Any each mask's share is
        // prod over the others of (1 - pi), ~1e-4 for five masks at 0.85
};
const char* group_rule_name(GroupRule rule);  // "any", "max"
GroupRule parse_group_rule(const std::string& name);  // throws naming the choices

// An operator the export removes when any one of its keys keeps no channel; every conv and linear
// whose weight lies under `path` goes with it (nas/space.h OperatorChoice; removable_operators()
// there builds these from a space).
struct RemovableOperator {
  std::string path;  // module path, e.g. "cell0.block1.sep3"
  // Its keys, each the output channels of one traced convolution or linear layer, named by its
  // weight (a ConvUnit's key "cell0.block1.sep3.pw1" is "cell0.block1.sep3.pw1.weight"): a key is
  // alive while any of those channels' groups is.
  std::vector<std::string> key_weights;
};

struct CostAccounting {
  GroupRule group_rule = GroupRule::Any;
  // Empty: the spec's accounting, every traced operator charged in full. Otherwise removal-aware:
  // the expected cost, count() and MorphNet's cost charge an operator, and every channel it
  // produces, only as far as the export keeps it.
  std::vector<RemovableOperator> removable;
};

struct TracedMask {
  std::string name;   // of the logits parameter, e.g. "cell1.block0.sep3.mask.logits"
  Tensor logits;      // (C)
  int64_t slot = 0;   // first channel slot of the tensor it scales
  int64_t channels = 0;
};

// A convolution or linear layer as the cost model sees it.
struct CostedOp {
  std::string kind;         // "conv2d", "depthwise_conv2d" or "linear"
  std::string weight_name;  // parameter name ("" when the weight is not a named parameter)
  int64_t in_channels = 0, out_channels = 0, groups = 1, kh = 1, kw = 1, out_h = 1, out_w = 1;
  int64_t in_slot = 0, out_slot = 0;  // first channel slot of input / output
  bool has_bias = false;
  double coeff(CostKind kind) const { return kind == CostKind::Params ? kh * kw : kh * kw * out_h * out_w; }
};

// A BatchNorm with affine parameters: 2 parameters per alive channel in reported counts. Its
// scale (gamma) is MorphNet's source of channel importance (nas/baselines/morphnet.h).
struct CountedNorm {
  int64_t slot = 0, channels = 0;
  std::string weight_name;  // of gamma, e.g. "layer1.0.conv1.bn.weight" ("" when not a named parameter)
  Tensor weight;            // gamma (C), the parameter itself; undefined when not a named parameter
};

class ChannelGraph {
 public:
  using NamedParameters = std::vector<std::pair<std::string, Tensor>>;

  // `output` must come from a forward pass with grad mode on and the parameters requiring grad.
  static ChannelGraph trace(const Tensor& output, const NamedParameters& parameters);

  // Replaces the default accounting (the spec's: GroupRule::Any, nothing removable). Checks that
  // every key's layer was traced and every path holds one, naming what is not.
  void set_accounting(const CostAccounting& accounting);
  const CostAccounting& accounting() const { return accounting_; }
  bool removal_aware() const { return !accounting_.removable.empty(); }

  const std::vector<TracedMask>& masks() const { return masks_; }
  const std::vector<CostedOp>& ops() const { return ops_; }
  const std::vector<CountedNorm>& norms() const { return norms_; }
  int64_t num_slots() const { return static_cast<int64_t>(group_of_.size()); }
  int64_t num_groups() const { return num_groups_; }
  int64_t group_of(int64_t slot) const { return group_of_[slot]; }

  // Every mask's logits on the host, in masks() order, through one copy (a GPU run would
  // otherwise synchronise once per mask: ~200 times for the main job's supernet).
  std::vector<std::vector<double>> mask_logits_on_host() const;

  // Keep probability of every group from per-mask keep probabilities (one vector per mask, in
  // masks() order), by the accounting's group rule.
  std::vector<double> group_probabilities(const std::vector<std::vector<double>>& per_mask) const;

  // The penalised cost in real units, differentiable in every mask's logits (Expected) or in
  // the given relaxed masks (Sampled, Reference: `sampled` holds one (C) tensor per mask).
  // Expected runs as ops on the logits' device (expected_cost); the other forms on the host.
  Tensor cost(CostKind kind, CostForm form = CostForm::Expected, const std::vector<Tensor>& sampled = {}) const;
  // The expected cost as device ops (nas/expected_cost.cpp), float64 inside, in the logits'
  // dtype out: no value goes through the host, so a search step on a GPU needs no copy for it.
  Tensor expected_cost(CostKind kind) const;
  // Every form computed on the host in float64 with its gradient in closed form: the oracle the
  // device form is tested against (tests/nas), and the Sampled and Reference forms.
  Tensor cost_on_host(CostKind kind, CostForm form, const std::vector<Tensor>& sampled = {}) const;

  // What the export keeps when each group is alive or not: under removal-aware accounting an
  // operator goes when one of its keys has no alive group, and a group's channels go with the
  // operators that produce them (kept[g]: whether they survive that, whatever alive[g] says).
  // Without removal everything is kept.
  struct Kept {
    std::vector<bool> op;     // per ops()
    std::vector<bool> norm;   // per norms(): a BatchNorm goes with the operator it lies in
    std::vector<bool> group;  // per group
  };
  Kept kept(const std::vector<bool>& group_alive) const;

  // Reported counts when each group is alive or not (alive[g]); BN and bias parameters included;
  // removal-aware under such accounting (the count of the network the export builds).
  double count(CostKind kind, const std::vector<bool>& group_alive) const;
  double count_all(CostKind kind) const;  // every channel alive

 private:
  std::vector<TracedMask> masks_;
  std::vector<CostedOp> ops_;
  std::vector<CountedNorm> norms_;
  std::vector<int64_t> group_of_;                   // slot -> dense group id
  std::vector<std::vector<std::pair<int, int64_t>>> group_masks_;  // group -> (mask, channel)
  int64_t num_groups_ = 0;
  CostAccounting accounting_;
  // Removal structure (set_accounting): key k is the output groups of one key layer; an operator
  // needs the keys of every removable operator it lies in; a group needs the keys that every
  // operator producing it needs; contained_in lists the keys whose channels include the group.
  std::vector<std::vector<int64_t>> key_groups_;  // key -> its groups
  std::vector<std::vector<int>> op_needs_;        // op -> keys (sorted)
  std::vector<std::vector<int>> norm_needs_;      // norm -> keys (sorted)
  std::vector<std::vector<int>> group_needs_;     // group -> keys (sorted)
  std::vector<std::vector<int>> contained_in_;    // group -> keys (sorted)
  // expected_cost's constant structure per (kind, device), built on first use.
  struct ExpectedCostPlan;
  mutable std::map<std::pair<int, std::string>, std::shared_ptr<const ExpectedCostPlan>> plans_;
  const ExpectedCostPlan& plan(CostKind kind, Device device) const;
};

}  // namespace figs::nas

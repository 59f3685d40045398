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
// from the parameter list given to trace(). A group's keep probability is
// p = 1 - prod_s (1 - pi_s) over the masks s on it (p = 1 for a group with none, e.g. the image).
//
// Costs per dense conv / linear op:  coeff * (sum_in p) * (sum_out p) / groups;  per depthwise
// conv: coeff * sum_c p[c]. coeff = KH*KW for parameters (1 for linear), KH*KW*OH*OW for MACs.
// Biases and BatchNorm parameters are outside the penalised cost; count() includes them.
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
// scale (gamma) is MorphNet's source of channel importance (nas/morphnet.h).
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

  const std::vector<TracedMask>& masks() const { return masks_; }
  const std::vector<CostedOp>& ops() const { return ops_; }
  const std::vector<CountedNorm>& norms() const { return norms_; }
  int64_t num_slots() const { return static_cast<int64_t>(group_of_.size()); }
  int64_t num_groups() const { return num_groups_; }
  int64_t group_of(int64_t slot) const { return group_of_[slot]; }

  // Every mask's logits on the host, in masks() order, through one copy (a GPU run would
  // otherwise synchronise once per mask: ~200 times for the main job's supernet).
  std::vector<std::vector<double>> mask_logits_on_host() const;

  // Keep probability of every group from per-mask keep probabilities (one (C) tensor per mask,
  // in masks() order): p_g = 1 - prod over masks on g of (1 - pi).
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

  // Reported counts when each group is alive or not (alive[g]); BN and bias parameters included.
  double count(CostKind kind, const std::vector<bool>& group_alive) const;
  double count_all(CostKind kind) const;  // every channel alive

 private:
  std::vector<TracedMask> masks_;
  std::vector<CostedOp> ops_;
  std::vector<CountedNorm> norms_;
  std::vector<int64_t> group_of_;                   // slot -> dense group id
  std::vector<std::vector<std::pair<int, int64_t>>> group_masks_;  // group -> (mask, channel)
  int64_t num_groups_ = 0;
  // expected_cost's constant structure per (kind, device), built on first use.
  struct ExpectedCostPlan;
  mutable std::map<std::pair<int, std::string>, std::shared_ptr<const ExpectedCostPlan>> plans_;
  const ExpectedCostPlan& plan(CostKind kind, Device device) const;
};

}  // namespace figs::nas

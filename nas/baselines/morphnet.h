// The MorphNet baseline (../shared/spec/figs-method.md, section 6; Gordon et al. 2018): an L1
// penalty on the BatchNorm scales (gamma) of the network built WITHOUT masks, each channel
// weighted by its cost, then the widths of the channels whose |gamma| stayed above a threshold.
//
// Sources and groups: ChannelGraph::trace records every BatchNorm's gamma (CountedNorm). Channels
// the graph unites (residual adds, depthwise convs, concat slots) are one group, and a group's
// source is the max |gamma| over the BatchNorms on it (MorphNet's max grouping):
//   R_g = max |gamma| on g          A_g = 1[R_g > threshold]   (no gradient)
// A group no BatchNorm normalises (the image, the logits) has R = 0 and A = 1: its channels are
// constant, as in MorphNet, which regularises only what a source controls.
//
// The penalty is the bilinear cost of FiGS's reference form (section 3) with R and A above:
//   dense conv / linear:  coeff / groups * (A_in * R_out + A_out * R_in)    (A, R summed over channels)
//   depthwise conv:       2 * coeff * sum_c A_c R_c                         (input and output are one group)
// coeff as in nas/channel_graph.h (kh*kw for params, kh*kw*oh*ow for MACs). Its gradient reaches,
// per group, the gamma that attains the max (sign(gamma) times the weight); the others get 0.
//
// Export: a unit's width is the number of alive groups among its output channels (0 removes it,
// as in FiGS's export), then keep_network_connected (nas/space.h) restores what a space cannot
// lose (a stream, a stem, a head; one operator where a layer needs one).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nas/channel_graph.h"
#include "nas/objective.h"
#include "nas/space.h"

namespace figs::nas {

inline constexpr double kMorphNetThreshold = 1e-2;

// The penalised cost, differentiable in every traced gamma (a scalar of the gammas' dtype).
Tensor morphnet_cost(const ChannelGraph& graph, CostKind kind, double threshold = kMorphNetThreshold);

// Per group of the graph: whether it is alive (R > threshold, or no source).
std::vector<bool> morphnet_alive_groups(const ChannelGraph& graph, double threshold = kMorphNetThreshold);
// The reported count (BN and biases included) of the network with only the alive channels: what
// the export will count, as the channel graph sees it.
double morphnet_alive_count(const ChannelGraph& graph, CostKind kind, double threshold = kMorphNetThreshold);

// One entry per traced BatchNorm with a named gamma: LayerWidth.mask holds the gamma's name
// ("<unit>.bn.weight"), channels its size, width its alive channels.
std::vector<LayerWidth> morphnet_export_widths(const ChannelGraph& graph, double threshold = kMorphNetThreshold);

// The width key of a unit's BatchNorm gamma ("<path>.bn.weight" -> "<path>"), or "" for a name
// without that suffix.
std::string width_key_of_norm(const std::string& gamma_name);

// The exported width map: morphnet_export_widths on the space's keys (BatchNorms without a key,
// e.g. depthwise units', are left out), made buildable by keep_network_connected with each key's
// largest |gamma| as its score; `changes` (optional) lists what that restored.
WidthMap morphnet_width_map(const SearchSpace& space, const ChannelGraph& graph, double threshold = kMorphNetThreshold,
                            std::vector<std::string>* changes = nullptr);

// lambda * morphnet_cost, as CostPenalty is for FiGS: lambda in units of 1/cost, or with
// relative_lambda a multiple of 1/(initial penalty); set_lambda() for nas/budget.h.
class MorphNetPenalty : public SearchPenalty {
 public:
  MorphNetPenalty(const ChannelGraph& graph, const PenaltyOptions& options, double threshold = kMorphNetThreshold);
  Tensor operator()();
  Tensor term() override { return (*this)(); }
  double lambda() const override { return lambda_; }
  void set_lambda(double lambda) override;
  double threshold() const { return threshold_; }
  double initial_cost() const override { return initial_cost_; }  // the penalty's cost at construction
  // The penalty's cost at the last call. Read lazily, as CostPenalty's (a GPU synchronisation on
  // the first read after a call, unless note_cost() supplied it).
  double last_cost() const;
  const Tensor& last_cost_tensor() const override { return last_cost_tensor_; }
  void note_cost(double cost) override { last_cost_ = cost, cost_read_ = true; }
  // The alive network's reported count (morphnet_alive_count) at the last call, in real units.
  double last_alive_count() const { return last_alive_count_; }

  bool needs_mask_layers() const override { return false; }
  // Alive: the channels morphnet_export_widths keeps, read from the gammas on the host.
  int64_t note_readout(const std::vector<double>& readout) override;
  int64_t channels() const override;

 private:
  const ChannelGraph& graph_;
  PenaltyOptions options_;
  double threshold_, lambda_ = 0, initial_cost_ = 0, last_alive_count_ = 0;
  mutable double last_cost_ = 0;
  mutable bool cost_read_ = true;
  Tensor last_cost_tensor_;
};

}  // namespace figs::nas

// The architecture-learning objective: task loss + lambda * cost (eq. 2), and the widths a
// search exports (section 4 of ../shared/spec/figs-method.md).
#pragma once

#include <string>
#include <vector>

#include "nas/channel_graph.h"

namespace figs::nas {

struct PenaltyOptions {
  CostKind kind = CostKind::Params;
  CostForm form = CostForm::Expected;
  // lambda in units of 1/cost; with relative_lambda it is a multiple of 1/(initial cost), the
  // spec's suggested scale (0.1..10 a good starting range).
  double lambda = 0;
  bool relative_lambda = false;
};

// lambda * cost(graph), with the cost also reported in real units each time it is evaluated.
class CostPenalty {
 public:
  CostPenalty(const ChannelGraph& graph, const PenaltyOptions& options);
  // The penalty term to add to the task loss (graph-connected to every mask's logits, or to the
  // given relaxed masks for the sampled/reference forms).
  Tensor operator()(const std::vector<Tensor>& sampled = {});
  double lambda() const { return lambda_; }
  // For a controller that sets lambda during the search (nas/budget.h); >= 0, in 1/cost units.
  void set_lambda(double lambda);
  double initial_cost() const { return initial_cost_; }
  // Real units (params or MACs) at the last call. Read lazily: on a GPU the first read after a
  // call copies the value to the host (a synchronisation) unless note_cost() supplied it.
  double last_cost() const;
  // The cost of the last call as a 0-d tensor on the logits' device (for a batched readout).
  const Tensor& last_cost_tensor() const { return last_cost_tensor_; }
  // The host value of last_cost_tensor(), when the caller read it already.
  void note_cost(double cost) { last_cost_ = cost, cost_read_ = true; }
  const PenaltyOptions& options() const { return options_; }

 private:
  const ChannelGraph& graph_;
  PenaltyOptions options_;
  double lambda_ = 0, initial_cost_ = 0;
  mutable double last_cost_ = 0;
  mutable bool cost_read_ = true;
  Tensor last_cost_tensor_;
};

enum class WidthRule {
  FloorSum,    // default: floor(sum_c p[c]) (paper, section 3.2)
  Threshold,   // option: #(p[c] >= threshold)
  LastSample,  // option (reference implementation): #(m[c] >= 0.1) for the last sampled mask
};

struct LayerWidth {
  std::string mask;     // the mask's logits name, e.g. "stem.mask.logits"
  int64_t channels = 0;  // in the supernet
  int64_t width = 0;     // exported
};

// The exported width of every masked layer. p is the group keep probability (masks tied by a
// residual add or a depthwise conv export the same width). LastSample needs one mask per mask.
std::vector<LayerWidth> export_widths(const ChannelGraph& graph, WidthRule rule = WidthRule::FloorSum,
                                      double threshold = 0.5, const std::vector<Tensor>& last_masks = {});

}  // namespace figs::nas

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

// What an architecture search (nas/search.h) adds to the task loss: lambda * a cost of the
// architecture's parameters. FiGS's CostPenalty (below) prices the masks' keep probabilities;
// MorphNet's MorphNetPenalty (nas/baselines/morphnet.h) the BatchNorm scales.
class SearchPenalty {
 public:
  virtual ~SearchPenalty() = default;
  // lambda * cost, differentiable in the architecture's parameters.
  virtual Tensor term() = 0;
  virtual double lambda() const = 0;
  // For a controller that sets lambda during the search (nas/budget.h); >= 0, in 1/cost units.
  virtual void set_lambda(double lambda) = 0;
  virtual double initial_cost() const = 0;
  // The cost of the last term() as a 0-d tensor on the parameters' device, and its host value
  // once the caller has read it (the search reads it with the step's other statistics, in one copy).
  virtual const Tensor& last_cost_tensor() const = 0;
  virtual void note_cost(double cost) = 0;
  // Whether the model must hold mask layers (FiGS's supernet) or must not need them (MorphNet).
  virtual bool needs_mask_layers() const = 0;
  // The channels alive now and in all (SearchStepStats). alive_readout() lists tensors the step
  // copies to the host with its statistics; note_readout() receives their values, concatenated
  // as float64 in that order, and returns the channels alive (it may keep the values: FiGS's
  // budget controller counts the export from them without a second copy).
  virtual std::vector<Tensor> alive_readout() const { return {}; }
  virtual int64_t note_readout(const std::vector<double>& readout) = 0;
  virtual int64_t channels() const = 0;

  // Whether term() enqueues device work only, with no host synchronisation, so that a search
  // step with it can be captured in a CUDA graph (nas/search.h).
  virtual bool capturable() const { return false; }
  // Note [Step values on the device] (core/params.h): from now on term() multiplies by a copy of
  // lambda held in a float64 tensor on `device`, which set_lambda() rewrites (a fill), so that a
  // captured step replays with the lambda of each step.
  void keep_lambda_on(Device device);

 protected:
  // lambda * cost: mul_scalar, or the product with the device copy of lambda (the same bits).
  Tensor times_lambda(const Tensor& cost, double lambda) const;
  // set_lambda()'s part: refreshes the device copy, if any.
  void lambda_changed(double lambda);

 private:
  Tensor device_lambda_;  // 0-d float64, or undefined
};

// lambda * cost(graph), with the cost also reported in real units each time it is evaluated.
class CostPenalty : public SearchPenalty {
 public:
  CostPenalty(const ChannelGraph& graph, const PenaltyOptions& options);
  // The penalty term to add to the task loss (graph-connected to every mask's logits, or to the
  // given relaxed masks for the sampled/reference forms).
  Tensor operator()(const std::vector<Tensor>& sampled = {});
  Tensor term() override { return (*this)(); }
  bool capturable() const override { return true; }
  double lambda() const override { return lambda_; }
  void set_lambda(double lambda) override;
  double initial_cost() const override { return initial_cost_; }
  // Real units (params or MACs) at the last call. Read lazily: on a GPU the first read after a
  // call copies the value to the host (a synchronisation) unless note_cost() supplied it.
  double last_cost() const;
  // The cost of the last call as a 0-d tensor on the logits' device (for a batched readout).
  const Tensor& last_cost_tensor() const override { return last_cost_tensor_; }
  // The host value of last_cost_tensor(), when the caller read it already.
  void note_cost(double cost) override { last_cost_ = cost, cost_read_ = true; }
  const PenaltyOptions& options() const { return options_; }

  bool needs_mask_layers() const override { return true; }
  // Every mask's logits in graph.masks() order; alive: pi >= 0.5, i.e. logit >= 0 (what the eval
  // mask keeps).
  std::vector<Tensor> alive_readout() const override;
  int64_t note_readout(const std::vector<double>& logits) override;
  int64_t channels() const override;
  // The logits of the last note_readout(), per mask in graph.masks() order (empty before one).
  const std::vector<std::vector<double>>& last_logits() const { return last_logits_; }

 private:
  const ChannelGraph& graph_;
  PenaltyOptions options_;
  double lambda_ = 0, initial_cost_ = 0;
  mutable double last_cost_ = 0;
  mutable bool cost_read_ = true;
  Tensor last_cost_tensor_;
  std::vector<std::vector<double>> last_logits_;
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

// Target-budget mode: the search finds lambda by itself, so that the exported network lands at a
// target cost (params or MACs) instead of wherever a hand-picked lambda leads.
//
// LambdaController is dual ascent on log(lambda), with a brake near the target. After every
// step, with c the current cost and T the target:
//     e = log(c / T)                               relative error, symmetric in over/undershoot
//     log(dual) += gain * clamp(e, -1, 1)          unless |e| <= dead_band; dual kept within
//                                                  [initial / range, initial * range]
//     lambda = dual * clamp(e / brake, 0, 1)       (brake > 0; brake = 0: lambda = dual)
// The log keeps the update scale-free (lambda spans decades between tasks); the clamp bounds
// one step's change to a factor exp(gain); `range` caps how far lambda may grow — and with it
// how fast the masks or gammas can move (anti-windup: while the cost has not responded yet,
// plain dual ascent grows lambda exponentially, and the network then collapses far below the
// target). The brake takes the pressure off as the cost reaches the target and removes it
// below: a FiGS mask that fell rarely comes back (the task gradient reaches a logit in a few
// percent of the steps), so the search must approach the target from above and stop there.
// With ramp_updates = R > 0 the target itself falls geometrically from the first cost fed to T
// over the first R updates (then stays at T), which keeps whole layers from crossing together.
//
// Measured on the three-layer test network (tests/nas/test_budget.cpp, 400 steps): FiGS with
// {gain 0.05, brake 0.05, range 4}, lambda0 = 4 / initial cost, lands at -0.4%, -0.2% and -3.2%
// of targets at 40%, 50% and 65% of the parameters; MorphNet with {gain 0.05, brake 0.05,
// ramp 250}, lambda0 = 2 / initial cost, at -6.3%, -0.6%, -4.4% — MorphNet under Adam is the
// harder plant: every gamma under the penalty falls at ~lr per step, so many cross the alive
// threshold within a few steps. Its expand step (rescale_to_budget, nas/budget_match.h: every
// found width times one factor) closes that gap after the search (+1.9% at 50%, two threads).
//
// What "current cost" to feed it decides where the search lands. FiGS exports floor(sum p) per
// layer, which can be ~one channel per layer below the expected cost E[cost]; feeding E[cost]
// would land the export below the target. exported_count() below is the count of the network
// the export would give now, under the export's own width rule (floor or threshold), and is what
// a search should feed to land the export on target.
// MorphNet's analogue is morphnet_alive_count (nas/baselines/morphnet.h), the count of the alive channels.
// The controller itself only sees numbers: CostPenalty::set_lambda / MorphNetPenalty::set_lambda
// apply what update() returns.
#pragma once

#include <nlohmann/json.hpp>

#include "core/json_reader.h"
#include "nas/channel_graph.h"
#include "nas/objective.h"

namespace figs::nas {

struct LambdaControllerOptions {
  double gain = 0.05;         // integral: log-lambda step per unit of log(cost / target)
  double brake = 0.0;         // see the law above; 0: plain dual ascent
  int64_t ramp_updates = 0;   // see the law above; 0: the final target from the first update
  double dead_band = 0.0;   // |log(cost / target)| at or below this leaves lambda unchanged
  double range = 1e4;       // lambda stays within [initial / range, initial * range]
};

class LambdaController {
 public:
  // target > 0 in the cost's real units; initial_lambda > 0 in 1/cost units.
  LambdaController(double target, double initial_lambda, const LambdaControllerOptions& options = {});
  // Feeds the cost measured after a step; returns the lambda for the next one.
  double update(double current_cost);
  double lambda() const { return lambda_; }        // applied: dual_lambda() times the brake
  double dual_lambda() const { return dual_; }     // the dual-ascent variable
  double target() const { return target_; }
  double current_target() const { return current_target_; }  // on the ramp, at the last update
  // log(current / target) of the last update (0 before any).
  double last_error() const { return last_error_; }

  // Everything update() changes, to checkpoint a search and resume it exactly.
  struct State {
    double lambda = 0, dual = 0, current_target = 0, first_cost = 0, last_error = 0;
    int64_t updates = 0;
  };
  State state() const { return {lambda_, dual_, current_target_, first_cost_, last_error_, updates_}; }
  void restore(const State& s);
  // The same as a JSON object (a checkpoint's), and back; errors name the reader's source.
  nlohmann::json state_json() const;
  void restore_json(const JsonReader& state);

 private:
  double target_, current_target_, lambda_, dual_, min_lambda_, max_lambda_;
  double first_cost_ = 0;
  int64_t updates_ = 0;
  LambdaControllerOptions options_;
  double last_error_ = 0;
};

// The options `figs search` runs the controller with: gain and brake 0.05 (measured above), and the
// run's target ramp and lambda range (search.target_ramp, search.lambda_range). Far targets (5% of
// the supernet) need lambda ~30x its start; the ramp keeps that from winding up while the cost lags.
LambdaControllerOptions search_controller_options(int64_t ramp_updates, double range);

// The reported count (BN and biases included) of the network export_widths(graph, rule,
// threshold) gives (FloorSum or Threshold), read off the channel graph: in each mask its `width`
// most probable channels alive (masks tied to one group pick the same channels), groups without
// a mask alive. Exact when removing channels removes nothing else; where a 0 width removes a
// whole operator (its other convs go with it), the export counts a little less than this.
double exported_count(const ChannelGraph& graph, CostKind kind, WidthRule rule = WidthRule::FloorSum,
                      double threshold = 0.5);
// The same from logits the caller already read (per mask, in graph.masks() order; e.g. a FiGS
// step's readout, CostPenalty::last_logits()): no copy from the device.
double exported_count(const ChannelGraph& graph, CostKind kind, const std::vector<std::vector<double>>& logits,
                      WidthRule rule = WidthRule::FloorSum, double threshold = 0.5);

// The budget-matched export (`figs`: search.width_rule "budget"): the mask channels' groups in
// the order of their keep probability p, and the most of them, from the top, whose network
// counts at most `target` (exported_count's count); each masked layer's width is then its
// number of kept channels. Without ties this is the threshold export #(p >= t) at the lowest t
// that fits. Ties (e.g. logits no gradient has moved, all at the starting 2.5) are broken by the
// channel's relative position in its layer (c / C, the lowest over a group's layers), so a cut
// through tied channels takes the same share of every layer they span instead of whole layers
// in index order. `cut_p` is the p of the last kept group (1 when none is kept).
struct BudgetExport {
  std::vector<LayerWidth> widths;  // in graph.masks() order, as export_widths
  double cut_p = 1;
  double count = 0;  // exported_count of these widths
};
BudgetExport budget_export(const ChannelGraph& graph, CostKind kind, const std::vector<std::vector<double>>& logits,
                           double target);

}  // namespace figs::nas

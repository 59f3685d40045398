// One architecture-learning step, its statistics and hooks (../shared/spec/figs-method.md,
// sections 1, 3 and 6): the driver that `figs search` runs, for FiGS and for MorphNet, and that a
// C++ tool can run on its own data loop.
//
//   ArchitectureSearch search(model, penalty, optimizer, {.tau = TauSchedule::constant(1e-3)});
//   search.on_step([](const SearchStepStats& s, ArchitectureSearch&) { ... log s ... });
//   for (batch : loader) search.step(images, labels);
//
// Each step: masks draw the noise of (seed, layer, step), tau follows its schedule, the loss is
// cross-entropy + the penalty's term (cross-entropy alone, logits frozen, during the warmup
// steps), one backward, one optimizer update, then the hooks run (in the order they were added;
// a hook may change lambda through penalty(), e.g. a budget controller). The penalty decides the
// method: FiGS's CostPenalty on a supernet with masks, or MorphNet's MorphNetPenalty on the
// network without them (no masks: no noise, tau or frozen logits).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "cuda/graph.h"
#include "nas/mask_layer.h"
#include "nas/objective.h"
#include "nn/model.h"
#include "nn/optim/optimizer.h"

namespace figs::nas {

// Temperature over the search: constant (the spec's default, 1e-3) or geometric from `start` at
// step 0 to `end` at step `steps` and constant after (the annealing option).
struct TauSchedule {
  double start = 1e-3, end = 1e-3;
  int64_t steps = 0;
  static TauSchedule constant(double tau) { return {tau, tau, 0}; }
  static TauSchedule geometric(double start, double end, int64_t steps) { return {start, end, steps}; }
  double at(int64_t step) const;
};

// The keep probabilities of one mask layer at a moment of the search.
struct MaskLayerStats {
  std::string name;    // module path of the mask layer, e.g. "cell0.block1.sep3.pw1.mask"
  int64_t channels = 0;
  int64_t alive = 0;   // #(pi >= 0.5): what the eval mask keeps
  double sum_p = 0;    // sum of pi: the expected width (the export's floor(sum p) before ties)
  double mean = 0, stddev = 0, min = 0, max = 0;  // of pi over the channels
};
std::vector<MaskLayerStats> mask_layer_stats(nn::Module& root);

struct SearchStepStats {
  int64_t step = 0;  // 1 after the first update
  double tau = 0, lambda = 0;  // tau: 0 without masks
  bool warmup = false;  // logits frozen, penalty not applied (SearchOptions::warmup_steps)
  double task_loss = 0, penalty = 0;
  double cost = 0;  // the penalised cost (expected by default) in real units, before this update
  int64_t alive_channels = 0, channels = 0;  // #(pi >= 0.5) after this update, over all masks
};

struct SearchOptions {
  TauSchedule tau;
  // Steps that train only the weights (under sampled masks, logits frozen, no penalty) before
  // architecture learning starts: on short runs a network that has not learned anything yet gives
  // every channel the same near-zero usefulness, and the cost term alone would decide the widths.
  int64_t warmup_steps = 0;
  uint64_t first_step = 0;  // resuming: the step count already done
  double label_smoothing = 0;  // of the task loss: targets (1 - s) * onehot + s / K
  // Note [The search step as a CUDA graph]: on a CUDA model, the steps after the warmup run as one
  // captured graph (cuda/graph.h): the first of them eagerly (it fills the caches: cuDNN's plans,
  // the allocator's blocks), the second is captured, and every later step with a batch of the
  // same shape replays it, for one launch instead of a few thousand. The per-step numbers (the
  // masks' noise step and tau, the optimizer's step values, lambda) are read from device memory
  // (Note [Step values on the device], core/params.h), written before each step; the statistics
  // are read after it, the step's one synchronisation. The results are those of the eager step
  // (the same kernels on the same numbers; cuDNN may sum in another order from run to run). A
  // step that cannot be captured runs eagerly: a batch of another shape, a penalty that reads the
  // host (MorphNet's), gradient clipping (it reads the norm), a data-parallel run (NCCL runs on
  // the legacy stream), and every step after a failed capture (reported on stderr). On the CPU
  // nothing is captured, but the step reads its numbers from memory the same way, which is how
  // the CPU tests cover that path.
  bool cuda_graph = false;
};

class ArchitectureSearch {
 public:
  using Hook = std::function<void(const SearchStepStats&, ArchitectureSearch&)>;

  // With FiGS's penalty `model` must hold MaskLayers (configure_masks() already called with the
  // run's seed); the penalty's graph must have been traced from it.
  ArchitectureSearch(nn::Model& model, SearchPenalty& penalty, nn::Optimizer& optimizer, SearchOptions options = {});
  ~ArchitectureSearch();

  // One update on a batch: images (N, C, H, W) in the model's layout, labels int64 (N), both on the
  // model's device.
  SearchStepStats step(const Tensor& images, const Tensor& labels);
  void on_step(Hook hook) { hooks_.push_back(std::move(hook)); }

  int64_t steps_done() const { return step_; }
  SearchPenalty& penalty() { return penalty_; }
  nn::Model& model() { return model_; }
  std::vector<MaskLayerStats> layer_stats() const { return mask_layer_stats(model_.root()); }
  // The steps replayed from the captured graph so far, and its nodes (0 before a capture).
  int64_t graph_replays() const { return graph_replays_; }
  int64_t graph_nodes() const;

 private:
  nn::Model& model_;
  SearchPenalty& penalty_;
  nn::Optimizer& optimizer_;
  SearchOptions options_;
  std::vector<std::pair<std::string, MaskLayer*>> masks_;
  std::vector<Hook> hooks_;
  int64_t step_ = 0, channels_ = 0;

  // Note [The search step as a CUDA graph]
  Tensor step_values_;  // float64 {step, tau} the masks read, when options_.cuda_graph
  std::unique_ptr<cuda::CapturedGraph> graph_;
  Tensor graph_images_, graph_labels_;  // the captured step's inputs: each batch is copied in
  Tensor graph_readout_;                // its statistics, rewritten by every replay
  bool graph_warmed_ = false;           // an eager step with the step values on the device ran
  bool graph_failed_ = false;           // the capture failed: every step runs eagerly
  int64_t graph_replays_ = 0;

  // The step's loss terms: forward, penalty (unless in the warmup), backward, and
  // optimizer_.apply_step() (begin_step() is the caller's).
  struct Losses {
    Tensor task, penalty;  // penalty undefined in the warmup
  };
  Losses run_step(const Tensor& images, const Tensor& labels, bool warmup);
  // The statistics the step copies to the host, as one float64 tensor (Losses, cost, readout).
  Tensor readout(const Losses& losses) const;
  bool can_capture(const Tensor& images, const Tensor& labels) const;
  // Runs the step eagerly (or, once warmed, captures it) and replays the graph; returns the readout.
  Tensor graph_step(const Tensor& images, const Tensor& labels);
};

}  // namespace figs::nas

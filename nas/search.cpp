#include "nas/search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/distributed.h"
#include "core/view.h"

namespace figs::nas {

double TauSchedule::at(int64_t step) const {
  FIGS_CHECK(start > 0 && end > 0, "tau schedule: tau must be > 0, got start ", start, ", end ", end);
  if (steps <= 0 || step >= steps) return steps <= 0 ? start : end;
  const double t = static_cast<double>(std::max<int64_t>(step, 0)) / static_cast<double>(steps);
  return start * std::pow(end / start, t);
}

std::vector<MaskLayerStats> mask_layer_stats(nn::Module& root) {
  std::vector<MaskLayerStats> out;
  const auto masks = mask_layers(root);
  if (masks.empty()) return out;
  // Every layer's pi reaches the host in one copy (one synchronisation on a GPU, not one per mask).
  std::vector<double> all;
  {
    NoGradGuard no_grad;
    std::vector<Tensor> parts;
    for (auto& [name, mask] : masks) parts.push_back(cast(mask->keep_probability(), DType::Float64));
    all = concat(parts, 0).to_vector<double>();
  }
  size_t at = 0;
  for (auto& [name, mask] : masks) {
    const std::vector<double> pi(all.begin() + static_cast<std::ptrdiff_t>(at),
                                 all.begin() + static_cast<std::ptrdiff_t>(at + mask->channels()));
    at += static_cast<size_t>(mask->channels());
    MaskLayerStats s;
    s.name = name;
    s.channels = static_cast<int64_t>(pi.size());
    s.min = *std::min_element(pi.begin(), pi.end());
    s.max = *std::max_element(pi.begin(), pi.end());
    for (double p : pi) {
      s.sum_p += p;
      s.alive += p >= 0.5;
    }
    s.mean = s.sum_p / s.channels;
    double var = 0;
    for (double p : pi) var += (p - s.mean) * (p - s.mean);
    s.stddev = std::sqrt(var / s.channels);
    out.push_back(s);
  }
  return out;
}

ArchitectureSearch::ArchitectureSearch(nn::Model& model, SearchPenalty& penalty, nn::Optimizer& optimizer,
                                       SearchOptions options)
    : model_(model), penalty_(penalty), optimizer_(optimizer), options_(options),
      masks_(mask_layers(model.root())), step_(static_cast<int64_t>(options.first_step)) {
  FIGS_CHECK(!masks_.empty() || !penalty.needs_mask_layers(),
             "ArchitectureSearch: the model has no mask layers (build the supernet with masks)");
  options_.tau.at(0);  // validates the schedule
  FIGS_CHECK(options_.warmup_steps >= 0, "ArchitectureSearch: warmup_steps must be >= 0, got ", options_.warmup_steps);
  channels_ = penalty.channels();
  if (options_.cuda_graph) {
    // Note [The search step as a CUDA graph]: every per-step number is read from memory on the
    // model's device from now on.
    step_values_ = zeros({2}, {DType::Float64, model.device()});
    for (auto& [name, mask] : masks_) mask->read_step_from(step_values_);
    optimizer_.set_step_values_on_device(true);
    penalty_.keep_lambda_on(model.device());
  }
}

// The graph goes first (it waits for its replays), before the tensors it reads are freed. The
// masks, the optimizer and the penalty stay bound to their step values in memory (they own them):
// a later search binds them again, and evaluation does not read them.
ArchitectureSearch::~ArchitectureSearch() { graph_.reset(); }

int64_t ArchitectureSearch::graph_nodes() const { return graph_ ? graph_->nodes() : 0; }

ArchitectureSearch::Losses ArchitectureSearch::run_step(const Tensor& images, const Tensor& labels, bool warmup) {
  model_.train();
  optimizer_.zero_grad();
  Losses l;
  l.task = cross_entropy(model_(images), labels, options_.label_smoothing);
  if (warmup) {
    {
      NoGradGuard no_grad;
      penalty_.term();  // the cost, for the log
    }
    backward(l.task);
    // Frozen logits: a zero gradient is a zero update while the optimizer's state for them is
    // still zero (it is, warmup comes first), for SGD and Adam alike.
    for (auto& [name, mask] : masks_) {
      const Tensor& g = mask->logits().grad();
      if (g.defined()) backend_of(g).fill(g, 0.0);
    }
  } else {
    l.penalty = penalty_.term();
    backward(add(l.task, l.penalty));
  }
  optimizer_.apply_step();
  return l;
}

Tensor ArchitectureSearch::readout(const Losses& l) const {
  NoGradGuard no_grad;
  const auto scalar = [](const Tensor& t) { return reshape(cast(t.detach(), DType::Float64), {1}); };
  std::vector<Tensor> parts{scalar(l.task),
                            l.penalty.defined() ? scalar(l.penalty) : zeros({1}, {DType::Float64, l.task.device()}),
                            scalar(penalty_.last_cost_tensor())};
  for (const Tensor& t : penalty_.alive_readout()) parts.push_back(reshape(cast(t, DType::Float64), {t.numel()}));
  return concat(parts, 0);
}

bool ArchitectureSearch::can_capture(const Tensor& images, const Tensor& labels) const {
  if (!options_.cuda_graph || graph_failed_ || !images.device().is_cuda() || !penalty_.capturable()) return false;
  if (optimizer_.max_grad_norm() > 0 || dist::world().world_size() > 1) return false;
  // Any layout: the batch is copied into the captured step's own input.
  return !graph_images_.defined() ||
         (graph_images_.shape() == images.shape() && graph_images_.dtype() == images.dtype() &&
          graph_labels_.shape() == labels.shape() && graph_labels_.dtype() == labels.dtype());
}

Tensor ArchitectureSearch::graph_step(const Tensor& images, const Tensor& labels) {
  if (!graph_images_.defined()) {
    // The captured step reads its batch from these; they live as long as the graph.
    graph_images_ = empty_like(images);
    graph_labels_ = empty_like(labels);
  }
  {
    NoGradGuard no_grad;
    raw::copy_(graph_images_, images);
    raw::copy_(graph_labels_, labels);
  }
  if (!graph_warmed_) {
    // Eagerly first: cuDNN chooses its plans, the optimizer and the allocator have their memory,
    // so the capture finds nothing left to set up.
    graph_warmed_ = true;
    return readout(run_step(graph_images_, graph_labels_, false));
  }
  if (!graph_) {
    try {
      graph_ = cuda::CapturedGraph::capture(images.device().index, [&] {
        graph_readout_ = readout(run_step(graph_images_, graph_labels_, false));
      });
    } catch (const Error& e) {
      // Nothing of the captured step ran (a capture executes nothing): run it eagerly, and every
      // later step too.
      std::fprintf(stderr, "search: the step could not be captured as a CUDA graph, so it runs eagerly: %s\n",
                   e.what());
      graph_failed_ = true;
      return readout(run_step(graph_images_, graph_labels_, false));
    }
  }
  graph_->replay();
  ++graph_replays_;
  return graph_readout_;
}

SearchStepStats ArchitectureSearch::step(const Tensor& images, const Tensor& labels) {
  SearchStepStats s;
  s.tau = masks_.empty() ? 0.0 : options_.tau.at(step_);  // MorphNet's network has no masks
  s.warmup = step_ < options_.warmup_steps;
  for (auto& [name, mask] : masks_) {
    mask->set_step(static_cast<uint64_t>(step_));
    mask->set_tau(s.tau);
  }
  if (step_values_.defined()) {
    // Note [Step values on the device]: two fills, before the step's work.
    Backend& backend = backend_of(step_values_);
    backend.fill(raw::narrow(step_values_, 0, 0, 1), static_cast<double>(step_));
    backend.fill(raw::narrow(step_values_, 0, 1, 1), s.tau > 0 ? s.tau : 1.0);
  }
  optimizer_.begin_step();
  // The step's statistics reach the host in one copy: task loss, penalty, cost and what the
  // penalty counts alive channels from (FiGS: every logit after the update). On a GPU this is
  // the step's one synchronisation.
  const Tensor stats = !s.warmup && can_capture(images, labels) ? graph_step(images, labels)
                                                                 : readout(run_step(images, labels, s.warmup));
  ++step_;

  s.step = step_;
  s.lambda = penalty_.lambda();
  s.channels = channels_;
  const std::vector<double> host = stats.to_vector<double>();
  s.task_loss = host[0];
  s.penalty = host[1];
  s.cost = host[2];
  penalty_.note_cost(host[2]);
  s.alive_channels = penalty_.note_readout(std::vector<double>(host.begin() + 3, host.end()));
  for (const Hook& hook : hooks_) hook(s, *this);
  return s;
}

}  // namespace figs::nas

// Optimizer: the shared part of SGD and Adam(W) — parameter groups, the learning-rate factor a
// schedule sets, gradient clipping by global norm, and the step count.
//
// Optimizers work on a Model's arenas (Note [Parameter arenas] in nn/model.h): each parameter
// group owns a few contiguous spans of the arena, and a step is one pass over them, with the
// optimizer's state (momentum, Adam moments) shaped like the arena too.
//
// Devices: the state lives on the model's device (allocated when the optimizer is built), and
// every pass is a Backend kernel of that device — sgd_step / adam_step per span, sum_squares
// and an in-place mul_scalar for clipping — so the same code steps a CPU or a CUDA model. The
// CPU kernels are the loops that ran here before (cpu/optim.cpp, same bits); the CUDA ones
// (cuda/optim.cu) reproduce them bit for bit. A step refuses to run when the model has moved
// to another device since the optimizer was built.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nn/model.h"

namespace figs::nn {

// Selects parameters by name into a group with its own hyperparameters. A parameter joins the
// first group (in the order given) that selects it; the rest form the group "default" with the
// optimizer's own lr and weight decay.
struct ParamGroupSpec {
  std::string name{};
  std::function<bool(const std::string& param_name)> selects{};
  std::optional<double> lr;            // unset: the optimizer's lr
  std::optional<double> weight_decay;  // unset: the optimizer's weight decay
  bool scheduled = true;               // whether set_lr_factor() scales this group's lr

  // Parameters whose name ends with `suffix`, e.g. ".logits" for the FiGS mask logits.
  static ParamGroupSpec ending_with(const std::string& suffix);
};

struct Span {
  int64_t begin = 0, end = 0;  // [begin, end) in arena elements
};

struct ParamGroup {
  std::string name;
  double lr = 0;  // before the schedule factor
  double weight_decay = 0;
  bool scheduled = true;
  std::vector<std::string> params;  // names, in arena order
  std::vector<Span> spans;          // adjacent parameters (and the padding after them) merged
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual const char* name() const = 0;  // "sgd", "adam", "adamw"

  // One update from the gradients in the arena: count the step, average the gradients over the
  // ranks of a data-parallel run (core/distributed.h), clip (if enabled), update each group's spans.
  // step() is begin_step() then apply_step().
  void step();
  // Counts the step; with the step values on the device (below), writes this step's into them.
  void begin_step();
  // The rest of step(): the averaging, the clipping and the updates, with the numbers of the step
  // begin_step() counted.
  void apply_step();
  // Note [Step values on the device] (core/params.h): from now on each group's update reads its
  // per-step numbers (SGD: lr; Adam: the step size, bias correction and decay, which change
  // every step) from a small float32 tensor on the model's device that begin_step() writes (one
  // fill per number), instead of taking them as kernel arguments. A CUDA graph that captured
  // apply_step() then replays with each step's numbers (nas::ArchitectureSearch). The updates
  // are the same bits either way.
  void set_step_values_on_device(bool on);
  bool step_values_on_device() const { return step_values_.defined(); }
  // One fill of the gradient arena (Model::zero_grad).
  void zero_grad();

  // Every scheduled group uses lr * factor from now on (LrSchedule::factor(step)).
  void set_lr_factor(double factor);
  double lr_factor() const { return lr_factor_; }
  // The learning rate group `g` uses in the next step.
  double effective_lr(const ParamGroup& g) const { return g.scheduled ? g.lr * lr_factor_ : g.lr; }

  // Clip the gradients to this global L2 norm before each step; <= 0 disables (the default).
  void set_max_grad_norm(double max_norm) { max_grad_norm_ = max_norm; }
  double max_grad_norm() const { return max_grad_norm_; }
  // The global gradient norm the last step measured (only measured when clipping; else -1).
  double last_grad_norm() const { return last_grad_norm_; }

  int64_t step_count() const { return step_count_; }
  void set_step_count(int64_t steps);  // checkpoint restore

  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  ParamGroup& group(const std::string& name);

  // The state a checkpoint must hold: arena-shaped float32 tensors by name ("momentum",
  // "exp_avg", "exp_avg_sq"). Slices of them follow the Model's param_slots().
  virtual std::vector<NamedTensor> state() const = 0;
  const std::vector<ArenaSlot>& slots() const { return model_->param_slots(); }

 protected:
  Optimizer(Model& model, double lr, double weight_decay, const std::vector<ParamGroupSpec>& groups);
  // Applies one step to every span of `group` with learning rate `lr` (one Backend kernel call
  // per span); step_count() already counts the step. Passes device_step_values(group) in the
  // kernel's parameters.
  virtual void update(const ParamGroup& group, double lr) = 0;
  // The numbers of `group`'s update at learning rate `lr` and the current step count that
  // change from step to step, in the order the kernel's step_values reads them (core/params.h);
  // at most kMaxStepValues.
  virtual std::vector<float> step_values(const ParamGroup& group, double lr) const = 0;
  static constexpr int64_t kMaxStepValues = 3;
  // Where `group`'s step values are on the device, or null when they travel as arguments.
  const float* device_step_values(const ParamGroup& group) const;
  // An arena-shaped state tensor, zero, on the model's device.
  Tensor make_state() const { return zeros(model_->params().shape(), {DType::Float32, model_->device()}); }
  Model& model() const { return *model_; }
  void check_hyper(bool ok, const std::string& what) const;

 private:
  Model* model_;
  std::vector<ParamGroup> groups_;
  double lr_factor_ = 1.0;
  double max_grad_norm_ = 0.0;
  double last_grad_norm_ = -1.0;
  int64_t step_count_ = 0;
  Tensor step_values_;  // groups x kMaxStepValues float32 on the model's device; undefined: off
};

// The L2 norm of the whole gradient arena (Backend::sum_squares on its device; on the CPU summed
// in fixed blocks, so the result does not depend on the thread count).
double grad_global_norm(const Model& model);
// Scales the gradient arena so its global norm is at most max_norm (PyTorch's
// clip_grad_norm_: factor max_norm / (norm + 1e-6) when norm > max_norm). Returns the norm
// before clipping.
double clip_grad_global_norm(Model& model, double max_norm);

}  // namespace figs::nn

// MaskLayer: the FiGS mask as a module, placed conv -> BN -> mask -> activation. It owns one
// logit per channel ("<path>.logits", init 2.5 => pi ~ 0.924) and multiplies its input per
// channel by the mask of nas/mask.h:
//   training: relaxed (default) or straight-through, noise keyed by (seed, layer id, step);
//   eval:     1[pi >= 0.5] (default) or 1[pi >= 0.5] * pi.
// A search driver numbers the layers and advances the step for all of them (configure_masks,
// set_mask_step) so every step draws fresh, reproducible noise.
#pragma once

#include <vector>

#include "nas/mask.h"
#include "nn/module.h"

namespace figs::nas {

struct MaskOptions {
  double init_logit = 2.5;
  double tau = 1e-3;
  MaskMode train_mode = MaskMode::Relaxed;
  MaskMode eval_mode = MaskMode::EvalHard;
};

class MaskLayer : public nn::Module {
 public:
  explicit MaskLayer(int channels, const MaskOptions& options = {});

  Tensor forward(const Tensor& x) override;  // x times the mask: one op (autograd/ops/mask.cpp)
  // The mask itself (C) for this step and mode, differentiable in the logits while training:
  // what a BatchNorm folds into its affine (nas/conv_unit.cpp). Updates last_mask().
  Tensor values();
  std::string extra_repr() const override;
  void reset_parameters(Generator& gen) override;

  int channels() const { return channels_; }
  const MaskOptions& options() const { return options_; }
  void set_tau(double tau);
  const Tensor& logits() const { return logits_; }  // (C)
  Tensor keep_probability() const;                 // pi = sigmoid(logits), no graph
  // The mask applied by the last forward (training or eval), no graph; undefined before any.
  const Tensor& last_mask() const { return last_mask_; }

  void set_noise_key(uint64_t seed, uint64_t layer) { seed_ = seed, layer_ = layer; }
  void set_step(uint64_t step) { step_ = step; }
  uint64_t layer_id() const { return layer_; }
  // Note [Step values on the device] (core/params.h): from now on the kernels take the noise step
  // and tau from `step_values`, a float64 {step, tau} tensor on the logits' device that the
  // caller writes before each step (what a captured search step replays with;
  // nas::ArchitectureSearch). set_step / set_tau then only matter to the checks. An undefined
  // tensor goes back to the arguments.
  void read_step_from(const Tensor& step_values);

 private:
  int channels_;
  MaskOptions options_;
  Tensor logits_;
  Tensor last_mask_;
  uint64_t seed_ = 0, layer_ = 0, step_ = 0;
  Tensor step_values_;  // {step, tau} on the device, or undefined

  MaskParams kernel_params(MaskMode mode) const;
};

// Every MaskLayer under root, in named_modules() order, with its path.
std::vector<std::pair<std::string, MaskLayer*>> mask_layers(nn::Module& root);
// Numbers the mask layers 0, 1, ... in that order and gives them the run's seed.
void configure_masks(nn::Module& root, uint64_t seed);
void set_mask_step(nn::Module& root, uint64_t step);

}  // namespace figs::nas

// A stage's training recipe (the "search" or "retrain" section of the configuration): the
// learning-rate schedule, the optimizer with its weight decay, the moving average of the weights
// that evaluation uses, and the loss. Search and retrain read the same keys (docs/cli.md,
// "Recipes"), so a recipe written for one is valid for the other.
//
//   schedule        constant | cosine | step (x decay_factor every decay_epochs, staircase) |
//                   exponential (the same decay, smooth: the paper's "decayed smoothly by 0.5
//                   every 35 epochs"), after lr_warmup_steps of linear warmup from 0
//   weight_decay    with weight_decay_mode "l2" (added to the gradient, as TensorFlow's L2 loss
//                   and torch.optim.Adam do) or "decoupled" (AdamW: p *= 1 - lr * wd)
//   adam_eps        Adam's epsilon (the paper's 1.0 is the TensorFlow placement's; nn/optim/adam.h)
//   ema_decay       0: off; else the weights and BatchNorm statistics are averaged after every
//                   update (with TensorFlow's num_updates warmup, nn/ema.h) and evaluation,
//                   checkpoints and exports of the trained network use the averages
//   label_smoothing targets (1 - s) * onehot + s / K
#pragma once

#include <memory>
#include <vector>

#include "config.h"
#include "nn/ema.h"
#include "nn/loss.h"
#include "nn/optim/adam.h"
#include "nn/schedule.h"

namespace figs::app {

// The learning-rate schedule of a stage of `total_steps` updates with `per_epoch` updates per
// epoch (decay_epochs are converted to updates: round(decay_epochs * per_epoch), at least 1).
nn::ScheduleConfig stage_schedule(const json& stage, int64_t total_steps, int64_t per_epoch);

// Adam, or AdamW when weight_decay_mode is "decoupled", with the stage's lr, adam_eps and weight
// decay; `groups` as nn::Optimizer takes them (e.g. the mask logits without weight decay).
std::unique_ptr<nn::Adam> stage_optimizer(const json& stage, nn::Model& model,
                                          const std::vector<nn::ParamGroupSpec>& groups = {});

// The stage's moving average of `model`, or nullptr when ema_decay is 0. Build it after the model
// has moved to its device (nn/ema.h).
std::unique_ptr<nn::Ema> stage_ema(const json& stage, nn::Model& model);

nn::CrossEntropyLoss stage_loss(const json& stage);

}  // namespace figs::app

#include "recipe.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace figs::app {

nn::ScheduleConfig stage_schedule(const json& stage, int64_t total_steps, int64_t per_epoch) {
  nn::ScheduleConfig s;
  s.warmup_steps = stage["lr_warmup_steps"].get<int64_t>();
  s.warmup_start_factor = 0.0;
  const std::string kind = stage["schedule"].get<std::string>();
  // Decay periods are given in epochs (the paper's unit) and applied per update.
  const auto decay_steps = [&] {
    return std::max<int64_t>(1, std::llround(stage["decay_epochs"].get<double>() * static_cast<double>(per_epoch)));
  };
  if (kind == "constant") {
    s.kind = nn::ScheduleKind::Constant;
  } else if (kind == "cosine") {
    s.kind = nn::ScheduleKind::Cosine;
    // The cosine spans the updates after the warmup; a stage no longer than its warmup ends there.
    s.total_steps = std::max<int64_t>(total_steps, s.warmup_steps + 1);
  } else if (kind == "step" || kind == "exponential") {
    s.kind = nn::ScheduleKind::Exponential;
    s.decay_rate = stage["decay_factor"].get<double>();
    s.decay_steps = decay_steps();
    s.staircase = kind == "step";
  } else {
    fail("config: schedule must be constant, cosine, step or exponential, got \"", kind, "\"");
  }
  return s;
}

std::unique_ptr<nn::Adam> stage_optimizer(const json& stage, nn::Model& model,
                                          const std::vector<nn::ParamGroupSpec>& groups) {
  nn::AdamOptions o;
  o.lr = stage["lr"].get<double>();
  o.eps = stage["adam_eps"].get<double>();
  o.weight_decay = stage["weight_decay"].get<double>();
  if (stage["weight_decay_mode"].get<std::string>() == "decoupled") return std::make_unique<nn::AdamW>(model, o, groups);
  return std::make_unique<nn::Adam>(model, o, groups);
}

std::unique_ptr<nn::Ema> stage_ema(const json& stage, nn::Model& model) {
  const double decay = stage["ema_decay"].get<double>();
  if (decay <= 0) return nullptr;
  // The num_updates warmup: without it a 0.9997 average is still ~the initial weights after
  // thousands of updates, which a short run (and every test) never outgrows.
  return std::make_unique<nn::Ema>(model, nn::EmaOptions{.decay = decay, .include_buffers = true, .warmup = true});
}

nn::CrossEntropyLoss stage_loss(const json& stage) { return {.label_smoothing = stage["label_smoothing"].get<double>()}; }

}  // namespace figs::app

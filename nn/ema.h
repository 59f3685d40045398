// Exponential moving average of a Model's weights and BatchNorm statistics, for evaluation
// (the FiGS paper uses decay 0.9997).
//
// After each optimizer step, update():   shadow = decay * shadow + (1 - decay) * live
// over the parameter arena and the buffer arena (two passes). apply() swaps the shadow values
// into the model (so evaluation runs on the averages) and restore() swaps them back; swapping
// keeps both copies without a third. With `warmup`, the decay at update n (counting from 0) is
// min(decay, (1 + n) / (10 + n)) (TensorFlow's num_updates rule), so early averages are not
// dominated by the initial weights.
//
// The shadow lives on the model's device (Note [Parameter arenas]): on the CPU the passes are
// fused loops, elsewhere Backend kernels with the same float32 roundings. update(), apply() and
// restore() refuse to run once the model has moved to another device: build the Ema after
// Model::to().
#pragma once

#include "nn/model.h"

namespace figs::nn {

struct EmaOptions {
  double decay = 0.9997;
  bool include_buffers = true;  // average the buffers (BN running statistics) too
  bool warmup = false;
};

class Ema {
 public:
  // The shadow starts as a copy of the model's current values.
  explicit Ema(Model& model, const EmaOptions& options = {});
  Ema(const Ema&) = delete;
  Ema& operator=(const Ema&) = delete;

  void update();
  void apply();    // the model now holds the averages
  void restore();  // the model holds its trained values again
  bool applied() const { return applied_; }

  // apply() for a scope, restore() at its end.
  class Scope {
   public:
    explicit Scope(Ema& ema) : ema_(ema) { ema_.apply(); }
    ~Scope() {
      if (ema_.applied()) ema_.restore();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Ema& ema_;
  };

  double decay_at(int64_t update) const;  // the decay the update number `update` uses
  int64_t num_updates() const { return num_updates_; }
  void set_num_updates(int64_t n);  // checkpoint restore
  const EmaOptions& options() const { return options_; }
  // Arena-shaped averages (same layout as model.params() / model.buffers()); the buffer shadow
  // is empty without include_buffers.
  const Tensor& shadow_params() const { return shadow_params_; }
  const Tensor& shadow_buffers() const { return shadow_buffers_; }
  const Model& model() const { return *model_; }

 private:
  void check_device(const char* op) const;

  Model* model_;
  EmaOptions options_;
  Tensor shadow_params_, shadow_buffers_;
  int64_t num_updates_ = 0;
  bool applied_ = false;
};

}  // namespace figs::nn

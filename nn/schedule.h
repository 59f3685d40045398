// Learning-rate schedules, as a factor of each parameter group's base lr, per optimizer step.
//
// The training loop sets, before step t (t = 0, 1, ...: the optimizer's step_count()),
//   optimizer.set_lr_factor(schedule.factor(t));
// Formulas, with W = warmup_steps and s = t - W (the main schedule starts after the warmup):
//   warmup (t < W):  warmup_start_factor + (1 - warmup_start_factor) * t / W
//   constant:        1
//   step:            gamma ^ (number of milestones <= s)          when milestones are given,
//                    gamma ^ floor(s / step_size)                 otherwise
//   exponential:     decay_rate ^ (s / decay_steps)               (smooth)
//                    decay_rate ^ floor(s / decay_steps)          (staircase)
//   cosine:          min_factor + (1 - min_factor) * (1 + cos(pi * min(s, S) / S)) / 2,
//                    S = total_steps - W
// The FiGS paper's "x0.5 every 35 epochs" is exponential, staircase, decay_rate 0.5,
// decay_steps = 35 * steps_per_epoch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace figs::nn {

enum class ScheduleKind { Constant, Step, Exponential, Cosine };

const char* schedule_kind_name(ScheduleKind kind);  // "constant", "step", "exponential", "cosine"

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::Constant;
  int64_t warmup_steps = 0;
  double warmup_start_factor = 0.0;
  // step
  double gamma = 0.1;
  int64_t step_size = 1;
  std::vector<int64_t> milestones{};  // increasing; when non-empty, used instead of step_size
  // exponential
  double decay_rate = 0.5;
  int64_t decay_steps = 1;
  bool staircase = false;
  // cosine
  int64_t total_steps = 1;
  double min_factor = 0.0;

  // JSON object with the field names above, e.g.
  //   {"kind": "exponential", "decay_rate": 0.5, "decay_steps": 3500, "staircase": true}
  // Missing fields keep their defaults; unknown fields are an error.
  static ScheduleConfig from_json(const std::string& text);
  std::string to_json() const;  // every field, stable order (hash it for a config hash)
};

class LrSchedule {
 public:
  explicit LrSchedule(const ScheduleConfig& config = {});  // validates
  double factor(int64_t step) const;
  double lr(int64_t step, double base_lr) const { return base_lr * factor(step); }
  const ScheduleConfig& config() const { return config_; }

 private:
  ScheduleConfig config_;
};

}  // namespace figs::nn

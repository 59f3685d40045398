#include "nn/schedule.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>

#include "core/error.h"

namespace figs::nn {

const char* schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Constant: return "constant";
    case ScheduleKind::Step: return "step";
    case ScheduleKind::Exponential: return "exponential";
    case ScheduleKind::Cosine: return "cosine";
  }
  return "?";
}

namespace {

ScheduleKind parse_kind(const std::string& name) {
  for (ScheduleKind k : {ScheduleKind::Constant, ScheduleKind::Step, ScheduleKind::Exponential, ScheduleKind::Cosine})
    if (name == schedule_kind_name(k)) return k;
  fail("lr schedule: unknown kind '", name, "' (constant, step, exponential, cosine)");
}

}  // namespace

ScheduleConfig ScheduleConfig::from_json(const std::string& text) {
  using nlohmann::json;
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("lr schedule: invalid JSON: ", e.what());
  }
  FIGS_CHECK(j.is_object(), "lr schedule: expected a JSON object, got ", j.dump());
  ScheduleConfig c;
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      const json& v = it.value();
      if (key == "kind") c.kind = parse_kind(v.get<std::string>());
      else if (key == "warmup_steps") c.warmup_steps = v.get<int64_t>();
      else if (key == "warmup_start_factor") c.warmup_start_factor = v.get<double>();
      else if (key == "gamma") c.gamma = v.get<double>();
      else if (key == "step_size") c.step_size = v.get<int64_t>();
      else if (key == "milestones") c.milestones = v.get<std::vector<int64_t>>();
      else if (key == "decay_rate") c.decay_rate = v.get<double>();
      else if (key == "decay_steps") c.decay_steps = v.get<int64_t>();
      else if (key == "staircase") c.staircase = v.get<bool>();
      else if (key == "total_steps") c.total_steps = v.get<int64_t>();
      else if (key == "min_factor") c.min_factor = v.get<double>();
      else
        fail("lr schedule: unknown field '", key, "' (kind, warmup_steps, warmup_start_factor, gamma, step_size, ",
             "milestones, decay_rate, decay_steps, staircase, total_steps, min_factor)");
    }
  } catch (const json::exception& e) {
    fail("lr schedule: wrong type in ", j.dump(), ": ", e.what());
  }
  return c;
}

std::string ScheduleConfig::to_json() const {
  nlohmann::ordered_json j;
  j["kind"] = schedule_kind_name(kind);
  j["warmup_steps"] = warmup_steps;
  j["warmup_start_factor"] = warmup_start_factor;
  j["gamma"] = gamma;
  j["step_size"] = step_size;
  j["milestones"] = milestones;
  j["decay_rate"] = decay_rate;
  j["decay_steps"] = decay_steps;
  j["staircase"] = staircase;
  j["total_steps"] = total_steps;
  j["min_factor"] = min_factor;
  return j.dump();
}

LrSchedule::LrSchedule(const ScheduleConfig& c) : config_(c) {
  FIGS_CHECK(c.warmup_steps >= 0 && c.warmup_start_factor >= 0 && c.warmup_start_factor <= 1,
             "lr schedule: needs warmup_steps >= 0 and warmup_start_factor in [0, 1] (", c.warmup_steps, ", ",
             c.warmup_start_factor, ")");
  switch (c.kind) {
    case ScheduleKind::Constant: break;
    case ScheduleKind::Step:
      FIGS_CHECK(c.gamma >= 0 && c.step_size >= 1, "lr schedule: step needs gamma >= 0 and step_size >= 1 (gamma ",
                 c.gamma, ", step_size ", c.step_size, ")");
      FIGS_CHECK(std::is_sorted(c.milestones.begin(), c.milestones.end()),
                 "lr schedule: step milestones must be increasing");
      break;
    case ScheduleKind::Exponential:
      FIGS_CHECK(c.decay_rate > 0 && c.decay_steps >= 1, "lr schedule: exponential needs decay_rate > 0 and ",
                 "decay_steps >= 1 (decay_rate ", c.decay_rate, ", decay_steps ", c.decay_steps, ")");
      break;
    case ScheduleKind::Cosine:
      FIGS_CHECK(c.total_steps > c.warmup_steps && c.min_factor >= 0 && c.min_factor <= 1,
                 "lr schedule: cosine needs total_steps > warmup_steps and min_factor in [0, 1] (total_steps ",
                 c.total_steps, ", warmup_steps ", c.warmup_steps, ", min_factor ", c.min_factor, ")");
      break;
  }
}

double LrSchedule::factor(int64_t t) const {
  FIGS_CHECK(t >= 0, "lr schedule: step must be >= 0, got ", t);
  const ScheduleConfig& c = config_;
  if (t < c.warmup_steps)
    return c.warmup_start_factor + (1.0 - c.warmup_start_factor) * static_cast<double>(t) / c.warmup_steps;
  const int64_t s = t - c.warmup_steps;
  switch (c.kind) {
    case ScheduleKind::Constant: return 1.0;
    case ScheduleKind::Step: {
      const int64_t k = c.milestones.empty()
                            ? s / c.step_size
                            : std::upper_bound(c.milestones.begin(), c.milestones.end(), s) - c.milestones.begin();
      return std::pow(c.gamma, static_cast<double>(k));
    }
    case ScheduleKind::Exponential: {
      const double e = c.staircase ? static_cast<double>(s / c.decay_steps)
                                   : static_cast<double>(s) / static_cast<double>(c.decay_steps);
      return std::pow(c.decay_rate, e);
    }
    case ScheduleKind::Cosine: {
      const double S = static_cast<double>(c.total_steps - c.warmup_steps);
      const double x = std::min(static_cast<double>(s), S) / S;
      return c.min_factor + (1.0 - c.min_factor) * 0.5 * (1.0 + std::cos(std::numbers::pi * x));
    }
  }
  return 1.0;
}

}  // namespace figs::nn

#include "nas/baselines/width_multiplier.h"

#include <algorithm>
#include <cmath>

namespace figs::nas {

int64_t scaled_width(int64_t full, double w, int64_t quantum) {
  FIGS_CHECK(quantum >= 1, "scaled_width: quantum must be >= 1, got ", quantum);
  const int64_t steps = std::max<int64_t>(1, std::llround(w * static_cast<double>(full) / static_cast<double>(quantum)));
  return std::min(full, steps * quantum);
}

WidthMap width_multiplier_map(const SearchSpace& space, double w) {
  FIGS_CHECK(std::isfinite(w) && w > 0 && w <= 1, "width multiplier: w = ", w, " is outside (0, 1] (the paper uses ",
             "[0.25, 1])");
  WidthMap out;
  for (const auto& [key, full] : space.full_widths()) out[key] = scaled_width(full, w, space.width_quantum(key));
  return out;
}

}  // namespace figs::nas

#include "nas/baselines/random_search.h"

#include <algorithm>

#include "core/rng.h"
#include "nas/baselines/width_multiplier.h"

namespace figs::nas {

namespace {

// Successive uniforms in (0, 1) of one (seed, stream): draw k is the block at counter k.
class Draws {
 public:
  Draws(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  double next() {
    const PhiloxBlock b = philox_draw(seed_, stream_, counter_++);
    return uniform_open_f64(b.w[0], b.w[1]);
  }

 private:
  uint64_t seed_, stream_, counter_ = 0;
};

}  // namespace

RandomArchitecture sample_random_architecture(const SearchSpace& space, uint64_t seed, uint64_t index) {
  Draws draws(seed, kRandomSearchStreamBase + index);
  RandomArchitecture a;
  a.multiplier = 0.25 + 0.75 * draws.next();
  a.widths = width_multiplier_map(space, a.multiplier);

  const std::vector<OperatorChoice> choices = space.operator_choices();
  std::vector<bool> kept(choices.size());
  for (size_t i = 0; i < choices.size(); ++i) kept[i] = draws.next() < 0.5;
  // Groups are contiguous; one that must keep a choice and kept none gets one back at random.
  for (size_t begin = 0; begin < choices.size();) {
    size_t end = begin;
    while (end < choices.size() && choices[end].group == choices[begin].group) ++end;
    const bool any = std::any_of(kept.begin() + begin, kept.begin() + end, [](bool k) { return k; });
    if (choices[begin].group_needs_one && !any) {
      const size_t n = end - begin;
      kept[begin + std::min(n - 1, static_cast<size_t>(draws.next() * static_cast<double>(n)))] = true;
    }
    begin = end;
  }
  for (size_t i = 0; i < choices.size(); ++i) {
    if (kept[i]) continue;
    for (const std::string& key : choices[i].keys) a.widths.at(key) = 0;
    a.removed_operators.push_back(choices[i].name);
  }
  return a;
}

WidthMap sample_architecture(const SearchSpace& space, uint64_t seed, uint64_t index) {
  return sample_random_architecture(space, seed, index).widths;
}

}  // namespace figs::nas

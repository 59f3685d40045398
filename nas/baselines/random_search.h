// The random-search baseline (../shared/spec/figs-method.md, section 6): architectures drawn from
// a space as random subsets of its operators plus one width multiplier for the whole network,
// each then retrained like a FiGS export.
//
// Sampling rule (architecture `index` of a run with `seed`):
//   w  = 0.25 + 0.75 u            one uniform u for the whole network: width_multiplier_map(w)
//   every operator choice (SearchSpace::operator_choices) kept with probability 1/2: its keys
//   are set to 0 when dropped; a group that must keep one (group_needs_one) and lost all of
//   them keeps one drawn uniformly among them.
// Per space (docs/spaces.md, "Operator choices"): One-Shot drops separable pairs and 1x7-7x1
// operators (parameterless ops always stay); FBNet drops candidate blocks (skip always stays);
// ResNet drops residual branches (the shortcut stays). A space with no choices reduces random
// search to a random width multiplier.
//
// Every number comes from Philox (core/rng.h) at (seed, kRandomSearchStreamBase + index, draw):
// the same (seed, index) gives the same architecture on every machine and library version.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nas/space.h"

namespace figs::nas {

inline constexpr uint64_t kRandomSearchStreamBase = 2ull << 40;  // clear of kMaskStreamBase + layer

struct RandomArchitecture {
  WidthMap widths;                             // every key of the space
  double multiplier = 1;                       // w in [0.25, 1]
  std::vector<std::string> removed_operators;  // OperatorChoice names, in operator_choices() order
};

RandomArchitecture sample_random_architecture(const SearchSpace& space, uint64_t seed, uint64_t index);
// sample_random_architecture(...).widths
WidthMap sample_architecture(const SearchSpace& space, uint64_t seed, uint64_t index);

}  // namespace figs::nas

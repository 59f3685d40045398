// The width-multiplier baseline (../shared/spec/figs-method.md, section 6): every layer of the
// supernet scaled by one factor w.
#pragma once

#include "nas/space.h"

namespace figs::nas {

// Every width key of `space` at round(w * full width) (halves away from zero), at least one
// channel. Keys with a width quantum q (SearchSpace::width_quantum, e.g. FBNet's g2 blocks) go to
// the nearest multiple of q instead, at least q. Tied keys stay equal: they share one full width
// (a stream's) and one quantum. The paper's range is w in [0.25, 1]; any w in (0, 1] is accepted,
// anything else is an error naming w.
WidthMap width_multiplier_map(const SearchSpace& space, double w);

// round(w * full) to a multiple of `quantum`, at least `quantum` (and at most full): the rule above
// for one key.
int64_t scaled_width(int64_t full, double w, int64_t quantum = 1);

}  // namespace figs::nas

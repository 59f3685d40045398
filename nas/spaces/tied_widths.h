// Width keys tied by a sum. Units whose outputs are added (a residual stream, a block's input
// sum) write into one tensor, so they must share one width, and that width must not be 0: the
// sum would vanish and cut the network. All three spaces check their tied sets here, so every
// such error names the space, what ties the keys and each key's width.
#pragma once

#include <string>
#include <vector>

#include "nas/space.h"

namespace figs::nas {

struct TiedKeys {
  std::string tied_by;  // the subject of a mismatch error: "the residual adds of layer1"
  std::string stream;   // the subject of a zero-width error: "layer1"
  std::vector<std::string> keys;
};

// The one width of `tied` in `widths` (absent keys at the space's full width), checked:
//   "<space>: <tied_by> tie k1=w1, k2=w2: tied keys need one width"
//   "<space>: <stream> has width 0 (k1=0, ...): the network would be cut"
int64_t tied_width(const SearchSpace& space, const WidthMap& widths, const TiedKeys& tied);

// "k1=w1, k2=w2, ..." for an error about a set of tied keys (equal lengths); a long set lists its
// first key and those whose width differs from it.
std::string describe_tied(const std::vector<std::string>& keys, const std::vector<int64_t>& widths);

}  // namespace figs::nas

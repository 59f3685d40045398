// The exported architecture: a human-readable JSON file naming the search space and its
// configuration, the width of every unit, the units that survive, and the params and MACs of the
// result — enough to rebuild, retrain, compare and publish it (spec section 4).
//
//   {
//     "format": "figs-architecture", "version": 1,
//     "space": { "space": "oneshot", "preset": "small28", ... },   // SearchSpace::config_json()
//     "widths": { "stem": 12, "cell0.adapt_prev": 9, ... },        // every width key
//     "surviving_units": [ "stem", "cell0.adapt_prev", ... ],      // ConvUnits in the built network
//     "params": 123456, "macs": 7890123,                           // of the network built from it
//     "source": { ... }                                            // free-form: how it was found
//   }
#pragma once

#include <string>
#include <vector>

#include "nas/space.h"

namespace figs::nas {

struct Architecture {
  std::string space_json;  // the space configuration (SearchSpace::config_json())
  WidthMap widths;
  std::vector<std::string> surviving_units;
  int64_t params = 0, macs = 0;
  std::string source_json = "{}";  // e.g. {"method": "figs", "lambda": ..., "run": ...}
};

// Builds the network the widths describe (no masks) and fills surviving units, params and MACs
// (per image, from nn::summarize at the space's input shape).
Architecture describe_architecture(const SearchSpace& space, const WidthMap& widths, const std::string& source_json = "{}");

std::string architecture_to_json(const Architecture& arch);
// Parses and validates (format, version, a known space, widths that space accepts); errors name
// `origin` (a file name) and the field.
Architecture architecture_from_json(const std::string& text, const std::string& origin = "architecture");

// Written to path.tmp and renamed: a crash never leaves a half-written file.
void save_architecture(const Architecture& arch, const std::string& path);
Architecture load_architecture(const std::string& path);


}  // namespace figs::nas

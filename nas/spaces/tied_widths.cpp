#include "nas/spaces/tied_widths.h"

#include <algorithm>

#include "core/error.h"

namespace figs::nas {

int64_t tied_width(const SearchSpace& space, const WidthMap& widths, const TiedKeys& tied) {
  FIGS_CHECK(!tied.keys.empty(), space.name(), ": ", tied.tied_by, " tie no keys");
  std::vector<int64_t> w;
  for (const std::string& k : tied.keys) w.push_back(space.width_of(widths, k));
  FIGS_CHECK(std::count(w.begin(), w.end(), w[0]) == static_cast<int64_t>(w.size()), space.name(), ": ", tied.tied_by,
             " tie ", describe_tied(tied.keys, w), ": tied keys need one width");
  FIGS_CHECK(w[0] > 0, space.name(), ": ", tied.stream, " has width 0 (", describe_tied(tied.keys, w),
             "): the network would be cut");
  return w[0];
}

std::string describe_tied(const std::vector<std::string>& keys, const std::vector<int64_t>& widths) {
  std::string out;
  size_t skipped = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys.size() > 8 && i > 0 && widths[i] == widths[0]) {
      ++skipped;
      continue;
    }
    out += (out.empty() ? "" : ", ") + keys[i] + "=" + std::to_string(widths[i]);
  }
  return skipped ? out + " (and " + std::to_string(skipped) + " more at " + std::to_string(widths[0]) + ")" : out;
}

}  // namespace figs::nas

// Helpers shared by the search-space tests (tests/nas/test_space_*.cpp).
#pragma once

#include "nas/channel_graph.h"
#include "nas/mask_layer.h"
#include "nas/space.h"
#include "nn/nn.h"
#include "test_util.h"

namespace figs::nas::test {

// A random channels-last batch shaped for the space's input.
inline Tensor input_for(const SearchSpace& s, int64_t n) {
  const Shape in = s.input_shape();
  Generator g(1);
  return uniform({n, in[0], in[1], in[2]}, -1, 1, g, {DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast});
}

inline ChannelGraph trace_net(nn::Module& net, const SearchSpace& s, int64_t n = 2) {
  ChannelGraph::NamedParameters params;
  for (const nn::NamedTensor& p : net.named_parameters()) params.push_back({p.name, p.tensor});
  return ChannelGraph::trace(sum(net(input_for(s, n))), params);
}

// Every ConvUnit mask keeps exactly the first widths[key] channels (logits +-20); masks without
// a key keep none (they then add nothing to their group).
inline void set_masks_to(nn::Module& net, const WidthMap& widths) {
  NoGradGuard no_grad;
  for (auto& [path, mask] : mask_layers(net)) {
    auto it = widths.find(path.substr(0, path.size() - std::string(".mask").size()));
    const int64_t keep = it == widths.end() ? 0 : it->second;
    std::vector<float> v(mask->channels());
    for (int64_t c = 0; c < mask->channels(); ++c) v[c] = c < keep ? 20.f : -20.f;
    raw::copy_(mask->logits(), from_vector(v, {mask->channels()}));
  }
}

// Groups alive when the masks are read as hard 0/1.
inline std::vector<bool> alive_groups(const ChannelGraph& g) {
  std::vector<std::vector<double>> pi;
  for (const TracedMask& m : g.masks()) {
    std::vector<double> v;
    for (double nu : m.logits.to_vector<double>()) v.push_back(nu > 0 ? 1.0 : 0.0);
    pi.push_back(v);
  }
  std::vector<bool> alive;
  for (double p : g.group_probabilities(pi)) alive.push_back(p >= 0.5);
  return alive;
}

inline bool has_module(nn::Module& net, const std::string& path) {
  for (const nn::NamedModule& m : net.named_modules())
    if (m.name == path) return true;
  return false;
}

inline BuildOptions with_masks(bool masks) {
  BuildOptions o;
  o.masks = masks;
  return o;
}

inline int64_t draw(Generator& gen, int64_t lo, int64_t hi) {  // uniform in [lo, hi]
  return std::min(hi, lo + static_cast<int64_t>(uniform({1}, 0, 1, gen).item<float>() * (hi - lo + 1)));
}

}  // namespace figs::nas::test

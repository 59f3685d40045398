// Small networks built by hand from raw ops with named float64 parameters, the way the layers
// build them: the channel-graph and cost-accounting tests trace these against counts by hand.
#pragma once

#include <string>
#include <vector>

#include "nas/channel_graph.h"
#include "nas/mask.h"
#include "test_util.h"

namespace figs::nas::test {

constexpr double kOn = 20, kOff = -20;  // logits with pi = 1 - 2e-9 and 2e-9

struct Net {
  ChannelGraph::NamedParameters params;
  Generator gen;

  // Weights are drawn from Philox stream `stream` of seed 1.
  explicit Net(uint64_t stream = 5) : gen(1, stream) {}

  Tensor param(const std::string& name, const Shape& shape) {
    Tensor t = uniform(shape, -0.5, 0.5, gen, {DType::Float64}).set_requires_grad();
    params.push_back({name, t});
    return t;
  }
  Tensor conv(const Tensor& x, const std::string& name, int64_t out, int64_t k, bool depthwise = false) {
    Conv2dParams p;
    p.pad_h = p.pad_w = static_cast<int>(k / 2);
    p.groups = depthwise ? static_cast<int>(x.size(1)) : 1;
    return conv2d(x, param(name + ".weight", {out, depthwise ? 1 : x.size(1), k, k}), Tensor(), p);
  }
  Tensor bn(const Tensor& x, const std::string& name) {
    return batch_norm(x, param(name + ".gamma", {x.size(1)}), param(name + ".beta", {x.size(1)}), Tensor(), Tensor(),
                      {});
  }
  Tensor mask(const Tensor& x, const std::string& name, const std::vector<double>& logits) {
    Tensor nu = from_vector(logits, {static_cast<int64_t>(logits.size())}).set_requires_grad();
    params.push_back({name + ".logits", nu});
    return channel_scale(x, mask_values(nu, zeros({nu.size(0)}, {DType::Float64}), 1.0, MaskMode::Relaxed));
  }
  Tensor linear_layer(const Tensor& x, const std::string& name, int64_t out) {
    return linear(x, param(name + ".weight", {out, x.size(1)}), param(name + ".bias", {out}));
  }
};

inline std::vector<double> logits_keeping(int64_t keep, int64_t total) {
  std::vector<double> v(total, kOff);
  for (int64_t i = 0; i < keep; ++i) v[i * total / keep] = kOn;  // spread the survivors
  return v;
}

inline Tensor image(int64_t c = 3, int64_t hw = 6) { return full({2, c, hw, hw}, 0.5, {DType::Float64}); }

}  // namespace figs::nas::test

#include "nas/baselines/morphnet.h"

#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/autograd_meta.h"
#include "core/view.h"

namespace figs::nas {

namespace {

// Each group's source: the max |gamma| over the BatchNorms on it, and where it was attained.
struct GroupSources {
  std::vector<double> r;       // R_g (0 without a source)
  std::vector<bool> sourced;   // whether any gamma lies on g
  std::vector<int> arg_norm;   // index into graph.norms() of the max, -1 without a source
  std::vector<int64_t> arg_channel;
  std::vector<double> arg_sign;  // sign(gamma) at the max
};

GroupSources gather_sources(const ChannelGraph& graph) {
  const int64_t G = graph.num_groups();
  GroupSources s{std::vector<double>(G, 0.0), std::vector<bool>(G, false), std::vector<int>(G, -1),
                 std::vector<int64_t>(G, 0), std::vector<double>(G, 0.0)};
  const auto& norms = graph.norms();
  for (size_t n = 0; n < norms.size(); ++n) {
    if (!norms[n].weight.defined()) continue;
    const std::vector<double> gamma = norms[n].weight.to_vector<double>();
    FIGS_CHECK(static_cast<int64_t>(gamma.size()) == norms[n].channels, "morphnet: BatchNorm '", norms[n].weight_name,
               "' has ", gamma.size(), " scales for ", norms[n].channels, " channels");
    for (int64_t c = 0; c < norms[n].channels; ++c) {
      const int64_t g = graph.group_of(norms[n].slot + c);
      const double a = std::abs(gamma[c]);
      if (!s.sourced[g] || a > s.r[g]) {  // ties keep the first source found
        s.sourced[g] = true;
        s.r[g] = a;
        s.arg_norm[g] = static_cast<int>(n);
        s.arg_channel[g] = c;
        s.arg_sign[g] = gamma[c] > 0 ? 1.0 : gamma[c] < 0 ? -1.0 : 0.0;
      }
    }
  }
  return s;
}

std::vector<bool> alive_from(const GroupSources& s, double threshold) {
  std::vector<bool> alive(s.r.size());
  for (size_t g = 0; g < s.r.size(); ++g) alive[g] = !s.sourced[g] || s.r[g] > threshold;
  return alive;
}

void check_threshold(double threshold) {
  FIGS_CHECK(std::isfinite(threshold) && threshold >= 0, "morphnet: the alive threshold must be >= 0, got ", threshold);
}

}  // namespace

Tensor morphnet_cost(const ChannelGraph& graph, CostKind kind, double threshold) {
  check_threshold(threshold);
  const GroupSources s = gather_sources(graph);
  const std::vector<bool> alive = alive_from(s, threshold);
  // Removal-aware accounting (ChannelGraph::kept): an operator the export would remove now is not
  // charged, nor are channels whose producer it would remove (0/1 weights, no gradient).
  const ChannelGraph::Kept keep = graph.kept(alive);
  std::vector<double> dr(graph.num_groups(), 0.0);  // d cost / d R_g
  double total = 0;
  for (size_t o = 0; o < graph.ops().size(); ++o) {
    if (!keep.op[o]) continue;
    const CostedOp& op = graph.ops()[o];
    const double k = op.coeff(kind);
    if (op.kind == "depthwise_conv2d") {
      for (int64_t c = 0; c < op.in_channels; ++c) {
        const int64_t g = graph.group_of(op.in_slot + c);
        const double w = 2 * k * (alive[g] && keep.group[g] ? 1.0 : 0.0);
        total += w * s.r[g];
        dr[g] += w;
      }
      continue;
    }
    double a_in = 0, r_in = 0, a_out = 0, r_out = 0;
    for (int64_t c = 0; c < op.in_channels; ++c) {
      const int64_t g = graph.group_of(op.in_slot + c);
      if (keep.group[g]) a_in += alive[g], r_in += s.r[g];
    }
    for (int64_t c = 0; c < op.out_channels; ++c) {
      const int64_t g = graph.group_of(op.out_slot + c);
      if (keep.group[g]) a_out += alive[g], r_out += s.r[g];
    }
    const double kg = k / op.groups;
    total += kg * (a_in * r_out + a_out * r_in);
    for (int64_t c = 0; c < op.in_channels; ++c) {
      const int64_t g = graph.group_of(op.in_slot + c);
      if (keep.group[g]) dr[g] += kg * a_out;
    }
    for (int64_t c = 0; c < op.out_channels; ++c) {
      const int64_t g = graph.group_of(op.out_slot + c);
      if (keep.group[g]) dr[g] += kg * a_in;
    }
  }

  // The gammas, one input each; norm n's gamma is input input_of[n] (-1: not a named parameter).
  const auto& norms = graph.norms();
  std::vector<Tensor> inputs;
  std::vector<int> input_of(norms.size(), -1);
  for (size_t n = 0; n < norms.size(); ++n)
    if (norms[n].weight.defined()) {
      input_of[n] = static_cast<int>(inputs.size());
      inputs.push_back(norms[n].weight);
    }
  // As ChannelGraph::cost: computed on the host, the cost and the gradients on the gammas' device.
  const DType dtype = inputs.empty() ? DType::Float32 : inputs.front().dtype();
  const Device device = inputs.empty() ? Device::cpu() : inputs.front().device();
  Tensor out = raw::to(raw::to_dtype(from_vector<double>({total}, {}), dtype), device);
  bool needs = false;
  for (const Tensor& t : inputs) needs = needs || any_requires_grad({&t});
  if (needs) {
    // Per input: its channel count, and the groups whose max it attains.
    std::vector<int64_t> sizes;
    std::vector<Device> devices;
    for (const Tensor& t : inputs) sizes.push_back(t.numel()), devices.push_back(t.device());
    std::vector<std::vector<std::pair<int64_t, double>>> d(inputs.size());  // (channel, d cost / d gamma)
    for (int64_t g = 0; g < graph.num_groups(); ++g)
      if (s.sourced[g] && dr[g] != 0) d[input_of[s.arg_norm[g]]].push_back({s.arg_channel[g], dr[g] * s.arg_sign[g]});
    record(OpKind::MorphNetCost, inputs, out, [d = std::move(d), sizes, devices](const Tensor& gy, InputGrads& grads) {
      const double upstream = gy.item<double>();
      for (size_t i = 0; i < d.size(); ++i) {
        if (!grads.needs(i)) continue;
        std::vector<double> g(sizes[i], 0.0);
        for (auto [c, v] : d[i]) g[c] += upstream * v;
        grads.set(i, raw::to(raw::to_dtype(from_vector(g, {sizes[i]}), gy.dtype()), devices[i]));
      }
    });
  }
  return out;
}

std::vector<bool> morphnet_alive_groups(const ChannelGraph& graph, double threshold) {
  check_threshold(threshold);
  return alive_from(gather_sources(graph), threshold);
}

double morphnet_alive_count(const ChannelGraph& graph, CostKind kind, double threshold) {
  return graph.count(kind, morphnet_alive_groups(graph, threshold));
}

std::vector<LayerWidth> morphnet_export_widths(const ChannelGraph& graph, double threshold) {
  const std::vector<bool> alive = morphnet_alive_groups(graph, threshold);
  std::vector<LayerWidth> out;
  for (const CountedNorm& n : graph.norms()) {
    if (n.weight_name.empty()) continue;
    int64_t width = 0;
    for (int64_t c = 0; c < n.channels; ++c) width += alive[graph.group_of(n.slot + c)];
    out.push_back({n.weight_name, n.channels, width});
  }
  return out;
}

std::string width_key_of_norm(const std::string& gamma_name) {
  const std::string suffix = ".bn.weight";
  if (gamma_name.size() <= suffix.size() ||
      gamma_name.compare(gamma_name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return "";
  return gamma_name.substr(0, gamma_name.size() - suffix.size());
}

WidthMap morphnet_width_map(const SearchSpace& space, const ChannelGraph& graph, double threshold,
                            std::vector<std::string>* changes) {
  const WidthMap full = space.full_widths();
  WidthMap widths;
  for (const LayerWidth& w : morphnet_export_widths(graph, threshold)) {
    const std::string key = width_key_of_norm(w.mask);
    if (full.count(key)) widths[key] = w.width;
  }
  // Scores for keep_network_connected: a key's largest |gamma| (its group sources' max).
  const GroupSources s = gather_sources(graph);
  std::map<std::string, double> scores;
  for (const CountedNorm& n : graph.norms()) {
    const std::string key = width_key_of_norm(n.weight_name);
    if (!full.count(key)) continue;
    double best = 0;
    for (int64_t c = 0; c < n.channels; ++c) best = std::max(best, s.r[graph.group_of(n.slot + c)]);
    scores[key] = best;
  }
  return keep_network_connected(space, widths, scores, changes);
}

MorphNetPenalty::MorphNetPenalty(const ChannelGraph& graph, const PenaltyOptions& options, double threshold)
    : graph_(graph), options_(options), threshold_(threshold) {
  FIGS_CHECK(options.form == CostForm::Expected, "MorphNetPenalty: the cost form is MorphNet's own (leave "
             "PenaltyOptions::form at its default)");
  FIGS_CHECK(options.lambda >= 0, "MorphNetPenalty: lambda must be >= 0, got ", options.lambda);
  {
    NoGradGuard no_grad;
    initial_cost_ = morphnet_cost(graph, options.kind, threshold).item<double>();
  }
  last_cost_ = initial_cost_;
  last_alive_count_ = morphnet_alive_count(graph, options.kind, threshold);
  FIGS_CHECK(!options.relative_lambda || initial_cost_ > 0, "MorphNetPenalty: relative lambda needs a positive "
             "initial ", cost_kind_name(options.kind), " cost");
  lambda_ = options.relative_lambda ? options.lambda / initial_cost_ : options.lambda;
}

Tensor MorphNetPenalty::operator()() {
  const Tensor cost = morphnet_cost(graph_, options_.kind, threshold_);
  last_cost_tensor_ = cost.detach();
  cost_read_ = false;
  last_alive_count_ = morphnet_alive_count(graph_, options_.kind, threshold_);
  return times_lambda(cost, lambda_);
}

double MorphNetPenalty::last_cost() const {
  if (!cost_read_) {
    last_cost_ = last_cost_tensor_.item<double>();
    cost_read_ = true;
  }
  return last_cost_;
}

int64_t MorphNetPenalty::note_readout(const std::vector<double>&) {
  int64_t alive = 0;
  for (const LayerWidth& w : morphnet_export_widths(graph_, threshold_)) alive += w.width;
  return alive;
}

int64_t MorphNetPenalty::channels() const {
  int64_t n = 0;
  for (const LayerWidth& w : morphnet_export_widths(graph_, threshold_)) n += w.channels;
  return n;
}

void MorphNetPenalty::set_lambda(double lambda) {
  FIGS_CHECK(std::isfinite(lambda) && lambda >= 0, "MorphNetPenalty: lambda must be >= 0, got ", lambda);
  lambda_ = lambda;
  lambda_changed(lambda);
}

}  // namespace figs::nas

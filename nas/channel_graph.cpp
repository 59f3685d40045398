#include "nas/channel_graph.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/view.h"

namespace figs::nas {

const char* cost_kind_name(CostKind kind) { return kind == CostKind::Params ? "params" : "macs"; }

namespace {

double sigmoid(double a) { return a >= 0 ? 1 / (1 + std::exp(-a)) : std::exp(a) / (1 + std::exp(a)); }
double sigmoid_slope(double a) {  // sigmoid(a) sigmoid(-a), stable
  const double e = std::exp(-std::abs(a));
  return e / ((1 + e) * (1 + e));
}

class UnionFind {
 public:
  int64_t add(int64_t n) {
    const int64_t first = static_cast<int64_t>(parent_.size());
    for (int64_t i = 0; i < n; ++i) parent_.push_back(first + i);
    return first;
  }
  int64_t find(int64_t a) {
    while (parent_[a] != a) a = parent_[a] = parent_[parent_[a]];
    return a;
  }
  void unite(int64_t a, int64_t b) { parent_[find(a)] = find(b); }
  int64_t size() const { return static_cast<int64_t>(parent_.size()); }

 private:
  std::vector<int64_t> parent_;
};

int64_t channels_of(const Shape& s) { return s.rank() >= 2 ? s[1] : 0; }

// Nodes reachable from root, inputs before the ops that read them.
std::vector<Node*> inputs_first(Node* root) {
  std::vector<Node*> order;
  std::unordered_set<Node*> done;
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [n, next] = stack.back();
    if (next < n->inputs().size()) {
      Node* child = n->inputs()[next++].node.get();
      if (child && !done.count(child)) {
        done.insert(child);
        stack.push_back({child, 0});
      }
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  return order;
}

}  // namespace

ChannelGraph ChannelGraph::trace(const Tensor& output, const NamedParameters& parameters) {
  FIGS_CHECK(output.defined() && output.grad_fn(), "ChannelGraph::trace: the output has no recorded graph; run the "
             "forward pass with grad mode on and parameters that require grad");
  std::unordered_map<const AutogradMeta*, const std::pair<std::string, Tensor>*> leaf_names;
  for (const auto& p : parameters)
    if (p.second.defined() && p.second.autograd_meta()) leaf_names[p.second.autograd_meta().get()] = &p;

  ChannelGraph g;
  UnionFind uf;
  std::unordered_map<const Node*, int64_t> slot_of;      // output's first slot (channel tensors)
  std::unordered_map<const Node*, size_t> op_of;         // conv/linear producing this node
  std::unordered_map<const Node*, const AutogradMeta*> mask_logits;  // mask_values node -> logits

  // First slot of input i of node n: the producer's slots, or fresh ones (constants such as the
  // image: their channels are their own groups with no mask, p = 1).
  auto input_slot = [&](const Node& n, size_t i) {
    const Edge& e = n.inputs()[i];
    if (e.node) {
      auto it = slot_of.find(e.node.get());
      if (it != slot_of.end()) return it->second;
    }
    return uf.add(channels_of(e.shape));
  };
  auto leaf_name = [&](const Edge& e) -> std::string {
    if (!e.leaf) return "";
    auto it = leaf_names.find(e.leaf.get());
    return it == leaf_names.end() ? "" : it->second->first;
  };
  auto tie = [&](int64_t a, int64_t b, int64_t n) {
    for (int64_t c = 0; c < n; ++c) uf.unite(a + c, b + c);
  };

  for (Node* node : inputs_first(output.grad_fn().get())) {
    const Shape& out = node->output_shape();
    const int64_t C = channels_of(out);
    const auto& in = node->inputs();
    int64_t slot = -1;  // this node's output slots, when it has channels

    switch (node->kind()) {
      case OpKind::Conv2d: {
        const Shape &xs = in[0].shape, &ws = in[1].shape;
        CostedOp c;
        c.in_channels = xs[1];
        c.out_channels = ws[0];
        c.groups = node->params_as<Conv2dParams>().groups;
        c.kh = ws[2];
        c.kw = ws[3];
        c.out_h = out[2];
        c.out_w = out[3];
        c.has_bias = in[2].defined;
        c.weight_name = leaf_name(in[1]);
        c.in_slot = input_slot(*node, 0);
        const bool depthwise = c.groups > 1 && c.groups == c.in_channels && c.out_channels == c.in_channels;
        c.kind = depthwise ? "depthwise_conv2d" : "conv2d";
        c.out_slot = slot = depthwise ? c.in_slot : uf.add(C);
        op_of[node] = g.ops_.size();
        g.ops_.push_back(c);
        break;
      }
      case OpKind::Matmul: {
        // linear(x, w) = matmul(x, permute(w)) (+ bias): the weight is the permute's leaf input.
        const Edge& b = in[1];
        FIGS_CHECK(in[0].shape.rank() == 2, "ChannelGraph::trace: matmul of ", in[0].shape, " is not a linear layer");
        CostedOp c;
        c.kind = "linear";
        c.in_channels = in[0].shape[1];
        c.out_channels = b.shape[1];
        if (b.node && b.node->kind() == OpKind::Permute && !b.node->inputs().empty())
          c.weight_name = leaf_name(b.node->inputs()[0]);
        c.in_slot = input_slot(*node, 0);
        c.out_slot = slot = uf.add(C);
        op_of[node] = g.ops_.size();
        g.ops_.push_back(c);
        break;
      }
      case OpKind::MaskValues:
        mask_logits[node] = in[0].leaf.get();
        break;
      // Channel c out is the (first, full-shape) input's channel c.
      case OpKind::Relu:
      case OpKind::Relu6:
      case OpKind::Sigmoid:
      case OpKind::Neg:
      case OpKind::Exp:
      case OpKind::Log:
      case OpKind::Sqrt:
      case OpKind::Pow:
      case OpKind::AddScalar:
      case OpKind::MulScalar:
      case OpKind::MaxPool2d:
      case OpKind::AvgPool2d:
      case OpKind::Contiguous:
        slot = input_slot(*node, 0);
        break;
      case OpKind::BatchNorm: {
        slot = input_slot(*node, 0);
        if (in.size() > 1 && in[1].defined) {
          // A mask folded into the affine (Note [The mask folded into the BatchNorm],
          // nas/conv_unit.cpp): gamma is mul(gamma, mask_values(logits)), or the mask alone.
          const Edge* gamma = &in[1];
          const Node* mask_node = nullptr;
          if (const Node* a = in[1].node.get()) {
            if (a->kind() == OpKind::Mul && a->inputs().size() == 2 && a->inputs()[1].node &&
                mask_logits.count(a->inputs()[1].node.get())) {
              gamma = &a->inputs()[0];
              mask_node = a->inputs()[1].node.get();
            } else if (mask_logits.count(a)) {
              gamma = nullptr;
              mask_node = a;
            }
          }
          CountedNorm n{slot, C, "", Tensor()};
          if (gamma && gamma->leaf) {
            auto it = leaf_names.find(gamma->leaf.get());
            if (it != leaf_names.end()) n.weight_name = it->second->first, n.weight = it->second->second;
          }
          g.norms_.push_back(n);
          if (mask_node) {
            auto it = leaf_names.find(mask_logits[mask_node]);
            FIGS_CHECK(it != leaf_names.end(), "ChannelGraph::trace: a mask's logits are not among the named parameters");
            g.masks_.push_back({it->second->first, it->second->second, slot, C});
          }
        }
        break;
      }
      case OpKind::Mask: {  // a MaskLayer: x times the mask of the logits (its second input, a leaf)
        slot = input_slot(*node, 0);
        if (in.size() > 1 && in[1].leaf) {
          auto it = leaf_names.find(in[1].leaf.get());
          FIGS_CHECK(it != leaf_names.end(), "ChannelGraph::trace: a mask's logits are not among the named parameters");
          g.masks_.push_back({it->second->first, it->second->second, slot, C});
        }
        break;
      }
      case OpKind::ChannelScale:  // channel_scale(x, mask_values(logits)): the mask op's two-op form
        slot = input_slot(*node, 0);
        if (in[1].node && mask_logits.count(in[1].node.get())) {
          const AutogradMeta* meta = mask_logits[in[1].node.get()];
          auto it = leaf_names.find(meta);
          FIGS_CHECK(it != leaf_names.end(), "ChannelGraph::trace: a mask's logits are not among the named parameters");
          g.masks_.push_back({it->second->first, it->second->second, slot, C});
        }
        break;
      case OpKind::Add:
      case OpKind::Sub:
      case OpKind::Mul:
      case OpKind::Div: {
        const bool a_full = in[0].shape == out, b_full = in[1].shape == out;
        if (a_full && b_full) {  // residual add: one group
          slot = input_slot(*node, 0);
          tie(slot, input_slot(*node, 1), C);
        } else {
          const size_t full = a_full ? 0 : 1;
          slot = (a_full || b_full) ? input_slot(*node, full) : uf.add(C);
          // A linear/conv bias: a leaf of (C) added to the op's output.
          const Edge& other = in[1 - full];
          const Edge& main = in[full];
          if (node->kind() == OpKind::Add && other.leaf && other.shape.numel() == C && main.node &&
              op_of.count(main.node.get()))
            g.ops_[op_of[main.node.get()]].has_bias = true;
        }
        break;
      }
      case OpKind::Concat: {
        FIGS_CHECK(node->params_as<IntsArg>().values == std::vector<int64_t>{1}, "ChannelGraph::trace: concat of ",
                   in.size(), " inputs along a dim other than channels");
        slot = uf.add(C);
        int64_t at = 0;
        for (size_t i = 0; i < in.size(); ++i) {
          const int64_t ci = channels_of(in[i].shape);
          tie(slot + at, input_slot(*node, i), ci);
          at += ci;
        }
        break;
      }
      case OpKind::Sum: {
        // Global pooling (a sum over H and W keeping N and C) keeps the channels.
        const std::vector<int64_t>& reduced = node->params_as<IntsArg>().values;
        const bool keeps_n_and_c = std::none_of(reduced.begin(), reduced.end(), [](int64_t d) { return d <= 1; });
        if (C > 0 && in[0].shape.rank() == out.rank() && keeps_n_and_c) slot = input_slot(*node, 0);
        break;
      }
      case OpKind::Reshape: {
        const Shape& xs = in[0].shape;
        if (C > 0 && channels_of(xs) == C && xs[0] == out[0] && xs.numel() == out.numel()) {
          slot = input_slot(*node, 0);  // (N, C, 1, 1) -> (N, C)
        } else if (xs.rank() == 4 && out.rank() == 2 && out[0] == xs[0] && out[1] == xs[1] * xs[2] * xs[3]) {
          // Flatten of (N, C, H, W): feature j is channel j / (H W).
          const int64_t from = input_slot(*node, 0), hw = xs[2] * xs[3];
          slot = uf.add(C);
          for (int64_t j = 0; j < C; ++j) uf.unite(slot + j, from + j / hw);
        }
        break;
      }
      case OpKind::Permute:
      case OpKind::Expand:
      case OpKind::CrossEntropy:
      case OpKind::LogSoftmax:
        break;  // weight views, broadcasts and the loss carry no channels of their own
      default:
        fail("ChannelGraph::trace: op '", node->name(), "' is not understood by the channel-group pass (output ", out,
             ")");
    }
    if (slot >= 0 && C > 0) slot_of[node] = slot;
  }

  // Dense group ids, and the masks on each group.
  std::unordered_map<int64_t, int64_t> dense;
  g.group_of_.resize(uf.size());
  for (int64_t s = 0; s < uf.size(); ++s) {
    auto [it, inserted] = dense.try_emplace(uf.find(s), static_cast<int64_t>(dense.size()));
    g.group_of_[s] = it->second;
  }
  g.num_groups_ = static_cast<int64_t>(dense.size());
  g.group_masks_.assign(g.num_groups_, {});
  for (size_t m = 0; m < g.masks_.size(); ++m)
    for (int64_t c = 0; c < g.masks_[m].channels; ++c)
      g.group_masks_[g.group_of_[g.masks_[m].slot + c]].push_back({static_cast<int>(m), c});
  return g;
}

std::vector<std::vector<double>> ChannelGraph::mask_logits_on_host() const {
  std::vector<std::vector<double>> out;
  if (masks_.empty()) return out;
  std::vector<Tensor> all;
  for (const TracedMask& m : masks_) all.push_back(m.logits.detach());
  const std::vector<double> flat = concat(all, 0).to_vector<double>();
  size_t at = 0;
  for (const TracedMask& m : masks_) {
    out.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(at),
                     flat.begin() + static_cast<std::ptrdiff_t>(at + static_cast<size_t>(m.channels)));
    at += static_cast<size_t>(m.channels);
  }
  return out;
}

std::vector<double> ChannelGraph::group_probabilities(const std::vector<std::vector<double>>& per_mask) const {
  FIGS_CHECK(per_mask.size() == masks_.size(), "group_probabilities: ", per_mask.size(), " mask vectors for ",
             masks_.size(), " masks");
  std::vector<double> p(num_groups_, 1.0);
  for (int64_t grp = 0; grp < num_groups_; ++grp) {
    if (group_masks_[grp].empty()) continue;
    if (accounting_.group_rule == GroupRule::Max) {
      double most = 0;
      for (auto [m, c] : group_masks_[grp]) most = std::max(most, per_mask[m][c]);
      p[grp] = most;
    } else {
      double none = 1;  // probability that no mask keeps the channel
      for (auto [m, c] : group_masks_[grp]) none *= 1 - per_mask[m][c];
      p[grp] = 1 - none;
    }
  }
  return p;
}

Tensor ChannelGraph::cost(CostKind kind, CostForm form, const std::vector<Tensor>& sampled) const {
  return form == CostForm::Expected && !masks_.empty() ? expected_cost(kind) : cost_on_host(kind, form, sampled);
}

Tensor ChannelGraph::cost_on_host(CostKind kind, CostForm form, const std::vector<Tensor>& sampled) const {
  FIGS_CHECK(!removal_aware(), "ChannelGraph::cost: the removal-aware accounting is computed by the expected form "
             "(expected_cost) alone; the ", form == CostForm::Expected ? "host oracle" : form == CostForm::Sampled ?
             "sampled form" : "reference form", " charges every operator");
  const bool expected = form == CostForm::Expected;
  std::vector<Tensor> sources;
  if (expected) {
    for (const TracedMask& m : masks_) sources.push_back(m.logits);
  } else {
    FIGS_CHECK(sampled.size() == masks_.size(), "ChannelGraph::cost: the sampled and reference forms need one "
               "relaxed mask per mask (", masks_.size(), "), got ", sampled.size());
    sources = sampled;
  }
  // pi per mask (keep probabilities, or this step's relaxed masks) and d pi / d source.
  std::vector<std::vector<double>> pi(masks_.size()), dpi(masks_.size());
  for (size_t m = 0; m < masks_.size(); ++m) {
    const std::vector<double> v = sources[m].to_vector<double>();
    FIGS_CHECK(static_cast<int64_t>(v.size()) == masks_[m].channels, "ChannelGraph::cost: mask ", masks_[m].name,
               " has ", masks_[m].channels, " channels, got ", v.size(), " values");
    pi[m].resize(v.size());
    dpi[m].resize(v.size());
    for (size_t c = 0; c < v.size(); ++c) {
      pi[m][c] = expected ? sigmoid(v[c]) : v[c];
      dpi[m][c] = expected ? sigmoid_slope(v[c]) : 1.0;
    }
  }
  const std::vector<double> p = group_probabilities(pi);
  std::vector<double> dp(num_groups_, 0.0);  // d cost / d p_g
  double total = 0;
  auto group_at = [&](int64_t slot, int64_t c) { return group_of_[slot + c]; };
  for (const CostedOp& op : ops_) {
    const double k = op.coeff(kind);
    if (op.kind == "depthwise_conv2d") {
      for (int64_t c = 0; c < op.in_channels; ++c) {
        const int64_t grp = group_at(op.in_slot, c);
        const double alive = p[grp] >= 0.1 ? 1.0 : 0.0;
        const double w = form == CostForm::Reference ? 2 * k * alive : k;
        total += w * p[grp];
        dp[grp] += w;
      }
      continue;
    }
    double s_in = 0, s_out = 0, a_in = 0, a_out = 0;
    for (int64_t c = 0; c < op.in_channels; ++c) s_in += p[group_at(op.in_slot, c)], a_in += p[group_at(op.in_slot, c)] >= 0.1;
    for (int64_t c = 0; c < op.out_channels; ++c) s_out += p[group_at(op.out_slot, c)], a_out += p[group_at(op.out_slot, c)] >= 0.1;
    const double kg = k / op.groups;
    if (form == CostForm::Reference) {
      total += kg * (a_in * s_out + a_out * s_in);
      for (int64_t c = 0; c < op.in_channels; ++c) dp[group_at(op.in_slot, c)] += kg * a_out;
      for (int64_t c = 0; c < op.out_channels; ++c) dp[group_at(op.out_slot, c)] += kg * a_in;
    } else {
      total += kg * s_in * s_out;
      for (int64_t c = 0; c < op.in_channels; ++c) dp[group_at(op.in_slot, c)] += kg * s_out;
      for (int64_t c = 0; c < op.out_channels; ++c) dp[group_at(op.out_slot, c)] += kg * s_in;
    }
  }

  // Computed on the host (the values are read through host copies); the cost and each source's
  // gradient go to the sources' device, so they combine with a task loss computed there.
  const DType dtype = masks_.empty() ? DType::Float32 : sources.front().dtype();
  const Device device = masks_.empty() ? Device::cpu() : sources.front().device();
  Tensor out = raw::to(raw::to_dtype(from_vector<double>({total}, {}), dtype), device);
  std::vector<Tensor> inputs;
  std::vector<Device> devices;
  for (const Tensor& s : sources) inputs.push_back(s), devices.push_back(s.device());
  bool needs = false;
  for (const Tensor& s : inputs) needs = needs || any_requires_grad({&s});
  if (needs) {
    // d cost / d pi_{m,c} = d cost / d p_g * d p_g / d pi_{m,c}: under the Any rule the product
    // over the group's other masks of (1 - pi), under the Max rule 1 for the first mask that
    // attains the max and 0 for the others. Captures copies: the graph object need not outlive
    // the backward pass.
    const bool max_rule = accounting_.group_rule == GroupRule::Max;
    record(OpKind::FigsCostOnHost, inputs, out,
           [group_masks = group_masks_, pi, dpi, dp, devices, max_rule](const Tensor& gy, InputGrads& grads) {
             const double upstream = gy.item<double>();
             std::vector<std::vector<double>> d(pi.size());
             for (size_t m = 0; m < pi.size(); ++m) d[m].assign(pi[m].size(), 0.0);
             for (size_t grp = 0; grp < group_masks.size(); ++grp) {
               if (group_masks[grp].empty()) continue;
               if (max_rule) {
                 auto [top_m, top_c] = group_masks[grp].front();
                 for (auto [m, c] : group_masks[grp])
                   if (pi[m][c] > pi[top_m][top_c]) top_m = m, top_c = c;
                 d[top_m][top_c] += upstream * dp[grp] * dpi[top_m][top_c];
                 continue;
               }
               for (auto [m, c] : group_masks[grp]) {
                 double others = 1;
                 for (auto [m2, c2] : group_masks[grp])
                   if (m2 != m || c2 != c) others *= 1 - pi[m2][c2];
                 d[m][c] += upstream * dp[grp] * others * dpi[m][c];
               }
             }
             for (size_t m = 0; m < pi.size(); ++m)
               if (grads.needs(m))
                 grads.set(m, raw::to(raw::to_dtype(from_vector(d[m], {static_cast<int64_t>(d[m].size())}),
                                                    gy.dtype()),
                                      devices[m]));
           });
  }
  return out;
}

double ChannelGraph::count(CostKind kind, const std::vector<bool>& alive) const {
  FIGS_CHECK(static_cast<int64_t>(alive.size()) == num_groups_, "ChannelGraph::count: ", alive.size(),
             " alive flags for ", num_groups_, " groups");
  const Kept keep = kept(alive);
  auto alive_in = [&](int64_t slot, int64_t n) {
    double a = 0;
    for (int64_t c = 0; c < n; ++c) {
      const int64_t g = group_of_[slot + c];
      a += alive[g] && keep.group[g];
    }
    return a;
  };
  double total = 0;
  for (size_t o = 0; o < ops_.size(); ++o) {
    if (!keep.op[o]) continue;
    const CostedOp& op = ops_[o];
    const double out = alive_in(op.out_slot, op.out_channels);
    if (op.kind == "depthwise_conv2d")
      total += op.coeff(kind) * out;
    else
      total += op.coeff(kind) * alive_in(op.in_slot, op.in_channels) * out / op.groups;
    if (kind == CostKind::Params && op.has_bias) total += out;
  }
  if (kind == CostKind::Params)
    for (size_t n = 0; n < norms_.size(); ++n)
      if (keep.norm[n]) total += 2 * alive_in(norms_[n].slot, norms_[n].channels);
  return total;
}

double ChannelGraph::count_all(CostKind kind) const { return count(kind, std::vector<bool>(num_groups_, true)); }

}  // namespace figs::nas

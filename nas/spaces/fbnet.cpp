// The FBNet search space ("fbnet"; ../shared/spec/search-spaces.md, docs/spaces.md).
//
// Structure (names are module paths; units are width keys unless depthwise):
//   stem                     3x3 ConvUnit + ReLU (stride 2 on ImageNet, 1 on small images)
//   stageS.L                 layer L of stage S (S from 1); its candidates' outputs are summed:
//     .kK_eE[_gG]            an inverted-residual block on the layer input x:
//        .pw                 1x1 conv C_in -> C_in*E (groups G) + BN + ReLU
//        .shuffle            channel shuffle, when G > 1
//        .dw                 KxK depthwise (the layer's stride) + BN + ReLU
//        .pwl                1x1 conv -> C_out (groups G) + BN
//     .skip                  1x1 conv + BN + ReLU (the layer's stride), only where the shape
//                            changes; where it does not, `skip` is the identity
//     output = x (when C_in == C_out and stride 1) + the sum of the candidates
//   head                     1x1 ConvUnit + ReLU; then global average pool and fc (linear)
//
// Note [FBNet residual once per layer]: each FBNet block adds its input when shapes allow, and
// `skip` is the identity there. Summing whole blocks would add x once per candidate; the layer
// adds it once instead, so a single-candidate layer is exactly that FBNet block, the identity
// `skip` is that same x (it adds nothing more), and a layer whose candidates all vanished is
// the identity.
//
// Note [FBNet tied widths]: a layer's sum ties its candidates' outputs (every pwl and skip conv)
// and, when it adds x, its input: the convs writing into one residual stream — a stage, and the
// stem with stage 1 when stage 1 keeps the stem's shape — share one width. The width map keeps a
// key per unit; build() requires one width per tied set and names the set otherwise. Free keys:
// every candidate's pw (its expansion width) and the head.
//
// Note [FBNet group convs]: ConvUnit has no groups option, so the g2 blocks use
// GroupedPointwiseUnit (below) and a ChannelShuffle (reshape -> permute -> reshape). The channel
// group pass (nas/channel_graph.h) cannot follow a shuffle (a permute carries no channels), so
// the tensor after it starts fresh, unmasked groups. That is exact when nothing before the
// shuffle in the block is masked either, so in a supernet the g2 blocks' pw and dw carry no
// mask: their expansion width is not searched (a width map may still set it, or remove the block
// with 0); their pwl is masked like every other conv writing into the stream. FiGS-FBNet (the
// paper's variant, the "imagenet" and small presets) has no group convs.
//
// Zero widths: a candidate's pw of 0 removes that candidate from the sum; a stream (tied set)
// of width 0, a head of 0, or a shape-changing layer with every candidate removed would cut the
// network and are errors naming the keys.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "autograd/ops.h"
#include "nas/conv_unit.h"
#include "nas/space.h"
#include "nas/spaces/tied_widths.h"
#include "nn/init.h"
#include "nn/layers/linear.h"
#include "nn/layers/norm.h"
#include "nn/layers/sequential.h"

namespace figs::nas {

namespace {

using json = nlohmann::json;

struct FBNetConfig {
  std::string preset;
  int in_channels = 1, image_size = 28, num_classes = 10;
  int stem_channels = 16, stem_stride = 1;
  std::vector<int> layers = {1, 2, 2, 2, 1};         // per stage
  std::vector<int> channels = {16, 24, 32, 64, 96};  // output channels per stage
  std::vector<int> strides = {1, 2, 2, 2, 1};        // of each stage's first layer
  int head_channels = 320;
  std::vector<std::string> candidates = {"k3_e6", "k5_e6", "skip"};  // every layer's menu ...
  std::vector<std::vector<std::string>> layer_candidates;            // ... unless given per layer
};

const std::vector<std::string>& all_candidates() {
  static const std::vector<std::string> c = {"k3_e1",    "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1",
                                             "k5_e1_g2", "k5_e3",    "k5_e6", "skip"};
  return c;
}

// FBNet-A/B/C, one block per layer (Wu et al. 2019). Lists from facebookresearch/mobile-vision
// (mobile_cv/arch/fbnet_v2/fbnet_modeldef_cls_fbnet.py) and the FBNet model definitions in
// maskrcnn-benchmark's format; they agree except FBNet-B's stage-4 layer 1, where we take k5_e1
// (the latter), which reproduces the published 295M MACs (296.6M; k5_e6 would give 306.2M).
const std::map<std::string, std::vector<std::vector<std::string>>>& reference_models() {
  static const std::map<std::string, std::vector<std::vector<std::string>>> m = {
      {"fbnet_a",
       {{"skip"},
        {"k3_e3", "k3_e1", "skip", "skip"},
        {"k5_e6", "k3_e3", "k5_e1", "k3_e3"},
        {"k5_e6", "k5_e3", "k5_e1_g2", "k5_e6"},
        {"k3_e6", "k5_e1_g2", "k5_e3", "k3_e1_g2"},
        {"k5_e6", "k5_e6", "k5_e3", "k5_e6"},
        {"k5_e6"}}},
      {"fbnet_b",
       {{"k3_e1"},
        {"k3_e6", "k5_e1", "k3_e1", "k3_e1"},
        {"k5_e6", "k5_e3", "k3_e6", "k5_e6"},
        {"k5_e6", "k5_e1", "skip", "k5_e3"},
        {"k5_e6", "k3_e1", "k5_e1", "k5_e3"},
        {"k5_e6", "k5_e1", "k5_e6", "k5_e6"},
        {"k3_e6"}}},
      {"fbnet_c",
       {{"k3_e1"},
        {"k3_e6", "skip", "k3_e1", "k3_e1"},
        {"k5_e6", "k5_e3", "k5_e6", "k3_e6"},
        {"k5_e6", "k5_e3", "k5_e6", "k5_e6"},
        {"k5_e6", "k5_e6", "k5_e6", "k5_e3"},
        {"k5_e6", "k5_e6", "k5_e6", "k5_e6"},
        {"k3_e6"}}}};
  return m;
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"small28", "small32", "imagenet", "imagenet_full",
                                                 "fbnet_a", "fbnet_b", "fbnet_c"};
  return names;
}

FBNetConfig preset_config(const std::string& preset) {
  FBNetConfig c;
  c.preset = preset;
  if (preset == "small28") return c;  // 1x28x28, stride-1 stem, 8 layers in 5 stages, FiGS candidates
  if (preset == "small32") {
    c.in_channels = 3, c.image_size = 32;
    return c;
  }
  FIGS_CHECK(preset == "imagenet" || preset == "imagenet_full" || reference_models().count(preset),
             "fbnet: no preset '", preset, "'");
  // The paper's ImageNet macro layout.
  c.in_channels = 3, c.image_size = 224, c.num_classes = 1000;
  c.stem_channels = 16, c.stem_stride = 2;
  c.layers = {1, 4, 4, 4, 4, 4, 1};
  c.channels = {16, 24, 32, 64, 112, 184, 352};
  c.strides = {1, 2, 2, 2, 1, 2, 1};
  c.head_channels = preset == "fbnet_a" ? 1504 : 1984;
  if (preset == "imagenet_full") c.candidates = all_candidates();
  auto ref = reference_models().find(preset);
  if (ref != reference_models().end()) {
    c.candidates.clear();
    for (const auto& stage : ref->second)
      for (const std::string& block : stage) c.layer_candidates.push_back({block});
  }
  return c;
}

void to_json(json& j, const FBNetConfig& c) {
  j = json{{"space", "fbnet"},
           {"preset", c.preset},
           {"in_channels", c.in_channels},
           {"image_size", c.image_size},
           {"num_classes", c.num_classes},
           {"stem_channels", c.stem_channels},
           {"stem_stride", c.stem_stride},
           {"layers", c.layers},
           {"channels", c.channels},
           {"strides", c.strides},
           {"head_channels", c.head_channels},
           {"candidates", c.candidates},
           {"layer_candidates", c.layer_candidates}};
}

FBNetConfig config_from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("fbnet configuration: not valid JSON (", e.what(), ")");
  }
  FIGS_CHECK(j.is_object(), "fbnet configuration: must be a JSON object");
  static const std::set<std::string> known = {
      "space",  "preset",   "in_channels", "image_size",    "num_classes", "stem_channels",   "stem_stride",
      "layers", "channels", "strides",     "head_channels", "candidates",  "layer_candidates"};
  for (const auto& [key, value] : j.items())
    FIGS_CHECK(known.count(key), "fbnet configuration: unknown field '", key,
               "' (fields: space, preset, in_channels, image_size, num_classes, stem_channels, stem_stride, "
               "layers, channels, strides, head_channels, candidates, layer_candidates)");
  FBNetConfig c;
  try {
    const std::string preset = j.value("preset", std::string("small28"));
    FIGS_CHECK(std::find(preset_names().begin(), preset_names().end(), preset) != preset_names().end(),
               "fbnet configuration: no preset '", preset, "'");
    c = preset_config(preset);
    c.in_channels = j.value("in_channels", c.in_channels);
    c.image_size = j.value("image_size", c.image_size);
    c.num_classes = j.value("num_classes", c.num_classes);
    c.stem_channels = j.value("stem_channels", c.stem_channels);
    c.stem_stride = j.value("stem_stride", c.stem_stride);
    c.layers = j.value("layers", c.layers);
    c.channels = j.value("channels", c.channels);
    c.strides = j.value("strides", c.strides);
    c.head_channels = j.value("head_channels", c.head_channels);
    // One menu for every layer or one per layer: giving one replaces the preset's other.
    if (j.contains("candidates") && !j.contains("layer_candidates")) c.layer_candidates.clear();
    if (j.contains("layer_candidates") && !j.contains("candidates")) c.candidates.clear();
    c.candidates = j.value("candidates", c.candidates);
    c.layer_candidates = j.value("layer_candidates", c.layer_candidates);
  } catch (const json::exception& e) {
    fail("fbnet configuration: ", e.what());
  }
  return c;
}

// A candidate's name parsed: kK_eE[_gG], or skip.
struct Candidate {
  std::string name;
  bool skip = false;
  int kernel = 3, expansion = 1, groups = 1;
};

Candidate parse_candidate(const std::string& name) {
  Candidate c{name};
  if (name == "skip") {
    c.skip = true;
    return c;
  }
  int k = 0, e = 0, g = 1, used = 0;
  const bool plain =
      std::sscanf(name.c_str(), "k%d_e%d%n", &k, &e, &used) == 2 && used == static_cast<int>(name.size());
  const bool grouped = !plain && std::sscanf(name.c_str(), "k%d_e%d_g%d%n", &k, &e, &g, &used) == 3 &&
                       used == static_cast<int>(name.size());
  FIGS_CHECK((plain || grouped) && (k == 3 || k == 5 || k == 7) && e >= 1 && e <= 8 && g >= 1 && g <= 8 &&
                 name == "k" + std::to_string(k) + "_e" + std::to_string(e) + (grouped ? "_g" + std::to_string(g) : ""),
             "fbnet: unknown candidate '", name,
             "' (kK_eE[_gG] with K in 3, 5, 7, or skip; FBNet's: k3_e1, k3_e1_g2, "
             "k3_e3, k3_e6, k5_e1, k5_e1_g2, k5_e3, k5_e6, skip)");
  c.kernel = k, c.expansion = e, c.groups = g;
  return c;
}

// 1x1 conv with groups -> BN -> [mask] -> [ReLU]: the grouped pointwise convs of the g2 blocks
// (Note [FBNet group convs]). Its path is its width key, as for a ConvUnit.
class GroupedPointwiseUnit : public nn::Module {
 public:
  GroupedPointwiseUnit(int in, int out, int groups, bool relu_after, bool mask, const MaskOptions& mask_options)
      : nn::Module("GroupedPointwiseUnit"), in_(in), out_(out), relu_after_(relu_after) {
    FIGS_CHECK(in % groups == 0 && out % groups == 0, "GroupedPointwiseUnit: ", in, " -> ", out,
               " channels do not split into ", groups, " groups");
    params_.groups = groups;
    weight_ = register_parameter("weight", zeros({out, in / groups, 1, 1}));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(out));
    if (mask) mask_ = register_module("mask", std::make_shared<MaskLayer>(out, mask_options));
  }
  Tensor forward(const Tensor& x) override {
    return batch_norm_and_mask(*bn_, mask_.get(), conv2d(x, weight_, Tensor(), params_), relu_after_);
  }
  std::string extra_repr() const override {
    return str_cat(in_, ", ", out_, ", kernel=1x1, groups=", params_.groups, mask_ ? ", masked" : "");
  }
  int64_t macs(const Shape&, const Shape& output) const override { return output.numel() * (in_ / params_.groups); }
  void reset_parameters(Generator& gen) override { nn::kaiming_normal_(weight_, gen, nn::FanMode::FanOut); }

 private:
  int in_, out_;
  bool relu_after_;
  Conv2dParams params_;
  Tensor weight_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
  std::shared_ptr<MaskLayer> mask_;
};

// (N, C, H, W): channel g * (C / G) + i moves to i * G + g (ShuffleNet), keeping the layout.
class ChannelShuffle : public nn::Module {
 public:
  explicit ChannelShuffle(int groups) : nn::Module("ChannelShuffle"), groups_(groups) {}
  Tensor forward(const Tensor& x) override {
    const Shape& s = x.shape();
    FIGS_CHECK(s.rank() == 4 && s[1] % groups_ == 0, "ChannelShuffle: ", s, " does not split into ", groups_,
               " channel groups");
    const Tensor g = reshape(contiguous(x), {s[0], groups_, s[1] / groups_, s[2], s[3]});
    const Tensor y = reshape(contiguous(permute(g, {0, 2, 1, 3, 4})), {s[0], s[1], s[2], s[3]});
    return x.memory_format() == MemoryFormat::Contiguous ? y : contiguous(y, x.memory_format());
  }
  std::string extra_repr() const override { return str_cat("groups=", groups_); }

 private:
  int64_t groups_;
};

// One layer: the input (when shapes allow) plus the sum of the surviving candidates.
class FBLayer : public nn::Module {
 public:
  explicit FBLayer(bool residual) : nn::Module("FBNetLayer"), residual_(residual) {}
  void add_candidate(const std::string& name, nn::ModulePtr candidate) {
    candidates_.push_back(register_module(name, std::move(candidate)));
  }
  bool empty() const { return candidates_.empty(); }
  Tensor forward(const Tensor& x) override {
    Tensor out = residual_ ? x : Tensor();
    for (const auto& c : candidates_) {
      const Tensor y = (*c)(x);
      out = out.defined() ? add(out, y) : y;
    }
    return out;
  }

 private:
  bool residual_;
  std::vector<nn::ModulePtr> candidates_;
};

class FBNetSpace;

class FBNetNet : public nn::Module {
 public:
  FBNetNet(const FBNetSpace& space, const WidthMap& widths, const BuildOptions& options);
  Tensor forward(const Tensor& x) override {
    Tensor h = (*stem_)(x);
    for (const auto& stage : stages_) h = (*stage)(h);
    return (*fc_)(flatten(global_avg_pool2d((*head_)(h))));
  }

 private:
  std::shared_ptr<ConvUnit> stem_, head_;
  std::vector<std::shared_ptr<nn::Sequential>> stages_;  // "stage1", ...: layers "0", "1", ...
  std::shared_ptr<nn::Linear> fc_;
};

// A layer of the macro layout at full widths.
struct LayerSpec {
  std::string path;  // "stage2.0"
  int in = 0, out = 0, stride = 1;
  bool residual = false;
  int stream = 0;  // index of the residual stream (tied set) it writes into
  std::vector<Candidate> candidates;
};

// The keys tied by the sums of the residual stream that starts at `start` ("stem" or a layer path).
TiedKeys residual_stream(const std::string& start) {
  return {"the sums of the residual stream from '" + start + "'", "the residual stream from '" + start + "'", {}};
}

class FBNetSpace : public SearchSpace {
 public:
  explicit FBNetSpace(FBNetConfig c) : c_(std::move(c)) {
    validate();
    plan();
  }
  std::string name() const override { return "fbnet"; }
  std::string preset() const override { return c_.preset; }
  std::string config_json() const override { return json(c_).dump(); }
  Shape input_shape() const override { return {c_.in_channels, c_.image_size, c_.image_size}; }
  int num_classes() const override { return c_.num_classes; }
  const FBNetConfig& config() const { return c_; }
  const std::vector<LayerSpec>& layer_specs() const { return layers_; }
  const std::vector<TiedKeys>& tied_sets() const { return tied_; }

  WidthMap full_widths() const override {
    WidthMap m{{"stem", c_.stem_channels}, {"head", c_.head_channels}};
    for (const LayerSpec& l : layers_)
      for (const Candidate& cand : l.candidates) {
        if (cand.skip) {
          if (!l.residual) m[l.path + ".skip"] = l.out;
          continue;
        }
        m[l.path + "." + cand.name + ".pw"] = l.in * cand.expansion;
        m[l.path + "." + cand.name + ".pwl"] = l.out;
      }
    return m;
  }

  // The width of each residual stream, checked: one width for all its keys, and not 0.
  std::vector<int> stream_widths(const WidthMap& widths) const {
    std::vector<int> out;
    for (const TiedKeys& t : tied_) out.push_back(static_cast<int>(tied_width(*this, widths, t)));
    return out;
  }

  int64_t width(const WidthMap& widths, const std::string& key) const { return width_of(widths, key); }

  // Every candidate block of every layer (its pw at 0 removes it). `skip` is an operator too,
  // but never a choice: in a same-shape layer it is the layer's own residual (always there), and
  // in a shape-changing layer its conv writes into the stream (a tied key, never 0). So a layer
  // needs one of its blocks only when it changes shape and its menu has no skip.
  std::vector<OperatorChoice> operator_choices() const override {
    std::vector<OperatorChoice> out;
    for (const LayerSpec& l : layers_) {
      bool skip = false;
      for (const Candidate& cand : l.candidates) skip = skip || cand.skip;
      for (const Candidate& cand : l.candidates)
        if (!cand.skip) {
          const std::string p = l.path + "." + cand.name;
          out.push_back({p, l.path, {p + ".pw"}, !l.residual && !skip});
        }
    }
    return out;
  }

  // Note [FBNet group convs]: a gG block needs its input stream, its pw and its output stream
  // to be multiples of G.
  int64_t width_quantum(const std::string& key) const override {
    auto it = quantum_.find(key);
    return it == quantum_.end() ? 1 : it->second;
  }

  nn::ModulePtr build(const WidthMap& widths, const BuildOptions& options) const override {
    check_keys(widths);
    return std::make_shared<FBNetNet>(*this, widths, options);
  }

 private:
  int total_layers() const {
    int n = 0;
    for (int l : c_.layers) n += l;
    return n;
  }

  void validate() const {
    FIGS_CHECK(c_.in_channels >= 1 && c_.num_classes >= 1 && c_.stem_channels >= 1 && c_.head_channels >= 1,
               "fbnet: in_channels, num_classes, stem_channels and head_channels must be >= 1");
    FIGS_CHECK(c_.stem_stride == 1 || c_.stem_stride == 2, "fbnet: stem_stride must be 1 or 2");
    FIGS_CHECK(!c_.layers.empty() && c_.layers.size() == c_.channels.size() && c_.layers.size() == c_.strides.size(),
               "fbnet: layers, channels and strides need one entry per stage (got ", c_.layers.size(), ", ",
               c_.channels.size(), ", ", c_.strides.size(), ")");
    int64_t size = window_output_size(c_.image_size, 3, c_.stem_stride, 1, 1);
    for (size_t s = 0; s < c_.layers.size(); ++s) {
      FIGS_CHECK(c_.layers[s] >= 1 && c_.channels[s] >= 1, "fbnet: stage ", s + 1, " needs >= 1 layer and channel");
      FIGS_CHECK(c_.strides[s] == 1 || c_.strides[s] == 2, "fbnet: stage ", s + 1, " stride must be 1 or 2");
      size = window_output_size(size, 3, c_.strides[s], 1, 1);
    }
    FIGS_CHECK(c_.image_size >= 1 && size >= 1, "fbnet: a ", c_.image_size, "x", c_.image_size,
               " input is too small for this layout");
    FIGS_CHECK(c_.candidates.empty() != c_.layer_candidates.empty(),
               "fbnet: give the candidates either for every "
               "layer (\"candidates\") or per layer (\"layer_candidates\"): exactly one of them, not empty");
    if (!c_.layer_candidates.empty()) {
      FIGS_CHECK(static_cast<int>(c_.layer_candidates.size()) == total_layers(), "fbnet: layer_candidates has ",
                 c_.layer_candidates.size(), " entries for ", total_layers(), " layers");
    }
  }

  // Layer specs and residual streams at full widths (the supernet's structure).
  void plan() {
    tied_.push_back(residual_stream("stem"));
    tied_.back().keys.push_back("stem");
    int in = c_.stem_channels, index = 0;
    for (size_t s = 0; s < c_.layers.size(); ++s)
      for (int i = 0; i < c_.layers[s]; ++i, ++index) {
        LayerSpec l;
        l.path = "stage" + std::to_string(s + 1) + "." + std::to_string(i);
        l.in = in, l.out = c_.channels[s], l.stride = i == 0 ? c_.strides[s] : 1;
        l.residual = l.in == l.out && l.stride == 1;
        const auto& names = c_.layer_candidates.empty() ? c_.candidates : c_.layer_candidates[index];
        FIGS_CHECK(!names.empty(), "fbnet: layer '", l.path, "' has no candidates");
        std::set<std::string> seen;
        for (const std::string& n : names) {
          FIGS_CHECK(seen.insert(n).second, "fbnet: candidate '", n, "' is listed twice for layer '", l.path, "'");
          l.candidates.push_back(parse_candidate(n));
        }
        if (!l.residual) tied_.push_back(residual_stream(l.path));
        l.stream = static_cast<int>(tied_.size()) - 1;
        for (const Candidate& cand : l.candidates) {
          if (cand.skip && !l.residual) tied_.back().keys.push_back(l.path + ".skip");
          if (!cand.skip) tied_[l.stream].keys.push_back(l.path + "." + cand.name + ".pwl");
        }
        layers_.push_back(l);
        in = l.out;
      }
    // Width quanta of the g2 blocks (the input stream is the previous layer's, or the stem's).
    for (size_t i = 0; i < layers_.size(); ++i) {
      const int in_stream = i == 0 ? 0 : layers_[i - 1].stream;
      for (const Candidate& cand : layers_[i].candidates) {
        if (cand.groups == 1) continue;
        auto require = [&](const std::string& key) {
          int64_t& q = quantum_.try_emplace(key, 1).first->second;
          q = std::lcm(q, static_cast<int64_t>(cand.groups));
        };
        require(layers_[i].path + "." + cand.name + ".pw");
        for (int stream : {in_stream, layers_[i].stream})
          for (const std::string& key : tied_[stream].keys) require(key);
      }
    }
  }

  FBNetConfig c_;
  std::vector<LayerSpec> layers_;
  std::vector<TiedKeys> tied_;
  std::map<std::string, int64_t> quantum_;  // keys whose widths must be multiples (g2 blocks)
};

ConvUnitOptions unit(int k, int stride, bool relu_after, bool depthwise, bool mask, const BuildOptions& o) {
  ConvUnitOptions u;
  u.kernel_h = u.kernel_w = k, u.stride = stride, u.relu_after = relu_after, u.depthwise = depthwise;
  u.mask = mask, u.mask_options = o.mask_options;
  return u;
}

// Layer `l` reading `in` channels and writing `out` (its stream's width).
std::shared_ptr<FBLayer> build_layer(const FBNetSpace& space, const LayerSpec& l, int in, int out,
                                     const WidthMap& widths, const BuildOptions& options) {
  const bool m = options.masks;
  auto layer = std::make_shared<FBLayer>(l.residual);
  for (const Candidate& cand : l.candidates) {
    if (cand.skip) {
      if (!l.residual)
        layer->add_candidate("skip", std::make_shared<ConvUnit>(in, out, unit(1, l.stride, true, false, m, options)));
      continue;
    }
    const std::string p = l.path + "." + cand.name;
    const int mid = static_cast<int>(space.width(widths, p + ".pw"));
    if (mid == 0) continue;  // the candidate vanished from the sum
    auto block = std::make_shared<nn::Sequential>();
    const int k = cand.kernel;
    if (cand.groups == 1) {
      block->add("pw", std::make_shared<ConvUnit>(in, mid, unit(1, 1, true, false, m, options)));
      block->add("dw", std::make_shared<ConvUnit>(mid, mid, unit(k, l.stride, true, true, m, options)));
      block->add("pwl", std::make_shared<ConvUnit>(mid, out, unit(1, 1, false, false, m, options)));
    } else {
      const int g = cand.groups;
      FIGS_CHECK(in % g == 0 && mid % g == 0 && out % g == 0, "fbnet: '", p, "' has ", g, " groups: its input (", in,
                 "), '", p, ".pw' (", mid, ") and its output stream (", out, ") must be multiples of ", g,
                 "; pick such widths or remove it ('", p, ".pw' = 0)");
      // No masks before the shuffle (Note [FBNet group convs]).
      block->add("pw", std::make_shared<GroupedPointwiseUnit>(in, mid, g, true, false, options.mask_options));
      block->add("shuffle", std::make_shared<ChannelShuffle>(g));
      block->add("dw", std::make_shared<ConvUnit>(mid, mid, unit(k, l.stride, true, true, false, options)));
      block->add("pwl", std::make_shared<GroupedPointwiseUnit>(mid, out, g, false, m, options.mask_options));
    }
    layer->add_candidate(cand.name, block);
  }
  FIGS_CHECK(l.residual || !layer->empty(), "fbnet: every candidate of '", l.path,
             "' was removed and the layer "
             "changes shape (",
             l.in, " -> ", l.out, " channels, stride ", l.stride, "): the network would be cut");
  return layer;
}

FBNetNet::FBNetNet(const FBNetSpace& space, const WidthMap& widths, const BuildOptions& options) : nn::Module("FBNet") {
  const FBNetConfig& c = space.config();
  const std::vector<int> stream = space.stream_widths(widths);
  stem_ =
      register_module("stem", std::make_shared<ConvUnit>(c.in_channels, stream[0],
                                                         unit(3, c.stem_stride, true, false, options.masks, options)));
  int in = stream[0];
  auto spec = space.layer_specs().begin();
  for (size_t s = 0; s < c.layers.size(); ++s) {
    auto stage = std::make_shared<nn::Sequential>();
    for (int i = 0; i < c.layers[s]; ++i, ++spec) {
      const int out = stream[spec->stream];
      stage->add(std::to_string(i), build_layer(space, *spec, in, out, widths, options));
      in = out;
    }
    stages_.push_back(register_module("stage" + std::to_string(s + 1), stage));
  }
  const int head = static_cast<int>(space.width(widths, "head"));
  FIGS_CHECK(head > 0, "fbnet: 'head' has width 0: the network would be cut");
  head_ =
      register_module("head", std::make_shared<ConvUnit>(in, head, unit(1, 1, true, false, options.masks, options)));
  fc_ = register_module("fc", std::make_shared<nn::Linear>(head, c.num_classes));
}

const bool registered = [] {
  register_space({"fbnet", preset_names(),
                  "FBNet macro layout with summed candidate blocks (FiGS-FBNet: k3_e6, k5_e6, skip; "
                  "imagenet_full: FBNet's nine); reference models FBNet-A/B/C",
                  [](const std::string& preset) { return std::make_unique<FBNetSpace>(preset_config(preset)); },
                  [](const std::string& text) { return std::make_unique<FBNetSpace>(config_from_json(text)); }});
  return true;
}();

}  // namespace

}  // namespace figs::nas

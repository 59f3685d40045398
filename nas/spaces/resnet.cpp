// The ResNet search space ("resnet"; ../shared/spec/search-spaces.md, docs/spaces.md).
//
// Structure (names are module paths; every conv is a ConvUnit and its path is its width key):
//   stem                     ImageNet: 7x7 stride 2 + BN + ReLU, then a 3x3 stride-2 max pool
//                            ("maxpool"); CIFAR: 3x3 stride 1 + BN + ReLU
//   layerS.B                 block B of stage S (S from 1):
//     basic:       conv1 3x3 (stride) -> ReLU -> conv2 3x3
//     bottleneck:  conv1 1x1 -> ReLU -> conv2 3x3 (stride, torchvision's "v1.5") -> ReLU -> conv3 1x1
//     downsample   1x1 conv (stride) + BN, where the block changes shape (the projection shortcut,
//                  "option B"; CIFAR ResNets classically use option A, zero padding, which has no
//                  conv of its own — B keeps every channel of the stream behind a mask)
//     output = ReLU(branch(x) + shortcut(x))
//   avgpool, fc              global average pool, linear classifier
//
// Note [ResNet tied widths]: the residual adds of a stage make every tensor they sum one channel
// group (nas/channel_graph.h), so the convs writing into a stage's stream share one width:
// every block's last conv (conv2 of a basic block, conv3 of a bottleneck), the stage's
// downsample, and the stem when the first block of stage 1 has an identity shortcut (ResNet-18/34
// and the CIFAR nets; not ResNet-50+, whose layer1.0 projects 64 -> 256). The width map keeps one
// key per unit — exports (width_map_from_export) give tied units equal widths since they share
// one group probability — and build() requires equal widths on each tied set, naming the set.
// Free keys: the inner convs of each block (conv1; conv1 and conv2 of a bottleneck), and the
// stem of ResNet-50/101/152.
//
// Zero widths: a free key of 0 removes the block's whole residual branch (each inner conv only
// feeds the next one), so the block becomes ReLU(shortcut(x)) — identity or the projection. A
// stage width of 0 (or a free stem of 0) would cut the network and is an error naming the keys.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "autograd/ops.h"
#include "nas/space.h"
#include "nas/spaces/tied_widths.h"
#include "nn/layers/linear.h"
#include "nn/layers/pool.h"
#include "nn/layers/sequential.h"

namespace figs::nas {

namespace {

using json = nlohmann::json;

struct ResNetConfig {
  std::string preset;
  int in_channels = 1, image_size = 28, num_classes = 10;
  std::string block = "basic";  // "basic" or "bottleneck"
  std::string stem = "cifar";   // "cifar" (3x3, stride 1) or "imagenet" (7x7 stride 2 + max pool)
  int stem_channels = 16;
  std::vector<int> blocks = {3, 3, 3};     // blocks per stage
  std::vector<int> widths = {16, 32, 64};  // per stage: basic = output width, bottleneck = inner width
  std::vector<int> strides = {1, 2, 2};    // of each stage's first block
  int expansion = 1;                       // bottleneck output = expansion * inner width (4)
};

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"small28",  "small32",  "cifar56",   "resnet18",
                                                 "resnet34", "resnet50", "resnet101", "resnet152"};
  return names;
}

ResNetConfig preset_config(const std::string& preset) {
  ResNetConfig c;
  c.preset = preset;
  if (preset == "small28") return c;                 // ResNet-20 layout on 1x28x28 (Fashion-MNIST)
  if (preset == "small32" || preset == "cifar56") {  // CIFAR ResNet-20 / -56 on 3x32x32
    c.in_channels = 3, c.image_size = 32;
    if (preset == "cifar56") c.blocks = {9, 9, 9};
    return c;
  }
  const std::map<std::string, std::vector<int>> imagenet = {{"resnet18", {2, 2, 2, 2}},
                                                            {"resnet34", {3, 4, 6, 3}},
                                                            {"resnet50", {3, 4, 6, 3}},
                                                            {"resnet101", {3, 4, 23, 3}},
                                                            {"resnet152", {3, 8, 36, 3}}};
  auto it = imagenet.find(preset);
  FIGS_CHECK(it != imagenet.end(), "resnet: no preset '", preset, "'");
  c.in_channels = 3, c.image_size = 224, c.num_classes = 1000;
  c.stem = "imagenet", c.stem_channels = 64;
  c.blocks = it->second;
  c.widths = {64, 128, 256, 512};
  c.strides = {1, 2, 2, 2};
  if (preset == "resnet50" || preset == "resnet101" || preset == "resnet152") c.block = "bottleneck", c.expansion = 4;
  return c;
}

void to_json(json& j, const ResNetConfig& c) {
  j = json{{"space", "resnet"},
           {"preset", c.preset},
           {"in_channels", c.in_channels},
           {"image_size", c.image_size},
           {"num_classes", c.num_classes},
           {"block", c.block},
           {"stem", c.stem},
           {"stem_channels", c.stem_channels},
           {"blocks", c.blocks},
           {"widths", c.widths},
           {"strides", c.strides},
           {"expansion", c.expansion},
           {"shortcut", "projection"}};
}

ResNetConfig config_from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("resnet configuration: not valid JSON (", e.what(), ")");
  }
  FIGS_CHECK(j.is_object(), "resnet configuration: must be a JSON object");
  static const std::set<std::string> known = {"space",   "preset",    "in_channels",   "image_size", "num_classes",
                                              "block",   "stem",      "stem_channels", "blocks",     "widths",
                                              "strides", "expansion", "shortcut"};
  for (const auto& [key, value] : j.items())
    FIGS_CHECK(known.count(key), "resnet configuration: unknown field '", key,
               "' (fields: space, preset, in_channels, image_size, num_classes, block, stem, stem_channels, "
               "blocks, widths, strides, expansion, shortcut)");
  ResNetConfig c;
  try {
    const std::string preset = j.value("preset", std::string("small28"));
    FIGS_CHECK(std::find(preset_names().begin(), preset_names().end(), preset) != preset_names().end(),
               "resnet configuration: no preset '", preset, "'");
    c = preset_config(preset);
    c.in_channels = j.value("in_channels", c.in_channels);
    c.image_size = j.value("image_size", c.image_size);
    c.num_classes = j.value("num_classes", c.num_classes);
    c.block = j.value("block", c.block);
    c.stem = j.value("stem", c.stem);
    c.stem_channels = j.value("stem_channels", c.stem_channels);
    c.blocks = j.value("blocks", c.blocks);
    c.widths = j.value("widths", c.widths);
    c.strides = j.value("strides", c.strides);
    c.expansion = j.value("expansion", c.expansion);
    FIGS_CHECK(j.value("shortcut", std::string("projection")) == "projection",
               "resnet configuration: only the projection shortcut (\"shortcut\": \"projection\") exists");
  } catch (const json::exception& e) {
    fail("resnet configuration: ", e.what());
  }
  return c;
}

// Output size of a conv/pool with padding k/2 (ConvUnit's) or `pad`.
int out_size(int in, int kernel, int stride, int pad) { return (in + 2 * pad - kernel) / stride + 1; }

class ResNetSpace;

class ResidualBlock : public nn::Module {
 public:
  // `branch`: the residual branch's units in order (empty when a zero width removed it).
  ResidualBlock(std::vector<std::pair<std::string, std::shared_ptr<ConvUnit>>> branch,
                std::shared_ptr<ConvUnit> downsample)
      : nn::Module("ResidualBlock") {
    for (auto& [name, unit] : branch) branch_.push_back(register_module(name, unit));
    if (downsample) downsample_ = register_module("downsample", downsample);
  }
  Tensor forward(const Tensor& x) override {
    const Tensor shortcut = downsample_ ? (*downsample_)(x) : x;
    if (branch_.empty()) return relu(shortcut);
    Tensor h = x;
    for (const auto& unit : branch_) h = (*unit)(h);
    return relu(add(h, shortcut));
  }

 private:
  std::vector<std::shared_ptr<ConvUnit>> branch_;
  std::shared_ptr<ConvUnit> downsample_;
};

class ResNetNet : public nn::Module {
 public:
  ResNetNet(const ResNetSpace& space, const WidthMap& widths, const BuildOptions& options);
  Tensor forward(const Tensor& x) override {
    Tensor h = (*stem_)(x);
    if (maxpool_) h = (*maxpool_)(h);
    for (const auto& stage : stages_) h = (*stage)(h);
    return (*fc_)(flatten(global_avg_pool2d(h)));
  }

 private:
  std::shared_ptr<ConvUnit> stem_;
  std::shared_ptr<nn::MaxPool2d> maxpool_;
  std::vector<std::shared_ptr<nn::Sequential>> stages_;
  std::shared_ptr<nn::Linear> fc_;
};

class ResNetSpace : public SearchSpace {
 public:
  explicit ResNetSpace(ResNetConfig c) : c_(std::move(c)) { validate(); }
  std::string name() const override { return "resnet"; }
  std::string preset() const override { return c_.preset; }
  std::string config_json() const override { return json(c_).dump(); }
  Shape input_shape() const override { return {c_.in_channels, c_.image_size, c_.image_size}; }
  int num_classes() const override { return c_.num_classes; }
  const ResNetConfig& config() const { return c_; }

  bool bottleneck() const { return c_.block == "bottleneck"; }
  int stage_out(size_t s) const { return c_.widths[s] * c_.expansion; }
  static std::string block_path(size_t s, int b) { return "layer" + std::to_string(s + 1) + "." + std::to_string(b); }
  // The last conv of a block's branch (the one writing into the stage's stream).
  std::string last_conv() const { return bottleneck() ? "conv3" : "conv2"; }
  // Whether block b of stage s projects its shortcut (decided at full widths: the supernet's
  // structure, which every exported network keeps).
  bool projects(size_t s, int b) const {
    if (b > 0) return false;
    const int in = s == 0 ? c_.stem_channels : stage_out(s - 1);
    return c_.strides[s] != 1 || in != stage_out(s);
  }

  // Per stage, the keys its residual adds tie (Note [ResNet tied widths]).
  std::vector<TiedKeys> tied_sets() const {
    std::vector<TiedKeys> sets;
    for (size_t s = 0; s < c_.blocks.size(); ++s) {
      const std::string stage = "layer" + std::to_string(s + 1);
      TiedKeys t{"the residual adds of " + stage, stage, {}};
      if (s == 0 && !projects(0, 0)) t.keys.push_back("stem");
      for (int b = 0; b < c_.blocks[s]; ++b) {
        t.keys.push_back(block_path(s, b) + "." + last_conv());
        if (projects(s, b)) t.keys.push_back(block_path(s, b) + ".downsample");
      }
      sets.push_back(t);
    }
    return sets;
  }

  WidthMap full_widths() const override {
    WidthMap m{{"stem", c_.stem_channels}};
    for (size_t s = 0; s < c_.blocks.size(); ++s)
      for (int b = 0; b < c_.blocks[s]; ++b) {
        const std::string p = block_path(s, b);
        m[p + ".conv1"] = c_.widths[s];
        m[p + ".conv2"] = bottleneck() ? c_.widths[s] : stage_out(s);
        if (bottleneck()) m[p + ".conv3"] = stage_out(s);
        if (projects(s, b)) m[p + ".downsample"] = stage_out(s);
      }
    return m;
  }

  // The width of each tied set, checked: one width for all its keys, and not 0.
  std::vector<int> stage_widths(const WidthMap& widths) const {
    std::vector<int> out;
    for (const TiedKeys& t : tied_sets()) out.push_back(static_cast<int>(tied_width(*this, widths, t)));
    return out;
  }

  int64_t width(const WidthMap& widths, const std::string& key) const { return width_of(widths, key); }

  // Every block's residual branch: its free inner convs at 0 remove it, leaving
  // ReLU(shortcut(x)) (identity or projection), so no block ever needs its branch.
  std::vector<OperatorChoice> operator_choices() const override {
    std::vector<OperatorChoice> out;
    for (size_t s = 0; s < c_.blocks.size(); ++s)
      for (int b = 0; b < c_.blocks[s]; ++b) {
        const std::string p = block_path(s, b);
        OperatorChoice c{p, p, {p + ".conv1"}, false};
        if (bottleneck()) c.keys.push_back(p + ".conv2");
        out.push_back(c);
      }
    return out;
  }

  nn::ModulePtr build(const WidthMap& widths, const BuildOptions& options) const override {
    check_keys(widths);
    return std::make_shared<ResNetNet>(*this, widths, options);
  }

 private:
  void validate() const {
    FIGS_CHECK(c_.block == "basic" || c_.block == "bottleneck", "resnet: block must be 'basic' or 'bottleneck', got '",
               c_.block, "'");
    FIGS_CHECK(c_.stem == "cifar" || c_.stem == "imagenet", "resnet: stem must be 'cifar' or 'imagenet', got '",
               c_.stem, "'");
    FIGS_CHECK(bottleneck() ? c_.expansion >= 1 : c_.expansion == 1, "resnet: expansion ", c_.expansion,
               bottleneck() ? " must be >= 1" : " must be 1 for basic blocks");
    FIGS_CHECK(c_.in_channels >= 1 && c_.num_classes >= 1 && c_.stem_channels >= 1,
               "resnet: in_channels, num_classes and stem_channels must be >= 1");
    FIGS_CHECK(!c_.blocks.empty() && c_.blocks.size() == c_.widths.size() && c_.blocks.size() == c_.strides.size(),
               "resnet: blocks, widths and strides need one entry per stage (got ", c_.blocks.size(), ", ",
               c_.widths.size(), ", ", c_.strides.size(), ")");
    int size = c_.stem == "imagenet" ? out_size(out_size(c_.image_size, 7, 2, 3), 3, 2, 1) : c_.image_size;
    for (size_t s = 0; s < c_.blocks.size(); ++s) {
      FIGS_CHECK(c_.blocks[s] >= 1 && c_.widths[s] >= 1, "resnet: stage ", s + 1, " needs >= 1 block and width");
      FIGS_CHECK(c_.strides[s] == 1 || c_.strides[s] == 2, "resnet: stage ", s + 1, " stride must be 1 or 2");
      size = out_size(size, 3, c_.strides[s], 1);
    }
    FIGS_CHECK(c_.image_size >= 1 && size >= 1, "resnet: a ", c_.image_size, "x", c_.image_size,
               " input is too small for this layout");
  }
  ResNetConfig c_;
};

ConvUnitOptions unit(int k, int stride, bool relu_after, const BuildOptions& o) {
  ConvUnitOptions u;
  u.kernel_h = u.kernel_w = k, u.stride = stride, u.relu_after = relu_after;
  u.mask = o.masks, u.mask_options = o.mask_options;
  return u;
}

ResNetNet::ResNetNet(const ResNetSpace& space, const WidthMap& widths, const BuildOptions& options)
    : nn::Module("ResNet") {
  const ResNetConfig& c = space.config();
  const std::vector<int> stage = space.stage_widths(widths);
  const int stem = static_cast<int>(space.width(widths, "stem"));
  FIGS_CHECK(stem > 0, "resnet: 'stem' has width 0: the network would be cut");
  const bool imagenet = c.stem == "imagenet";
  stem_ = register_module(
      "stem", std::make_shared<ConvUnit>(c.in_channels, stem, unit(imagenet ? 7 : 3, imagenet ? 2 : 1, true, options)));
  if (imagenet) maxpool_ = register_module("maxpool", std::make_shared<nn::MaxPool2d>(3, nn::Pool2dOptions{2, 1}));
  int in = stem;
  for (size_t s = 0; s < c.blocks.size(); ++s) {
    auto layer = std::make_shared<nn::Sequential>();
    for (int b = 0; b < c.blocks[s]; ++b) {
      const std::string p = ResNetSpace::block_path(s, b);
      const int stride = b == 0 ? c.strides[s] : 1;
      // The inner (free) widths; any 0 removes the whole branch.
      std::vector<int> inner{static_cast<int>(space.width(widths, p + ".conv1"))};
      if (space.bottleneck()) inner.push_back(static_cast<int>(space.width(widths, p + ".conv2")));
      std::vector<std::pair<std::string, std::shared_ptr<ConvUnit>>> branch;
      if (std::find(inner.begin(), inner.end(), 0) == inner.end()) {
        if (space.bottleneck()) {
          branch.push_back({"conv1", std::make_shared<ConvUnit>(in, inner[0], unit(1, 1, true, options))});
          branch.push_back({"conv2", std::make_shared<ConvUnit>(inner[0], inner[1], unit(3, stride, true, options))});
          branch.push_back({"conv3", std::make_shared<ConvUnit>(inner[1], stage[s], unit(1, 1, false, options))});
        } else {
          branch.push_back({"conv1", std::make_shared<ConvUnit>(in, inner[0], unit(3, stride, true, options))});
          branch.push_back({"conv2", std::make_shared<ConvUnit>(inner[0], stage[s], unit(3, 1, false, options))});
        }
      }
      std::shared_ptr<ConvUnit> downsample;
      if (space.projects(s, b)) downsample = std::make_shared<ConvUnit>(in, stage[s], unit(1, stride, false, options));
      layer->add(std::to_string(b), std::make_shared<ResidualBlock>(std::move(branch), downsample));
      in = stage[s];
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), layer));
  }
  fc_ = register_module("fc", std::make_shared<nn::Linear>(in, c.num_classes));
}

const bool registered = [] {
  register_space({"resnet", preset_names(),
                  "ResNet-18/34 (basic), -50/101/152 (bottleneck), CIFAR ResNet-20/56; projection shortcuts, a "
                  "mask after every conv, stage widths tied by the residual adds",
                  [](const std::string& preset) { return std::make_unique<ResNetSpace>(preset_config(preset)); },
                  [](const std::string& text) { return std::make_unique<ResNetSpace>(config_from_json(text)); }});
  return true;
}();

}  // namespace

}  // namespace figs::nas

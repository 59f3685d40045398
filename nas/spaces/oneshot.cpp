// The One-Shot search space, FiGS variant ("oneshot"; ../shared/spec/search-spaces.md).
//
// Structure (names are module paths; ConvUnits are width keys):
//   stem0, stem                stride 4 (ImageNet, Bender et al.'s stem): stem0 a 3x3 stride-2 ConvUnit
//                              to F/2 channels, then stem ReLU -> 3x3 stride 2 -> BN to F, so cell 5
//                              is at stride 16 and the last cell at 32 (where the paper attaches
//                              SSDLite). Strides 1 and 2 (small images): stem alone, F channels.
//   cellI.adapt_prev / .adapt_prevprev
//                              1x1 ConvUnits bringing the two previous cells' outputs to this cell's
//                              width (after stride-2 average pooling where the resolution halves).
//                              They are always present — supernet and exports then share one
//                              structure whatever the neighbouring widths — which differs from the
//                              original space, where same-shape inputs pass through unchanged.
//   cellI.blockJ               input = sum(adapt_prev, adapt_prevprev, earlier blocks' outputs);
//                              (the last block's output only feeds the cell's concat: its width is free)
//                              operators from the menu, then the aggregator:
//                                concat (default): concat(op outputs) -> 1x1 ConvUnit "proj"
//                                sum:              sum of op outputs (ops end at the cell width)
//     .sepK.dw1 .pw1 .dw2 .pw2 a pair of KxK separable convs: (ReLU, depthwise KxK, BN, mask,
//                              1x1, BN, mask) twice — keys pw1, pw2 (depthwise units follow their input)
//     .conv17_71.conv17 .conv71  1x7 then 7x1 conv, each ReLU -> conv -> BN -> mask
//     identity, max3, avg3     parameterless, always kept
//   cellI.out                  concat(blocks' outputs) -> 1x1 ConvUnit to the cell width
//   head                       ReLU, global average pool, linear classifier
// The width doubles and the resolution halves at every cell listed in `reduce_at` (every 2 cells).
//
// Channel groups this creates (nas/channel_graph.h): inside a cell, the sum feeding the blocks
// ties adapt_prev, adapt_prevprev and every block's output but the last into one stream, so those keys must
// share one width ("tied" keys; build() checks it and names them). A width of 0 removes: a sep
// pair or 1x7-7x1 operator if either of its keys is 0; a block whose operators all vanished
// (the cell then concatenates the others); a stream or cell output of width 0 would cut the
// network and is an error.
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "nas/space.h"
#include "nas/spaces/tied_widths.h"
#include "nn/layers/linear.h"
#include "nn/layers/sequential.h"

namespace figs::nas {

namespace {

using json = nlohmann::json;

struct OneShotConfig {
  std::string preset;
  int in_channels = 1, image_size = 28, num_classes = 10;
  int width = 16;  // F
  int cells = 4, blocks = 3;
  int stem_stride = 1;
  std::vector<int> reduce_at = {2};
  std::vector<std::string> ops = {"identity", "max3", "avg3", "sep3", "sep5", "sep7", "conv17_71"};
  std::string aggregator = "concat";
};

void to_json(json& j, const OneShotConfig& c) {
  j = json{{"space", "oneshot"}, {"preset", c.preset},     {"in_channels", c.in_channels},
           {"image_size", c.image_size}, {"num_classes", c.num_classes}, {"width", c.width},
           {"cells", c.cells}, {"blocks", c.blocks}, {"stem_stride", c.stem_stride},
           {"reduce_at", c.reduce_at}, {"ops", c.ops}, {"aggregator", c.aggregator}};
}

OneShotConfig preset_config(const std::string& preset) {
  OneShotConfig c;
  c.preset = preset;
  if (preset == "small28") return c;  // Fashion-MNIST / MNIST: 1x28x28, F = 16, 4 cells x 3 blocks
  if (preset == "small32") {
    c.in_channels = 3, c.image_size = 32;
    return c;
  }
  if (preset == "tiny28") {  // tests and smoke runs
    c.width = 8, c.cells = 2, c.blocks = 2, c.reduce_at = {1};
    c.ops = {"identity", "max3", "sep3", "sep5", "conv17_71"};
    return c;
  }
  if (preset == "imagenet") {  // the paper's: 8 cells x 4 blocks, F = 64, 224x224 input
    c.in_channels = 3, c.image_size = 224, c.num_classes = 1000;
    c.width = 64, c.cells = 8, c.blocks = 4, c.stem_stride = 4, c.reduce_at = {2, 4, 6};
    return c;
  }
  fail("oneshot: no preset '", preset, "'");
}

int kernel_of(const std::string& op) { return op == "sep3" ? 3 : op == "sep5" ? 5 : 7; }
bool is_sep(const std::string& op) { return op == "sep3" || op == "sep5" || op == "sep7"; }

class OneShotSpace;

// One block: operators on the block input, then the aggregator.
class Block : public nn::Module {
 public:
  // `stream`: the width the block's output must have when later blocks read it (0: the last
  // block, whose output only the cell's concat reads, so its width is free).
  Block(const OneShotSpace& space, const std::string& path, int channels, int stream, const WidthMap& widths,
        const BuildOptions& options);
  bool empty() const { return ops_.empty() && parameterless_.empty(); }
  int out_channels() const { return out_channels_; }
  Tensor forward(const Tensor& x) override;

 private:
  std::vector<std::string> parameterless_;
  std::vector<std::shared_ptr<nn::Sequential>> ops_;  // operators with convs: their units in order
  std::shared_ptr<ConvUnit> proj_;
  bool concat_ = true;
  int out_channels_ = 0;
};

class Cell : public nn::Module {
 public:
  Cell(const OneShotSpace& space, int index, int prev_channels, int prevprev_channels, int prev_reductions,
       int prevprev_reductions, const WidthMap& widths, const BuildOptions& options);
  Tensor run(const Tensor& prev, const Tensor& prevprev);
  int out_channels() const { return out_->out_channels(); }

 private:
  int prev_pool_, prevprev_pool_;  // stride-2 average pools before the adapters
  std::shared_ptr<ConvUnit> adapt_prev_, adapt_prevprev_, out_;
  std::vector<std::shared_ptr<Block>> blocks_;
};

class OneShotNet : public nn::Module {
 public:
  OneShotNet(const OneShotSpace& space, const WidthMap& widths, const BuildOptions& options);
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<ConvUnit> stem0_, stem_;  // stem0: only with stem_stride 4
  std::vector<std::shared_ptr<Cell>> cells_;
  std::shared_ptr<nn::Linear> fc_;
};

class OneShotSpace : public SearchSpace {
 public:
  explicit OneShotSpace(OneShotConfig c) : c_(std::move(c)) { validate(); }
  std::string name() const override { return "oneshot"; }
  std::string preset() const override { return c_.preset; }
  std::string config_json() const override { return json(c_).dump(); }
  Shape input_shape() const override { return {c_.in_channels, c_.image_size, c_.image_size}; }
  int num_classes() const override { return c_.num_classes; }
  const OneShotConfig& config() const { return c_; }

  int cell_width(int i) const {
    int w = c_.width;
    for (int r : c_.reduce_at)
      if (i >= r) w *= 2;
    return w;
  }
  int stem0_width() const { return std::max(1, c_.width / 2); }  // the first conv of the stride-4 stem
  bool reduces(int i) const { return std::find(c_.reduce_at.begin(), c_.reduce_at.end(), i) != c_.reduce_at.end(); }

  WidthMap full_widths() const override {
    WidthMap m{{"stem", c_.width}};
    if (c_.stem_stride == 4) m["stem0"] = stem0_width();
    for (int i = 0; i < c_.cells; ++i) {
      const std::string cell = "cell" + std::to_string(i);
      const int w = cell_width(i);
      m[cell + ".adapt_prev"] = m[cell + ".adapt_prevprev"] = m[cell + ".out"] = w;
      for (int j = 0; j < c_.blocks; ++j) {
        const std::string block = cell + ".block" + std::to_string(j);
        for (const std::string& op : c_.ops) {
          if (is_sep(op)) m[block + "." + op + ".pw1"] = m[block + "." + op + ".pw2"] = w;
          if (op == "conv17_71") m[block + ".conv17_71.conv17"] = m[block + ".conv17_71.conv71"] = w;
        }
        if (c_.aggregator == "concat") m[block + ".proj"] = w;
      }
    }
    return m;
  }

  nn::ModulePtr build(const WidthMap& widths, const BuildOptions& options) const override {
    check_keys(widths);
    return std::make_shared<OneShotNet>(*this, widths, options);
  }

  int64_t width(const WidthMap& widths, const std::string& key) const { return width_of(widths, key); }

  // Every operator with convs in every block; the parameterless ones (identity, max3, avg3)
  // cannot be removed, so a block whose menu has one never needs a choice to stay.
  std::vector<OperatorChoice> operator_choices() const override {
    bool parameterless = false;
    for (const std::string& op : c_.ops) parameterless = parameterless || op == "identity" || op == "max3" || op == "avg3";
    std::vector<OperatorChoice> out;
    for (int i = 0; i < c_.cells; ++i)
      for (int j = 0; j < c_.blocks; ++j) {
        const std::string block = "cell" + std::to_string(i) + ".block" + std::to_string(j);
        for (const std::string& op : c_.ops) {
          const std::string p = block + "." + op;
          if (is_sep(op)) out.push_back({p, block, {p + ".pw1", p + ".pw2"}, !parameterless});
          if (op == "conv17_71") out.push_back({p, block, {p + ".conv17", p + ".conv71"}, !parameterless});
        }
        // The last block's projection only feeds the cell's concat: at 0 the whole block goes.
        // Its alternatives are the cell's other blocks, which always stay (tied to the stream).
        if (j + 1 == c_.blocks && c_.aggregator == "concat")
          out.push_back({block, "cell" + std::to_string(i), {block + ".proj"}, c_.blocks == 1});
      }
    return out;
  }

 private:
  void validate() const {
    FIGS_CHECK(c_.width >= 1 && c_.cells >= 1 && c_.blocks >= 1, "oneshot: width, cells and blocks must be >= 1");
    FIGS_CHECK(c_.aggregator == "concat" || c_.aggregator == "sum", "oneshot: aggregator must be 'concat' or 'sum', got '",
               c_.aggregator, "'");
    FIGS_CHECK(!c_.ops.empty(), "oneshot: the operator menu is empty");
    for (const std::string& op : c_.ops)
      FIGS_CHECK(op == "identity" || op == "max3" || op == "avg3" || is_sep(op) || op == "conv17_71",
                 "oneshot: unknown operator '", op, "' (menu: identity, max3, avg3, sep3, sep5, sep7, conv17_71)");
    FIGS_CHECK(c_.stem_stride == 1 || c_.stem_stride == 2 || c_.stem_stride == 4,
               "oneshot: stem_stride must be 1, 2 or 4 (two stride-2 convs), got ", c_.stem_stride);
    int size = c_.image_size / c_.stem_stride;
    for (int r : c_.reduce_at) {
      FIGS_CHECK(r >= 1 && r < c_.cells, "oneshot: reduce_at entry ", r, " is not a cell after the first");
      size /= 2;
    }
    FIGS_CHECK(size >= 1, "oneshot: ", c_.image_size, "x", c_.image_size, " input is too small for ",
               c_.reduce_at.size(), " reductions");
  }
  OneShotConfig c_;
};

ConvUnitOptions unit(int kh, int kw, const BuildOptions& o, bool relu_before = true, bool depthwise = false,
                     bool relu_after = false) {
  ConvUnitOptions u;
  u.kernel_h = kh, u.kernel_w = kw, u.relu_before = relu_before, u.depthwise = depthwise, u.relu_after = relu_after;
  u.mask = o.masks, u.mask_options = o.mask_options;
  return u;
}

// Note [Where the One-Shot ReLUs run]: the space is ReLU-conv-BN throughout (every unit's input
// passes a ReLU). The network computes exactly that, with each ReLU placed where it costs least:
//   - a unit whose output only feeds the next unit's ReLU (pw1 -> dw2, conv17 -> conv71) applies
//     it itself, fused into its BatchNorm (batch_norm's ReLU, one pass instead of two);
//   - the block's weighted operators all start with a ReLU of the block's input: the block
//     takes it once and they share it (one pass and one saved activation instead of four);
//   - with the concat aggregator, the projection's ReLU of the concat is the concat of its
//     parts' ReLUs: identity and max3 read the shared ReLU (max commutes with it), avg3 takes
//     its own, and the weighted operators fuse theirs into their last BatchNorm.
// Every placement is equal in value (relu(max(x)) = max(relu(x)), relu(h) m = relu(h m) for
// m >= 0), so parameters, masks, exports and checkpoints are those of the plain ReLU-conv-BN.

Block::Block(const OneShotSpace& space, const std::string& path, int channels, int stream, const WidthMap& widths,
             const BuildOptions& options)
    : nn::Module("OneShotBlock"), concat_(space.config().aggregator == "concat") {
  // The last block's projection only feeds the cell's concat: at width 0 the block vanishes with
  // everything that only fed it (its operators), and the concat drops it.
  if (concat_ && stream == 0 && space.width(widths, path + ".proj") == 0) return;
  int concat_channels = 0;
  for (const std::string& op : space.config().ops) {
    if (op == "identity" || op == "max3" || op == "avg3") {
      parameterless_.push_back(op);
      concat_channels += channels;
      continue;
    }
    auto units = std::make_shared<nn::Sequential>();
    const std::string p = path + "." + op;
    if (is_sep(op)) {
      const int w1 = static_cast<int>(space.width(widths, p + ".pw1")), w2 = static_cast<int>(space.width(widths, p + ".pw2"));
      if (w1 == 0 || w2 == 0) continue;  // the operator vanished
      FIGS_CHECK(concat_ || w2 == channels, "oneshot: '", p, ".pw2' has width ", w2, " but the sum aggregator needs the "
                 "cell width ", channels);
      const int k = kernel_of(op);  // Note [Where the One-Shot ReLUs run] for the relu flags
      units->add("dw1", std::make_shared<ConvUnit>(channels, channels, unit(k, k, options, false, true)));
      units->add("pw1", std::make_shared<ConvUnit>(channels, w1, unit(1, 1, options, false, false, true)));
      units->add("dw2", std::make_shared<ConvUnit>(w1, w1, unit(k, k, options, false, true)));
      units->add("pw2", std::make_shared<ConvUnit>(w1, w2, unit(1, 1, options, false, false, concat_)));
      concat_channels += w2;
    } else {  // conv17_71
      const int w1 = static_cast<int>(space.width(widths, p + ".conv17")), w2 = static_cast<int>(space.width(widths, p + ".conv71"));
      if (w1 == 0 || w2 == 0) continue;
      FIGS_CHECK(concat_ || w2 == channels, "oneshot: '", p, ".conv71' has width ", w2, " but the sum aggregator needs "
                 "the cell width ", channels);
      units->add("conv17", std::make_shared<ConvUnit>(channels, w1, unit(1, 7, options, false, false, true)));
      units->add("conv71", std::make_shared<ConvUnit>(w1, w2, unit(7, 1, options, false, false, concat_)));
      concat_channels += w2;
    }
    ops_.push_back(register_module(op, units));
  }
  out_channels_ = channels;
  if (concat_ && !empty()) {
    const int w = static_cast<int>(space.width(widths, path + ".proj"));
    FIGS_CHECK(stream == 0 || w == stream, "oneshot: '", path, ".proj' has width ", w, " but is tied to its cell's stream "
               "of width ", stream, " (adapt_prev): tied keys need one width");
    // Its input arrives through the ReLUs of its parts (Note [Where the One-Shot ReLUs run]).
    proj_ = register_module("proj", std::make_shared<ConvUnit>(concat_channels, w, unit(1, 1, options, false)));
    out_channels_ = w;
  }
}

Tensor Block::forward(const Tensor& x) {
  // Note [Where the One-Shot ReLUs run]: with the concat aggregator the outputs here are already
  // the ReLUs of the projection's input.
  const Tensor r = !ops_.empty() || concat_ ? relu(x) : Tensor();
  std::vector<Tensor> outs;
  for (const std::string& op : parameterless_) {
    if (op == "identity") outs.push_back(concat_ ? r : x);
    if (op == "max3") outs.push_back(max_pool2d(concat_ ? r : x, {3, 3, 1, 1, 1, 1, true}));
    if (op == "avg3") {
      const Tensor a = avg_pool2d(x, {3, 3, 1, 1, 1, 1, false});
      outs.push_back(concat_ ? relu(a) : a);
    }
  }
  for (const auto& units : ops_) outs.push_back((*units)(r));
  if (concat_) return (*proj_)(outs.size() == 1 ? outs[0] : concat(outs, 1));
  Tensor sum_out = outs[0];
  for (size_t i = 1; i < outs.size(); ++i) sum_out = add(sum_out, outs[i]);
  return sum_out;
}

Cell::Cell(const OneShotSpace& space, int index, int prev_channels, int prevprev_channels, int prev_pool,
           int prevprev_pool, const WidthMap& widths, const BuildOptions& options)
    : nn::Module("OneShotCell"), prev_pool_(prev_pool), prevprev_pool_(prevprev_pool) {
  const std::string path = "cell" + std::to_string(index);
  // The two adapters feed every block's input sum: the cell's stream.
  const int stream = static_cast<int>(tied_width(
      space, widths, {"the blocks' input sums of " + path, path + "'s stream", {path + ".adapt_prev", path + ".adapt_prevprev"}}));
  adapt_prev_ = register_module("adapt_prev", std::make_shared<ConvUnit>(prev_channels, stream, unit(1, 1, options)));
  adapt_prevprev_ =
      register_module("adapt_prevprev", std::make_shared<ConvUnit>(prevprev_channels, stream, unit(1, 1, options)));
  int concat_channels = 0;
  const int blocks = space.config().blocks;
  for (int j = 0; j < blocks; ++j) {
    const std::string name = "block" + std::to_string(j);
    auto block = std::make_shared<Block>(space, path + "." + name, stream, j + 1 < blocks ? stream : 0, widths, options);
    if (block->empty()) continue;
    blocks_.push_back(register_module(name, block));
    concat_channels += block->out_channels();
  }
  FIGS_CHECK(!blocks_.empty(), "oneshot: every block of '", path, "' vanished: the cell would be empty");
  const int out = static_cast<int>(space.width(widths, path + ".out"));
  FIGS_CHECK(out > 0, "oneshot: '", path, ".out' has width 0: the network would be cut");
  out_ = register_module("out", std::make_shared<ConvUnit>(concat_channels, out, unit(1, 1, options)));
}

Tensor Cell::run(const Tensor& prev, const Tensor& prevprev) {
  auto pool = [](Tensor t, int times) {
    for (int i = 0; i < times; ++i) t = avg_pool2d(t, {2, 2, 2, 2, 0, 0, true});
    return t;
  };
  Tensor stream = add((*adapt_prev_)(pool(prev, prev_pool_)), (*adapt_prevprev_)(pool(prevprev, prevprev_pool_)));
  std::vector<Tensor> outs;
  for (size_t j = 0; j < blocks_.size(); ++j) {
    const Tensor y = (*blocks_[j])(stream);
    outs.push_back(y);
    if (j + 1 < blocks_.size()) stream = add(stream, y);  // dense wiring: later blocks read the sum
  }
  return (*out_)(outs.size() == 1 ? outs[0] : concat(outs, 1));
}

OneShotNet::OneShotNet(const OneShotSpace& space, const WidthMap& widths, const BuildOptions& options)
    : nn::Module("OneShotNet") {
  const OneShotConfig& c = space.config();
  const int stem = static_cast<int>(space.width(widths, "stem"));
  FIGS_CHECK(stem > 0, "oneshot: 'stem' has width 0: the network would be cut");
  int stem_in = c.in_channels;
  if (c.stem_stride == 4) {
    const int w0 = static_cast<int>(space.width(widths, "stem0"));
    FIGS_CHECK(w0 > 0, "oneshot: 'stem0' has width 0: the network would be cut");
    ConvUnitOptions s0 = unit(3, 3, options, false);
    s0.stride = 2;
    stem0_ = register_module("stem0", std::make_shared<ConvUnit>(c.in_channels, w0, s0));
    stem_in = w0;
  }
  ConvUnitOptions s = unit(3, 3, options, /*relu_before=*/c.stem_stride == 4);
  s.stride = c.stem_stride == 4 ? 2 : c.stem_stride;
  stem_ = register_module("stem", std::make_shared<ConvUnit>(stem_in, stem, s));
  // Output channels and reduction count of the stem and every cell so far.
  std::vector<int> channels{stem, stem}, reductions{0, 0};
  int reduced = 0;
  for (int i = 0; i < c.cells; ++i) {
    if (space.reduces(i)) ++reduced;
    const size_t n = channels.size();
    auto cell = std::make_shared<Cell>(space, i, channels[n - 1], channels[n - 2], reduced - reductions[n - 1],
                                       reduced - reductions[n - 2], widths, options);
    cells_.push_back(register_module("cell" + std::to_string(i), cell));
    channels.push_back(cell->out_channels());
    reductions.push_back(reduced);
  }
  fc_ = register_module("fc", std::make_shared<nn::Linear>(channels.back(), c.num_classes));
}

Tensor OneShotNet::forward(const Tensor& x) {
  Tensor prevprev = (*stem_)(stem0_ ? (*stem0_)(x) : x), prev = prevprev;
  for (const auto& cell : cells_) {
    Tensor next = cell->run(prev, prevprev);
    prevprev = prev;
    prev = next;
  }
  return (*fc_)(flatten(global_avg_pool2d(relu(prev))));
}

OneShotConfig config_from_json(const std::string& text) {
  const json j = json::parse(text);
  OneShotConfig c = preset_config(j.value("preset", std::string("small28")));
  try {
    c.in_channels = j.value("in_channels", c.in_channels);
    c.image_size = j.value("image_size", c.image_size);
    c.num_classes = j.value("num_classes", c.num_classes);
    c.width = j.value("width", c.width);
    c.cells = j.value("cells", c.cells);
    c.blocks = j.value("blocks", c.blocks);
    c.stem_stride = j.value("stem_stride", c.stem_stride);
    c.reduce_at = j.value("reduce_at", c.reduce_at);
    c.ops = j.value("ops", c.ops);
    c.aggregator = j.value("aggregator", c.aggregator);
  } catch (const json::exception& e) {
    fail("oneshot configuration: ", e.what());
  }
  return c;
}

const bool registered = [] {
  register_space({"oneshot",
                  {"small28", "small32", "tiny28", "imagenet"},
                  "One-Shot cells (FiGS variant: concat aggregator, separable pairs, 1x7-7x1, pools, identity)",
                  [](const std::string& preset) { return std::make_unique<OneShotSpace>(preset_config(preset)); },
                  [](const std::string& text) { return std::make_unique<OneShotSpace>(config_from_json(text)); }});
  return true;
}();

}  // namespace

}  // namespace figs::nas

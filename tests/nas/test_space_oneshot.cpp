// The One-Shot space: presets build, supernet and exports agree with the channel graph, widths
// round-trip through masks -> export -> architecture JSON -> rebuild, zero widths remove what
// they should, and bad width maps are refused with their key named.
#include <cmath>
#include <filesystem>
#include <map>

#include "nas/architecture.h"
#include "nas/channel_graph.h"
#include "nas/objective.h"
#include "nas/space.h"
#include "nn/nn.h"
#include "space_test_util.h"

namespace figs::nas {
namespace {

using namespace figs::nas::test;  // space_test_util.h

TEST(SpaceOneShot, PresetsBuildAndTheSmallOnesRun) {
  for (const std::string preset : {"tiny28", "small28", "small32", "imagenet"}) {
    SCOPED_TRACE(preset);
    const auto space = make_space("oneshot", preset);
    const nn::ModulePtr net = space->build(space->full_widths(), {.masks = true, .mask_options = {}});
    EXPECT_GT(net->num_parameters(), 0);
    if (preset != "imagenet") {
      NoGradGuard no_grad;
      EXPECT_EQ((*net)(input_for(*space, 2)).shape(), (Shape{2, space->num_classes()}));
    }
  }
  EXPECT_ERROR_MENTIONS(make_space("oneshot", "huge"), "has no preset 'huge'");
  EXPECT_ERROR_MENTIONS(make_space("nope", ""), "search space 'nope' does not exist");
}

// The network computes the space's definition, ReLU-conv-BN in every unit, wherever it places
// the ReLUs (Note [Where the One-Shot ReLUs run]): the same function written here from the
// definition with plain ops and the network's own parameters gives the same logits and the same
// gradients. One cell of two blocks with every kind of operator, concat aggregator.
TEST(SpaceOneShot, ComputesReluConvBatchNormEverywhere) {
  const auto space = make_space_from_json(
      R"({"space": "oneshot", "preset": "tiny28", "cells": 1, "blocks": 2, "reduce_at": [], "width": 6,
          "ops": ["identity", "max3", "avg3", "sep3", "conv17_71"]})");
  const nn::ModulePtr net = space->build(space->full_widths());
  Generator gen(3);
  for (const nn::NamedTensor& p : net->named_parameters()) {  // BN affines away from 1 and 0 too
    NoGradGuard no_grad;
    raw::copy_(p.tensor, uniform(p.tensor.shape(), -0.8, 0.8, gen));
  }
  std::map<std::string, Tensor> P;
  for (const nn::NamedTensor& p : net->named_parameters()) P[p.name] = p.tensor;

  // [ReLU] conv (stride 1, "same" padding; depthwise: one filter per channel) then BN on batch
  // statistics.
  auto unit = [&](const std::string& path, const Tensor& x, bool relu_first) {
    const Tensor& w = P.at(path + ".weight");
    Conv2dParams c;
    c.pad_h = static_cast<int>(w.size(2) / 2), c.pad_w = static_cast<int>(w.size(3) / 2);
    c.groups = w.size(1) == 1 && x.size(1) > 1 ? static_cast<int>(x.size(1)) : 1;
    const Tensor h = conv2d(relu_first ? relu(x) : x, w, Tensor(), c);
    return batch_norm(h, P.at(path + ".bn.weight"), P.at(path + ".bn.bias"), Tensor(), Tensor(), BatchNormParams{});
  };
  auto by_definition = [&](const Tensor& x) {
    const Tensor stem = unit("stem", x, false);
    Tensor stream = add(unit("cell0.adapt_prev", stem, true), unit("cell0.adapt_prevprev", stem, true));
    std::vector<Tensor> block_outputs;
    for (const std::string b : {"cell0.block0", "cell0.block1"}) {
      const Tensor sep = unit(b + ".sep3.pw2",
                              unit(b + ".sep3.dw2", unit(b + ".sep3.pw1", unit(b + ".sep3.dw1", stream, true), false),
                                   true),
                              false);
      const Tensor c1771 = unit(b + ".conv17_71.conv71", unit(b + ".conv17_71.conv17", stream, true), true);
      const Tensor ops = concat({stream, max_pool2d(stream, {3, 3, 1, 1, 1, 1, true}),
                                 avg_pool2d(stream, {3, 3, 1, 1, 1, 1, false}), sep, c1771},
                                1);
      block_outputs.push_back(unit(b + ".proj", ops, true));
      stream = add(stream, block_outputs.back());
    }
    const Tensor out = unit("cell0.out", concat(block_outputs, 1), true);
    return add(matmul(flatten(global_avg_pool2d(relu(out))), permute(P.at("fc.weight"), {1, 0})), P.at("fc.bias"));
  };

  const Tensor x0 = input_for(*space, 3);
  const Tensor probe = uniform({3, space->num_classes()}, -1, 1, gen);
  auto run = [&](bool network) {
    for (auto& [name, p] : P) p.zero_grad();
    Tensor x = raw::clone(x0).set_requires_grad();
    const Tensor y = network ? (*net)(x) : by_definition(x);
    backward(sum(mul(y, probe)));
    std::vector<Tensor> r{y.detach(), x.grad()};
    for (const char* name : {"stem.weight", "cell0.adapt_prev.bn.weight", "cell0.block0.sep3.pw1.weight",
                             "cell0.block0.sep3.dw2.bn.bias", "cell0.block1.conv17_71.conv17.weight",
                             "cell0.block1.proj.weight", "cell0.out.bn.weight"})
      r.push_back(raw::clone(P.at(name).grad()));
    return r;
  };
  const std::vector<Tensor> got = run(true), want = run(false);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const auto g = got[i].to_vector<double>(), w = want[i].to_vector<double>();
    ASSERT_EQ(g.size(), w.size()) << i;
    double scale = 1e-3, err = 0;
    for (double v : w) scale = std::max(scale, std::abs(v));
    for (size_t k = 0; k < g.size(); ++k) err = std::max(err, std::abs(g[k] - w[k]));
    EXPECT_LE(err / scale, 1e-4) << (i == 0 ? "logits" : i == 1 ? "input gradient" : "parameter gradient") << " #" << i;
  }
}

TEST(SpaceOneShot, SupernetAtFullWidthCostsWhatTheFullExportCounts) {
  const auto space = make_space("oneshot", "tiny28");
  const nn::ModulePtr super = space->build(space->full_widths(), {.masks = true, .mask_options = {}});
  set_masks_to(*super, space->full_widths());
  const nn::ModulePtr plain = space->build(space->full_widths());
  const ChannelGraph sg = trace_net(*super, *space), pg = trace_net(*plain, *space);
  for (CostKind kind : {CostKind::Params, CostKind::Macs}) {
    EXPECT_NEAR(sg.cost(kind).item<double>(), pg.cost(kind).item<double>(), 1e-3 * pg.cost(kind).item<double>());
  }
  // Reported parameters include BN and biases: the full export's count is its num_parameters().
  EXPECT_EQ(pg.count_all(CostKind::Params), plain->num_parameters());
}

TEST(SpaceOneShot, MasksExportRebuildRoundTrip) {
  const auto space = make_space("oneshot", "tiny28");
  // A reduced width map: free keys random, tied keys (a cell's stream) one value per cell.
  Generator gen(11);
  WidthMap widths = space->full_widths();
  std::map<std::string, int64_t> stream;
  for (auto& [key, w] : widths) {
    const std::string cell = key.substr(0, key.find('.'));
    // tiny28 has 2 blocks per cell: block0's output feeds block1 (tied to the stream), block1's
    // only the cell's concat (free).
    const bool tied = key.find(".adapt_prev") != std::string::npos || key.find(".block0.proj") != std::string::npos;
    if (tied) {
      if (!stream.count(cell)) stream[cell] = 1 + static_cast<int64_t>(uniform({1}, 0, 1, gen).item<float>() * (w - 1));
      w = stream[cell];
    } else {
      w = 1 + static_cast<int64_t>(uniform({1}, 0, 1, gen).item<float>() * (w - 1));
    }
  }
  const nn::ModulePtr super = space->build(space->full_widths(), {.masks = true, .mask_options = {}});
  set_masks_to(*super, widths);
  const ChannelGraph g = trace_net(*super, *space);
  const WidthMap exported = width_map_from_export(*space, export_widths(g));
  for (const auto& [key, w] : widths) EXPECT_EQ(exported.at(key), w) << key;

  // Through the architecture file and back.
  const Architecture arch = describe_architecture(*space, exported, R"({"method":"test"})");
  const std::string path = (std::filesystem::temp_directory_path() / "figs_test_arch.json").string();
  save_architecture(arch, path);
  const Architecture back = load_architecture(path);
  std::filesystem::remove(path);
  EXPECT_EQ(back.widths, arch.widths);
  EXPECT_EQ(back.params, arch.params);

  const nn::ModulePtr rebuilt = make_space_from_json(back.space_json)->build(back.widths);
  EXPECT_EQ(rebuilt->num_parameters(), arch.params);
  // The supernet's reported counts at these masks equal the rebuilt network's.
  const std::vector<bool> alive = alive_groups(g);
  EXPECT_EQ(g.count(CostKind::Params, alive), arch.params);
  EXPECT_EQ(g.count(CostKind::Macs, alive), arch.macs);
}

TEST(SpaceOneShot, ZeroWidthRemovesTheOperatorAndWhatOnlyItFed) {
  const auto space = make_space("oneshot", "tiny28");
  WidthMap widths{{"cell1.block0.sep3.pw1", 0}};
  const Architecture a = describe_architecture(*space, widths);
  auto has = [&](const std::string& unit) {
    return std::count(a.surviving_units.begin(), a.surviving_units.end(), unit) == 1;
  };
  // The whole separable pair goes (its depthwise convs and its second pointwise conv too); the
  // block's other operators and its projection stay, with the projection's input narrower.
  for (const char* u : {"cell1.block0.sep3.dw1", "cell1.block0.sep3.pw1", "cell1.block0.sep3.dw2",
                        "cell1.block0.sep3.pw2"})
    EXPECT_FALSE(has(u)) << u;
  EXPECT_TRUE(has("cell1.block0.sep5.pw1"));
  EXPECT_TRUE(has("cell1.block0.proj"));
  const Architecture full = describe_architecture(*space, {});
  // sep3 pair at cell 1 (width 16): dw 9*16 + pw 16*16, twice, each with BN (2*16); proj loses 16 inputs.
  EXPECT_EQ(full.params - a.params, 2 * (9 * 16 + 16 * 16 + 2 * 16 + 2 * 16) + 16 * 16);
  // Every operator of a block gone: the block goes, the cell concatenates the others.
  WidthMap all_gone;
  for (const char* op : {"sep3.pw1", "sep5.pw1", "conv17_71.conv17"}) all_gone[std::string("cell0.block1.") + op] = 0;
  const auto cfg = make_space_from_json(R"({"space":"oneshot","preset":"tiny28","ops":["sep3","sep5","conv17_71"]})");
  const nn::ModulePtr net = cfg->build(all_gone);
  bool block1 = false;
  for (const nn::NamedModule& m : net->named_modules()) block1 = block1 || m.name == "cell0.block1";
  EXPECT_FALSE(block1);
}

TEST(SpaceOneShot, BadWidthMapsNameTheKey) {
  const auto space = make_space("oneshot", "tiny28");
  EXPECT_ERROR_MENTIONS(space->build({{"cell0.nothing", 3}}), "unknown width keys 'cell0.nothing'");
  EXPECT_ERROR_MENTIONS(space->build({{"stem", 99}}), "width 99 for 'stem' is outside [0, 8]");
  EXPECT_ERROR_MENTIONS(space->build({{"stem", 0}}), "'stem' has width 0");
  EXPECT_ERROR_MENTIONS(space->build({{"cell0.adapt_prevprev", 3}}), "tied keys need one width");
  EXPECT_ERROR_MENTIONS(architecture_from_json("{\"format\":\"x\"}", "a.json"), "a.json: not a figs architecture");
  EXPECT_ERROR_MENTIONS(load_architecture("/nonexistent/arch.json"), "cannot read architecture file");
}

// A space configuration (an arch.json's "space", --set space.options) holds only the space's own
// fields, of their kind and within sizes a network can have (found by fuzzing: a 10^6 px image
// asked for terabytes, 10^5 cells for hours).
TEST(SpaceOneShot, ConfigurationFieldsAreKnownTypedAndBounded) {
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"oneshot","preset":"tiny28","colour":"red"})"),
                        "unknown field 'colour'");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"oneshot","preset":"tiny28","width":7.5})"),
                        "'width' must be an integer, got 7.5");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"oneshot","preset":"tiny28","image_size":1000000})"),
                        "'image_size' must be in [1, 2048], got 1000000");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"oneshot","preset":"tiny28","cells":100000})"),
                        "'cells' must be in [0, 4096], got 100000");
  EXPECT_NO_THROW(make_space_from_json(R"({"space":"oneshot","preset":"tiny28","width":6.0})"));
}

}  // namespace
}  // namespace figs::nas

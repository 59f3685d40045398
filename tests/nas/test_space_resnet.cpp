// The ResNet space: presets build (torchvision's parameter counts exactly, published MACs),
// the supernet's channel-graph counts equal the exported network's at full and reduced widths,
// stage widths are tied, zero widths remove a block's branch, configurations round-trip, and
// bad input is refused with the key named.
#include <algorithm>

#include "nas/architecture.h"
#include "nas/channel_graph.h"
#include "nas/objective.h"
#include "nas/space.h"
#include "nn/nn.h"
#include "space_test_util.h"

namespace figs::nas {
namespace {

using namespace figs::nas::test;  // space_test_util.h


TEST(SpaceResNet, PresetsBuildAndTheSmallOnesRun) {
  // Supernets of every preset (the ImageNet ones are only constructed); the unmasked ImageNet
  // networks are built by the parameter-count test below.
  for (const std::string preset : {"small28", "small32", "cifar56", "resnet18", "resnet34", "resnet50", "resnet101",
                                   "resnet152"}) {
    SCOPED_TRACE(preset);
    const auto space = make_space("resnet", preset);
    const nn::ModulePtr super = space->build(space->full_widths(), with_masks(true));
    int64_t units = 0;
    for (const nn::NamedModule& m : super->named_modules()) units += dynamic_cast<ConvUnit*>(m.module) != nullptr;
    EXPECT_EQ(static_cast<int64_t>(mask_layers(*super).size()), units);  // a mask after every conv
    EXPECT_EQ(units, static_cast<int64_t>(space->full_widths().size()));  // and a key for each
    if (preset == "small28" || preset == "small32") {
      const nn::ModulePtr plain = space->build(space->full_widths());
      EXPECT_TRUE(mask_layers(*plain).empty());
      NoGradGuard no_grad;
      EXPECT_EQ((*super)(input_for(*space, 2)).shape(), (Shape{2, 10}));
      EXPECT_EQ((*plain)(input_for(*space, 2)).shape(), (Shape{2, 10}));
    }
  }
  EXPECT_EQ(make_space("resnet", "")->preset(), "small28");  // the default
  EXPECT_ERROR_MENTIONS(make_space("resnet", "resnet200"), "has no preset 'resnet200'");
}

TEST(SpaceResNet, TorchvisionParameterCountsExactly) {
  // torchvision.models.resnetNN().parameters() summed (BN weight and bias included, fc with bias).
  const std::map<std::string, int64_t> torchvision = {{"resnet18", 11689512},
                                                      {"resnet34", 21797672},
                                                      {"resnet50", 25557032},
                                                      {"resnet101", 44549160},
                                                      {"resnet152", 60192808}};
  for (const auto& [preset, params] : torchvision) {
    const auto space = make_space("resnet", preset);
    EXPECT_EQ(space->build(space->full_widths())->num_parameters(), params) << preset;
  }
}

TEST(SpaceResNet, MacsOfResNet18And50AndTheCifarNets) {
  // At 224: ResNet-18 1.814 GMACs, ResNet-50 4.089 GMACs (torchvision publishes 1.81 and 4.09
  // GFLOPS, counting multiply-adds: convs + fc).
  // The exact values are the sums of k*k*C_in*C_out*H_out*W_out (+ fc) worked out separately.
  const std::map<std::string, std::pair<int64_t, int64_t>> expected = {{"resnet18", {11689512, 1814073344}},
                                                                       {"resnet50", {25557032, 4089184256}},
                                                                       {"small28", {272186, 31021952}},
                                                                       {"small32", {272474, 40813184}}};
  for (const auto& [preset, counts] : expected) {
    const auto space = make_space("resnet", preset);
    const nn::ModulePtr net = space->build(space->full_widths());
    const ChannelGraph g = trace_net(*net, *space, 1);
    EXPECT_EQ(g.count_all(CostKind::Params), counts.first) << preset;
    EXPECT_EQ(g.count_all(CostKind::Macs), counts.second) << preset;
    std::printf("resnet %-9s params %10lld  MACs %13lld\n", preset.c_str(), static_cast<long long>(counts.first),
                static_cast<long long>(g.count_all(CostKind::Macs)));
  }
}

TEST(SpaceResNet, SupernetAtFullWidthCostsWhatTheFullExportCounts) {
  const auto space = make_space("resnet", "small28");
  const nn::ModulePtr super = space->build(space->full_widths(), with_masks(true));
  set_masks_to(*super, space->full_widths());
  const nn::ModulePtr plain = space->build(space->full_widths());
  const ChannelGraph sg = trace_net(*super, *space), pg = trace_net(*plain, *space);
  for (CostKind kind : {CostKind::Params, CostKind::Macs}) {
    EXPECT_NEAR(sg.cost(kind).item<double>(), pg.cost(kind).item<double>(), 1e-4 * pg.cost(kind).item<double>());
    EXPECT_EQ(sg.count(kind, alive_groups(sg)), pg.count_all(kind));
  }
  EXPECT_EQ(pg.count_all(CostKind::Params), plain->num_parameters());
}

// A random reduced map: free keys anywhere in [1, full], each stage one width for its tied keys.
WidthMap random_widths(const SearchSpace& space, uint64_t seed) {
  Generator gen(seed);
  WidthMap widths = space.full_widths();
  std::map<std::string, int64_t> stage;
  for (auto& [key, w] : widths) {
    const bool tied = key == "stem" || key.find(".conv2") != std::string::npos ||
                      key.find(".downsample") != std::string::npos;  // basic blocks (small28)
    const std::string layer = key == "stem" ? "layer1" : key.substr(0, key.find('.'));
    if (tied && !stage.count(layer)) stage[layer] = draw(gen, 1, w);
    w = tied ? stage[layer] : draw(gen, 1, w);
  }
  return widths;
}

TEST(SpaceResNet, ReducedWidthsCountExactlyWhatTheSupernetReports) {
  const auto space = make_space("resnet", "small28");
  const WidthMap widths = random_widths(*space, 5);
  const nn::ModulePtr super = space->build(space->full_widths(), with_masks(true));
  set_masks_to(*super, widths);
  const ChannelGraph sg = trace_net(*super, *space);
  // The export reads the same widths back (tied units share their group's probability).
  EXPECT_EQ(width_map_from_export(*space, export_widths(sg)), widths);

  const nn::ModulePtr net = space->build(widths);
  const ChannelGraph ng = trace_net(*net, *space);
  for (CostKind kind : {CostKind::Params, CostKind::Macs}) {
    SCOPED_TRACE(cost_kind_name(kind));
    EXPECT_EQ(sg.count(kind, alive_groups(sg)), ng.count_all(kind));
    EXPECT_NEAR(sg.cost(kind).item<double>(), ng.cost(kind).item<double>(), 1e-4 * ng.cost(kind).item<double>());
  }
  EXPECT_EQ(ng.count_all(CostKind::Params), net->num_parameters());
}

TEST(SpaceResNet, TiedAndFreeKeys) {
  // ResNet-18: the stem feeds layer1's identity shortcuts, so it is tied with layer1's conv2s.
  const auto r18 = make_space("resnet", "resnet18");
  WidthMap w{{"stem", 32}, {"layer1.0.conv2", 32}, {"layer1.1.conv2", 32}};
  EXPECT_NO_THROW(r18->build(w));
  EXPECT_ERROR_MENTIONS(r18->build({{"layer1.1.conv2", 32}}),
                        "the residual adds of layer1 tie stem=64, layer1.0.conv2=64, layer1.1.conv2=32: tied keys "
                        "need one width");
  EXPECT_ERROR_MENTIONS(r18->build({{"layer2.0.downsample", 100}}), "layer2.0.downsample=100");
  // ResNet-50: layer1.0 projects 64 -> 256, so the stem is free; conv3s and downsamples are tied.
  const auto r50 = make_space("resnet", "resnet50");
  const nn::ModulePtr narrow_stem = r50->build({{"stem", 20}});
  EXPECT_EQ(r50->build(r50->full_widths())->num_parameters() - narrow_stem->num_parameters(),
            // stem 3*49*(64-20) + BN; layer1.0.conv1 and .downsample lose 44 inputs each
            3 * 49 * 44 + 2 * 44 + 44 * 64 + 44 * 256);
  EXPECT_ERROR_MENTIONS(r50->build({{"layer3.4.conv3", 512}}), "layer3.4.conv3=512");
  // A long set (ResNet-56: 10 keys per stage) names its first key and the odd one out.
  EXPECT_ERROR_MENTIONS(make_space("resnet", "cifar56")->build({{"layer2.4.conv2", 16}}),
                        "the residual adds of layer2 tie layer2.0.conv2=32, layer2.4.conv2=16 (and 8 more at 32): "
                        "tied keys need one width");
}

TEST(SpaceResNet, ZeroWidthRemovesTheBlocksBranch) {
  const auto space = make_space("resnet", "small28");
  const WidthMap widths{{"layer2.1.conv1", 0}};
  const nn::ModulePtr net = space->build(widths);
  EXPECT_TRUE(has_module(*net, "layer2.1"));
  EXPECT_FALSE(has_module(*net, "layer2.1.conv1"));
  EXPECT_FALSE(has_module(*net, "layer2.1.conv2"));  // it only read conv1
  EXPECT_TRUE(has_module(*net, "layer2.0.conv1"));
  const int64_t full = space->build({})->num_parameters();
  EXPECT_EQ(full - net->num_parameters(), 2 * (32 * 32 * 9 + 2 * 32));
  {
    NoGradGuard no_grad;
    EXPECT_EQ((*net)(input_for(*space, 2)).shape(), (Shape{2, 10}));
  }
  // The same in a downsampling block: the projection shortcut stays.
  const nn::ModulePtr first = space->build({{"layer3.0.conv1", 0}});
  EXPECT_TRUE(has_module(*first, "layer3.0.downsample"));
  EXPECT_FALSE(has_module(*first, "layer3.0.conv2"));
  // A bottleneck's middle conv of 0: conv1, conv2 and conv3 all go.
  const auto r50 = make_space("resnet", "resnet50");
  const int64_t gone = r50->build({})->num_parameters() - r50->build({{"layer3.2.conv2", 0}})->num_parameters();
  EXPECT_EQ(gone, (1024 * 256 + 512) + (256 * 256 * 9 + 512) + (256 * 1024 + 2048));
  // A stage of width 0 would cut the network.
  WidthMap cut{{"stem", 0}, {"layer1.0.conv2", 0}, {"layer1.1.conv2", 0}, {"layer1.2.conv2", 0}};
  EXPECT_ERROR_MENTIONS(space->build(cut), "layer1 has width 0");
  EXPECT_ERROR_MENTIONS(r50->build({{"stem", 0}}), "'stem' has width 0");
}

TEST(SpaceResNet, ConfigurationAndWidthsRoundTrip) {
  const auto space = make_space("resnet", "small32");
  const auto back = make_space_from_json(space->config_json());
  EXPECT_EQ(back->config_json(), space->config_json());
  EXPECT_EQ(back->name(), "resnet");
  EXPECT_EQ(back->preset(), "small32");
  const WidthMap widths = random_widths(*space, 9);
  const Architecture a = describe_architecture(*space, widths);
  const Architecture b = architecture_from_json(architecture_to_json(a));
  const nn::ModulePtr rebuilt = make_space_from_json(b.space_json)->build(b.widths);
  EXPECT_EQ(rebuilt->num_parameters(), a.params);
  EXPECT_EQ(b.macs, a.macs);
  // A configuration changed through JSON: ResNet-8 on 3x32x32 with 5 classes.
  const auto r8 = make_space_from_json(R"({"space":"resnet","preset":"small32","blocks":[1,1,1],"num_classes":5})");
  NoGradGuard no_grad;
  EXPECT_EQ((*r8->build({}))(input_for(*r8, 2)).shape(), (Shape{2, 5}));
  EXPECT_EQ(make_space_from_json(r8->config_json())->config_json(), r8->config_json());
}

TEST(SpaceResNet, BadInputIsRefusedWithTheKeyNamed) {
  const auto space = make_space("resnet", "small28");
  EXPECT_ERROR_MENTIONS(space->build({{"layer9.0.conv1", 3}}), "unknown width keys 'layer9.0.conv1'");
  EXPECT_ERROR_MENTIONS(space->build({{"layer1.0.conv1", 17}}), "width 17 for 'layer1.0.conv1' is outside [0, 16]");
  EXPECT_ERROR_MENTIONS(space->build({{"layer1.0.conv1", -1}}), "width -1 for 'layer1.0.conv1' is outside [0, 16]");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"resnet","preset":"resnet9"})"), "no preset 'resnet9'");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"resnet","depth":3})"), "unknown field 'depth'");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"resnet","block":"wide"})"), "block must be 'basic' or");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"resnet","blocks":[1,1]})"), "one entry per stage");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"resnet","shortcut":"zeros"})"), "only the projection");
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"resnet","blocks":"many"})"), "resnet configuration:");
}

}  // namespace
}  // namespace figs::nas

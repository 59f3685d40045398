// describe_architecture counts MACs from one eval-mode image without a graph (nas/architecture.cpp);
// these tests hold it to the channel graph's count of a training-mode pass at N = 2 (what it
// replaced) on every small preset, at full width and at half width, and check One-Shot's
// ImageNet stem reaches stride 4 before cell 0.
#include "autograd/trace.h"
#include "nas/architecture.h"
#include "nas/channel_graph.h"
#include "nas/space.h"
#include "nas/baselines/width_multiplier.h"
#include "nn/nn.h"
#include "space_test_util.h"

namespace figs::nas {
namespace {

using namespace figs::nas::test;  // space_test_util.h

int64_t graph_macs(const SearchSpace& space, const WidthMap& widths) {
  const nn::ModulePtr net = space.build(widths);
  return static_cast<int64_t>(trace_net(*net, space).count_all(CostKind::Macs));
}

TEST(ArchitectureCount, EqualsTheChannelGraphOnEverySmallPreset) {
  const std::vector<std::pair<std::string, std::string>> presets = {
      {"oneshot", "tiny28"}, {"oneshot", "small28"}, {"oneshot", "small32"}, {"resnet", "small28"},
      {"resnet", "small32"}, {"fbnet", "small28"},   {"fbnet", "small32"}};
  for (const auto& [name, preset] : presets) {
    SCOPED_TRACE(name + "/" + preset);
    const auto space = make_space(name, preset);
    for (double w : {1.0, 0.5}) {
      const WidthMap widths = w == 1.0 ? space->full_widths() : width_multiplier_map(*space, w);
      const Architecture a = describe_architecture(*space, widths);
      EXPECT_EQ(a.macs, graph_macs(*space, a.widths)) << "width multiplier " << w;
      EXPECT_GT(a.macs, 0);
    }
  }
  // A stride-2 stem too (the main job's configuration).
  const auto strided = make_space_from_json(R"({"space":"oneshot","preset":"small28","stem_stride":2})");
  EXPECT_EQ(describe_architecture(*strided, {}).macs, graph_macs(*strided, strided->full_widths()));
}

// Records the output shape of every convolution.
class ConvShapes : public OpTracer {
 public:
  void record(TracedOp op) override {
    if (op.name == "conv2d") shapes.push_back(op.output.shape());
  }
  std::vector<Shape> shapes;
};

TEST(ArchitectureCount, OneShotImageNetStemReachesStride4BeforeCell0) {
  // The imagenet preset at F = 4 (the layout of the paper's F = 64, cheap enough for a test).
  const auto space = make_space_from_json(R"({"space":"oneshot","preset":"imagenet","width":4})");
  EXPECT_EQ(space->full_widths().at("stem0"), 2);
  const nn::ModulePtr net = space->build(space->full_widths());
  net->eval();
  NoGradGuard no_grad;
  ConvShapes convs;
  {
    TraceOps tracing(&convs);
    (void)(*net)(input_for(*space, 1));
  }
  ASSERT_GE(convs.shapes.size(), 3u);
  EXPECT_EQ(convs.shapes[0], (Shape{1, 2, 112, 112}));  // stem0: 3x3 stride 2
  EXPECT_EQ(convs.shapes[1], (Shape{1, 4, 56, 56}));    // stem: 3x3 stride 2 -> stride 4
  EXPECT_EQ(convs.shapes[2][2], 56);                    // cell 0 works at 56x56
  // The last cell (7) at stride 32: 7x7.
  EXPECT_EQ(convs.shapes.back()[2], 7);
  // The full-size preset's counts (docs/spaces.md) are those of this layout at F = 64.
  EXPECT_ERROR_MENTIONS(make_space_from_json(R"({"space":"oneshot","preset":"imagenet","stem_stride":3})"),
                        "stem_stride must be 1, 2 or 4");
}

}  // namespace
}  // namespace figs::nas

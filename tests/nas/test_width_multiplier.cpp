// The width-multiplier baseline (nas/baselines/width_multiplier.h): exact params and MACs of ResNet-20 and
// the One-Shot tiny28 network at chosen multipliers against closed forms written here, w = 1 is
// the supernet, the rounding rule, group-conv quanta, and bad multipliers.
#include "nas/architecture.h"
#include "nas/baselines/width_multiplier.h"
#include "space_test_util.h"

namespace figs::nas {
namespace {

// ResNet-20 on 1x28x28 (resnet small28: 3 stages x 3 basic blocks, stem = stage 1 width, option-B
// projections in layer2.0 and layer3.0, 10 classes) at stage widths a, b, c. Parameters: every 3x3
// or 1x1 conv's weights (no biases), 2 per BN channel, the classifier with its bias.
int64_t resnet20_params(int64_t a, int64_t b, int64_t c) {
  const int64_t stem = 9 * 1 * a + 2 * a;
  const int64_t stage1 = 3 * (9 * a * a + 2 * a + 9 * a * a + 2 * a);
  auto stage = [](int64_t in, int64_t w) {  // first block projects in -> w, two more blocks w -> w
    const int64_t first = (9 * in * w + 2 * w) + (9 * w * w + 2 * w) + (in * w + 2 * w);
    return first + 2 * (9 * w * w + 2 * w + 9 * w * w + 2 * w);
  };
  return stem + stage1 + stage(a, b) + stage(b, c) + 10 * c + 10;
}

// Its multiply-adds per image: k*k*C_in*C_out per output pixel (28x28, 14x14, 7x7) + the fc.
int64_t resnet20_macs(int64_t a, int64_t b, int64_t c) {
  const int64_t stem = 9 * a * 28 * 28, stage1 = 6 * 9 * a * a * 28 * 28;
  const int64_t stage2 = (9 * a * b + 9 * b * b + a * b + 4 * 9 * b * b) * 14 * 14;
  const int64_t stage3 = (9 * b * c + 9 * c * c + b * c + 4 * 9 * c * c) * 7 * 7;
  return stem + stage1 + stage2 + stage3 + 10 * c;
}

TEST(WidthMultiplier, ResNet20CountsMatchTheClosedForm) {
  const auto space = make_space("resnet", "small28");
  // The closed form reproduces the documented full counts (docs/spaces.md).
  EXPECT_EQ(resnet20_params(16, 32, 64), 272186);
  EXPECT_EQ(resnet20_macs(16, 32, 64), 31021952);
  struct Case {
    double w;
    int64_t a, b, c;  // round(w * 16), round(w * 32), round(w * 64), worked out by hand
  };
  for (const Case k : {Case{1.0, 16, 32, 64}, Case{0.5, 8, 16, 32}, Case{0.25, 4, 8, 16}, Case{0.3, 5, 10, 19},
                       Case{0.7, 11, 22, 45}}) {
    SCOPED_TRACE(k.w);
    const WidthMap m = width_multiplier_map(*space, k.w);
    for (const auto& [key, width] : m) {
      const int64_t expect = key == "stem" || key.rfind("layer1.", 0) == 0 ? k.a
                             : key.rfind("layer2.", 0) == 0                 ? k.b
                                                                            : k.c;
      EXPECT_EQ(width, expect) << key;
    }
    const Architecture arch = describe_architecture(*space, m);
    EXPECT_EQ(arch.params, resnet20_params(k.a, k.b, k.c));
    EXPECT_EQ(arch.macs, resnet20_macs(k.a, k.b, k.c));
  }
}

// One-Shot tiny28 (stem F, 2 cells of 2 blocks, the second cell reduces and doubles the width;
// menu identity, max3, sep3, sep5, conv17_71; concat aggregator) with every width scaled alike:
// stem s, cell widths c0 and c1. Every ConvUnit has a BN (2 per channel) and no bias.
int64_t tiny28_params(int64_t s, int64_t c0, int64_t c1) {
  const int64_t stem = 9 * 1 * s + 2 * s;
  auto unit = [](int64_t weights, int64_t out) { return weights + 2 * out; };
  auto block = [&](int64_t c) {
    auto sep = [&](int64_t k) { return 2 * (unit(k * k * c, c) + unit(c * c, c)); };  // (dw, pw) twice
    const int64_t conv17_71 = unit(7 * c * c, c) + unit(7 * c * c, c);
    const int64_t proj = unit(5 * c * c, c);  // concat of 5 operator outputs of c channels
    return sep(3) + sep(5) + conv17_71 + proj;
  };
  auto cell = [&](int64_t prev, int64_t prevprev, int64_t c) {
    return unit(prev * c, c) + unit(prevprev * c, c) + 2 * block(c) + unit(2 * c * c, c);
  };
  return stem + cell(s, s, c0) + cell(c0, s, c1) + 10 * c1 + 10;
}

TEST(WidthMultiplier, OneShotTinyCountsMatchTheClosedForm) {
  const auto space = make_space("oneshot", "tiny28");
  EXPECT_EQ(tiny28_params(8, 8, 16), space->build(space->full_widths())->num_parameters());
  struct Case {
    double w;
    int64_t s, c0, c1;
  };
  for (const Case k : {Case{1.0, 8, 8, 16}, Case{0.5, 4, 4, 8}, Case{0.75, 6, 6, 12}, Case{0.3, 2, 2, 5}}) {
    SCOPED_TRACE(k.w);
    const nn::ModulePtr net = space->build(width_multiplier_map(*space, k.w));
    EXPECT_EQ(net->num_parameters(), tiny28_params(k.s, k.c0, k.c1));
  }
}

TEST(WidthMultiplier, OneIsTheSupernetOnEverySpace) {
  for (const auto& [name, preset] : std::vector<std::pair<std::string, std::string>>{
           {"oneshot", "tiny28"}, {"resnet", "small28"}, {"fbnet", "small28"}, {"fbnet", "fbnet_a"}}) {
    SCOPED_TRACE(name + "/" + preset);
    const auto space = make_space(name, preset);
    EXPECT_EQ(width_multiplier_map(*space, 1.0), space->full_widths());
  }
}

TEST(WidthMultiplier, RoundingAndAtLeastOneChannel) {
  EXPECT_EQ(scaled_width(16, 0.3), 5);       // 4.8
  EXPECT_EQ(scaled_width(10, 0.25), 3);      // 2.5: halves round away from zero
  EXPECT_EQ(scaled_width(64, 0.01), 1);      // 0.64
  EXPECT_EQ(scaled_width(16, 0.01), 1);      // 0.16: at least one channel
  EXPECT_EQ(scaled_width(24, 0.3, 2), 8);    // 7.2 -> the nearest even width
  EXPECT_EQ(scaled_width(24, 0.01, 2), 2);   // at least the quantum
  const auto space = make_space("resnet", "small28");
  for (const auto& [key, w] : width_multiplier_map(*space, 0.01)) EXPECT_GE(w, 1) << key;
  EXPECT_NO_THROW(space->build(width_multiplier_map(*space, 0.01)));
}

TEST(WidthMultiplier, GroupConvBlocksGetEvenWidths) {
  // FBNet's nine-candidate menu on small images: the g2 blocks need their input stream, pw and
  // output stream even. At w = 0.3 stage 2 (24 channels) is 7.2: 7 without g2 blocks, 8 with.
  const auto plain = make_space("fbnet", "small28");
  EXPECT_EQ(width_multiplier_map(*plain, 0.3).at("stage2.0.k3_e6.pwl"), 7);
  const auto nine = make_space_from_json(
      R"({"space":"fbnet","preset":"small28","candidates":["k3_e1","k3_e1_g2","k3_e3","k3_e6","k5_e1","k5_e1_g2","k5_e3","k5_e6","skip"]})");
  for (double w : {0.25, 0.3, 0.45, 0.6, 0.9}) {
    SCOPED_TRACE(w);
    const WidthMap m = width_multiplier_map(*nine, w);
    EXPECT_EQ(m.at("stage2.0.k3_e6.pwl") % 2, 0);
    EXPECT_EQ(m.at("stage2.0.k3_e1_g2.pw") % 2, 0);
    EXPECT_NO_THROW(nine->build(m));
  }
  EXPECT_EQ(width_multiplier_map(*nine, 0.3).at("stage2.0.k3_e6.pwl"), 8);
  EXPECT_EQ(nine->width_quantum("head"), 1);
  EXPECT_EQ(nine->width_quantum("stage2.0.k5_e1_g2.pw"), 2);
}

TEST(WidthMultiplier, MultipliersOutsideTheRangeAreRefused) {
  const auto space = make_space("oneshot", "tiny28");
  for (double w : {0.0, -0.5, 1.01, 2.0, std::nan("")})
    EXPECT_ERROR_MENTIONS(width_multiplier_map(*space, w), "is outside (0, 1]");
}

}  // namespace
}  // namespace figs::nas

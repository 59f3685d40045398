// The ONNX exporter's structure (deploy/onnx_export.h): every space's ImageNet presets export at
// full width and pass the ONNX checker with strict shape inference; ops without a mapping and ops
// the tracer does not see are errors naming them. Numerical agreement is checked only against
// independent runtimes (tests/onnx/check_runtime.py), never against figs itself.
#include <gtest/gtest.h>

#include <sstream>

#include "autograd/ops.h"
#include "autograd/trace.h"
#include "deploy/onnx_export.h"
#include "nas/architecture.h"
#include "nas/mask.h"
#include "nas/space.h"
#include "nn/model.h"
#include "test_util.h"

namespace figs {
namespace {

// (space, preset) of every preset whose input is an ImageNet image (3 x 224 x 224), read from
// the registry so that a new ImageNet preset is covered without editing this list.
std::vector<std::pair<std::string, std::string>> imagenet_presets() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& line : nas::describe_presets()) {  // "name (p1, p2, ...): description"
    const std::string name = line.substr(0, line.find(' '));
    std::stringstream presets(line.substr(line.find('(') + 1, line.find(')') - line.find('(') - 1));
    for (std::string p; std::getline(presets, p, ',');) {
      p.erase(0, p.find_first_not_of(' '));
      if (nas::make_space(name, p)->input_shape() == Shape{3, 224, 224}) out.emplace_back(name, p);
    }
  }
  return out;
}

class ImageNetPreset : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(ImageNetPreset, ExportsAndPassesTheChecker) {
  const auto& [name, preset] = GetParam();
  const auto space = nas::make_space(name, preset);
  nn::Model model(space->build(space->full_widths()));
  deploy::OnnxExportOptions options;
  options.metadata = {{"figs.space", space->config_json()}};
  deploy::OnnxExportSummary summary;
  const std::string onnx = deploy::export_onnx(model.root(), space->input_shape(), options, &summary);
  EXPECT_NO_THROW(deploy::check_onnx(onnx, name + "/" + preset));
  // Every parameter is in an initializer (plus the BatchNorm statistics, 2 per channel).
  EXPECT_GE(summary.initializer_values, model.num_parameters());
  EXPECT_GT(summary.op_types["Conv"], 0);
  EXPECT_EQ(summary.op_types["Gemm"], 1);
  EXPECT_EQ(summary.op_types["GlobalAveragePool"], 1);
  std::printf("%s/%s: %lld nodes, %lld params, %lld initializer floats\n", name.c_str(), preset.c_str(),
              static_cast<long long>(summary.nodes), static_cast<long long>(model.num_parameters()),
              static_cast<long long>(summary.initializer_values));
}

INSTANTIATE_TEST_SUITE_P(AllSpaces, ImageNetPreset, ::testing::ValuesIn(imagenet_presets()),
                         [](const auto& info) { return info.param.first + "_" + info.param.second; });

TEST(OnnxExport, EveryImageNetPresetIsCovered) {
  // The docs/spaces.md tables: One-Shot imagenet, ResNet-18/34/50/101/152, FBNet imagenet,
  // imagenet_full, A, B, C.
  EXPECT_EQ(imagenet_presets().size(), 11u);
}

TEST(OnnxExport, FoldedBatchNormsLeaveNoBatchNormalization) {
  const auto space = nas::make_space("fbnet", "imagenet_full");  // with g2 blocks: grouped 1x1 convs, shuffles
  nn::Model model(space->build(space->full_widths()));
  deploy::OnnxExportOptions options;
  options.fold_batch_norm = true;
  options.batch = 0;
  deploy::OnnxExportSummary summary;
  const std::string onnx = deploy::export_onnx(model.root(), space->input_shape(), options, &summary);
  EXPECT_NO_THROW(deploy::check_onnx(onnx, "fbnet/imagenet_full"));
  EXPECT_EQ(summary.op_types.count("BatchNormalization"), 0u);
  EXPECT_EQ(summary.folded_batch_norms, summary.op_types["Conv"]);
  EXPECT_GT(summary.op_types["Transpose"], 0);  // the channel shuffles
}

// A module whose forward runs `fn` on its input.
class Lambda : public nn::Module {
 public:
  explicit Lambda(std::function<Tensor(const Tensor&)> fn) : nn::Module("Lambda"), fn_(std::move(fn)) {}
  Tensor forward(const Tensor& x) override { return fn_(x); }

 private:
  std::function<Tensor(const Tensor&)> fn_;
};

nn::ModulePtr wrapped(std::function<Tensor(const Tensor&)> fn) {
  auto root = std::make_shared<nn::Sequential>();
  root->add("head", std::make_shared<Lambda>(std::move(fn)));
  return root;
}

TEST(OnnxExport, AnOpWithoutAMappingIsAnErrorNamingIt) {
  nn::Model model(wrapped([](const Tensor& x) { return expand(global_avg_pool2d(x), Shape{x.size(0), 3, 2, 2}); }));
  EXPECT_ERROR_MENTIONS(deploy::export_onnx(model.root(), Shape{3, 4, 4}), "op 'expand' in module 'head'");
}

TEST(OnnxExport, AnUntracedOpIsAnErrorNamingIt) {
  // mask_values (nas/mask.h) records an autograd node but is no traced op: computed from the
  // input, its result would otherwise be frozen into the model as a constant.
  nn::Model model(wrapped([](const Tensor& x) {
    const Tensor logits = flatten(global_avg_pool2d(x));
    return channel_scale(x, nas::mask_values(reshape(logits, {-1}), zeros({3}), 1.0, nas::MaskMode::Relaxed));
  }));
  EXPECT_ERROR_MENTIONS(deploy::export_onnx(model.root(), Shape{3, 4, 4}), "op 'mask_values' in module 'head'");
}

TEST(OnnxTrace, CompositeOpsAreRecordedWhole) {
  struct Collect : OpTracer {
    std::vector<std::string> names;
    void record(TracedOp op) override { names.push_back(op.name); }
  } collect;
  const Tensor x = ones({2, 3});
  const Tensor w = ones({4, 3});
  {
    TraceOps tracing(&collect);
    (void)relu(linear(x, w, zeros({4})));
    (void)mean(x, {1});
  }
  (void)relu(x);  // after the scope: not recorded
  EXPECT_EQ(collect.names, (std::vector<std::string>{"linear", "relu", "mean"}));
}

}  // namespace
}  // namespace figs

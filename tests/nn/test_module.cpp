// Module naming and traversal, parameter counting, summaries, and the Model's arenas.
#include <cstring>

#include "nn_test_util.h"

namespace figs::nn {
namespace {

using test::small_cnn;

TEST(NnModule, ConvParameterCount) {
  Conv2d conv(3, 16, 3, {.bias = false});
  EXPECT_EQ(conv.num_parameters(), 16 * 3 * 3 * 3);  // 432
  Conv2d with_bias(3, 16, 3);
  EXPECT_EQ(with_bias.num_parameters(), 432 + 16);
  DepthwiseConv2d dw(32, 5);
  EXPECT_EQ(dw.num_parameters(), 32 * 25);
  EXPECT_EQ(dw.weight().shape(), Shape({32, 1, 5, 5}));
  Conv2d grouped(8, 16, 3, {.groups = 4});
  EXPECT_EQ(grouped.weight().shape(), Shape({16, 2, 3, 3}));
  EXPECT_EQ(Linear(64, 10).num_parameters(), 650);
  EXPECT_EQ(BatchNorm2d(16).num_parameters(), 32);
  EXPECT_EQ(BatchNorm2d(16, {.affine = false}).num_parameters(), 0);
}

TEST(NnModule, HierarchicalNames) {
  // cell2.block1.sep5.pw.weight, as a search space will name it.
  auto root = std::make_shared<Sequential>();
  auto cell = root->add("cell2", std::make_shared<Sequential>());
  auto block = cell->add("block1", std::make_shared<Sequential>());
  block->add("sep5", std::make_shared<SeparableConv2d>(4, 8, 5, SeparableConv2dOptions{.padding = 2}));
  block->add("bn", std::make_shared<BatchNorm2d>(8));

  std::vector<std::string> names;
  for (const NamedTensor& p : root->named_parameters()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"cell2.block1.sep5.dw.weight", "cell2.block1.sep5.pw.weight",
                                             "cell2.block1.bn.weight", "cell2.block1.bn.bias"}));
  std::vector<std::string> buffers;
  for (const NamedTensor& b : root->named_buffers()) buffers.push_back(b.name);
  EXPECT_EQ(buffers, (std::vector<std::string>{"cell2.block1.bn.running_mean", "cell2.block1.bn.running_var"}));

  std::vector<std::string> modules;
  for (const NamedModule& m : root->named_modules()) modules.push_back(m.name + ":" + m.module->type_name());
  EXPECT_EQ(modules, (std::vector<std::string>{":Sequential", "cell2:Sequential", "cell2.block1:Sequential",
                                               "cell2.block1.sep5:SeparableConv2d",
                                               "cell2.block1.sep5.dw:DepthwiseConv2d", "cell2.block1.sep5.pw:Conv2d",
                                               "cell2.block1.bn:BatchNorm2d"}));

  EXPECT_EQ(&root->module("cell2.block1.sep5.pw"), block->named_children()[0].second->named_children()[1].second.get());
  EXPECT_TRUE(root->parameter("cell2.block1.sep5.pw.weight").same_as(
      static_cast<SeparableConv2d&>(root->module("cell2.block1.sep5")).pw().weight()));
  EXPECT_ERROR_MENTIONS(root->module("cell2.block9.x"), "'cell2' (Sequential) has no child 'block9'");
  EXPECT_ERROR_MENTIONS(root->parameter("cell2.nope"), "no parameter named 'cell2.nope'");
  EXPECT_EQ(root->num_parameters(), 4 * 25 + 4 * 8 + 16);
}

TEST(NnModule, RegistrationErrors) {
  Sequential s;
  s.add("a", std::make_shared<ReLU>());
  EXPECT_ERROR_MENTIONS(s.add("a", std::make_shared<ReLU>()), "name 'a' is already used in Sequential");
  EXPECT_ERROR_MENTIONS(s.add("b.c", std::make_shared<ReLU>()), "invalid name 'b.c'");
  EXPECT_ERROR_MENTIONS(s.register_parameter("", zeros({2})), "invalid name ''");
  EXPECT_ERROR_MENTIONS(s.register_parameter("labels", zeros({2}, {DType::Int64})), "must be floating");
  EXPECT_ERROR_MENTIONS(Conv2d(3, 5, 3, {.groups = 2}), "groups (2) must divide in (3) and out (5) channels");
  EXPECT_ERROR_MENTIONS(Linear(0, 3), "Linear: features must be > 0");
  EXPECT_ERROR_MENTIONS(MaxPool2d(0), "MaxPool2d: needs kernel >= 1");
}

TEST(NnModule, TrainEvalRecurses) {
  auto net = small_cnn();
  EXPECT_TRUE(net->module("block.bn").is_training());
  net->eval();
  for (const NamedModule& m : net->named_modules()) EXPECT_FALSE(m.module->is_training()) << m.name;
  net->module("block").train();
  EXPECT_TRUE(net->module("block.sep.dw").is_training());
  EXPECT_FALSE(net->module("stem.bn").is_training());
}

TEST(NnModule, ToStringShowsTreeAndConfig) {
  const std::string s = small_cnn()->to_string();
  EXPECT_NE(s.find("  stem: Sequential()\n    conv: Conv2d(1, 8, kernel=3, padding=1, bias=false)  [72 params]"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("sep: SeparableConv2d(8, 16, kernel=3)"), std::string::npos) << s;
  EXPECT_NE(s.find("fc: Linear(16, 3)  [51 params]"), std::string::npos) << s;
}

TEST(NnSummary, ShapesParamsAndMacsByHand) {
  auto net = std::make_shared<Sequential>();
  net->add("conv", std::make_shared<Conv2d>(3, 16, 3, Conv2dOptions{.padding = 1, .bias = false}));
  net->add("bn", std::make_shared<BatchNorm2d>(16));
  net->add("relu", std::make_shared<ReLU>());
  net->add("dw", std::make_shared<DepthwiseConv2d>(16, 3, DepthwiseConv2dOptions{.stride = 2, .padding = 1}));
  net->add("gap", std::make_shared<GlobalAvgPool>());
  net->add("flat", std::make_shared<Flatten>());
  net->add("fc", std::make_shared<Linear>(16, 10));

  const ModelSummary s = summarize(*net, {1, 3, 8, 8});
  ASSERT_EQ(s.layers.size(), 7u);
  // conv: 16 x 8 x 8 outputs, each 3 * 3 * 3 = 27 MACs -> 27648; 432 params.
  EXPECT_EQ(s.layers[0].name, "conv");
  EXPECT_EQ(s.layers[0].output_shape, Shape({1, 16, 8, 8}));
  EXPECT_EQ(s.layers[0].params, 432);
  EXPECT_EQ(s.layers[0].macs, 27648);
  EXPECT_EQ(s.layers[1].params, 32);  // BN gamma + beta
  EXPECT_EQ(s.layers[1].macs, 0);
  // depthwise, stride 2: 16 x 4 x 4 outputs, each 1 * 3 * 3 = 9 MACs -> 2304; 144 params.
  EXPECT_EQ(s.layers[3].output_shape, Shape({1, 16, 4, 4}));
  EXPECT_EQ(s.layers[3].macs, 2304);
  EXPECT_EQ(s.layers[3].params, 144);
  // fc: 10 outputs x 16 inputs = 160 MACs; 170 params.
  EXPECT_EQ(s.layers[6].macs, 160);
  EXPECT_EQ(s.layers[6].params, 170);
  EXPECT_EQ(s.total_macs, 27648 + 2304 + 160);
  EXPECT_EQ(s.total_params, 432 + 32 + 144 + 170);
  EXPECT_EQ(s.output_shape, Shape({1, 10}));

  const std::string table = s.str();
  EXPECT_NE(table.find("27,648"), std::string::npos) << table;
  EXPECT_NE(table.find("30,112"), std::string::npos) << table;  // total MACs
  EXPECT_NE(table.find("dw     DepthwiseConv2d  [1,16,4,4]"), std::string::npos) << table;

  // The summary runs in eval mode and leaves modes and BN statistics as they were.
  EXPECT_TRUE(net->module("bn").is_training());
  EXPECT_EQ(net->buffer("bn.running_mean").to_vector<float>(), std::vector<float>(16, 0.0f));
}

TEST(NnModel, PacksParametersIntoOneArena) {
  auto net = small_cnn();
  const Tensor fc_weight = static_cast<Linear&>(net->module("fc")).weight();  // a handle taken before packing
  Model model(net, {.seed = 3});

  const Tensor& arena = model.params();
  EXPECT_EQ(arena.dim(), 1);
  EXPECT_EQ(model.num_parameters(), net->num_parameters());
  EXPECT_GE(arena.numel(), model.num_parameters());
  EXPECT_EQ(model.grads().shape(), arena.shape());
  ASSERT_EQ(model.param_slots().size(), net->named_parameters().size());
  int64_t end = 0;
  for (const ArenaSlot& s : model.param_slots()) {
    EXPECT_EQ(s.offset % Model::kAlignment, 0) << s.name;
    EXPECT_GE(s.offset, end) << s.name;
    end = s.offset + s.numel;
    EXPECT_EQ(s.tensor.storage(), arena.storage()) << s.name;
    EXPECT_EQ(s.tensor.data<float>(), arena.data<float>() + s.offset) << s.name;
    EXPECT_TRUE(s.tensor.is_contiguous()) << s.name;
    EXPECT_TRUE(s.tensor.grad().same_as(s.grad)) << s.name;
    EXPECT_EQ(s.grad.data<float>(), model.grads().data<float>() + s.offset) << s.name;
  }
  // The handle a layer holds now reads the arena.
  EXPECT_EQ(fc_weight.data<float>(), model.param_slot("fc.weight").tensor.data<float>());
  for (const ArenaSlot& s : model.buffer_slots()) EXPECT_EQ(s.tensor.storage(), model.buffers().storage()) << s.name;
  EXPECT_EQ(model.buffer_slots().size(), 4u);
}

TEST(NnModel, KeepsValuesWithoutInitialisation) {
  auto h = test::holder_model({{"w", {1, 2, 3}}, {"mask.logits", {4, 5}}});
  EXPECT_EQ(test::values(*h, "w"), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(test::values(*h, "mask.logits"), (std::vector<float>{4, 5}));
  EXPECT_EQ(h->param_slot("mask.logits").offset, Model::kAlignment);
  EXPECT_EQ(h->params().numel(), 2 * Model::kAlignment);
}

TEST(NnModel, InitialisationIsDeterministicPerSeed) {
  Model a(small_cnn(), {.seed = 11}), b(small_cnn(), {.seed = 11}), c(small_cnn(), {.seed = 12});
  EXPECT_EQ(test::bits(a.params()), test::bits(b.params()));
  EXPECT_NE(test::bits(a.params()), test::bits(c.params()));
  // BN starts at gamma 1, beta 0; conv weights are Kaiming normal (non-zero).
  EXPECT_EQ(test::values(a, "stem.bn.weight"), std::vector<float>(8, 1.0f));
  EXPECT_EQ(test::values(a, "stem.bn.bias"), std::vector<float>(8, 0.0f));
  EXPECT_NE(test::values(a, "stem.conv.weight")[0], 0.0f);
}

TEST(NnModel, BackwardAccumulatesIntoTheGradientArenaAndZeroGradIsOneFill) {
  Model model(small_cnn(), {.seed = 1});
  Tensor images, labels;
  test::make_bars(6, images, labels);
  backward(cross_entropy(model(images), labels));
  const ArenaSlot& fc = model.param_slot("fc.weight");
  EXPECT_TRUE(fc.tensor.grad().same_as(fc.grad));
  double sum = 0;
  for (float g : model.grads().to_vector<float>()) sum += std::abs(g);
  EXPECT_GT(sum, 0.0);

  // A second backward adds into the same arena.
  const std::vector<float> once = model.grads().to_vector<float>();
  backward(cross_entropy(model(images), labels));
  const std::vector<float> twice = model.grads().to_vector<float>();
  EXPECT_NEAR(twice[fc.offset], 2 * once[fc.offset], 1e-5);

  // Padding included: the whole arena is zero after one fill.
  std::fill(model.grads().data<float>(), model.grads().data<float>() + model.grads().numel(), 1.0f);
  model.zero_grad();
  for (float g : model.grads().to_vector<float>()) ASSERT_EQ(g, 0.0f);
}

TEST(NnModel, DetachedGradientsAreCaughtAndReattached) {
  Model model(small_cnn(), {.seed = 1});
  Sgd sgd(model, {.lr = 0.1});
  Tensor w = model.param_slot("fc.bias").tensor;
  w.zero_grad();  // the gradient is no longer the arena view
  Tensor images, labels;
  test::make_bars(6, images, labels);
  backward(cross_entropy(model(images), labels));
  EXPECT_ERROR_MENTIONS(sgd.step(), "sgd: the gradient of 'fc.bias' is no longer its view of the gradient arena");
  model.zero_grad();
  EXPECT_TRUE(w.grad().same_as(model.param_slot("fc.bias").grad));
  EXPECT_NO_THROW(sgd.step());
}

TEST(NnModel, ParameterlessModelsWorkEverywhere) {
  test::TempDir dir;
  Model model(std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<ReLU>(),
                                                                            std::make_shared<GlobalAvgPool>()}));
  EXPECT_EQ(model.params().numel(), 0);
  EXPECT_EQ(model.buffers().numel(), 0);
  Sgd sgd(model, {.lr = 0.1, .momentum = 0.9});
  Ema ema(model);
  model.zero_grad();
  sgd.step();
  ema.update();
  TrainingState s{.model = &model, .optimizer = &sgd, .ema = &ema};
  save_checkpoint(dir.file("empty"), s);
  load_checkpoint(dir.file("empty"), s);
  EXPECT_EQ(s.step, 0);
  EXPECT_EQ(summarize(model.root(), {2, 3, 4, 4}).output_shape, Shape({2, 3, 1, 1}));
}

TEST(NnModel, TheTreeIsFrozenOncePacked) {
  auto net = small_cnn();
  Model model(net);
  EXPECT_ERROR_MENTIONS(net->add("extra", std::make_shared<ReLU>()), "already packed into a Model");
  EXPECT_ERROR_MENTIONS(net->module("fc").register_parameter("x", zeros({1})), "already packed into a Model");
  EXPECT_ERROR_MENTIONS(Model{net}, "already packed into another Model");
  Sequential other;
  EXPECT_ERROR_MENTIONS(other.add("fc", net->named_children().back().second), "is already packed into a Model");
}

}  // namespace
}  // namespace figs::nn

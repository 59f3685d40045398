// Architecture search on the GPU: the FiGS mask, its cost penalty and the MorphNet penalty with
// the model on a CUDA device, against the same run on the CPU from the same seed (what
// `figs --device cuda` runs). The mask values are computed on the logits' device by one kernel
// with the CPU's float64 code (core/mask_math.h), so they agree to the float bit except where
// CUDA's exp/log (within an ulp of glibc's in float64) tip a float rounding: at most 1 ulp. The
// FiGS expected cost runs on the logits' device in float64 (nas/expected_cost.cpp), MorphNet's on
// the host, so at equal inputs they agree to float32 rounding; over
// a search the convolutions' float32 rounding makes the runs drift apart slowly, hence the
// tolerances. Every case skips without a GPU.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda/allocator.h"
#include "cuda/cuda.h"
#include "cuda/graph.h"
#include "cuda_test_util.h"
#include "nas/channel_graph.h"
#include "nas/mask_layer.h"
#include "nas/baselines/morphnet.h"
#include "nas/objective.h"
#include "nas/recalibrate.h"
#include "nas/search.h"

namespace figs::nas {
namespace {

using namespace figs::nn;

const Device kGpu = Device::cuda();

std::vector<uint32_t> bits(const Tensor& t) {
  const std::vector<float> v = t.to_vector<float>();
  std::vector<uint32_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(float));
  return out;
}

ChannelGraph::NamedParameters named(const Model& model) {
  ChannelGraph::NamedParameters out;
  for (const ArenaSlot& s : model.param_slots()) out.push_back({s.name, s.tensor});
  return out;
}

bool is_logits(const std::string& n) { return n.size() > 7 && n.compare(n.size() - 7, 7, ".logits") == 0; }

// conv -> BN -> [mask] -> ReLU, twice, then global pool and a linear head (3 classes).
ModulePtr small_net(int width, bool masks) {
  auto net = std::make_shared<Sequential>();
  for (int i = 1; i <= 2; ++i) {
    const std::string n = std::to_string(i);
    net->add("conv" + n,
             std::make_shared<Conv2d>(i == 1 ? 1 : width, width, 3, Conv2dOptions{.padding = 1, .bias = false}));
    net->add("bn" + n, std::make_shared<BatchNorm2d>(width));
    if (masks) net->add("mask" + n, std::make_shared<MaskLayer>(width, MaskOptions{.tau = 1.0}));
    net->add("relu" + n, std::make_shared<ReLU>());
  }
  net->add("pool", std::make_shared<GlobalAvgPool>());
  net->add("flatten", std::make_shared<Flatten>());
  net->add("fc", std::make_shared<Linear>(width, 3));
  return net;
}

// How many floats apart two float bit patterns of one sign are.
uint32_t ulp_distance(uint32_t a, uint32_t b) { return a > b ? a - b : b - a; }

// Images as `figs` feeds them: moved to the device, then channels-last there.
Tensor on(const Tensor& images, Device device) {
  return raw::contiguous(raw::to(images, device), MemoryFormat::ChannelsLast);
}

TEST(CudaSearch, MaskValuesAndTheCostPenaltyOnTheGpuMatchTheCpu) {
  FIGS_REQUIRE_GPU();
  // One mask layer's values and their gradient, straight from logits on each device.
  const Tensor noise = logistic_noise(7, {5, 1, 3});
  for (MaskMode mode : {MaskMode::Relaxed, MaskMode::StraightThrough, MaskMode::EvalHard, MaskMode::EvalScaled}) {
    SCOPED_TRACE(mask_mode_name(mode));
    const std::vector<float> nu{2.5f, -1.f, 0.f, 0.3f, -4.f, 1e-3f, 7.f};
    const std::vector<float> w{1.f, -2.f, 0.5f, 3.f, -1.f, 2.f, 0.25f};
    std::vector<std::vector<uint32_t>> m(2), grad(2);
    for (int d = 0; d < 2; ++d) {
      const Device device = d == 0 ? Device::cpu() : kGpu;
      Tensor logits = from_vector(nu, {7}, device).set_requires_grad();
      const Tensor out = mask_values(logits, noise, 0.5, mode);
      EXPECT_EQ(out.device(), device);
      m[d] = bits(out);
      if (mode == MaskMode::Relaxed || mode == MaskMode::StraightThrough) {
        backward(sum(mul(out, from_vector(w, {7}, device))));
        ASSERT_TRUE(logits.grad().defined());
        EXPECT_EQ(logits.grad().device(), device);
        grad[d] = bits(logits.grad());
      }
    }
    ASSERT_EQ(m[1].size(), m[0].size());
    ASSERT_EQ(grad[1].size(), grad[0].size());
    for (size_t c = 0; c < m[0].size(); ++c) EXPECT_LE(ulp_distance(m[1][c], m[0][c]), 1u) << "m " << c;
    for (size_t c = 0; c < grad[0].size(); ++c) EXPECT_LE(ulp_distance(grad[1][c], grad[0][c]), 1u) << "grad " << c;
  }

  // A mask layer drawing its noise on the device from the key (no noise tensor): the same masks.
  for (uint64_t step : {0u, 9u, 123456u}) {
    std::vector<std::vector<uint32_t>> drawn(2);
    for (int d = 0; d < 2; ++d) {
      const Device device = d == 0 ? Device::cpu() : kGpu;
      const Tensor logits = from_vector(std::vector<float>{2.5f, -1.f, 0.f, 0.3f, -4.f}, {5}, device);
      const Tensor out = figs::mask_values(logits, mask_params({3, 2, step}, 5, 0.7, MaskMode::Relaxed));
      EXPECT_EQ(out.device(), device);
      drawn[d] = bits(out);
    }
    for (size_t c = 0; c < drawn[0].size(); ++c)
      EXPECT_LE(ulp_distance(drawn[1][c], drawn[0][c]), 1u) << "step " << step << " c " << c;
  }

  // The channel graph of a masked network traced on each device: the same cost, and the penalty's
  // gradient reaches every mask's logits on the model's device with the CPU's values (the
  // expected cost's float64 exp/log on the GPU may tip a float32 rounding: 1 ulp).
  Tensor images, labels;
  test::make_bars(8, images, labels);
  std::vector<double> cost(2);
  std::vector<std::vector<uint32_t>> grads(2);
  for (int d = 0; d < 2; ++d) {
    const Device device = d == 0 ? Device::cpu() : kGpu;
    Model model(small_net(6, true), ModelOptions{.seed = 2, .device = device});
    configure_masks(model.root(), 11);
    const ChannelGraph graph = ChannelGraph::trace(sum(model(on(images, device))), named(model));
    ASSERT_EQ(graph.masks().size(), 2u);
    CostPenalty penalty(graph, {.kind = CostKind::Macs, .lambda = 3.0, .relative_lambda = true});
    model.zero_grad();
    const Tensor pen = penalty();
    EXPECT_EQ(pen.device(), device);
    backward(pen);
    cost[d] = penalty.last_cost();
    for (const auto& [name, mask] : mask_layers(model.root())) {
      EXPECT_EQ(mask->logits().grad().device(), device) << name;
      for (uint32_t b : bits(mask->logits().grad())) grads[d].push_back(b);
    }
  }
  EXPECT_NEAR(cost[1], cost[0], 1e-7 * cost[0]);
  ASSERT_EQ(grads[1].size(), grads[0].size());
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_LE(ulp_distance(grads[1][i], grads[0][i]), 1u) << "grad " << i;
}

// What one search run leaves behind, to compare across devices.
struct Trajectory {
  std::vector<double> loss, penalty, cost;
  std::vector<float> final;      // mask logits (FiGS) or BatchNorm gammas (MorphNet), in order
  std::vector<float> eval_out;   // the network's outputs in eval mode afterwards
  double alive_count = 0;        // MorphNet: the alive network's count
  std::vector<int64_t> host_syncs;  // FiGS: cuda::host_syncs() made by each step
  std::vector<int64_t> allocations;  // FiGS: cudaMalloc calls so far, after each step
  int64_t graph_replays = 0, graph_nodes = 0;  // FiGS with cuda_graph
};

constexpr int kSteps = 10;

// ~10 FiGS search steps (ArchitectureSearch: masks, CostPenalty, Adam; two warmup steps, an
// annealed tau as `figs` uses), then BatchNorm re-estimation under the eval masks and one eval pass.
Trajectory figs_search(Device device, bool cuda_graph = false) {
  Tensor images, labels;
  test::make_bars(24, images, labels);
  Model model(small_net(8, true), ModelOptions{.seed = 3, .device = device});
  configure_masks(model.root(), 7);
  const Tensor x = on(images, device), y = raw::to(labels, device);
  const ChannelGraph graph = ChannelGraph::trace(sum(model(x)), named(model));
  CostPenalty penalty(graph, {.kind = CostKind::Params, .lambda = 8.0, .relative_lambda = true});
  // eps = 1 (the paper's): updates in proportion to the gradients, so float32 differences in
  // near-zero gradients stay small (with eps = 1e-8 their signs alone would decide an update).
  Adam opt(model, {.lr = 0.01, .eps = 1.0},
           {ParamGroupSpec{.name = "logits", .selects = is_logits, .lr = 0.1, .weight_decay = 0.0}});
  ArchitectureSearch search(model, penalty, opt,
                            {.tau = TauSchedule::geometric(1.0, 0.05, kSteps), .warmup_steps = 2,
                             .cuda_graph = cuda_graph});
  // Lambda changes every step, as under the budget controller: a replay must use the new one.
  search.on_step([](const SearchStepStats& s, ArchitectureSearch& self) {
    self.penalty().set_lambda(s.lambda * (s.step % 2 ? 1.25 : 0.9));
  });
  Trajectory t;
  for (int s = 0; s < kSteps; ++s) {
    const int64_t syncs_before = cuda::host_syncs();
    const SearchStepStats st = search.step(x, y);
    t.host_syncs.push_back(cuda::host_syncs() - syncs_before);
    t.allocations.push_back(static_cast<int64_t>(cuda::device_allocator_stats().device_allocations));
    t.loss.push_back(st.task_loss + st.penalty);
    t.penalty.push_back(st.penalty);
    t.cost.push_back(st.cost);
  }
  for (const auto& [name, mask] : mask_layers(model.root())) {
    EXPECT_EQ(mask->last_mask().device(), device) << name;
    EXPECT_EQ(mask->logits().grad().device(), device) << name;
    for (float v : mask->logits().to_vector<float>()) t.final.push_back(v);
  }
  t.graph_replays = search.graph_replays();
  t.graph_nodes = search.graph_nodes();
  recalibrate_batch_norm(model, {raw::contiguous(images, MemoryFormat::ChannelsLast)});  // a CPU batch: moved
  NoGradGuard no_grad;
  t.eval_out = model(x).to_vector<float>();
  return t;
}

// ~10 MorphNet steps: the network without masks under lambda * the gamma-weighted cost, Adam.
Trajectory morphnet_search(Device device) {
  Tensor images, labels;
  test::make_bars(24, images, labels);
  Model model(small_net(8, false), ModelOptions{.seed = 4, .device = device});
  const Tensor x = on(images, device), y = raw::to(labels, device);
  const ChannelGraph graph = ChannelGraph::trace(sum(model(x)), named(model));
  MorphNetPenalty penalty(graph, {.kind = CostKind::Params, .lambda = 2.0, .relative_lambda = true});
  Adam opt(model, {.lr = 0.05, .eps = 1.0});
  Trajectory t;
  for (int s = 0; s < kSteps; ++s) {
    model.train();
    opt.zero_grad();
    const Tensor task = cross_entropy(model(x), y);
    const Tensor pen = penalty();
    EXPECT_EQ(pen.device(), device);
    backward(add(task, pen));
    opt.step();
    t.loss.push_back(task.item<double>() + pen.item<double>());
    t.penalty.push_back(pen.item<double>());
    t.cost.push_back(penalty.last_cost());
  }
  for (const CountedNorm& n : graph.norms()) {
    EXPECT_EQ(n.weight.grad().device(), device) << n.weight_name;
    for (float v : n.weight.to_vector<float>()) t.final.push_back(v);
  }
  t.alive_count = penalty.last_alive_count();
  model.eval();
  NoGradGuard no_grad;
  t.eval_out = model(x).to_vector<float>();
  return t;
}

void expect_tracks(const Trajectory& gpu, const Trajectory& cpu) {
  ASSERT_EQ(gpu.loss.size(), cpu.loss.size());
  for (size_t s = 0; s < cpu.loss.size(); ++s) {
    EXPECT_NEAR(gpu.loss[s], cpu.loss[s], 1e-4 * std::max(1.0, std::abs(cpu.loss[s]))) << "step " << s;
    EXPECT_NEAR(gpu.penalty[s], cpu.penalty[s], 1e-4 * std::max(1.0, std::abs(cpu.penalty[s]))) << "step " << s;
    EXPECT_NEAR(gpu.cost[s], cpu.cost[s], 1e-5 * std::max(1.0, cpu.cost[s])) << "step " << s;
  }
  ASSERT_EQ(gpu.final.size(), cpu.final.size());
  for (size_t i = 0; i < cpu.final.size(); ++i) EXPECT_NEAR(gpu.final[i], cpu.final[i], 1e-4) << "element " << i;
  ASSERT_EQ(gpu.eval_out.size(), cpu.eval_out.size());
  for (size_t i = 0; i < cpu.eval_out.size(); ++i)
    EXPECT_NEAR(gpu.eval_out[i], cpu.eval_out[i], 1e-3) << "output " << i;
}

// A FiGS step on the GPU waits for it once: the readout of its statistics (task loss, penalty,
// cost, logits), one copy. The mask values, the expected cost and the update stay on the device.
// (The first step also uploads the expected cost's constant structure.)
TEST(CudaSearch, AFigsStepSynchronisesOnce) {
  FIGS_REQUIRE_GPU();
  const Trajectory gpu = figs_search(kGpu);
  for (size_t s = 1; s < gpu.host_syncs.size(); ++s) EXPECT_EQ(gpu.host_syncs[s], 1) << "step " << s;
}

TEST(CudaSearch, FigsSearchOnTheGpuTracksTheCpu) {
  FIGS_REQUIRE_GPU();
  const Trajectory cpu = figs_search(Device::cpu());
  const Trajectory gpu = figs_search(kGpu);
  expect_tracks(gpu, cpu);
  // The penalty was on after the warmup and moved the logits away from their initial 2.5.
  EXPECT_EQ(cpu.penalty[0], 0.0);
  EXPECT_GT(cpu.penalty.back(), 0.0);
  EXPECT_NE(cpu.final.front(), 2.5f);
}

// Note [The search step as a CUDA graph] (nas/search.h): after the two warmup steps, one eager step
// and the capture, every step replays the graph, with the step's own tau, noise step, Adam numbers
// and lambda (the hook changes it every step). The run equals the eager one on the same GPU (to
// float32 rounding: cuDNN may pick algorithms that sum in a different order), each replayed step
// synchronises once (its statistics) and allocates no device memory.
TEST(CudaSearch, TheSearchStepAsACudaGraphEqualsTheEagerStep) {
  FIGS_REQUIRE_GPU();
  const Trajectory eager = figs_search(kGpu, false);
  const Trajectory graphed = figs_search(kGpu, true);
  EXPECT_EQ(eager.graph_replays, 0);
  EXPECT_EQ(graphed.graph_replays, kSteps - 3);
  EXPECT_GT(graphed.graph_nodes, 50);
  ASSERT_EQ(graphed.loss.size(), eager.loss.size());
  for (size_t s = 0; s < eager.loss.size(); ++s) {
    EXPECT_NEAR(graphed.loss[s], eager.loss[s], 1e-5 * std::max(1.0, std::abs(eager.loss[s]))) << "step " << s;
    EXPECT_NEAR(graphed.penalty[s], eager.penalty[s], 1e-5 * std::max(1.0, eager.penalty[s])) << "step " << s;
    EXPECT_NEAR(graphed.cost[s], eager.cost[s], 1e-6 * eager.cost[s]) << "step " << s;
  }
  ASSERT_EQ(graphed.final.size(), eager.final.size());
  for (size_t i = 0; i < eager.final.size(); ++i) EXPECT_NEAR(graphed.final[i], eager.final[i], 1e-5) << i;
  ASSERT_EQ(graphed.eval_out.size(), eager.eval_out.size());
  for (size_t i = 0; i < eager.eval_out.size(); ++i) EXPECT_NEAR(graphed.eval_out[i], eager.eval_out[i], 1e-4) << i;
  for (int s = 3; s < kSteps; ++s) {
    EXPECT_EQ(graphed.host_syncs[s], 1) << "step " << s;
    if (s > 3) {
      EXPECT_EQ(graphed.allocations[s], graphed.allocations[s - 1]) << "step " << s;
    }
  }
  EXPECT_GT(eager.penalty.back(), 0.0);
}

// A capture refuses work that cannot be replayed: a copy to the host inside it fails, with an
// error, and leaves the device usable.
TEST(CudaSearch, ACaptureThatReadsTheHostFails) {
  FIGS_REQUIRE_GPU();
  const Tensor a = full({4}, 2.0, {DType::Float32, kGpu});
  EXPECT_THROW(cuda::CapturedGraph::capture(0, [&] { (void)sum(a).item<double>(); }), Error);
  EXPECT_EQ(mul_scalar(a, 3.0).to_vector<float>(), std::vector<float>(4, 6.0f));
  // And one that only launches replays what it captured, each time.
  const Tensor b = zeros({4}, {DType::Float32, kGpu});
  auto graph = cuda::CapturedGraph::capture(0, [&] { raw::copy_(b, add(b, a)); });
  EXPECT_EQ(b.to_vector<float>(), std::vector<float>(4, 0.0f));  // the capture ran nothing
  for (int i = 0; i < 3; ++i) graph->replay();
  EXPECT_EQ(b.to_vector<float>(), std::vector<float>(4, 6.0f));
}

TEST(CudaSearch, MorphNetSearchOnTheGpuTracksTheCpu) {
  FIGS_REQUIRE_GPU();
  const Trajectory cpu = morphnet_search(Device::cpu());
  const Trajectory gpu = morphnet_search(kGpu);
  expect_tracks(gpu, cpu);
  EXPECT_EQ(gpu.alive_count, cpu.alive_count);
  EXPECT_GT(cpu.penalty.front(), 0.0);
}

}  // namespace
}  // namespace figs::nas

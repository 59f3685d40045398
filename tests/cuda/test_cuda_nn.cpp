// nn on the GPU (Note [Parameter arenas], nn/model.h): a model moved to CUDA computes what it
// computes on the CPU, its gradients land in the device gradient arena, the fused optimizer
// kernels (cuda/optim.cu) step exactly like the CPU's, the EMA follows, and checkpoints cross
// devices in both directions. Every GPU case skips without a GPU; the last case checks the
// error a CUDA model gives where there is none.
#include "cuda_test_util.h"
#include "nn/nn_test_util.h"

namespace figs::nn {
namespace {

using test::bits;
using test::small_cnn;

const Device kGpu = Device::cuda();

TEST(CudaNn, ModelToCudaRepointsEveryHandle) {
  FIGS_REQUIRE_GPU();
  Model model(small_cnn(), ModelOptions{.seed = 4});
  const std::vector<uint32_t> params = bits(model.params()), buffers = bits(model.buffers());
  const Tensor weight = model.root().parameter("block.sep.pw.weight");  // a handle held outside the model
  const Tensor mean = model.root().buffer("stem.bn.running_mean");
  model.to(kGpu);
  EXPECT_EQ(model.device(), kGpu);
  for (const Tensor* arena : {&model.params(), &model.grads(), &model.buffers()}) EXPECT_EQ(arena->device(), kGpu);
  EXPECT_EQ(weight.device(), kGpu);
  EXPECT_EQ(mean.device(), kGpu);
  const ArenaSlot& slot = model.param_slot("block.sep.pw.weight");
  EXPECT_EQ(weight.raw_data(), static_cast<float*>(model.params().raw_data()) + slot.offset);
  for (const ArenaSlot& s : model.param_slots()) {
    EXPECT_EQ(s.grad.device(), kGpu) << s.name;
    EXPECT_TRUE(s.tensor.grad().same_as(s.grad)) << s.name;
  }
  EXPECT_EQ(bits(model.params()), params);
  EXPECT_EQ(bits(model.buffers()), buffers);
  model.to(kGpu);  // already there: nothing happens
  EXPECT_EQ(weight.device(), kGpu);
  model.to(Device::cpu());
  EXPECT_EQ(weight.device(), Device::cpu());
  EXPECT_EQ(bits(model.params()), params);
}

TEST(CudaNn, ForwardAndGradientsMatchTheCpu) {
  FIGS_REQUIRE_GPU();
  Model cpu(small_cnn(), ModelOptions{.seed = 5});
  Model gpu(small_cnn(), ModelOptions{.seed = 5, .device = kGpu});
  EXPECT_EQ(bits(gpu.params()), bits(cpu.params())) << "initialised on the CPU, then copied";
  Tensor images, labels;
  test::make_bars(16, images, labels);
  for (MemoryFormat f : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
    SCOPED_TRACE(memory_format_name(f));
    cpu.zero_grad();
    gpu.zero_grad();
    const Tensor y_cpu = cpu(raw::contiguous(images, f));
    const Tensor y_gpu = gpu(raw::contiguous(raw::to(images, kGpu), f));
    EXPECT_EQ(y_gpu.device(), kGpu);
    EXPECT_GPU_CLOSE(y_gpu, y_cpu, 1e-4);
    backward(CrossEntropyLoss{0.1}(y_cpu, labels));
    backward(CrossEntropyLoss{0.1}(y_gpu, raw::to(labels, kGpu)));
    gpu.check_grads_attached("test");  // backward accumulated into the device arena views
    EXPECT_GPU_CLOSE(gpu.grads(), cpu.grads(), 1e-4);
    EXPECT_GPU_CLOSE(gpu.buffers(), cpu.buffers(), 1e-4);  // BN running statistics
  }
}

// The same gradients (drawn on the CPU; arena padding stays zero) stepped by an optimizer on a
// CPU and on a GPU copy of one model, with an EMA on each.
struct TwinRun {
  Model cpu{small_cnn(), ModelOptions{.seed = 6}};
  Model gpu{small_cnn(), ModelOptions{.seed = 6, .device = kGpu}};
  std::unique_ptr<Optimizer> opt_cpu, opt_gpu;
  std::unique_ptr<Ema> ema_cpu, ema_gpu;
  Generator gen{9, 2};

  template <class Make>
  TwinRun(Make make, double max_grad_norm) : opt_cpu(make(cpu)), opt_gpu(make(gpu)) {
    opt_cpu->set_max_grad_norm(max_grad_norm);
    opt_gpu->set_max_grad_norm(max_grad_norm);
    ema_cpu = std::make_unique<Ema>(cpu, EmaOptions{.decay = 0.9, .warmup = true});
    ema_gpu = std::make_unique<Ema>(gpu, EmaOptions{.decay = 0.9, .warmup = true});
  }

  void step(int s) {
    opt_cpu->zero_grad();
    opt_gpu->zero_grad();
    const Tensor g = uniform(cpu.grads().shape(), -1, 1, gen);
    for (const ArenaSlot& slot : cpu.param_slots())
      std::memcpy(cpu.grads().data<float>() + slot.offset, g.data<float>() + slot.offset, slot.numel * sizeof(float));
    raw::copy_(gpu.grads(), cpu.grads());
    for (Optimizer* o : {opt_cpu.get(), opt_gpu.get()}) {
      o->set_lr_factor(1.0 / (1 + s));
      o->step();
    }
    ema_cpu->update();
    ema_gpu->update();
  }
};

std::vector<ParamGroupSpec> bias_group() {
  ParamGroupSpec biases = ParamGroupSpec::ending_with(".bias");
  biases.lr = 0.03;
  biases.weight_decay = 0.0;
  return {biases};
}

// Without clipping the GPU kernels evaluate the CPU's float32 operations in the CPU's order
// (cuda/optim.cu): parameters, state and averages agree bit for bit.
TEST(CudaNn, OptimizerStepsEqualTheCpuBitForBit) {
  FIGS_REQUIRE_GPU();
  const std::vector<std::pair<const char*, std::function<std::unique_ptr<Optimizer>(Model&)>>> makers{
      {"sgd", [](Model& m) { return std::make_unique<Sgd>(m, SgdOptions{.lr = 0.1, .weight_decay = 1e-3}, bias_group()); }},
      {"sgd-momentum",
       [](Model& m) {
         return std::make_unique<Sgd>(m, SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3}, bias_group());
       }},
      {"sgd-nesterov",
       [](Model& m) { return std::make_unique<Sgd>(m, SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true}); }},
      {"adam",
       [](Model& m) {
         return std::make_unique<Adam>(m, AdamOptions{.lr = 0.01, .eps = 1.0, .weight_decay = 1e-4}, bias_group());
       }},
      {"adam-small-eps", [](Model& m) { return std::make_unique<Adam>(m, AdamOptions{.lr = 0.01, .eps = 1e-8}); }},
      {"adamw-tf",
       [](Model& m) {
         return std::make_unique<AdamW>(
             m, AdamOptions{.lr = 0.01, .eps = 1e-3, .weight_decay = 0.05, .tf_epsilon = true}, bias_group());
       }},
  };
  for (const auto& [label, make] : makers) {
    SCOPED_TRACE(label);
    TwinRun run(make, 0.0);
    for (int s = 0; s < 5; ++s) run.step(s);
    EXPECT_EQ(run.opt_gpu->step_count(), 5);
    EXPECT_EQ(bits(run.gpu.params()), bits(run.cpu.params()));
    const auto state_cpu = run.opt_cpu->state(), state_gpu = run.opt_gpu->state();
    ASSERT_EQ(state_gpu.size(), state_cpu.size());
    for (size_t i = 0; i < state_cpu.size(); ++i) {
      EXPECT_EQ(state_gpu[i].tensor.device(), kGpu);
      EXPECT_EQ(bits(state_gpu[i].tensor), bits(state_cpu[i].tensor)) << state_cpu[i].name;
    }
    EXPECT_EQ(bits(run.ema_gpu->shadow_params()), bits(run.ema_cpu->shadow_params()));
    // apply() / restore() swap on the device as on the CPU.
    run.ema_cpu->apply();
    run.ema_gpu->apply();
    EXPECT_EQ(bits(run.gpu.params()), bits(run.cpu.params()));
    run.ema_cpu->restore();
    run.ema_gpu->restore();
    EXPECT_EQ(bits(run.gpu.params()), bits(run.cpu.params()));
  }
}

// Clipping measures the norm in float64 in another summation order than the CPU's, so the
// norms agree to float64 rounding and the steps to float32 rounding.
TEST(CudaNn, ClippedStepsMatchTheCpu) {
  FIGS_REQUIRE_GPU();
  TwinRun run([](Model& m) { return std::make_unique<AdamW>(m, AdamOptions{.lr = 0.01, .weight_decay = 0.01}); },
              1.0);
  for (int s = 0; s < 5; ++s) {
    run.step(s);
    EXPECT_GT(run.opt_cpu->last_grad_norm(), 1.0) << "clipping must be active";
    EXPECT_NEAR(run.opt_gpu->last_grad_norm(), run.opt_cpu->last_grad_norm(), 1e-12 * run.opt_cpu->last_grad_norm());
  }
  EXPECT_GPU_CLOSE(run.gpu.params(), run.cpu.params(), 1e-6);
  EXPECT_GPU_CLOSE(run.opt_gpu->state()[1].tensor, run.opt_cpu->state()[1].tensor, 1e-6);
}

TEST(CudaNn, TrainingOnTheGpuTracksTheCpu) {
  FIGS_REQUIRE_GPU();
  Tensor images, labels;
  test::make_bars(24, images, labels);
  std::vector<std::vector<float>> losses(2);
  std::vector<Tensor> params(2);
  for (int d = 0; d < 2; ++d) {
    const Device device = d == 0 ? Device::cpu() : kGpu;
    Model model(small_cnn(), ModelOptions{.seed = 8, .device = device});
    Adam adam(model, AdamOptions{.lr = 0.01, .eps = 1.0});
    adam.set_max_grad_norm(5.0);
    const Tensor x = raw::contiguous(raw::to(images, device), MemoryFormat::ChannelsLast);
    const Tensor y = raw::to(labels, device);
    for (int s = 0; s < 6; ++s) {
      adam.zero_grad();
      const Tensor loss = CrossEntropyLoss{0.1}(model(x), y);
      backward(loss);
      adam.step();
      losses[d].push_back(loss.item<float>());
    }
    params[d] = raw::to(model.params(), Device::cpu());
  }
  for (size_t s = 0; s < losses[0].size(); ++s) EXPECT_NEAR(losses[1][s], losses[0][s], 1e-4) << "step " << s;
  EXPECT_GPU_CLOSE(params[1], params[0], 1e-4);
}

TEST(CudaNn, CheckpointsCrossDevicesBothWays) {
  FIGS_REQUIRE_GPU();
  test::TempDir dir;
  Tensor images, labels;
  test::make_bars(16, images, labels);
  struct Run {
    Model model;
    Adam adam;
    Ema ema;
    Run(uint64_t seed, Device device)
        : model(small_cnn(), ModelOptions{.seed = seed, .device = device}),
          adam(model, AdamOptions{.lr = 0.01, .eps = 1.0, .weight_decay = 1e-4}),
          ema(model, EmaOptions{.decay = 0.9}) {}
    TrainingState state() { return TrainingState{.model = &model, .optimizer = &adam, .ema = &ema, .config_hash = 7}; }
    std::vector<std::vector<uint32_t>> everything() const {
      std::vector<std::vector<uint32_t>> out{bits(model.params()), bits(model.buffers()), bits(ema.shadow_params()),
                                             bits(ema.shadow_buffers())};
      for (const NamedTensor& t : adam.state()) out.push_back(bits(t.tensor));
      return out;
    }
  };
  Run gpu(1, kGpu);
  const Tensor x = raw::to(images, kGpu), y = raw::to(labels, kGpu);
  for (int s = 0; s < 3; ++s) {
    gpu.adam.zero_grad();
    backward(CrossEntropyLoss{}(gpu.model(x), y));
    gpu.adam.step();
    gpu.ema.update();
  }
  TrainingState saved = gpu.state();
  saved.step = 3;
  save_checkpoint(dir.file("gpu.ckpt"), saved);

  Run cpu(2, Device::cpu());  // other weights until the load
  TrainingState into_cpu = cpu.state();
  load_checkpoint(dir.file("gpu.ckpt"), into_cpu);
  EXPECT_EQ(into_cpu.step, 3);
  EXPECT_EQ(cpu.adam.step_count(), 3);
  EXPECT_EQ(cpu.ema.num_updates(), 3);
  EXPECT_EQ(cpu.everything(), gpu.everything());

  save_checkpoint(dir.file("cpu.ckpt"), cpu.state());
  Run back(3, kGpu);
  TrainingState into_gpu = back.state();
  load_checkpoint(dir.file("cpu.ckpt"), into_gpu);
  EXPECT_EQ(back.everything(), gpu.everything());
  EXPECT_EQ(back.model.params().device(), kGpu);
}

TEST(CudaNn, OptimizerAndEmaRefuseAModelThatMovedAway) {
  FIGS_REQUIRE_GPU();
  Model model(small_cnn(), ModelOptions{.seed = 1});
  Sgd sgd(model, SgdOptions{.lr = 0.1, .momentum = 0.9});
  Ema ema(model);
  model.to(kGpu);
  EXPECT_ERROR_MENTIONS(sgd.step(), "build optimizers after Model::to()");
  EXPECT_ERROR_MENTIONS(ema.update(), "build the Ema after Model::to()");
  TrainingState state{.model = &model, .optimizer = &sgd};
  EXPECT_ERROR_MENTIONS(save_checkpoint("/nonexistent/x.ckpt", state), "the model moved after the optimizer was built");
  Sgd after(model, SgdOptions{.lr = 0.1, .momentum = 0.9});  // built after the move: fine
  model.zero_grad();
  after.step();
  EXPECT_EQ(after.state()[0].tensor.device(), kGpu);
}

// Runs where no GPU is visible (the GPU cases above skip there).
TEST(CudaNnHost, ACudaModelWithoutAGpuIsAClearError) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is visible; this case checks the error without one";
  EXPECT_ERROR_MENTIONS(Model(small_cnn(), ModelOptions{.device = Device::cuda()}),
                        (build_info().with_cuda ? "no device cuda:0" : "built without CUDA"));
}

}  // namespace
}  // namespace figs::nn

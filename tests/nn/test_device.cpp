// Models and optimizers across devices, the CPU side (tests/cuda/test_cuda_nn.cpp has the GPU
// side): Model::to(cpu) changes nothing, and the CPU optimizer kernels (Backend::sgd_step,
// adam_step, sum_squares; cpu/optim.cpp) evaluate exactly the float32 formulas of
// core/params.h — written out here as plain loops, compared bit for bit.
#include <cmath>
#include <cstring>

#include "nn_test_util.h"

namespace figs::nn {
namespace {

using test::bits;
using test::small_cnn;

TEST(NnDevice, ToTheCpuIsANoOp) {
  Model model(small_cnn(), ModelOptions{.seed = 3});
  EXPECT_EQ(model.device(), Device::cpu());
  const Tensor params = model.params(), grads = model.grads(), buffers = model.buffers();
  const void* weight_data = model.param_slot("stem.conv.weight").tensor.raw_data();
  const std::vector<uint32_t> before = bits(params);
  model.to(Device::cpu());
  EXPECT_TRUE(model.params().same_as(params));
  EXPECT_TRUE(model.grads().same_as(grads));
  EXPECT_TRUE(model.buffers().same_as(buffers));
  EXPECT_EQ(model.param_slot("stem.conv.weight").tensor.raw_data(), weight_data);
  EXPECT_EQ(bits(model.params()), before);
  model.check_grads_attached("test");  // every .grad is still its arena view
}

TEST(NnDevice, OptimizerStateAndEmaLiveOnTheModelsDevice) {
  Model model(small_cnn(), ModelOptions{.seed = 3});
  Adam adam(model, {.lr = 0.01});
  Sgd sgd(model, {.lr = 0.1, .momentum = 0.9});
  Ema ema(model, {.include_buffers = false});
  for (const NamedTensor& st : adam.state()) EXPECT_EQ(st.tensor.device(), Device::cpu()) << st.name;
  EXPECT_EQ(sgd.state()[0].tensor.device(), Device::cpu());
  EXPECT_EQ(ema.shadow_params().device(), Device::cpu());
  EXPECT_EQ(ema.shadow_buffers().device(), Device::cpu());
}

// Random arenas (length not a multiple of any vector width) and a range inside them.
struct Arenas {
  Tensor p, g, a, b;
  Arenas() = default;
  explicit Arenas(uint64_t stream, int64_t n = 70001) {
    Generator gen(17, stream);
    p = uniform({n}, -1, 1, gen);
    g = uniform({n}, -0.5, 0.5, gen);
    a = uniform({n}, -0.1, 0.1, gen);
    b = uniform({n}, 0, 0.01, gen);
  }
  Arenas clone() const {
    Arenas c;
    c.p = raw::clone(p);
    c.g = raw::clone(g);
    c.a = raw::clone(a);
    c.b = raw::clone(b);
    return c;
  }
};

TEST(NnDevice, CpuSgdKernelIsTheDocumentedFormula) {
  Backend& cpu = backend_for(Device::cpu());
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    const SgdStepParams o{0.05f, 1e-3f, 0.9f, variant == 2};
    const Arenas in(variant);
    Arenas got = in.clone(), want = in.clone();
    const int64_t begin = 13, end = 60013;
    for (int step = 0; step < 3; ++step)
      cpu.sgd_step(o, got.p, got.g, variant == 0 ? Tensor() : got.a, begin, end);
    float* p = want.p.data<float>();
    const float* grad = want.g.data<float>();
    float* v = want.a.data<float>();
    for (int step = 0; step < 3; ++step)
      for (int64_t i = begin; i < end; ++i) {
        if (variant == 0) {
          p[i] = p[i] - o.lr * (grad[i] + o.weight_decay * p[i]);
          continue;
        }
        const float g = grad[i] + o.weight_decay * p[i];
        v[i] = o.momentum * v[i] + g;
        p[i] = p[i] - o.lr * (o.nesterov ? g + o.momentum * v[i] : v[i]);
      }
    EXPECT_EQ(bits(got.p), bits(want.p));  // elements outside [begin, end) untouched on both
    EXPECT_EQ(bits(got.a), bits(want.a));
  }
}

TEST(NnDevice, CpuAdamKernelIsTheDocumentedFormula) {
  Backend& cpu = backend_for(Device::cpu());
  for (int decoupled = 0; decoupled < 2; ++decoupled) {
    SCOPED_TRACE(decoupled);
    AdamStepParams o;
    o.step_size = 0.01f / 0.1f;
    o.inv_sqrt_bc2 = static_cast<float>(1 / std::sqrt(0.001));
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.eps = 1e-3f;
    o.weight_decay = 0.05f;
    o.decay = 1 - 0.01f * 0.05f;
    o.decoupled = decoupled == 1;
    const Arenas in(10 + decoupled);
    Arenas got = in.clone(), want = in.clone();
    const int64_t begin = 5, end = 70001;
    for (int step = 0; step < 3; ++step) cpu.adam_step(o, got.p, got.g, got.a, got.b, begin, end);
    float* p = want.p.data<float>();
    const float* grad = want.g.data<float>();
    float* m = want.a.data<float>();
    float* v = want.b.data<float>();
    for (int step = 0; step < 3; ++step)
      for (int64_t i = begin; i < end; ++i) {
        float g = grad[i];
        if (o.decoupled)
          p[i] = p[i] * o.decay;
        else
          g = g + o.weight_decay * p[i];
        m[i] = o.beta1 * m[i] + (1.0f - o.beta1) * g;
        v[i] = o.beta2 * v[i] + (1.0f - o.beta2) * g * g;
        p[i] = p[i] - o.step_size * m[i] / (std::sqrt(v[i]) * o.inv_sqrt_bc2 + o.eps);
      }
    EXPECT_EQ(bits(got.p), bits(want.p));
    EXPECT_EQ(bits(got.a), bits(want.a));
    EXPECT_EQ(bits(got.b), bits(want.b));
  }
}

TEST(NnDevice, CpuSumOfSquaresIsFloat64) {
  const Arenas in(20, 50000);
  const std::vector<float> g = in.g.to_vector<float>();
  double want = 0;
  for (float x : g) want += static_cast<double>(x) * x;
  EXPECT_NEAR(backend_for(Device::cpu()).sum_squares(in.g), want, 1e-12 * want);
  EXPECT_EQ(backend_for(Device::cpu()).sum_squares(zeros({0})), 0.0);
}

}  // namespace
}  // namespace figs::nn

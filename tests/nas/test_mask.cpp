// The FiGS mask (nas/mask.h) against its definition: sample statistics, eval rules, gradients.
#include <cmath>

#include "nas/conv_unit.h"
#include "nas/mask.h"
#include "nas/mask_layer.h"
#include "test_util.h"

namespace figs::nas {
namespace {

TEST(Mask, LogisticNoiseIsReproducibleAndHasLogisticMoments) {
  const Tensor a = logistic_noise(5, {1, 2, 3}), b = logistic_noise(5, {1, 2, 3});
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
  EXPECT_NE(a.to_vector<double>(), logistic_noise(5, {1, 2, 4}).to_vector<double>());  // next step
  EXPECT_NE(a.to_vector<double>(), logistic_noise(5, {1, 3, 3}).to_vector<double>());  // other layer
  // Logistic(0, 1): mean 0, variance pi^2 / 3.
  const auto l = logistic_noise(200000, {9, 0, 0}).to_vector<double>();
  double mean = 0, var = 0;
  for (double v : l) mean += v;
  mean /= l.size();
  for (double v : l) var += (v - mean) * (v - mean);
  var /= l.size();
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, M_PI * M_PI / 3, 0.05);
}

TEST(Mask, SampledMaskAveragesToTheKeepProbability) {
  // At tau = 1e-3 the relaxed mask is almost always 0 or 1 and keeps channel c with probability
  // pi[c]; over S steps the mean is within 4 binomial standard deviations of pi.
  const std::vector<double> nu = {-2.0, -0.5, 0.0, 1.0, 2.5};
  const Tensor logits = from_vector(nu, {5});
  const int steps = 4000;
  std::vector<double> mean(nu.size(), 0.0);
  for (int s = 0; s < steps; ++s) {
    const auto m = mask_values(logits, logistic_noise(5, {7, 1, static_cast<uint64_t>(s)}), 1e-3, MaskMode::Relaxed)
                       .to_vector<double>();
    for (size_t c = 0; c < nu.size(); ++c) mean[c] += m[c] / steps;
  }
  for (size_t c = 0; c < nu.size(); ++c) {
    const double pi = 1 / (1 + std::exp(-nu[c]));
    EXPECT_NEAR(mean[c], pi, 4 * std::sqrt(pi * (1 - pi) / steps)) << "logit " << nu[c];
  }
}

TEST(Mask, EvalMasksFollowTheKeepProbability) {
  const Tensor logits = from_vector<double>({-1, 0, 2}, {3});
  EXPECT_EQ(mask_values(logits, Tensor(), 1e-3, MaskMode::EvalHard).to_vector<double>(),
            (std::vector<double>{0, 1, 1}));  // pi >= 0.5 <=> nu >= 0
  const auto scaled = mask_values(logits, Tensor(), 1e-3, MaskMode::EvalScaled).to_vector<double>();
  EXPECT_EQ(scaled[0], 0.0);
  EXPECT_DOUBLE_EQ(scaled[1], 0.5);
  EXPECT_DOUBLE_EQ(scaled[2], 1 / (1 + std::exp(-2.0)));
}

TEST(Mask, StraightThroughIsHardForwardRelaxedBackward) {
  Tensor logits = from_vector<double>({0.3, -0.2}, {2}).set_requires_grad();
  const Tensor noise = from_vector<double>({0.0, 0.1}, {2});
  const Tensor m = mask_values(logits, noise, 0.5, MaskMode::StraightThrough);
  EXPECT_EQ(m.to_vector<double>(), (std::vector<double>{1, 0}));  // a = 0.6 > 0, a = -0.2 < 0
  backward(sum(m));
  // d/dnu sigmoid((nu + l) / tau) = sigmoid(a) sigmoid(-a) / tau, a = (0.3 + 0) / 0.5 and (-0.1) / 0.5.
  auto slope = [](double a) { const double s = 1 / (1 + std::exp(-a)); return s * (1 - s); };
  const auto g = logits.grad().to_vector<double>();
  EXPECT_NEAR(g[0], slope(0.6) / 0.5, 1e-12);
  EXPECT_NEAR(g[1], slope(-0.2) / 0.5, 1e-12);
}

TEST(Mask, RelaxedGradientMatchesFiniteDifferences) {
  const Tensor noise = logistic_noise(6, {3, 0, 0});
  for (double tau : {0.5, 2.0}) {
    const GradcheckResult r = gradcheck(
        [&](const std::vector<Tensor>& in) {
          // Through channel_scale as the layer uses it: d/dnu of a masked activation.
          return channel_scale(in[1], mask_values(in[0], noise, tau, MaskMode::Relaxed));
        },
        {from_vector<double>({-1, -0.3, 0, 0.4, 1.2, 2.5}, {6}), from_vector<double>(std::vector<double>(2 * 6 * 3 * 2, 0.5), {2, 6, 3, 2})});
    EXPECT_TRUE(r.ok) << "tau " << tau << "\n" << r.report;
  }
}

TEST(Mask, LogitGradientStaysExactWhereTheMaskSaturates) {
  // a = (0.03 + 0) / 1e-3 = 30: m rounds to 1 in float, yet dm/dnu = sigmoid(30) sigmoid(-30) / tau
  // = 9.3576e-11 must survive (m (1 - m) would give exactly 0).
  Tensor logits = from_vector<float>({0.03f}, {1}).set_requires_grad();
  const Tensor m = mask_values(logits, from_vector<double>({0.0}, {1}), 1e-3, MaskMode::Relaxed);
  EXPECT_EQ(m.item<float>(), 1.0f);
  backward(sum(m));
  const double expected = std::exp(-30.0) / std::pow(1 + std::exp(-30.0), 2) / 1e-3;
  EXPECT_NEAR(logits.grad().item<float>(), expected, 1e-5 * expected);
}

// Note [Step values on the device] (core/params.h): a mask layer reading {step, tau} from memory
// draws the noise of that step and divides by that tau, whatever its arguments say; its values and
// logit gradients equal those of a layer given the same numbers as arguments.
TEST(Mask, ALayerReadingTheStepFromMemoryEqualsOneGivenItsArguments) {
  const auto run = [](bool from_memory, uint64_t step, double tau, std::vector<float>* grads) {
    MaskLayer layer(5, {.tau = 1.0});
    layer.set_noise_key(3, 2);
    const Tensor numbers = from_vector(std::vector<double>{static_cast<double>(step), tau}, {2});
    if (from_memory) {
      layer.read_step_from(numbers);
      layer.set_step(step + 100);  // ignored: the kernels read memory
      layer.set_tau(tau * 3);
    } else {
      layer.set_step(step);
      layer.set_tau(tau);
    }
    const Tensor x = from_vector(std::vector<float>(2 * 5 * 3 * 3, 0.5f), {2, 5, 3, 3});
    const Tensor y = layer(x);
    backward(sum(y));
    *grads = layer.logits().grad().to_vector<float>();
    return y.to_vector<float>();
  };
  for (uint64_t step : {0u, 7u, 4096u}) {
    SCOPED_TRACE(step);
    std::vector<float> g_args, g_memory;
    const std::vector<float> y_args = run(false, step, 0.4, &g_args);
    const std::vector<float> y_memory = run(true, step, 0.4, &g_memory);
    EXPECT_EQ(y_memory, y_args);
    EXPECT_EQ(g_memory, g_args);
    std::vector<float> g_other;
    EXPECT_NE(run(false, step + 1, 0.4, &g_other), y_args);  // the noise does change with the step
  }
  MaskLayer layer(5);
  EXPECT_ERROR_MENTIONS(layer.read_step_from(zeros({3}, {DType::Float64})), "float64 {step, tau}");
}

TEST(Mask, BadInputIsReported) {
  const Tensor logits = zeros({3});
  EXPECT_ERROR_MENTIONS(mask_values(logits, zeros({2}, {DType::Float64}), 1e-3, MaskMode::Relaxed),
                        "mask_values: noise must have shape [3]");
  EXPECT_ERROR_MENTIONS(mask_values(logits, zeros({3}, {DType::Float64}), 0.0, MaskMode::Relaxed), "tau must be > 0");
  EXPECT_ERROR_MENTIONS(mask_values(zeros({2, 2}), Tensor(), 1e-3, MaskMode::EvalHard), "1-d floating tensor");
}

// Note [The mask folded into the BatchNorm] (nas/conv_unit.cpp): a unit's BN runs with gamma * m
// and beta * m instead of BN followed by the mask op. The two are the same function: outputs and
// every gradient (conv weight, gamma, beta, logits, input) agree to float32 rounding, in both
// layouts, for a relaxed and a straight-through mask in training and both eval masks.
TEST(Mask, FoldedIntoTheBatchNormEqualsBatchNormThenMask) {
  for (const MaskMode mode : {MaskMode::Relaxed, MaskMode::StraightThrough, MaskMode::EvalHard, MaskMode::EvalScaled})
    for (const MemoryFormat format : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast}) {
      const bool training = mode == MaskMode::Relaxed || mode == MaskMode::StraightThrough;
      SCOPED_TRACE(str_cat(mask_mode_name(mode), format == MemoryFormat::ChannelsLast ? " channels-last" : " nchw"));
      auto run = [&](bool folded) {
        ConvUnitOptions o{.kernel_h = 3, .kernel_w = 3, .relu_after = true, .mask = true};
        o.mask_options.tau = 0.3;
        (training ? o.mask_options.train_mode : o.mask_options.eval_mode) = mode;
        auto unit = std::make_shared<ConvUnit>(5, 7, o);
        nn::Model model(unit, {.seed = 4});
        configure_masks(model.root(), 9);
        set_mask_step(model.root(), 3);
        {  // logits spread around 0 so the mask is far from all-ones
          NoGradGuard no_grad;
          Generator g(5, 1);
          raw::copy_(unit->mask()->logits(), uniform({7}, -2, 2, g));
          raw::copy_(model.param_slot("bn.bias").tensor, uniform({7}, -0.5, 0.5, g));
        }
        Generator g(6, 2);
        const Tensor x = uniform({3, 5, 9, 7}, -1, 1, g, {DType::Float32, Device::cpu(), format}).set_requires_grad();
        const Tensor w = uniform({3, 7, 9, 7}, -1, 1, g);
        if (training)
          model.train();
        else
          model.eval();
        model.zero_grad();
        Tensor y;
        if (folded) {
          y = (*unit)(x);
        } else {  // the two-op form, by hand
          Conv2dParams p;
          p.pad_h = p.pad_w = 1;
          auto& bn = *std::dynamic_pointer_cast<nn::BatchNorm2d>(unit->named_children().at(0).second);
          y = relu((*unit->mask())(bn(conv2d(x, unit->weight(), Tensor(), p))));
        }
        backward(sum(mul(y, w)));
        std::vector<std::vector<float>> out{y.to_vector<float>(), x.grad().to_vector<float>()};
        for (const nn::ArenaSlot& s : model.param_slots()) out.push_back(s.grad.to_vector<float>());
        return out;
      };
      const auto folded = run(true), two_ops = run(false);
      ASSERT_EQ(folded.size(), two_ops.size());
      for (size_t i = 0; i < folded.size(); ++i) {
        double scale = 1e-3, err = 0;
        for (size_t j = 0; j < folded[i].size(); ++j) {
          scale = std::max(scale, std::abs(static_cast<double>(two_ops[i][j])));
          err = std::max(err, std::abs(static_cast<double>(folded[i][j]) - two_ops[i][j]));
        }
        EXPECT_LE(err / scale, 2e-5) << "tensor " << i << " (0: y, 1: dx, then the parameters' gradients)";
      }
    }
}

}  // namespace
}  // namespace figs::nas

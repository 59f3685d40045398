#include "nas/mask_layer.h"

#include "autograd/ops.h"
#include "core/autograd_meta.h"
#include "core/view.h"

namespace figs::nas {

MaskLayer::MaskLayer(int channels, const MaskOptions& options)
    : nn::Module("Mask"), channels_(channels), options_(options) {
  FIGS_CHECK(channels >= 1, "MaskLayer: needs at least one channel, got ", channels);
  FIGS_CHECK(options.tau > 0, "MaskLayer: tau must be > 0, got ", options.tau);
  FIGS_CHECK(options.train_mode == MaskMode::Relaxed || options.train_mode == MaskMode::StraightThrough,
             "MaskLayer: train_mode must be relaxed or straight_through, got ", mask_mode_name(options.train_mode));
  FIGS_CHECK(options.eval_mode == MaskMode::EvalHard || options.eval_mode == MaskMode::EvalScaled,
             "MaskLayer: eval_mode must be eval_hard or eval_scaled, got ", mask_mode_name(options.eval_mode));
  logits_ = register_parameter("logits", full({channels}, options.init_logit));
}

void MaskLayer::reset_parameters(Generator&) {
  NoGradGuard no_grad;
  raw::copy_(logits_, full({channels_}, options_.init_logit));
}

void MaskLayer::set_tau(double tau) {
  FIGS_CHECK(tau > 0, "MaskLayer::set_tau: tau must be > 0, got ", tau);
  options_.tau = tau;
}

void MaskLayer::read_step_from(const Tensor& step_values) {
  FIGS_CHECK(!step_values.defined() || (step_values.dtype() == DType::Float64 && step_values.dim() == 1 &&
                                        step_values.size(0) == 2 && step_values.is_contiguous() &&
                                        step_values.device() == logits_.device()),
             "MaskLayer::read_step_from: needs a contiguous float64 {step, tau} tensor on ", logits_.device(),
             ", got ", step_values.describe());
  step_values_ = step_values;
}

MaskParams MaskLayer::kernel_params(MaskMode mode) const {
  MaskParams p = mask_params({seed_, layer_, step_}, channels_, options_.tau, mode);
  if (step_values_.defined()) {
    FIGS_CHECK(step_values_.device() == logits_.device(), "Mask: the logits moved to ", logits_.device(),
               " but the step values are on ", step_values_.device());
    p.step_values = step_values_.data<double>();
  }
  return p;
}

Tensor MaskLayer::forward(const Tensor& x) {
  FIGS_CHECK(x.dim() == 4 && x.size(1) == channels_, "Mask: input ", x.describe(), " does not have ", channels_,
             " channels");
  FIGS_CHECK(x.dtype() == logits_.dtype(), "Mask: input ", x.describe(), " and logits (", dtype_name(logits_.dtype()),
             ") differ in dtype");
  // One op on the logits' device draws the noise of (seed, layer, step), computes m and
  // multiplies (autograd/ops/mask.cpp): nothing goes through the host.
  const MaskMode mode = is_training() ? options_.train_mode : options_.eval_mode;
  Tensor m;
  Tensor y = figs::mask(x, logits_, kernel_params(mode), Tensor(), &m);
  last_mask_ = m;
  return y;
}

Tensor MaskLayer::values() {
  const MaskMode mode = is_training() ? options_.train_mode : options_.eval_mode;
  const Tensor m = figs::mask_values(logits_, kernel_params(mode));
  last_mask_ = m.detach();
  return m;
}

std::string MaskLayer::extra_repr() const {
  return str_cat(channels_, ", tau=", options_.tau, ", train=", mask_mode_name(options_.train_mode),
                 ", eval=", mask_mode_name(options_.eval_mode));
}

Tensor MaskLayer::keep_probability() const {
  NoGradGuard no_grad;
  return sigmoid(logits_.detach());
}

std::vector<std::pair<std::string, MaskLayer*>> mask_layers(nn::Module& root) {
  std::vector<std::pair<std::string, MaskLayer*>> out;
  for (const nn::NamedModule& m : root.named_modules())
    if (auto* mask = dynamic_cast<MaskLayer*>(m.module)) out.push_back({m.name, mask});
  return out;
}

void configure_masks(nn::Module& root, uint64_t seed) {
  uint64_t id = 0;
  for (auto& [name, mask] : mask_layers(root)) mask->set_noise_key(seed, id++);
}

void set_mask_step(nn::Module& root, uint64_t step) {
  for (auto& [name, mask] : mask_layers(root)) mask->set_step(step);
}

}  // namespace figs::nas

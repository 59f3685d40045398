#include "core/distributed.h"
#include "nn/optim/optimizer.h"

#include <cmath>

#include "core/backend.h"
#include "core/view.h"

namespace figs::nn {

ParamGroupSpec ParamGroupSpec::ending_with(const std::string& suffix) {
  ParamGroupSpec spec;
  spec.name = suffix;
  spec.selects = [suffix](const std::string& name) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return spec;
}

Optimizer::Optimizer(Model& model, double lr, double weight_decay, const std::vector<ParamGroupSpec>& specs)
    : model_(&model) {
  groups_.push_back({"default", lr, weight_decay, true, {}, {}});
  for (const ParamGroupSpec& spec : specs) {
    FIGS_CHECK(!spec.name.empty() && spec.selects, "optimizer: a parameter group needs a name and a selector");
    for (const ParamGroup& g : groups_)
      FIGS_CHECK(g.name != spec.name, "optimizer: parameter group name '", spec.name, "' is used twice");
    groups_.push_back({spec.name, spec.lr.value_or(lr), spec.weight_decay.value_or(weight_decay), spec.scheduled, {}, {}});
  }
  for (const ParamGroup& g : groups_)
    FIGS_CHECK(g.lr >= 0 && g.weight_decay >= 0, "optimizer: group '", g.name, "' needs lr >= 0 and weight_decay >= 0 (lr ",
               g.lr, ", weight_decay ", g.weight_decay, ")");

  // Slot i owns [offset_i, offset_{i+1}): its elements and the padding after them.
  const std::vector<ArenaSlot>& slots = model.param_slots();
  const int64_t arena_size = model.params().numel();
  for (size_t i = 0; i < slots.size(); ++i) {
    size_t which = 0;
    for (size_t k = 0; k < specs.size(); ++k)
      if (specs[k].selects(slots[i].name)) {
        which = k + 1;
        break;
      }
    ParamGroup& g = groups_[which];
    g.params.push_back(slots[i].name);
    const Span span{slots[i].offset, i + 1 < slots.size() ? slots[i + 1].offset : arena_size};
    if (!g.spans.empty() && g.spans.back().end == span.begin)
      g.spans.back().end = span.end;
    else
      g.spans.push_back(span);
  }
}

void Optimizer::check_hyper(bool ok, const std::string& what) const { FIGS_CHECK(ok, name(), ": ", what); }

ParamGroup& Optimizer::group(const std::string& group_name) {
  for (ParamGroup& g : groups_)
    if (g.name == group_name) return g;
  std::string known;
  for (const ParamGroup& g : groups_) known += (known.empty() ? "" : ", ") + g.name;
  fail(name(), ": no parameter group '", group_name, "' (groups: ", known, ")");
}

void Optimizer::set_lr_factor(double factor) {
  FIGS_CHECK(factor >= 0 && std::isfinite(factor), name(), ": lr factor must be finite and >= 0, got ", factor);
  lr_factor_ = factor;
}

void Optimizer::set_step_count(int64_t steps) {
  FIGS_CHECK(steps >= 0, name(), ": step count must be >= 0, got ", steps);
  step_count_ = steps;
}

void Optimizer::zero_grad() { model_->zero_grad(); }

void Optimizer::step() {
  begin_step();
  apply_step();
}

void Optimizer::begin_step() {
  model_->check_grads_attached(name());
  const Device device = model_->device();
  for (const NamedTensor& st : state())
    FIGS_CHECK(st.tensor.device() == device, name(), ": the model is on ", device, " but the optimizer state '",
               st.name, "' is on ", st.tensor.device(),
               " (the model moved after this optimizer was built); build optimizers after Model::to()");
  ++step_count_;
  if (!step_values_.defined()) return;
  FIGS_CHECK(step_values_.device() == device, name(), ": the model is on ", device, " but its step values are on ",
             step_values_.device(), "; build optimizers after Model::to()");
  Backend& backend = backend_of(step_values_);
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::vector<float> values = step_values(groups_[g], effective_lr(groups_[g]));
    FIGS_CHECK(static_cast<int64_t>(values.size()) <= kMaxStepValues, name(), ": ", values.size(), " step values");
    for (size_t k = 0; k < values.size(); ++k)
      backend.fill(raw::narrow(step_values_, 0, static_cast<int64_t>(g) * kMaxStepValues + static_cast<int64_t>(k), 1),
                   values[k]);
  }
}

void Optimizer::apply_step() {
  // Data parallel (core/distributed.h): each rank holds the gradient of its share of the batch;
  // every rank updates with their mean, so the weights stay identical on every rank.
  dist::average_over_ranks(model_->grads());
  if (max_grad_norm_ > 0) last_grad_norm_ = clip_grad_global_norm(*model_, max_grad_norm_);
  for (const ParamGroup& g : groups_) update(g, effective_lr(g));
}

void Optimizer::set_step_values_on_device(bool on) {
  step_values_ = on ? zeros({static_cast<int64_t>(groups_.size()) * kMaxStepValues},
                            {DType::Float32, model_->device()})
                    : Tensor();
}

const float* Optimizer::device_step_values(const ParamGroup& group) const {
  if (!step_values_.defined()) return nullptr;
  const int64_t g = &group - groups_.data();
  FIGS_CHECK(g >= 0 && g < static_cast<int64_t>(groups_.size()), name(), ": group '", group.name,
             "' is not one of this optimizer's");
  return step_values_.data<float>() + g * kMaxStepValues;
}

double grad_global_norm(const Model& model) {
  const Tensor& g = model.grads();
  return std::sqrt(backend_of(g).sum_squares(g));
}

double clip_grad_global_norm(Model& model, double max_norm) {
  FIGS_CHECK(max_norm > 0, "clip_grad_global_norm: max_norm must be > 0, got ", max_norm);
  const double norm = grad_global_norm(model);
  if (norm > max_norm) {
    // g *= scale in float32 on every backend (mul_scalar multiplies by float(alpha)).
    const float scale = static_cast<float>(max_norm / (norm + 1e-6));
    const Tensor& g = model.grads();
    backend_of(g).unary(UnaryOp::MulScalar, scale, g, g);
  }
  return norm;
}

}  // namespace figs::nn

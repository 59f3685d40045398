#include "nn/optim/optimizer.h"

#include <cmath>

#include "core/parallel.h"

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
  model_->check_grads_attached(name());
  ++step_count_;
  if (max_grad_norm_ > 0) last_grad_norm_ = clip_grad_global_norm(*model_, max_grad_norm_);
  float* params = model_->params().data<float>();
  const float* grads = model_->grads().data<float>();
  for (const ParamGroup& g : groups_) {
    const double lr = effective_lr(g);
    for (const Span& s : g.spans)
      parallel_for(s.begin, s.end, 1 << 14,
                   [&](int64_t begin, int64_t end) { update(g, lr, params, grads, begin, end); });
  }
}

double grad_global_norm(const Model& model) {
  constexpr int64_t kBlock = 1 << 14;
  const float* g = model.grads().data<float>();
  const int64_t n = model.grads().numel();
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks, 0.0);
  parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0;
      for (int64_t i = b * kBlock, e = std::min(n, i + kBlock); i < e; ++i) s += static_cast<double>(g[i]) * g[i];
      partial[b] = s;
    }
  });
  double total = 0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

double clip_grad_global_norm(Model& model, double max_norm) {
  FIGS_CHECK(max_norm > 0, "clip_grad_global_norm: max_norm must be > 0, got ", max_norm);
  const double norm = grad_global_norm(model);
  if (norm > max_norm) {
    const float scale = static_cast<float>(max_norm / (norm + 1e-6));
    float* g = model.grads().data<float>();
    parallel_for(0, model.grads().numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) g[i] *= scale;
    });
  }
  return norm;
}

}  // namespace figs::nn

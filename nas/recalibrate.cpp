#include "nas/recalibrate.h"

#include "core/autograd_meta.h"
#include "core/view.h"
#include "nas/mask_layer.h"
#include "nn/layers/norm.h"

namespace figs::nas {

void recalibrate_batch_norm(nn::Model& model, const std::vector<Tensor>& batches) {
  FIGS_CHECK(!batches.empty(), "recalibrate_batch_norm: no batches given");
  NoGradGuard no_grad;
  struct Tracked {
    nn::BatchNorm2d* bn;
    std::vector<double> mean_sum, var_sum;
  };
  std::vector<Tracked> norms;
  for (const nn::NamedModule& m : model.root().named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m.module); bn && bn->running_mean().defined())
      norms.push_back({bn, std::vector<double>(bn->channels(), 0.0), std::vector<double>(bn->channels(), 0.0)});
  model.train();
  for (auto& [name, mask] : mask_layers(model.root())) mask->eval();
  for (const Tensor& batch : batches) {
    std::vector<std::vector<double>> before_mean, before_var;
    for (const Tracked& t : norms) {
      before_mean.push_back(t.bn->running_mean().to_vector<double>());
      before_var.push_back(t.bn->running_var().to_vector<double>());
    }
    // A batch elsewhere is moved to the model's device in its own layout (raw::to alone would
    // make it NCHW); on the model's device it is used as it is.
    model(batch.device() == model.device() ? batch
                                           : raw::contiguous(raw::to(batch, model.device()), batch.memory_format()));
    // Each BatchNorm did running = (1 - m) running + m batch: recover the batch statistics.
    for (size_t i = 0; i < norms.size(); ++i) {
      const double m = norms[i].bn->options().momentum;
      FIGS_CHECK(m > 0, "recalibrate_batch_norm: a BatchNorm2d with momentum 0 never updates its statistics");
      const auto mean = norms[i].bn->running_mean().to_vector<double>();
      const auto var = norms[i].bn->running_var().to_vector<double>();
      for (size_t c = 0; c < mean.size(); ++c) {
        norms[i].mean_sum[c] += (mean[c] - (1 - m) * before_mean[i][c]) / m;
        norms[i].var_sum[c] += (var[c] - (1 - m) * before_var[i][c]) / m;
      }
    }
  }
  for (Tracked& t : norms) {
    for (size_t c = 0; c < t.mean_sum.size(); ++c) {
      t.mean_sum[c] /= batches.size();
      t.var_sum[c] /= batches.size();
    }
    const DType dtype = t.bn->running_mean().dtype();
    raw::copy_(t.bn->running_mean(), raw::to_dtype(from_vector(t.mean_sum, {t.bn->channels()}), dtype));
    raw::copy_(t.bn->running_var(), raw::to_dtype(from_vector(t.var_sum, {t.bn->channels()}), dtype));
  }
  model.eval();
}

}  // namespace figs::nas

// `figs eval RUN_DIR`: accuracy of a run's trained network on a split, from its checkpoint.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "nas/mask_layer.h"
#include "nn/checkpoint.h"
#include "drivers.h"

namespace figs::app {

namespace {
namespace fs = std::filesystem;
}

EvalReport evaluate_run(const std::string& dir, const std::string& split, const std::string& device_name) {
  FIGS_CHECK(split == "test" || split == "val" || split == "train", "eval: --split must be test, val or train, got '",
             split, "'");
  const json config = load_run_config(dir);
  json on = config;  // only the device may differ from the run's; the checkpoint hash is the run's
  if (!device_name.empty()) on["device"] = device_name;
  const Device device = run_device(on);
  const bool retrained = fs::exists(dir + "/retrain.ckpt");
  FIGS_CHECK(retrained || fs::exists(dir + "/search.ckpt"), "eval: '", dir,
             "' holds no checkpoint (retrain.ckpt or search.ckpt): nothing was trained there yet");
  const Datasets d = load_datasets(config);
  EvalReport r;
  r.split = split;
  std::unique_ptr<nn::Model> model;
  if (retrained) {
    r.network = "retrained";
    const nas::Architecture arch = nas::load_architecture(dir + "/arch.json");
    model = std::make_unique<nn::Model>(nas::make_space_from_json(arch.space_json)->build(arch.widths),
                                        nn::ModelOptions{.device = device});
    r.macs = arch.macs;
  } else {
    r.network = "supernet";  // under the eval masks, BatchNorm re-estimated as at the end of a search
    nas::BuildOptions build{.masks = true, .mask_options = {}};
    const auto space = make_space_from_config(config);
    model = std::make_unique<nn::Model>(space->build(space->full_widths(), build), nn::ModelOptions{.device = device});
  }
  // A stage trained with a moving average (ema_decay > 0) is evaluated on the average, as the
  // stage's own final evaluation was.
  const std::string ckpt = dir + (retrained ? "/retrain.ckpt" : "/search.ckpt");
  const nn::CheckpointInfo info = nn::read_checkpoint_info(ckpt);
  std::unique_ptr<nn::Ema> ema;
  if (info.has_ema)
    ema = std::make_unique<nn::Ema>(*model, nn::EmaOptions{.decay = info.ema_decay,
                                                           .include_buffers = info.ema_include_buffers});
  nn::TrainingState state{model.get(), nullptr, ema.get(), {}, 0, 0, checkpoint_config_hash(config)};
  nn::load_checkpoint(ckpt, state);
  if (ema) ema->apply();  // the model now holds the averages for good
  r.step = state.step;
  r.params = model->num_parameters();
  if (!retrained) recalibrate_supernet(*model, config, d);
  const auto& set = split == "test" ? d.test : split == "val" ? d.val : d.train;
  FIGS_CHECK(set->size() > 0, "eval: the ", split, " split is empty (data.val_fraction = 0?)");
  const auto start = std::chrono::steady_clock::now();
  r.accuracy = evaluate(*model, set, config, d);
  r.images = set->size();
  r.images_per_s = r.images / std::max(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1e-9);
  return r;
}

}  // namespace figs::app

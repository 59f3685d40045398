// `figs retrain`: the exported network from scratch (no masks, task loss only), then its
// validation and test accuracy.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/atomic_file.h"
#include "core/distributed.h"
#include "core/json_reader.h"
#include "core/view.h"
#include "nn/checkpoint.h"
#include "nn/divergence.h"
#include "nn/optim/adam.h"
#include "nn/schedule.h"
#include "recipe.h"
#include "run_log.h"
#include "drivers.h"

namespace figs::app {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

RetrainResult finished_retrain(const std::string& dir) {
  const std::string path = dir + "/results.json";
  const json j = JsonReader::parse_file(path);
  const JsonReader results(j, path);
  RetrainResult r;
  r.test_accuracy = results["test_accuracy"].number();
  r.val_accuracy = results.number_or("val_accuracy", 0.0);
  r.params = results["params"].count();
  r.macs = results["macs"].count();
  r.seconds = results.number_or("retrain_seconds", 0.0);
  r.images_per_s = results.number_or("images_per_s", 0.0);
  r.steps = results.integer_or("steps", 0);
  std::fprintf(stderr, "retrain: already finished in %s (test accuracy %.4f)\n", dir.c_str(), r.test_accuracy);
  return r;
}

}  // namespace

RetrainResult run_retrain(const json& config, const Datasets& d, const nas::Architecture& arch, const std::string& dir,
                          bool resume) {
  if (resume && fs::exists(dir + "/results.json")) return finished_retrain(dir);
  const json& rc = config["retrain"];
  const uint64_t seed = config["seed"].get<uint64_t>() + 1;
  const auto space = nas::make_space_from_json(arch.space_json);
  // Built and initialised on the CPU, then moved: a seed gives the same weights on every device.
  const Device device = run_device(config);
  nn::Model model(space->build(arch.widths), {.seed = seed, .device = device});
  data::Loader loader(d.train, loader_config(config, d, true, stage_batch_size(config, "retrain")));
  const int64_t per_epoch = loader.batches_per_epoch();
  const int64_t steps = total_steps(rc, per_epoch);
  // The recipe (apps/figs/recipe.h): Adam(W), the lr schedule, the moving average evaluation uses.
  const std::unique_ptr<nn::Adam> optimizer = stage_optimizer(rc, model);
  nn::Adam& opt = *optimizer;
  const nn::LrSchedule schedule(stage_schedule(rc, steps, per_epoch));
  const std::unique_ptr<nn::Ema> ema = stage_ema(rc, model);
  const nn::CrossEntropyLoss criterion = stage_loss(rc);

  const uint64_t hash = checkpoint_config_hash(config);
  const std::string ckpt = dir + "/retrain.ckpt";
  int64_t step = 0;
  double elapsed_before = 0;  // wall time of the earlier invocations of this run
  if (resume && fs::exists(ckpt)) {
    nn::TrainingState state{&model, &opt, ema.get(), {}, 0, 0, hash};
    nn::load_checkpoint(ckpt, state);
    step = state.step;
    elapsed_before = state.elapsed_seconds;
    std::fprintf(stderr, "retrain: resuming %s at step %lld of %lld\n", dir.c_str(), static_cast<long long>(step),
                 static_cast<long long>(steps));
  }
  std::fprintf(stderr, "retrain: %lld parameters, %lld MACs per image, %lld steps (%lld per epoch)\n",
               static_cast<long long>(model.num_parameters()), static_cast<long long>(arch.macs),
               static_cast<long long>(steps), static_cast<long long>(per_epoch));
  StepLog csv(dir + "/retrain.csv", "step,epoch,loss,lr,images_per_s", resume ? step : -1);
  Progress progress("retrain", steps, rc["log_every"].get<int64_t>());
  const int64_t checkpoint_every = rc["checkpoint_every"].get<int64_t>();
  const auto start = Clock::now();  // this invocation's; images/s is measured over it
  const int64_t first_step = step;
  auto save = [&] {
    average_buffers_over_ranks(model);  // collective; then rank 0 alone writes
    if (!dist::world().is_root()) return;
    nn::TrainingState state{&model, &opt, ema.get(), {}, step, (step - 1) / per_epoch, hash};
    state.elapsed_seconds = elapsed_before + since(start);
    nn::save_checkpoint(ckpt, state);
  };
  StageGuard guard("retrain", model, config["loss_warn_factor"].get<double>(), space->num_classes(), ckpt);
  int64_t last_checkpoint = step;  // the step retrain.ckpt holds (0: none yet)
  int64_t images = 0;
  const int ranks = dist::world().world_size();
  std::optional<SyncBatchNormScope> sync_bn;
  sync_bn.emplace(config);
  // Steps are numbered across epochs: step s is batch s % per_epoch of epoch s / per_epoch.
  while (step < steps) {
    loader.start_epoch(step / per_epoch, step % per_epoch);
    while (step < steps) {
      auto b = loader.next();
      if (!b) break;
      opt.set_lr_factor(schedule.factor(step));
      opt.zero_grad();
      const Tensor loss = criterion(model(network_images(b->images, device)), raw::to(b->labels, device));
      backward(loss);
      opt.step();
      ++step;
      const double loss_value = dist::all_reduce_mean(loss.item<double>());  // the global batch's
      guard.check(step, loss_value, last_checkpoint);  // before anything is logged or saved
      if (ema) ema->update();
      images += b->labels.numel() * ranks;
      const double ips = images / std::max(since(start), 1e-9);
      csv.write(std::to_string(step) + ',' + std::to_string((step - 1) / per_epoch) + ',' + fmt(loss_value, 7) + ',' +
                fmt(rc["lr"].get<double>() * schedule.factor(step - 1), 7) + ',' + fmt(ips, 5));
      progress.update(step, "epoch " + std::to_string((step - 1) / per_epoch + 1) + "/" +
                                std::to_string((steps + per_epoch - 1) / per_epoch) + "  loss " + fmt(loss_value) + "  " +
                                fmt(ips, 3) + " img/s  " + time_left(since(start), step - first_step, steps - step));
      const bool stop = step < steps && stop_requested(step);
      if ((checkpoint_every > 0 && step % checkpoint_every == 0 && step < steps) || stop) {
        save();
        last_checkpoint = step;
      }
      if (stop) throw Interrupted{"retrain", step};
    }
  }
  sync_bn.reset();
  report_communication("retrain", since(start), step - first_step);
  RetrainResult r;
  r.seconds = elapsed_before + since(start);
  r.images_per_s = images / std::max(since(start), 1e-9);
  r.steps = step;
  // Counted from the network trained here, never copied from the input file.
  const nas::Architecture counted = nas::describe_architecture(*space, arch.widths);
  r.params = model.num_parameters();
  r.macs = counted.macs;
  save();
  {
    std::optional<nn::Ema::Scope> averaged;  // the moving average is what gets evaluated, when there is one
    if (ema) averaged.emplace(*ema);
    r.val_accuracy = evaluate(model, d.val, config, d);
    r.test_accuracy = evaluate(model, d.test, config, d);
  }
  const json results{{"test_accuracy", r.test_accuracy}, {"val_accuracy", r.val_accuracy}, {"params", r.params},
                     {"macs", r.macs}, {"retrain_seconds", r.seconds}, {"images_per_s", r.images_per_s},
                     {"steps", r.steps}, {"architecture", "arch.json"}};
  if (dist::world().is_root()) write_file_atomically(dir + "/results.json", results.dump(2) + "\n");
  std::fprintf(stderr, "retrain: %lld steps in %.0f s (%s%.0f img/s); val accuracy %.4f, test accuracy %.4f\n",
               static_cast<long long>(step), r.seconds, elapsed_before > 0 ? "since the resume " : "", r.images_per_s,
               r.val_accuracy, r.test_accuracy);
  return r;
}

}  // namespace figs::app

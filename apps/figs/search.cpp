// `figs search`: architecture learning, export, arch.json. Two methods share one loop (data,
// logs, checkpoints, resume, the budget controller):
//   figs      the supernet with masks under lambda * E[cost] (nas/search.h), export floor(sum p)
//   morphnet  the network without masks under lambda * the gamma-weighted cost (nas/baselines/morphnet.h),
//             export the channels whose |gamma| > 1e-2 (in budget mode then scaled onto the
//             target: MorphNet's expand step)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/distributed.h"
#include "core/json_reader.h"
#include "core/view.h"
#include "nas/budget.h"
#include "nas/channel_graph.h"
#include "nas/mask_layer.h"
#include "nas/budget_match.h"
#include "nas/baselines/morphnet.h"
#include "nas/objective.h"
#include "nas/search.h"
#include "nn/checkpoint.h"
#include "nn/divergence.h"
#include "nn/optim/adam.h"
#include "recipe.h"
#include "run_log.h"
#include "trainer.h"

namespace figs::app {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

nas::CostKind cost_kind(const json& config) {
  const std::string k = config["search"]["cost"].get<std::string>();
  FIGS_CHECK(k == "params" || k == "macs", "config: search.cost must be \"params\" or \"macs\", got \"", k, "\"");
  return k == "params" ? nas::CostKind::Params : nas::CostKind::Macs;
}

nas::WidthRule width_rule(const json& config) {
  const std::string r = config["search"]["width_rule"].get<std::string>();
  if (r == "floor") return nas::WidthRule::FloorSum;
  if (r == "threshold") return nas::WidthRule::Threshold;
  fail("config: search.width_rule must be \"floor\" or \"threshold\", got \"", r, "\"");
}

nas::ChannelGraph::NamedParameters named_parameters(const nn::Model& model) {
  nas::ChannelGraph::NamedParameters named;
  for (const nn::ArenaSlot& s : model.param_slots()) named.push_back({s.name, s.tensor});
  return named;
}

// How the cost counts (nas/channel_graph.h): the group rule, and whether it charges only what the
// export keeps (the space's removal rule) or every operator (the spec's accounting).
nas::CostAccounting cost_accounting(const nas::SearchSpace& space, const json& config) {
  nas::CostAccounting a;
  a.group_rule = nas::parse_group_rule(config["search"]["group_rule"].get<std::string>());
  if (config["search"]["removal_aware"].get<bool>()) a.removable = nas::removable_operators(space);
  return a;
}

nas::ChannelGraph trace_graph(nn::Model& model, const Tensor& images, const nas::SearchSpace& space,
                              const json& config) {
  nas::ChannelGraph graph = nas::ChannelGraph::trace(sum(model(images)), named_parameters(model));
  graph.set_accounting(cost_accounting(space, config));
  return graph;
}

nas::TauSchedule tau_schedule(const json& sc, int64_t steps) {
  const double tau = sc["tau"].get<double>(), end = sc["tau_end"].get<double>();
  FIGS_CHECK(tau > 0 && end >= 0, "config: search.tau must be > 0 and search.tau_end >= 0 (0: constant tau)");
  return end > 0 ? nas::TauSchedule::geometric(tau, end, steps) : nas::TauSchedule::constant(tau);
}


bool is_logits(const std::string& name) { return name.size() > 7 && name.compare(name.size() - 7, 7, ".logits") == 0; }

// What differs between the search methods.
class Method {
 public:
  virtual ~Method() = default;
  virtual nn::Model& model() = 0;
  virtual nn::Optimizer& optimizer() = 0;
  // One update on a batch (step = updates done before it).
  virtual nas::SearchStepStats step(const Tensor& images, const Tensor& labels) = 0;
  virtual double lambda() const = 0;
  virtual void set_lambda(double lambda) = 0;
  virtual double initial_cost() const = 0;  // of the penalised cost
  // The count the export would give now (what a budget controller is fed).
  virtual double export_count(nas::CostKind kind) const = 0;
  virtual json layer_stats(int64_t step) const = 0;
  // The exported width map (made buildable; what that changed goes to `repairs`).
  virtual nas::WidthMap export_widths(const nas::SearchSpace& space, const json& config,
                                      std::vector<std::string>* repairs) = 0;
  // Validation accuracy of the searched network as it would be exported.
  virtual double val_accuracy(const json& config, const Datasets& d) = 0;
};

// The masked supernet (../shared/spec/figs-method.md, sections 1-4).
class FigsMethod : public Method {
 public:
  FigsMethod(const nas::SearchSpace& space, const json& config, const Tensor& first_images, int64_t steps)
      : model_(space.build(space.full_widths(), build_options(config)),
               {.seed = config["seed"].get<uint64_t>(), .device = run_device(config)}),
        graph_(trace(space, first_images, config)),
        penalty_(graph_, {.kind = cost_kind(config), .form = nas::CostForm::Expected,
                          .lambda = config["search"]["lambda"].get<double>(),
                          .relative_lambda = config["search"]["lambda_relative"].get<bool>()}),
        // The mask logits: their own lr, never weight decay (it would pull every logit to 0, pi = 1/2).
        opt_(stage_optimizer(config["search"], model_,
                             {nn::ParamGroupSpec{.name = "logits", .selects = is_logits,
                                                 .lr = config["search"]["logits_lr"].get<double>(), .weight_decay = 0.0}})),
        options_{.tau = tau_schedule(config["search"], steps),
                 .warmup_steps = config["search"]["warmup_steps"].get<int64_t>(),
                 .first_step = 0,
                 .label_smoothing = config["search"]["label_smoothing"].get<double>()} {
    search_.emplace(model_, penalty_, *opt_, options_);
  }

  // After a checkpoint restored the model and optimizer at `step`.
  void resume_at(int64_t step) {
    options_.first_step = static_cast<uint64_t>(step);
    search_.emplace(model_, penalty_, *opt_, options_);
  }

  nn::Model& model() override { return model_; }
  nn::Optimizer& optimizer() override { return *opt_; }
  nas::SearchStepStats step(const Tensor& images, const Tensor& labels) override { return search_->step(images, labels); }
  double lambda() const override { return penalty_.lambda(); }
  void set_lambda(double lambda) override { penalty_.set_lambda(lambda); }
  double initial_cost() const override { return penalty_.initial_cost(); }
  double export_count(nas::CostKind kind) const override { return nas::exported_count(graph_, kind); }

  json layer_stats(int64_t step) const override {
    json rows = json::array();
    for (const nas::MaskLayerStats& l : search_->layer_stats())
      rows.push_back({{"layer", l.name}, {"channels", l.channels}, {"alive", l.alive}, {"sum_p", l.sum_p},
                      {"mean", l.mean}, {"std", l.stddev}, {"min", l.min}, {"max", l.max}});
    return {{"step", step}, {"layers", rows}};
  }

  nas::WidthMap export_widths(const nas::SearchSpace& space, const json& config,
                              std::vector<std::string>* repairs) override {
    // Where a search removed every operator a part of the network needs, the most probable one
    // comes back at the smallest width (nas/space.h, keep_network_connected).
    std::map<std::string, double> scores;
    for (const nas::MaskLayerStats& l : search_->layer_stats())
      scores[nas::width_key_of_mask(l.name + ".logits")] = l.sum_p;
    return nas::keep_network_connected(
        space, nas::width_map_from_export(space, nas::export_widths(graph_, width_rule(config))), scores, repairs);
  }

  double val_accuracy(const json& config, const Datasets& d) override {
    recalibrate_supernet(model_, config, d);  // BN statistics under the eval masks
    return evaluate(model_, d.val, config, d);
  }

 private:
  static nas::BuildOptions build_options(const json& config) {
    nas::BuildOptions build{.masks = true, .mask_options = {}};
    build.mask_options.tau = config["search"]["tau"].get<double>();
    build.mask_options.init_logit = config["search"]["init_logit"].get<double>();  // the paper's nu_0
    return build;
  }
  // The channel graph, from one traced forward pass (before any checkpoint is restored, so a
  // resumed run starts from the same state as an uninterrupted one).
  nas::ChannelGraph trace(const nas::SearchSpace& space, const Tensor& images, const json& config) {
    nas::configure_masks(model_.root(), config["seed"].get<uint64_t>());
    return trace_graph(model_, images, space, config);
  }

  nn::Model model_;
  nas::ChannelGraph graph_;
  nas::CostPenalty penalty_;
  std::unique_ptr<nn::Adam> opt_;
  nas::SearchOptions options_;
  std::optional<nas::ArchitectureSearch> search_;
};

// MorphNet (section 6): the network without masks, L1 on the BatchNorm scales weighted by cost.
class MorphNetMethod : public Method {
 public:
  MorphNetMethod(const nas::SearchSpace& space, const json& config, const Tensor& first_images)
      : model_(space.build(space.full_widths()),
               {.seed = config["seed"].get<uint64_t>(), .device = run_device(config)}),
        graph_(trace_graph(model_, first_images, space, config)),
        penalty_(graph_, {.kind = cost_kind(config), .form = nas::CostForm::Expected,
                          .lambda = config["search"]["lambda"].get<double>(),
                          .relative_lambda = config["search"]["lambda_relative"].get<bool>()}),
        opt_(stage_optimizer(config["search"], model_)),
        loss_(stage_loss(config["search"])),
        warmup_(config["search"]["warmup_steps"].get<int64_t>()) {
    for (const nas::LayerWidth& w : nas::morphnet_export_widths(graph_)) channels_ += w.channels;
  }
  void resume_at(int64_t step) { step_ = step; }

  nn::Model& model() override { return model_; }
  nn::Optimizer& optimizer() override { return *opt_; }

  nas::SearchStepStats step(const Tensor& images, const Tensor& labels) override {
    nas::SearchStepStats s;
    s.warmup = step_ < warmup_;
    model_.train();
    opt_->zero_grad();
    const Tensor task = loss_(model_(images), labels);
    if (s.warmup) {
      NoGradGuard no_grad;
      penalty_();  // the cost, for the log
      backward(task);
    } else {
      const Tensor pen = penalty_();
      backward(add(task, pen));
      s.penalty = pen.item<double>();
    }
    opt_->step();
    s.step = ++step_;
    s.lambda = penalty_.lambda();
    s.task_loss = task.item<double>();
    s.cost = penalty_.last_cost();
    s.channels = channels_;
    for (const nas::LayerWidth& w : nas::morphnet_export_widths(graph_)) s.alive_channels += w.width;
    return s;
  }
  double lambda() const override { return penalty_.lambda(); }
  void set_lambda(double lambda) override { penalty_.set_lambda(lambda); }
  double initial_cost() const override { return penalty_.initial_cost(); }
  double export_count(nas::CostKind kind) const override { return nas::morphnet_alive_count(graph_, kind); }

  json layer_stats(int64_t step) const override {
    json rows = json::array();
    for (const nas::CountedNorm& n : graph_.norms()) {
      if (n.weight_name.empty()) continue;
      const std::vector<double> g = n.weight.to_vector<double>();
      double sum_abs = 0;
      int64_t alive = 0;
      for (double v : g) {
        sum_abs += std::abs(v);
        if (std::abs(v) > penalty_.threshold()) ++alive;
      }
      rows.push_back({{"layer", n.weight_name}, {"channels", n.channels}, {"alive", alive},
                      {"mean_abs_gamma", sum_abs / std::max<size_t>(g.size(), 1)}});
    }
    return {{"step", step}, {"layers", rows}};
  }

  nas::WidthMap export_widths(const nas::SearchSpace& space, const json&, std::vector<std::string>* repairs) override {
    return nas::morphnet_width_map(space, graph_, penalty_.threshold(), repairs);
  }

  // The network as trained: its dead channels (|gamma| <= 1e-2) already contribute almost
  // nothing, so this approximates the export without rebuilding it.
  double val_accuracy(const json& config, const Datasets& d) override { return evaluate(model_, d.val, config, d); }

 private:
  nn::Model model_;
  nas::ChannelGraph graph_;
  nas::MorphNetPenalty penalty_;
  std::unique_ptr<nn::Adam> opt_;
  nn::CrossEntropyLoss loss_;
  int64_t warmup_ = 0, step_ = 0, channels_ = 0;
};

// The finished search of an earlier (resumed) invocation.
SearchResult finished_search(const std::string& dir) {
  SearchResult r;
  const std::string path = dir + "/arch.json";
  r.arch = nas::load_architecture(path);
  const json j = JsonReader::parse(r.arch.source_json, path + " (source)");
  const JsonReader source(j, path, "source");
  r.val_accuracy = source.number_or("supernet_val_accuracy", 0.0);
  r.steps = source.integer_or("steps", 0);
  r.seconds = source.number_or("seconds", 0.0);
  r.images_per_s = source.number_or("images_per_s", 0.0);
  std::fprintf(stderr, "search: already finished in %s (arch.json: %lld params, %lld MACs)\n", dir.c_str(),
               static_cast<long long>(r.arch.params), static_cast<long long>(r.arch.macs));
  return r;
}

}  // namespace

SearchResult run_search(const json& config, const Datasets& d, const std::string& dir, bool resume) {
  if (resume && fs::exists(dir + "/arch.json")) return finished_search(dir);
  const json& sc = config["search"];
  const std::string method_name = sc["method"].get<std::string>();
  FIGS_CHECK(method_name == "figs" || method_name == "morphnet", "config: search.method must be \"figs\" or "
             "\"morphnet\" (width multiplier and random search have no search stage: figs sweep runs them), got \"",
             method_name, "\"");
  const uint64_t seed = config["seed"].get<uint64_t>();
  const auto space = make_space_from_config(config);
  const Shape in = space->input_shape();
  const data::ImageShape ds = d.input;
  FIGS_CHECK(ds.c == in[0] && ds.h == in[1] && ds.w == in[2], "search: the dataset's images are ", ds, " but space ",
             space->name(), "/", space->preset(), " takes ", in[0], "x", in[1], "x", in[2]);
  FIGS_CHECK(d.train->num_classes() == space->num_classes(), "search: the dataset has ", d.train->num_classes(),
             " classes, the space's classifier ", space->num_classes());

  data::Loader loader(d.train, loader_config(config, d, true, stage_batch_size(config, "search")));
  const int64_t per_epoch = loader.batches_per_epoch();
  const int64_t steps = total_steps(sc, per_epoch);
  const nn::LrSchedule schedule(stage_schedule(sc, steps, per_epoch));
  loader.start_epoch(0);
  // Models are built and initialised on the CPU and then moved (nn/model.h), so a seed gives the
  // same weights on every device; batches go to the model's device.
  const Device device = run_device(config);
  const Tensor first_images = [&] {
    auto b = loader.next();
    FIGS_CHECK(b.has_value(), "search: the training set is empty");
    return network_images(b->images, device);
  }();
  std::unique_ptr<FigsMethod> figs;
  std::unique_ptr<MorphNetMethod> morphnet;
  Method* method = nullptr;
  if (method_name == "figs") {
    figs = std::make_unique<FigsMethod>(*space, config, first_images, steps);
    method = figs.get();
  } else {
    morphnet = std::make_unique<MorphNetMethod>(*space, config, first_images);
    method = morphnet.get();
  }
  nn::Model& model = method->model();
  // The moving average of the weights (search.ema_decay > 0): evaluation uses it; the export reads
  // the trained logits.
  const std::unique_ptr<nn::Ema> ema = stage_ema(sc, model);

  // Target-budget mode: lambda follows the controller (nas/budget.h), fed the count the export
  // would give now, so that the export lands on the target.
  const nas::CostKind kind = cost_kind(config);
  const char* unit = nas::cost_kind_name(kind);
  const double target = sc["target"].get<double>();
  FIGS_CHECK(target >= 0, "config: search.target must be >= 0 (0: lambda as given), got ", target);
  std::optional<nas::LambdaController> controller;
  if (target > 0) {
    FIGS_CHECK(method->lambda() > 0, "config: search.target needs a starting lambda > 0 (search.lambda)");
    // The controller is fed nas::exported_count, which counts what the floor rule exports.
    FIGS_CHECK(!figs || width_rule(config) == nas::WidthRule::FloorSum, "config: budget mode (search.target > 0) "
               "exports with search.width_rule \"floor\"; \"threshold\" would land elsewhere than the controller aims");
    // nas/budget.h: the constants measured there; the target ramps down from the starting cost
    // over search.target_ramp updates so that the masks (or gammas) do not all cross together.
    // lambda may grow up to search.lambda_range times its start: far targets (5% of the
    // supernet) need ~30x; the ramp keeps that from winding up while the cost lags.
    const int64_t ramp = sc["target_ramp"].get<int64_t>();
    const double range = sc["lambda_range"].get<double>();
    FIGS_CHECK(ramp >= 0 && range >= 1, "config: search.target_ramp must be >= 0 and search.lambda_range >= 1, got ",
               ramp, " and ", range);
    controller.emplace(target, method->lambda(),
                       nas::LambdaControllerOptions{.gain = 0.05, .brake = 0.05, .ramp_updates = ramp, .range = range});
  }

  const uint64_t hash = checkpoint_config_hash(config);
  const std::string ckpt = dir + "/search.ckpt";
  double elapsed_before = 0;  // wall time of the earlier invocations of this run
  const auto start = Clock::now();  // this invocation's; images/s is measured over it
  auto save = [&](int64_t step, int64_t epoch) {
    average_buffers_over_ranks(model);  // collective; then rank 0 alone writes
    if (!dist::world().is_root()) return;
    nn::TrainingState state{&model, &method->optimizer(), ema.get(), {}, step, epoch, hash};
    state.elapsed_seconds = elapsed_before + since(start);
    if (controller) {  // in the checkpoint: it changes with the weights, and must not drift from them
      const nas::LambdaController::State c = controller->state();
      const json controller_state{{"lambda", c.lambda}, {"dual", c.dual}, {"current_target", c.current_target},
                                  {"first_cost", c.first_cost}, {"last_error", c.last_error}, {"updates", c.updates}};
      state.app_state = json{{"controller", controller_state}}.dump();
    }
    nn::save_checkpoint(ckpt, state);
  };
  int64_t first_step = 0;
  if (resume && fs::exists(ckpt)) {
    nn::TrainingState state{&model, &method->optimizer(), ema.get(), {}, 0, 0, hash};
    nn::load_checkpoint(ckpt, state);
    first_step = state.step;
    elapsed_before = state.elapsed_seconds;
    if (controller) {
      const json app = state.app_state.empty() ? json::object() : JsonReader::parse(state.app_state, ckpt);
      FIGS_CHECK(app.contains("controller"), "search: ", ckpt, " holds no budget-controller state (written by a figs "
                 "older than the budget mode's checkpointing); delete it to start this search again");
      const JsonReader c = JsonReader(app, ckpt)["controller"];
      controller->restore({c["lambda"].number(), c["dual"].number(), c["current_target"].number(),
                           c["first_cost"].number(), c["last_error"].number(), c["updates"].integer()});
      method->set_lambda(controller->lambda());
    }
    if (figs) figs->resume_at(first_step);
    if (morphnet) morphnet->resume_at(first_step);
    std::fprintf(stderr, "search: resuming %s at step %lld of %lld\n", dir.c_str(), static_cast<long long>(first_step),
                 static_cast<long long>(steps));
  }

  std::fprintf(stderr, "search: %s on %s/%s, %lld parameters; initial %s %s; lambda %s%s; %lld steps (%lld per epoch)\n",
               method_name.c_str(), space->name().c_str(), space->preset().c_str(),
               static_cast<long long>(model.num_parameters()), fmt(method->initial_cost(), 6).c_str(), unit,
               fmt(method->lambda()).c_str(),
               target > 0 ? (", target " + fmt(target, 8) + " " + unit).c_str() : "",
               static_cast<long long>(steps), static_cast<long long>(per_epoch));

  const int64_t resume_step = resume ? first_step : -1;
  StepLog csv(dir + "/search.csv", "step,epoch,loss,task_loss,penalty,expected_cost,lambda,tau,alive_channels,images_per_s",
              resume_step);
  StepLog jsonl(dir + "/search.jsonl", "", resume_step);
  StepLog layers_log(dir + "/search_layers.jsonl", "", resume_step);
  Progress progress("search", steps, sc["log_every"].get<int64_t>());
  const int64_t log_every = std::max<int64_t>(sc["log_every"].get<int64_t>(), 1);
  const int64_t checkpoint_every = sc["checkpoint_every"].get<int64_t>();
  StageGuard guard("search", model, config["loss_warn_factor"].get<double>(), space->num_classes(), ckpt);
  int64_t last_checkpoint = first_step;  // the step search.ckpt holds (0: none yet)
  int64_t images = 0, step = first_step;
  const int ranks = dist::world().world_size();
  std::optional<SyncBatchNormScope> sync_bn;
  sync_bn.emplace(config);
  // Steps are numbered across epochs: step s is batch s % per_epoch of epoch s / per_epoch.
  while (step < steps) {
    loader.start_epoch(step / per_epoch, step % per_epoch);
    while (step < steps) {
      auto b = loader.next();
      if (!b) break;
      images += b->labels.numel() * ranks;  // the global batch
      method->optimizer().set_lr_factor(schedule.factor(step));
      nas::SearchStepStats s = method->step(network_images(b->images, device), raw::to(b->labels, device));
      s.task_loss = dist::all_reduce_mean(s.task_loss);  // the global batch's (the penalty is the same on every rank)
      guard.check(s.step, s.task_loss + s.penalty, last_checkpoint);  // before anything is logged or saved
      if (ema) ema->update();
      step = s.step;
      if (controller && !s.warmup) method->set_lambda(controller->update(method->export_count(kind)));

      const int64_t epoch = (s.step - 1) / per_epoch;
      const double ips = images / std::max(since(start), 1e-9);
      const double loss = s.task_loss + s.penalty;
      csv.write(std::to_string(s.step) + ',' + std::to_string(epoch) + ',' + fmt(loss, 7) + ',' + fmt(s.task_loss, 7) +
                ',' + fmt(s.penalty, 7) + ',' + fmt(s.cost, 10) + ',' + fmt(s.lambda, 7) + ',' + fmt(s.tau, 7) + ',' +
                std::to_string(s.alive_channels) + ',' + fmt(ips, 5));
      jsonl.write(json{{"step", s.step}, {"epoch", epoch}, {"loss", loss}, {"task_loss", s.task_loss},
                       {"penalty", s.penalty}, {"expected_cost", s.cost}, {"lambda", s.lambda}, {"tau", s.tau},
                       {"alive_channels", s.alive_channels}, {"images_per_s", ips}}.dump());
      if (s.step % log_every == 0 || s.step == steps) layers_log.write(method->layer_stats(s.step).dump());
      progress.update(s.step, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string((steps + per_epoch - 1) / per_epoch) +
                                  "  loss " + fmt(s.task_loss) + "  " + unit + " " + fmt(s.cost, 6) + "  alive " +
                                  std::to_string(s.alive_channels) + "/" + std::to_string(s.channels) + "  " +
                                  fmt(ips, 3) + " img/s  " + time_left(since(start), s.step - first_step, steps - s.step) +
                                  (s.warmup ? "  (warmup)" : ""));
      const bool stop = s.step < steps && stop_requested(s.step);
      if ((checkpoint_every > 0 && s.step % checkpoint_every == 0 && s.step < steps) || stop) {
        save(s.step, epoch);
        last_checkpoint = s.step;
      }
      if (stop) throw Interrupted{"search", s.step};
    }
  }
  sync_bn.reset();
  report_communication("search", since(start), step - first_step);
  SearchResult r;
  r.seconds = elapsed_before + since(start);
  r.images_per_s = images / std::max(since(start), 1e-9);
  r.steps = step;
  save(r.steps, (r.steps - 1) / per_epoch);
  {
    std::optional<nn::Ema::Scope> averaged;  // evaluation on the moving average, when there is one
    if (ema) averaged.emplace(*ema);
    r.val_accuracy = method->val_accuracy(config, d);
  }

  std::vector<std::string> repairs;
  nas::WidthMap widths = method->export_widths(*space, config, &repairs);
  for (const std::string& change : repairs) std::fprintf(stderr, "search: export kept the network connected: %s\n", change.c_str());
  json source{{"method", method_name}, {"cost", unit}, {"lambda", method->lambda()}, {"target", target},
              {"lambda_relative", sc["lambda_relative"]}, {"steps", r.steps}, {"seed", seed},
              {"supernet_val_accuracy", r.val_accuracy}, {"seconds", r.seconds},
              {"images_per_s", r.images_per_s}, {"connectivity_repairs", repairs}};
  // In budget mode "lambda" is the applied value at the end (0 when the brake holds the export
  // on the target); "dual_lambda" is the pressure the controller had found.
  if (controller) source["dual_lambda"] = controller->dual_lambda();
  // MorphNet's expand step (its paper's shrink-then-expand): the thresholded widths, all scaled by
  // one factor onto the target. Its controller alone misses by a few percent (nas/budget.h).
  // Configs written before the key existed read it as on.
  if (morphnet && target > 0 && sc.value("morphnet_expand", true)) {
    const nas::BudgetMatch m = nas::rescale_to_budget(*space, kind, target, widths);
    const nas::Architecture found = nas::describe_architecture(*space, widths);
    const int64_t found_count = kind == nas::CostKind::Params ? found.params : found.macs;
    std::fprintf(stderr, "search: MorphNet's expand step: the threshold kept %lld %s (%+.1f%% of the target); all "
                 "widths x %.3f -> %lld\n", static_cast<long long>(found_count), unit, 100.0 * (found_count / target - 1),
                 m.multiplier, static_cast<long long>(m.count));
    source["found_count"] = found_count;
    source["expand_factor"] = m.multiplier;
    widths = m.widths;
  }
  r.arch = nas::describe_architecture(*space, widths, source.dump());
  if (dist::world().is_root()) nas::save_architecture(r.arch, dir + "/arch.json");

  const nas::WidthMap full = space->full_widths();
  std::fprintf(stderr, "search: exported widths (unit: supernet -> exported)\n");
  for (const auto& [key, w] : r.arch.widths)
    if (w != full.at(key))
      std::fprintf(stderr, "  %-40s %4lld -> %lld\n", key.c_str(), static_cast<long long>(full.at(key)),
                   static_cast<long long>(w));
  const int64_t landed = kind == nas::CostKind::Params ? r.arch.params : r.arch.macs;
  if (target > 0)
    std::fprintf(stderr, "search: target %s %s, exported %lld (%+.1f%%)\n", fmt(target, 8).c_str(), unit,
                 static_cast<long long>(landed), 100.0 * (landed / target - 1));
  std::fprintf(stderr, "search: %lld steps in %.0f s (%s%.0f img/s); searched network's val accuracy %.4f; exported "
               "%lld params, %lld MACs\n",
               static_cast<long long>(r.steps), r.seconds, elapsed_before > 0 ? "since the resume " : "", r.images_per_s,
               r.val_accuracy, static_cast<long long>(r.arch.params), static_cast<long long>(r.arch.macs));
  return r;
}

}  // namespace figs::app

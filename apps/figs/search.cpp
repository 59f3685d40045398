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
#include "drivers.h"

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

// The rule search.width_rule names; "auto" is "budget" in budget mode (a target) and "floor"
// without a target.
std::string chosen_width_rule(const json& config) {
  const std::string r = config["search"]["width_rule"].get<std::string>();
  if (r != "auto") return r;
  return config["search"]["target"].get<double>() > 0 ? "budget" : "floor";
}

// "budget" exports the most probable channels that fit the target (nas::budget_export); during
// the search its controller counts the p >= 1/2 export, as "threshold" does.
nas::WidthRule width_rule(const json& config) {
  const std::string r = chosen_width_rule(config);
  if (r == "floor") return nas::WidthRule::FloorSum;
  if (r == "threshold" || r == "budget") return nas::WidthRule::Threshold;
  fail("config: search.width_rule must be \"auto\", \"floor\", \"threshold\" or \"budget\", got \"", r, "\"");
}
bool budget_matched_export(const json& config) { return chosen_width_rule(config) == "budget"; }

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

// What differs between the search methods. Both run nas::ArchitectureSearch (one loop: warmup,
// task loss + penalty, update, one readout of the step's statistics); they differ in the network
// (with or without masks), the penalty, the optimizer's groups and the export.
class Method {
 public:
  virtual ~Method() = default;
  nn::Model& model() { return model_; }
  nn::Optimizer& optimizer() { return *opt_; }
  // One update on a batch.
  nas::SearchStepStats step(const Tensor& images, const Tensor& labels) { return search_->step(images, labels); }
  double lambda() const { return penalty().lambda(); }
  void set_lambda(double lambda) { penalty().set_lambda(lambda); }
  double initial_cost() const { return penalty().initial_cost(); }
  // After a checkpoint restored the model and optimizer at `step`.
  void resume_at(int64_t step) {
    options_.first_step = static_cast<uint64_t>(step);
    search_.emplace(model_, penalty(), *opt_, options_);
  }
  // The count the export would give now (what a budget controller is fed).
  virtual double export_count(nas::CostKind kind) const = 0;
  virtual json layer_stats(int64_t step) const = 0;
  // The exported width map (made buildable; what that changed goes to `repairs`).
  virtual nas::WidthMap export_widths(const nas::SearchSpace& space, const json& config,
                                      std::vector<std::string>* repairs) = 0;
  // Validation accuracy of the searched network as it would be exported.
  virtual double val_accuracy(const json& config, const Datasets& d) = 0;

 protected:
  // The network is built and initialised on the CPU from the run's seed, moved to the run's
  // device, its masks (if any) keyed by the seed, and traced on the first batch.
  Method(nn::ModulePtr network, const nas::SearchSpace& space, const Tensor& first_images, const json& config)
      : model_(std::move(network), {.seed = config["seed"].get<uint64_t>(), .device = run_device(config)}),
        graph_((nas::configure_masks(model_.root(), config["seed"].get<uint64_t>()),
                trace_graph(model_, first_images, space, config))) {}
  // The derived class calls this once its penalty and optimizer exist.
  void start(std::unique_ptr<nn::Adam> opt, nas::SearchOptions options) {
    opt_ = std::move(opt);
    options_ = options;
    search_.emplace(model_, penalty(), *opt_, options_);
  }
  virtual nas::SearchPenalty& penalty() = 0;
  virtual const nas::SearchPenalty& penalty() const = 0;
  static nas::PenaltyOptions penalty_options(const json& config) {
    return {.kind = cost_kind(config), .form = nas::CostForm::Expected,
            .lambda = config["search"]["lambda"].get<double>(),
            .relative_lambda = config["search"]["lambda_relative"].get<bool>()};
  }

  nn::Model model_;
  nas::ChannelGraph graph_;  // traced before any checkpoint is restored, so a resumed run starts
                             // from the same state as an uninterrupted one
  std::unique_ptr<nn::Adam> opt_;
  nas::SearchOptions options_;
  std::optional<nas::ArchitectureSearch> search_;
};

// The masked supernet (../shared/spec/figs-method.md, sections 1-4).
class FigsMethod : public Method {
 public:
  FigsMethod(const nas::SearchSpace& space, const json& config, const Tensor& first_images, int64_t steps)
      : Method(space.build(space.full_widths(), mask_options(config)), space, first_images, config),
        penalty_(graph_, penalty_options(config)), width_rule_(width_rule(config)) {
    const json& sc = config["search"];
    // The mask logits: their own lr, never weight decay (it would pull every logit to 0, pi = 1/2).
    start(stage_optimizer(sc, model_, {nn::ParamGroupSpec{.name = "logits", .selects = is_logits,
                                                          .lr = sc["logits_lr"].get<double>(), .weight_decay = 0.0}}),
          {.tau = tau_schedule(sc, steps),
           .warmup_steps = sc["warmup_steps"].get<int64_t>(),
           .first_step = 0,
           .label_smoothing = sc["label_smoothing"].get<double>(),
           .cuda_graph = sc["cuda_graph"].get<bool>()});
  }

  // From the logits the step read with its statistics: no second copy from the device.
  double export_count(nas::CostKind kind) const override {
    return nas::exported_count(graph_, kind, penalty_.last_logits(), width_rule_);
  }

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
    std::vector<nas::LayerWidth> widths;
    if (budget_matched_export(config)) {
      const double target = config["search"]["target"].get<double>();
      const nas::BudgetExport b = nas::budget_export(graph_, cost_kind(config), graph_.mask_logits_on_host(), target);
      std::fprintf(stderr, "search: width rule \"budget\": the most probable channels that fit the %.0f %s target, "
                   "down to p = %.4g\n", target, cost_kind(config) == nas::CostKind::Params ? "params" : "MACs",
                   b.cut_p);
      widths = b.widths;
    } else {
      widths = nas::export_widths(graph_, width_rule(config));
    }
    return nas::keep_network_connected(space, nas::width_map_from_export(space, widths), scores, repairs);
  }

  double val_accuracy(const json& config, const Datasets& d) override {
    recalibrate_supernet(model_, config, d);  // BN statistics under the eval masks
    return evaluate(model_, d.val, config, d);
  }

 protected:
  nas::SearchPenalty& penalty() override { return penalty_; }
  const nas::SearchPenalty& penalty() const override { return penalty_; }

 private:
  static nas::BuildOptions mask_options(const json& config) {
    nas::BuildOptions build{.masks = true, .mask_options = {}};
    build.mask_options.tau = config["search"]["tau"].get<double>();
    build.mask_options.init_logit = config["search"]["init_logit"].get<double>();  // the paper's nu_0
    return build;
  }

  nas::CostPenalty penalty_;
  nas::WidthRule width_rule_;  // what the export (and the budget controller's count) uses
};

// MorphNet (section 6): the network without masks, L1 on the BatchNorm scales weighted by cost.
class MorphNetMethod : public Method {
 public:
  MorphNetMethod(const nas::SearchSpace& space, const json& config, const Tensor& first_images)
      : Method(space.build(space.full_widths()), space, first_images, config),
        penalty_(graph_, penalty_options(config)) {
    const json& sc = config["search"];
    start(stage_optimizer(sc, model_), {.tau = {},
                                         .warmup_steps = sc["warmup_steps"].get<int64_t>(),
                                         .first_step = 0,
                                         .label_smoothing = sc["label_smoothing"].get<double>()});
  }

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

 protected:
  nas::SearchPenalty& penalty() override { return penalty_; }
  const nas::SearchPenalty& penalty() const override { return penalty_; }

 private:
  nas::MorphNetPenalty penalty_;
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

// One invocation of a search, in its four phases: setup (the data, the method, the budget
// controller), resume (from search.ckpt), the loop, and the export (arch.json).
class SearchRun {
 public:
  SearchRun(const json& config, const Datasets& d, const std::string& dir)
      : config_(config), sc_(config["search"]), data_(d), dir_(dir), ckpt_(dir + "/search.ckpt"),
        method_name_(sc_["method"].get<std::string>()), space_(make_space_from_config(config)),
        loader_(d.train, loader_config(config, d, true, stage_batch_size(config, "search"))),
        per_epoch_(loader_.batches_per_epoch()), steps_(total_steps(sc_, per_epoch_)),
        schedule_(stage_schedule(sc_, steps_, per_epoch_)), device_(run_device(config)), kind_(cost_kind(config)),
        target_(sc_["target"].get<double>()), hash_(checkpoint_config_hash(config)) {
    FIGS_CHECK(method_name_ == "figs" || method_name_ == "morphnet", "config: search.method must be \"figs\" or "
               "\"morphnet\" (width multiplier and random search have no search stage: figs sweep runs them), got \"",
               method_name_, "\"");
    const Shape in = space_->input_shape();
    const data::ImageShape ds = d.input;
    FIGS_CHECK(ds.c == in[0] && ds.h == in[1] && ds.w == in[2], "search: the dataset's images are ", ds, " but space ",
               space_->name(), "/", space_->preset(), " takes ", in[0], "x", in[1], "x", in[2]);
    FIGS_CHECK(d.train->num_classes() == space_->num_classes(), "search: the dataset has ", d.train->num_classes(),
               " classes, the space's classifier ", space_->num_classes());
    loader_.start_epoch(0);
    // Models are built and initialised on the CPU and then moved (nn/model.h), so a seed gives the
    // same weights on every device; batches go to the model's device.
    const Tensor first_images = [&] {
      auto b = loader_.next();
      FIGS_CHECK(b.has_value(), "search: the training set is empty");
      return network_images(b->images, device_);
    }();
    if (method_name_ == "figs")
      method_ = std::make_unique<FigsMethod>(*space_, config, first_images, steps_);
    else
      method_ = std::make_unique<MorphNetMethod>(*space_, config, first_images);
    // The moving average of the weights (search.ema_decay > 0): evaluation uses it; the export
    // reads the trained logits.
    ema_ = stage_ema(sc_, method_->model());
    start_controller();
    start_ = Clock::now();
  }

  // Continues from search.ckpt, when there is one.
  void resume() {
    if (!fs::exists(ckpt_)) return;
    nn::TrainingState state{&method_->model(), &method_->optimizer(), ema_.get(), {}, 0, 0, hash_};
    nn::load_checkpoint(ckpt_, state);
    first_step_ = state.step;
    elapsed_before_ = state.elapsed_seconds;
    if (controller_) {
      const json app = state.app_state.empty() ? json::object() : JsonReader::parse(state.app_state, ckpt_);
      FIGS_CHECK(app.contains("controller"), "search: ", ckpt_, " holds no budget-controller state (written by a figs "
                 "older than the budget mode's checkpointing); delete it to start this search again");
      controller_->restore_json(JsonReader(app, ckpt_)["controller"]);
      method_->set_lambda(controller_->lambda());
    }
    method_->resume_at(first_step_);
    std::fprintf(stderr, "search: resuming %s at step %lld of %lld\n", dir_.c_str(), static_cast<long long>(first_step_),
                 static_cast<long long>(steps_));
  }

  // The updates from the first step not done to the last; throws Interrupted when asked to stop
  // (after writing the checkpoint).
  void train(bool resume) {
    nn::Model& model = method_->model();
    const char* unit = nas::cost_kind_name(kind_);
    std::fprintf(stderr, "search: %s on %s/%s, %lld parameters; initial %s %s; lambda %s%s; %lld steps (%lld per epoch)\n",
                 method_name_.c_str(), space_->name().c_str(), space_->preset().c_str(),
                 static_cast<long long>(model.num_parameters()), fmt(method_->initial_cost(), 6).c_str(), unit,
                 fmt(method_->lambda()).c_str(),
                 target_ > 0 ? (", target " + fmt(target_, 8) + " " + unit).c_str() : "",
                 static_cast<long long>(steps_), static_cast<long long>(per_epoch_));

    const int64_t resume_step = resume ? first_step_ : -1;
    StepLog csv(dir_ + "/search.csv",
                "step,epoch,loss,task_loss,penalty,expected_cost,lambda,tau,alive_channels,images_per_s", resume_step);
    StepLog jsonl(dir_ + "/search.jsonl", "", resume_step);
    StepLog layers_log(dir_ + "/search_layers.jsonl", "", resume_step);
    Progress progress("search", steps_, sc_["log_every"].get<int64_t>());
    const int64_t log_every = std::max<int64_t>(sc_["log_every"].get<int64_t>(), 1);
    const int64_t checkpoint_every = sc_["checkpoint_every"].get<int64_t>();
    StageGuard guard("search", model, config_["loss_warn_factor"].get<double>(), space_->num_classes(), ckpt_);
    int64_t last_checkpoint = first_step_;  // the step search.ckpt holds (0: none yet)
    step_ = first_step_;
    const int ranks = dist::world().world_size();
    std::optional<SyncBatchNormScope> sync_bn;
    sync_bn.emplace(config_);
    // Steps are numbered across epochs: step s is batch s % per_epoch of epoch s / per_epoch.
    while (step_ < steps_) {
      loader_.start_epoch(step_ / per_epoch_, step_ % per_epoch_);
      while (step_ < steps_) {
        auto b = loader_.next();
        if (!b) break;
        images_ += b->labels.numel() * ranks;  // the global batch
        method_->optimizer().set_lr_factor(schedule_.factor(step_));
        nas::SearchStepStats s = method_->step(network_images(b->images, device_), raw::to(b->labels, device_));
        s.task_loss = dist::all_reduce_mean(s.task_loss);  // the global batch's (the penalty is the same on every rank)
        guard.check(s.step, s.task_loss + s.penalty, last_checkpoint);  // before anything is logged or saved
        if (ema_) ema_->update();
        step_ = s.step;
        if (controller_ && !s.warmup) method_->set_lambda(controller_->update(method_->export_count(kind_)));

        const int64_t epoch = (s.step - 1) / per_epoch_;
        const double ips = images_ / std::max(since(start_), 1e-9);
        const double loss = s.task_loss + s.penalty;
        csv.write(std::to_string(s.step) + ',' + std::to_string(epoch) + ',' + fmt(loss, 7) + ',' + fmt(s.task_loss, 7) +
                  ',' + fmt(s.penalty, 7) + ',' + fmt(s.cost, 10) + ',' + fmt(s.lambda, 7) + ',' + fmt(s.tau, 7) + ',' +
                  std::to_string(s.alive_channels) + ',' + fmt(ips, 5));
        jsonl.write(json{{"step", s.step}, {"epoch", epoch}, {"loss", loss}, {"task_loss", s.task_loss},
                         {"penalty", s.penalty}, {"expected_cost", s.cost}, {"lambda", s.lambda}, {"tau", s.tau},
                         {"alive_channels", s.alive_channels}, {"images_per_s", ips}}.dump());
        if (s.step % log_every == 0 || s.step == steps_) layers_log.write(method_->layer_stats(s.step).dump());
        progress.update(s.step, "epoch " + std::to_string(epoch + 1) + "/" +
                                    std::to_string((steps_ + per_epoch_ - 1) / per_epoch_) + "  loss " +
                                    fmt(s.task_loss) + "  " + unit + " " + fmt(s.cost, 6) + "  alive " +
                                    std::to_string(s.alive_channels) + "/" + std::to_string(s.channels) + "  " +
                                    fmt(ips, 3) + " img/s  " +
                                    time_left(since(start_), s.step - first_step_, steps_ - s.step) +
                                    (s.warmup ? "  (warmup)" : ""));
        const bool stop = s.step < steps_ && stop_requested(s.step);
        if ((checkpoint_every > 0 && s.step % checkpoint_every == 0 && s.step < steps_) || stop) {
          save(s.step, epoch);
          last_checkpoint = s.step;
        }
        if (stop) throw Interrupted{"search", s.step};
      }
    }
    sync_bn.reset();
    report_communication("search", since(start_), step_ - first_step_);
  }

  // The final checkpoint, the searched network's validation accuracy, and the export into
  // arch.json (rank 0 writes).
  SearchResult finish() {
    SearchResult r;
    r.seconds = elapsed_before_ + since(start_);
    r.images_per_s = images_ / std::max(since(start_), 1e-9);
    r.steps = step_;
    save(r.steps, (r.steps - 1) / per_epoch_);
    {
      std::optional<nn::Ema::Scope> averaged;  // evaluation on the moving average, when there is one
      if (ema_) averaged.emplace(*ema_);
      r.val_accuracy = method_->val_accuracy(config_, data_);
    }
    r.arch = export_architecture(r);
    if (dist::world().is_root()) nas::save_architecture(r.arch, dir_ + "/arch.json");
    report(r);
    return r;
  }

 private:
  // Target-budget mode: lambda follows the controller (nas/budget.h), fed the count the export
  // would give now, so that the export lands on the target.
  void start_controller() {
    FIGS_CHECK(target_ >= 0, "config: search.target must be >= 0 (0: lambda as given), got ", target_);
    if (target_ == 0) return;
    FIGS_CHECK(method_->lambda() > 0, "config: search.target needs a starting lambda > 0 (search.lambda)");
    // The target ramps down from the starting cost over search.target_ramp updates so that the
    // masks (or gammas) do not all cross together; lambda may grow up to search.lambda_range
    // times its start.
    const int64_t ramp = sc_["target_ramp"].get<int64_t>();
    const double range = sc_["lambda_range"].get<double>();
    FIGS_CHECK(ramp >= 0 && range >= 1, "config: search.target_ramp must be >= 0 and search.lambda_range >= 1, got ",
               ramp, " and ", range);
    controller_.emplace(target_, method_->lambda(), nas::search_controller_options(ramp, range));
  }

  void save(int64_t step, int64_t epoch) {
    nn::Model& model = method_->model();
    average_buffers_over_ranks(model);  // collective; then rank 0 alone writes
    if (!dist::world().is_root()) return;
    nn::TrainingState state{&model, &method_->optimizer(), ema_.get(), {}, step, epoch, hash_};
    state.elapsed_seconds = elapsed_before_ + since(start_);
    // The controller is in the checkpoint: it changes with the weights, and must not drift from them.
    if (controller_) state.app_state = json{{"controller", controller_->state_json()}}.dump();
    nn::save_checkpoint(ckpt_, state);
  }

  nas::Architecture export_architecture(const SearchResult& r) {
    const uint64_t seed = config_["seed"].get<uint64_t>();
    const char* unit = nas::cost_kind_name(kind_);
    std::vector<std::string> repairs;
    nas::WidthMap widths = method_->export_widths(*space_, config_, &repairs);
    for (const std::string& change : repairs)
      std::fprintf(stderr, "search: export kept the network connected: %s\n", change.c_str());
    json source{{"method", method_name_}, {"cost", unit}, {"lambda", method_->lambda()}, {"target", target_},
                {"lambda_relative", sc_["lambda_relative"]}, {"steps", r.steps}, {"seed", seed},
                {"supernet_val_accuracy", r.val_accuracy}, {"seconds", r.seconds},
                {"images_per_s", r.images_per_s}, {"connectivity_repairs", repairs}};
    // In budget mode "lambda" is the applied value at the end (0 when the brake holds the export
    // on the target); "dual_lambda" is the pressure the controller had found.
    if (controller_) source["dual_lambda"] = controller_->dual_lambda();
    if (method_name_ == "figs") source["width_rule"] = chosen_width_rule(config_);
    // MorphNet's expand step (its paper's shrink-then-expand): the thresholded widths, all scaled
    // by one factor onto the target. Its controller alone misses by a few percent (nas/budget.h).
    // Configs written before the key existed read it as on.
    if (method_name_ == "morphnet" && target_ > 0 && sc_.value("morphnet_expand", true)) {
      const nas::BudgetMatch m = nas::rescale_to_budget(*space_, kind_, target_, widths);
      const nas::Architecture found = nas::describe_architecture(*space_, widths);
      const int64_t found_count = kind_ == nas::CostKind::Params ? found.params : found.macs;
      std::fprintf(stderr, "search: MorphNet's expand step: the threshold kept %lld %s (%+.1f%% of the target); all "
                   "widths x %.3f -> %lld\n", static_cast<long long>(found_count), unit,
                   100.0 * (found_count / target_ - 1), m.multiplier, static_cast<long long>(m.count));
      source["found_count"] = found_count;
      source["expand_factor"] = m.multiplier;
      widths = m.widths;
    }
    return nas::describe_architecture(*space_, widths, source.dump());
  }

  void report(const SearchResult& r) const {
    const nas::WidthMap full = space_->full_widths();
    std::fprintf(stderr, "search: exported widths (unit: supernet -> exported)\n");
    for (const auto& [key, w] : r.arch.widths)
      if (w != full.at(key))
        std::fprintf(stderr, "  %-40s %4lld -> %lld\n", key.c_str(), static_cast<long long>(full.at(key)),
                     static_cast<long long>(w));
    const int64_t landed = kind_ == nas::CostKind::Params ? r.arch.params : r.arch.macs;
    if (target_ > 0)
      std::fprintf(stderr, "search: target %s %s, exported %lld (%+.1f%%)\n", fmt(target_, 8).c_str(),
                   nas::cost_kind_name(kind_), static_cast<long long>(landed), 100.0 * (landed / target_ - 1));
    std::fprintf(stderr, "search: %lld steps in %.0f s (%s%.0f img/s); searched network's val accuracy %.4f; exported "
                 "%lld params, %lld MACs\n",
                 static_cast<long long>(r.steps), r.seconds, elapsed_before_ > 0 ? "since the resume " : "",
                 r.images_per_s, r.val_accuracy, static_cast<long long>(r.arch.params),
                 static_cast<long long>(r.arch.macs));
  }

  const json& config_;
  const json& sc_;
  const Datasets& data_;
  const std::string dir_, ckpt_, method_name_;
  std::unique_ptr<nas::SearchSpace> space_;
  data::Loader loader_;
  const int64_t per_epoch_, steps_;
  const nn::LrSchedule schedule_;
  const Device device_;
  const nas::CostKind kind_;
  const double target_;
  const uint64_t hash_;
  std::unique_ptr<Method> method_;
  std::unique_ptr<nn::Ema> ema_;
  std::optional<nas::LambdaController> controller_;
  int64_t first_step_ = 0, step_ = 0, images_ = 0;
  double elapsed_before_ = 0;                // wall time of the earlier invocations of this run
  Clock::time_point start_;  // this invocation's, after the setup; images/s is measured over it
};

}  // namespace

SearchResult run_search(const json& config, const Datasets& d, const std::string& dir, bool resume) {
  if (resume && fs::exists(dir + "/arch.json")) return finished_search(dir);
  SearchRun run(config, d, dir);
  if (resume) run.resume();
  run.train(resume);
  return run.finish();
}

}  // namespace figs::app

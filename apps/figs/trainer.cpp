#include "trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/autograd_meta.h"
#include "core/parallel.h"
#include "core/view.h"
#include "data/loader.h"
#include "data/readers.h"
#include "data/synthetic.h"
#include "nas/channel_graph.h"
#include "nas/mask_layer.h"
#include "nas/objective.h"
#include "nas/recalibrate.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "nn/optim/adam.h"
#include "nn/schedule.h"

namespace figs::app {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A status line: redrawn in place on a terminal, printed every `every` steps otherwise.
class Progress {
 public:
  Progress(std::string stage, int64_t total, int64_t every)
      : stage_(std::move(stage)), total_(total), every_(std::max<int64_t>(every, 1)), tty_(isatty(2)) {}
  void update(int64_t step, const std::string& text) {
    if (tty_) {
      std::fprintf(stderr, "\r[%s] %lld/%lld %s\033[K", stage_.c_str(), static_cast<long long>(step),
                   static_cast<long long>(total_), text.c_str());
      if (step == total_) std::fprintf(stderr, "\n");
    } else if (step % every_ == 0 || step == total_) {
      std::fprintf(stderr, "[%s] %lld/%lld %s\n", stage_.c_str(), static_cast<long long>(step),
                   static_cast<long long>(total_), text.c_str());
    }
    std::fflush(stderr);
  }

 private:
  std::string stage_;
  int64_t total_, every_;
  bool tty_;
};

data::LoaderConfig loader_config(const json& config, const Datasets& d, bool train) {
  data::LoaderConfig c;
  c.batch_size = config["data"]["batch_size"].get<int64_t>();
  c.shuffle = train;
  c.seed = config["seed"].get<uint64_t>();
  c.num_workers = config["data"]["workers"].get<int>();
  c.augment.mean = d.mean;
  c.augment.std = d.std;
  if (train) {
    const int64_t pad = config["data"]["crop_padding"].get<int64_t>();
    if (pad > 0) {
      c.augment.random_crop = d.train->image_shape().h;
      c.augment.crop_padding = pad;
    }
    c.augment.horizontal_flip = config["data"]["flip"].get<bool>();
  }
  return c;
}

Tensor channels_last(const Tensor& images) { return raw::contiguous(images, MemoryFormat::ChannelsLast); }

double evaluate(nn::Model& model, const std::shared_ptr<const data::Dataset>& set, const json& config,
                const Datasets& d) {
  NoGradGuard no_grad;
  model.eval();
  data::Loader loader(set, loader_config(config, d, false));
  loader.start_epoch(0);
  int64_t correct = 0, seen = 0;
  while (auto b = loader.next()) {
    const std::vector<float> logits = model(channels_last(b->images)).to_vector<float>();
    const std::vector<int64_t> labels = b->labels.to_vector<int64_t>();
    const int64_t K = static_cast<int64_t>(logits.size() / labels.size());
    for (size_t i = 0; i < labels.size(); ++i) {
      const float* row = &logits[i * K];
      correct += std::max_element(row, row + K) - row == labels[i];
    }
    seen += static_cast<int64_t>(labels.size());
  }
  model.train();
  return seen ? static_cast<double>(correct) / seen : 0.0;
}

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

std::string fmt(double v, int precision = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

int64_t total_steps(const json& stage, int64_t per_epoch) {
  const int64_t max_steps = stage["max_steps"].get<int64_t>();
  const int64_t by_epochs = stage["epochs"].get<int64_t>() * per_epoch;
  return max_steps > 0 ? std::min(max_steps, std::max<int64_t>(by_epochs, max_steps)) : by_epochs;
}

}  // namespace

Datasets load_datasets(const json& config) {
  const json& dc = config["data"];
  const std::string name = dc["dataset"].get<std::string>();
  const uint64_t seed = config["seed"].get<uint64_t>();
  std::shared_ptr<const data::Dataset> full, test;
  if (name == "fashion-mnist" || name == "mnist") {
    const std::string dir = dc["dir"].get<std::string>();
    full = data::load_mnist_dir(dir, true);
    test = data::load_mnist_dir(dir, false);
  } else if (name == "synthetic") {  // for tests and smoke runs: no files needed
    full = std::make_shared<data::SyntheticDataset>(data::SyntheticOptions{2048, {1, 28, 28}, 10, seed});
    test = std::make_shared<data::SyntheticDataset>(data::SyntheticOptions{512, {1, 28, 28}, 10, seed + 1});
  } else {
    fail("config: data.dataset \"", name, "\" is not one of fashion-mnist, mnist, synthetic");
  }
  const int64_t limit = dc["train_limit"].get<int64_t>();
  if (limit > 0 && limit < full->size()) {
    std::vector<int64_t> first(limit);
    for (int64_t i = 0; i < limit; ++i) first[i] = i;
    full = std::make_shared<data::Subset>(full, first, full->describe() + " (first " + std::to_string(limit) + ")");
  }
  const data::Split split = data::split_validation(full, dc["val_fraction"].get<double>(), seed);
  Datasets d{split.train, split.val, test, {}, {}};
  const data::ChannelStats stats = data::channel_stats(*d.train, 10000);
  d.mean = stats.mean;
  d.std = stats.std;
  return d;
}

SearchResult run_search(const json& config, const Datasets& d, const std::string& dir) {
  const json& sc = config["search"];
  const uint64_t seed = config["seed"].get<uint64_t>();
  const auto space = nas::make_space(config["space"]["name"].get<std::string>(), config["space"]["preset"].get<std::string>());
  const Shape in = space->input_shape();
  const data::ImageShape ds = d.train->image_shape();
  FIGS_CHECK(ds.c == in[0] && ds.h == in[1] && ds.w == in[2], "search: the dataset's images are ", ds, " but space ",
             space->name(), "/", space->preset(), " takes ", in[0], "x", in[1], "x", in[2]);
  FIGS_CHECK(d.train->num_classes() == space->num_classes(), "search: the dataset has ", d.train->num_classes(),
             " classes, the space's classifier ", space->num_classes());

  nas::BuildOptions build{.masks = true};
  build.mask_options.tau = sc["tau"].get<double>();
  nn::Model model(space->build(space->full_widths(), build), {.seed = seed});
  nas::configure_masks(model.root(), seed);
  data::Loader loader(d.train, loader_config(config, d, true));
  const int64_t steps = total_steps(sc, loader.batches_per_epoch());

  // The channel graph, from one traced forward pass.
  loader.start_epoch(0);
  nas::ChannelGraph::NamedParameters named;
  for (const nn::ArenaSlot& s : model.param_slots()) named.push_back({s.name, s.tensor});
  const nas::ChannelGraph graph = [&] {
    auto b = loader.next();
    FIGS_CHECK(b.has_value(), "search: the training set is empty");
    return nas::ChannelGraph::trace(sum(model(channels_last(b->images))), named);
  }();
  nas::CostPenalty penalty(graph, {.kind = cost_kind(config),
                                   .lambda = sc["lambda"].get<double>(),
                                   .relative_lambda = sc["lambda_relative"].get<bool>()});
  nn::Adam opt(model, {.lr = sc["lr"].get<double>(), .eps = sc["adam_eps"].get<double>()},
               {nn::ParamGroupSpec{.name = "logits",
                                   .selects = [](const std::string& n) {
                                     return n.size() > 7 && n.compare(n.size() - 7, 7, ".logits") == 0;
                                   },
                                   .lr = sc["logits_lr"].get<double>(),
                                   .weight_decay = 0.0}});
  const auto masks = nas::mask_layers(model.root());
  int64_t total_channels = 0;
  for (auto& [n, m] : masks) total_channels += m->channels();
  std::fprintf(stderr, "search: %s/%s supernet, %lld parameters, %zu masks over %lld channels; initial %s %s; lambda %s\n",
               space->name().c_str(), space->preset().c_str(), static_cast<long long>(model.num_parameters()),
               masks.size(), static_cast<long long>(total_channels), fmt(penalty.initial_cost(), 6).c_str(),
               nas::cost_kind_name(cost_kind(config)), fmt(penalty.lambda()).c_str());

  std::ofstream csv(dir + "/search.csv"), jsonl(dir + "/search.jsonl");
  csv << "step,epoch,loss,task_loss,penalty,expected_cost,alive_channels,images_per_s\n";
  Progress progress("search", steps, sc["log_every"].get<int64_t>());
  const uint64_t hash = nn::config_hash(config.dump());
  const int64_t checkpoint_every = sc["checkpoint_every"].get<int64_t>();
  const auto start = Clock::now();
  int64_t step = 0, images = 0;
  for (int64_t epoch = 0; step < steps; ++epoch) {
    loader.start_epoch(epoch);
    while (step < steps) {
      auto b = loader.next();
      if (!b) break;
      nas::set_mask_step(model.root(), static_cast<uint64_t>(step));
      opt.zero_grad();
      const Tensor task = cross_entropy(model(channels_last(b->images)), b->labels);
      const Tensor pen = penalty();
      const Tensor loss = add(task, pen);
      backward(loss);
      opt.step();
      ++step;
      images += b->labels.numel();
      int64_t alive = 0;
      for (auto& [n, m] : masks)
        for (float nu : m->logits().to_vector<float>()) alive += nu >= 0;
      const double ips = images / std::max(since(start), 1e-9);
      const double l = loss.item<float>(), t = task.item<float>(), p = pen.item<float>();
      csv << step << ',' << epoch << ',' << l << ',' << t << ',' << p << ',' << penalty.last_cost() << ',' << alive << ','
          << ips << '\n';
      jsonl << json{{"step", step}, {"epoch", epoch}, {"loss", l}, {"task_loss", t}, {"penalty", p},
                    {"expected_cost", penalty.last_cost()}, {"alive_channels", alive}, {"images_per_s", ips}}.dump()
            << '\n';
      progress.update(step, "loss " + fmt(t) + "  " + nas::cost_kind_name(cost_kind(config)) + " " +
                                fmt(penalty.last_cost(), 6) + "  alive " + std::to_string(alive) + "/" +
                                std::to_string(total_channels) + "  " + fmt(ips, 3) + " img/s");
      if (checkpoint_every > 0 && step % checkpoint_every == 0)
        nn::save_checkpoint(dir + "/search.ckpt", {&model, &opt, nullptr, {}, step, epoch, hash});
    }
  }
  SearchResult r;
  r.seconds = since(start);
  r.images_per_s = images / std::max(r.seconds, 1e-9);
  r.steps = step;
  nn::save_checkpoint(dir + "/search.ckpt", {&model, &opt, nullptr, {}, step, 0, hash});

  // Supernet accuracy under the eval masks, BatchNorm re-estimated on ~2,500 training images.
  {
    data::Loader calib(d.train, loader_config(config, d, false));
    calib.start_epoch(0);
    std::vector<Tensor> batches;
    for (int64_t seen = 0; seen < 2500;) {
      auto b = calib.next();
      if (!b) break;
      seen += b->labels.numel();
      batches.push_back(channels_last(b->images));
    }
    nas::recalibrate_batch_norm(model, batches);
    r.val_accuracy = evaluate(model, d.val, config, d);
  }

  const nas::WidthMap widths = nas::width_map_from_export(*space, nas::export_widths(graph, width_rule(config)));
  const json source{{"method", "figs"}, {"cost", nas::cost_kind_name(cost_kind(config))},
                    {"lambda", penalty.lambda()}, {"lambda_relative", sc["lambda_relative"]},
                    {"steps", step}, {"seed", seed}, {"supernet_val_accuracy", r.val_accuracy}};
  r.arch = nas::describe_architecture(*space, widths, source.dump());
  nas::save_architecture(r.arch, dir + "/arch.json");

  // The widths, one line per unit that changed, then the totals.
  const nas::WidthMap full = space->full_widths();
  std::fprintf(stderr, "search: exported widths (unit: supernet -> exported)\n");
  for (const auto& [key, w] : r.arch.widths)
    if (w != full.at(key)) std::fprintf(stderr, "  %-40s %4lld -> %lld\n", key.c_str(), static_cast<long long>(full.at(key)), static_cast<long long>(w));
  std::fprintf(stderr, "search: %lld steps in %.0f s (%.0f img/s); supernet val accuracy %.4f; exported %lld params, %lld MACs\n",
               static_cast<long long>(step), r.seconds, r.images_per_s, r.val_accuracy,
               static_cast<long long>(r.arch.params), static_cast<long long>(r.arch.macs));
  return r;
}

RetrainResult run_retrain(const json& config, const Datasets& d, const nas::Architecture& arch, const std::string& dir) {
  const json& rc = config["retrain"];
  const uint64_t seed = config["seed"].get<uint64_t>() + 1;
  const auto space = nas::make_space_from_json(arch.space_json);
  nn::Model model(space->build(arch.widths), {.seed = seed});
  data::Loader loader(d.train, loader_config(config, d, true));
  const int64_t steps = total_steps(rc, loader.batches_per_epoch());
  nn::Adam opt(model, {.lr = rc["lr"].get<double>(), .weight_decay = rc["weight_decay"].get<double>()});
  nn::ScheduleConfig sched;
  const std::string kind = rc["schedule"].get<std::string>();
  FIGS_CHECK(kind == "cosine" || kind == "constant", "config: retrain.schedule must be \"cosine\" or \"constant\"");
  if (kind == "cosine") {
    sched.kind = nn::ScheduleKind::Cosine;
    sched.total_steps = std::max<int64_t>(steps, 1);
  }
  const nn::LrSchedule schedule(sched);
  std::fprintf(stderr, "retrain: %lld parameters, %lld MACs per image, %lld steps\n",
               static_cast<long long>(model.num_parameters()), static_cast<long long>(arch.macs),
               static_cast<long long>(steps));
  std::ofstream csv(dir + "/retrain.csv");
  csv << "step,epoch,loss,lr,images_per_s\n";
  Progress progress("retrain", steps, rc["log_every"].get<int64_t>());
  const uint64_t hash = nn::config_hash(config.dump());
  const auto start = Clock::now();
  int64_t step = 0, images = 0;
  for (int64_t epoch = 0; step < steps; ++epoch) {
    loader.start_epoch(epoch);
    while (step < steps) {
      auto b = loader.next();
      if (!b) break;
      opt.set_lr_factor(schedule.factor(step));
      opt.zero_grad();
      const Tensor loss = cross_entropy(model(channels_last(b->images)), b->labels);
      backward(loss);
      opt.step();
      ++step;
      images += b->labels.numel();
      const double ips = images / std::max(since(start), 1e-9);
      csv << step << ',' << epoch << ',' << loss.item<float>() << ',' << rc["lr"].get<double>() * schedule.factor(step - 1)
          << ',' << ips << '\n';
      progress.update(step, "loss " + fmt(loss.item<float>()) + "  " + fmt(ips, 3) + " img/s");
    }
  }
  RetrainResult r;
  r.seconds = since(start);
  r.images_per_s = images / std::max(r.seconds, 1e-9);
  r.steps = step;
  r.params = model.num_parameters();
  r.macs = arch.macs;
  nn::save_checkpoint(dir + "/retrain.ckpt", {&model, &opt, nullptr, {}, step, 0, hash});
  r.test_accuracy = evaluate(model, d.test, config, d);
  const json results{{"test_accuracy", r.test_accuracy}, {"params", r.params},
                     {"macs", r.macs}, {"retrain_seconds", r.seconds}, {"images_per_s", r.images_per_s},
                     {"steps", r.steps}, {"architecture", "arch.json"}};
  nas::write_file_atomically(dir + "/results.json", results.dump(2) + "\n");
  std::fprintf(stderr, "retrain: %lld steps in %.0f s (%.0f img/s); test accuracy %.4f\n",
               static_cast<long long>(step), r.seconds, r.images_per_s, r.test_accuracy);
  return r;
}

}  // namespace figs::app

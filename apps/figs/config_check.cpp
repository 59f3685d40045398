// One validation pass over the whole configuration, run before anything is created or loaded:
// a bad value fails in the first second of a run, not after its search, and the message names
// the key as the user wrote it. The table below is the one place that says what each key may
// hold; the code that reads the config later relies on it (every key present, of its type).
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "config.h"
#include "core/json_reader.h"
#include "nas/architecture.h"
#include "nas/space.h"

namespace figs::app {

namespace {

// What a key may hold, beyond the JSON type that merging onto the defaults already enforced.
enum class Kind {
  Count,          // an integer >= 0
  PositiveCount,  // an integer >= 1
  Positive,       // a finite number > 0
  NonNegative,    // a finite number >= 0
  Fraction,       // a number in (0, 1)
  Boolean,
  String,
  Choice,  // one of `choices`
  Custom,  // `check` says
};

struct KeyRule {
  std::string key;  // "search.lambda"
  Kind kind;
  std::vector<std::string> choices = {};
  std::function<void(const JsonReader&)> check = {};
};

// The largest thread counts that make sense: OpenMP starts every thread it is given, and 100,000
// of them exhaust the process's stacks long before they could help.
constexpr int64_t kMaxThreads = 1024;
constexpr int64_t kMaxWorkers = 256;

const std::vector<KeyRule>& rules() {
  static const std::vector<KeyRule> table = {
      {"space.name", Kind::String},
      {"space.preset", Kind::String},
      {"data.dataset", Kind::Choice, {"fashion-mnist", "mnist", "idx", "cifar10", "cifar100", "imagefolder", "synthetic"}},
      {"data.dir", Kind::String},  // required by mnist, cifar10, cifar100, imagefolder (checked below)
      {"data.idx.train_images", Kind::String},
      {"data.idx.train_labels", Kind::String},
      {"data.idx.test_images", Kind::String},
      {"data.idx.test_labels", Kind::String},
      {"data.idx.classes", Kind::PositiveCount},
      {"data.idx.label_offset", Kind::Count},
      {"data.idx.transpose", Kind::Boolean},
      {"data.cifar100_coarse", Kind::Boolean},
      {"data.synthetic.train_size", Kind::PositiveCount},
      {"data.synthetic.test_size", Kind::PositiveCount},
      {"data.synthetic.channels", Kind::Count},    // 0: the space's
      {"data.synthetic.image_size", Kind::Count},  // 0: the space's
      {"data.synthetic.classes", Kind::Count},     // 0: the space's
      {"data.image_size", Kind::Count},            // imagefolder: 0 = the space's
      {"data.resize", Kind::Count},                // imagefolder: 0 = image_size * 8 / 7
      {"data.augment", Kind::Choice, {"auto", "pad-crop", "inception", "none"}},
      {"data.scale_min", Kind::Fraction},
      {"data.jitter", Kind::Custom, {},
       [](const JsonReader& v) {
         if (v.number() < 0 || v.number() > 1) v.fail("must be in [0, 1] (0: no colour jitter), got ", v.number());
       }},
      {"data.val_fraction", Kind::Fraction},  // the search and the retrain report validation accuracy
      {"data.split_seed", Kind::Count},
      {"data.train_limit", Kind::Count},
      {"data.stats_images", Kind::Count},  // 0: 10,000 (in memory) or 500 (decoded files)
      {"data.batch_size", Kind::PositiveCount},
      {"data.workers", Kind::Custom, {},
       [](const JsonReader& v) {
         if (v.count() > kMaxWorkers) v.fail("must be at most ", kMaxWorkers, ", got ", v.integer());
       }},
      {"data.crop_padding", Kind::Count},
      {"data.flip", Kind::Boolean},
      {"search.method", Kind::Choice, {"figs", "morphnet"}},
      {"search.epochs", Kind::Count},
      {"search.max_steps", Kind::Count},
      {"search.warmup_steps", Kind::Count},
      {"search.lr", Kind::Positive},
      {"search.logits_lr", Kind::Positive},
      {"search.adam_eps", Kind::Positive},
      {"search.tau", Kind::Positive},
      {"search.tau_end", Kind::NonNegative},  // 0: tau stays constant
      {"search.cost", Kind::Choice, {"params", "macs"}},
      {"search.lambda", Kind::NonNegative},
      {"search.lambda_relative", Kind::Boolean},
      {"search.target", Kind::NonNegative},  // 0: lambda as given; reachability: check_budget_reachable
      {"search.target_ramp", Kind::Count},
      {"search.lambda_range", Kind::Custom, {},
       [](const JsonReader& v) {
         if (v.number() < 1) v.fail("must be >= 1 (lambda may grow to this many times its start), got ", v.number());
       }},
      {"search.morphnet_expand", Kind::Boolean},
      {"search.width_rule", Kind::Choice, {"auto", "floor", "threshold", "budget"}},
      {"search.group_rule", Kind::Choice, {"any", "max"}},
      {"search.removal_aware", Kind::Boolean},
      {"search.cuda_graph", Kind::Boolean},
      {"search.init_logit", Kind::Custom, {},
       [](const JsonReader& v) {
         if (!std::isfinite(v.number())) v.fail("must be a finite number");
       }},
      {"search.log_every", Kind::PositiveCount},
      {"search.checkpoint_every", Kind::Count},
      {"retrain.epochs", Kind::Count},
      {"retrain.max_steps", Kind::Count},
      {"retrain.lr", Kind::Positive},
      {"retrain.adam_eps", Kind::Positive},
      {"retrain.log_every", Kind::PositiveCount},
      {"retrain.checkpoint_every", Kind::Count},
      {"sweep.methods", Kind::Custom, {},
       [](const JsonReader& v) {
         for (const std::string& m : v.strings())
           if (m != "figs" && m != "morphnet" && m != "width" && m != "random")
             v.fail("lists an unknown method \"", m, "\" (methods: figs, morphnet, width, random)");
       }},
      {"sweep.budgets", Kind::Custom, {},
       [](const JsonReader& v) {
         for (size_t i = 0; i < v.size(); ++i)
           if (v[i].integer() <= 0) v[i].fail("must be a budget > 0, got ", v[i].integer());
       }},
      {"sweep.seeds", Kind::Custom, {},
       [](const JsonReader& v) {
         for (size_t i = 0; i < v.size(); ++i) (void)v[i].count();
       }},
      {"seed", Kind::Count},
      {"threads", Kind::Custom, {},
       [](const JsonReader& v) {
         if (v.count() > kMaxThreads) v.fail("must be at most ", kMaxThreads, " (0: all cores), got ", v.integer());
       }},
      {"device", Kind::Choice, {"cpu", "cuda"}},
      {"tf32", Kind::Boolean},
      {"distributed.sync_batch_norm", Kind::Boolean},
      {"loss_warn_factor", Kind::Custom, {},
       [](const JsonReader& v) {
         if (v.number() != 0 && v.number() <= 1)
           v.fail("must be 0 (no warning) or > 1 (warn when the loss exceeds this many times its running mean), got ",
                  v.number());
       }},
  };
  // The recipe keys (apps/figs/recipe.h), the same for both stages.
  static const std::vector<KeyRule> with_recipes = [] {
    std::vector<KeyRule> all = table;
    for (const std::string stage : {"search", "retrain"}) {
      auto key = [&](const char* k) { return stage + "." + k; };
      all.push_back({key("batch_size"), Kind::Count});  // 0: data.batch_size
      all.push_back({key("schedule"), Kind::Choice, {"constant", "cosine", "step", "exponential"}});
      all.push_back({key("lr_warmup_steps"), Kind::Count});
      all.push_back({key("decay_factor"), Kind::Custom, {}, [](const JsonReader& v) {
                       if (v.number() <= 0 || v.number() > 1) v.fail("must be in (0, 1], got ", v.number());
                     }});
      all.push_back({key("decay_epochs"), Kind::Positive});
      all.push_back({key("weight_decay"), Kind::NonNegative});
      all.push_back({key("weight_decay_mode"), Kind::Choice, {"l2", "decoupled"}});
      all.push_back({key("ema_decay"), Kind::Custom, {}, [](const JsonReader& v) {
                       if (v.number() < 0 || v.number() >= 1) v.fail("must be in [0, 1) (0: no moving average), got ",
                                                                     v.number());
                     }});
      all.push_back({key("label_smoothing"), Kind::Custom, {}, [](const JsonReader& v) {
                       if (v.number() < 0 || v.number() >= 1) v.fail("must be in [0, 1), got ", v.number());
                     }});
    }
    return all;
  }();
  return with_recipes;
}

JsonReader at_path(const JsonReader& root, const std::string& key) {
  JsonReader node = root;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    node = node[key.substr(start, dot == std::string::npos ? std::string::npos : dot - start)];
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

void check_rule(const JsonReader& v, const KeyRule& rule) {
  switch (rule.kind) {
    case Kind::Count: (void)v.count(); break;
    case Kind::PositiveCount:
      if (v.integer() < 1) v.fail("must be >= 1, got ", v.integer());
      break;
    case Kind::Positive:
      if (v.number() <= 0) v.fail("must be > 0, got ", v.number());
      break;
    case Kind::NonNegative:
      if (v.number() < 0) v.fail("must be >= 0, got ", v.number());
      break;
    case Kind::Fraction:
      if (v.number() <= 0 || v.number() >= 1) v.fail("must be in (0, 1), got ", v.number());
      break;
    case Kind::Boolean: (void)v.boolean(); break;
    case Kind::String: (void)v.string(); break;
    case Kind::Choice: {
      const std::string s = v.string();
      if (std::find(rule.choices.begin(), rule.choices.end(), s) == rule.choices.end()) {
        std::string list;
        for (const std::string& c : rule.choices) list += (list.empty() ? "" : ", ") + c;
        v.fail("must be one of ", list, ", got \"", s, "\"");
      }
      break;
    }
    case Kind::Custom: rule.check(v); break;
  }
}

// Integral numbers in the default's integer slots become integers, so that `.get<int64_t>()`
// later reads exactly what the user wrote (a fractional one has already failed validation).
void normalize_integers(json& config, const json& defaults) {
  for (auto it = defaults.begin(); it != defaults.end(); ++it) {
    if (!config.is_object() || !config.contains(it.key())) continue;
    json& v = config[it.key()];
    if (it.value().is_object() && it.key() != "options") {
      normalize_integers(v, it.value());
    } else if (it.value().is_number_integer() && v.is_number_float()) {
      v = static_cast<int64_t>(v.get<double>());
    } else if (it.value().is_array() && v.is_array()) {
      for (json& e : v)
        if (e.is_number_float() && std::floor(e.get<double>()) == e.get<double>()) e = static_cast<int64_t>(e.get<double>());
    }
  }
}

}  // namespace

void validate_config(json& config, const std::string& origin) {
  const JsonReader root(config, origin);
  std::set<std::string> checked;
  for (const KeyRule& rule : rules()) {
    // The runs of a sweep have no sweep section (sweep.cpp, run_config).
    if (rule.key.rfind("sweep.", 0) == 0 && !root.has("sweep")) {
      checked.insert(rule.key);
      continue;
    }
    check_rule(at_path(root, rule.key), rule);
    checked.insert(rule.key);
  }
  // Every leaf of the defaults has a rule: a key added to default_config() without one fails here
  // (tests run this on every preset), not silently in a user's run.
  std::function<void(const json&, const std::string&)> leaves = [&](const json& d, const std::string& prefix) {
    for (auto it = d.begin(); it != d.end(); ++it) {
      const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
      if (it.value().is_object() && key != "space.options") {
        leaves(it.value(), key);
      } else if (key != "space.options") {
        FIGS_CHECK(checked.count(key), "validate_config: the default key '", key, "' has no rule (apps/figs/config_check.cpp)");
      }
    }
  };
  leaves(default_config(), "");
  const JsonReader search = root["search"], retrain = root["retrain"];
  if (search["max_steps"].integer() == 0 && search["epochs"].integer() == 0)
    search["max_steps"].fail("and 'search.epochs' are both 0: the search needs steps (max_steps) or epochs");
  if (retrain["max_steps"].integer() == 0 && retrain["epochs"].integer() == 0)
    retrain["max_steps"].fail("and 'retrain.epochs' are both 0: the retrain needs steps (max_steps) or epochs");
  const JsonReader data = root["data"];
  const std::string dataset = data["dataset"].string();
  if (data["dir"].string().empty() && dataset != "idx" && dataset != "synthetic")
    data["dir"].fail("is empty: data.dataset \"", dataset, "\" reads its files from it",
                     dataset == "imagefolder" ? " (a folder holding train/ and, optionally, val/ of class folders)" : "");
  if (dataset == "idx")
    for (const char* k : {"train_images", "train_labels", "test_images", "test_labels"})
      if (data["idx"][k].string().empty()) data["idx"][k].fail("is empty: data.dataset \"idx\" needs all four files");
  if (search["width_rule"].string() == "budget" && search["target"].number() <= 0)
    search["width_rule"].fail("\"budget\" matches the export to search.target, which is 0 (no target)");
  if (search["target"].number() > 0) {
    if (search["lambda"].number() <= 0)
      search["lambda"].fail("must be > 0 in budget mode (search.target > 0): it is the controller's starting point");
  }
  normalize_integers(config, default_config());
}

void check_budget_reachable(const json& config, const nas::SearchSpace& space, double target, const std::string& what) {
  if (target <= 0) return;
  const bool params = config["search"]["cost"] == "params";
  const char* unit = params ? "params" : "MACs";
  auto count = [&](const nas::Architecture& a) { return params ? a.params : a.macs; };
  const int64_t full = count(nas::describe_architecture(space, {}));
  FIGS_CHECK(target < static_cast<double>(full), what, " ", static_cast<int64_t>(target), " is not below the supernet's ",
             full, " ", unit, " (", space.name(), "/", space.preset(), "): nothing to search for");
  // The smallest network an export can give: every width key at 0, then made buildable again
  // (nas/space.h, keep_network_connected: one operator per block that needs one, at its minimum
  // width).
  nas::WidthMap zero = space.full_widths();
  for (auto& [key, width] : zero) width = 0;
  const int64_t floor = count(nas::describe_architecture(space, nas::keep_network_connected(space, zero)));
  FIGS_CHECK(target >= static_cast<double>(floor), what, " ", static_cast<int64_t>(target), " is below the smallest "
             "network ", space.name(), "/", space.preset(), " can export (", floor, " ", unit, ": every width at its "
             "minimum, one operator per block)");
}

}  // namespace figs::app

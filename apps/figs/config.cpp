#include "config.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace figs::app {

json default_config() {
  return json::parse(R"({
    "space": {"name": "oneshot", "preset": "small28"},
    "data": {
      "dataset": "fashion-mnist",
      "dir": "/usr/share/datasets/fashion-mnist",
      "val_fraction": 0.1,
      "train_limit": 0,
      "batch_size": 128,
      "workers": 2,
      "crop_padding": 2,
      "flip": true
    },
    "search": {
      "epochs": 1,
      "max_steps": 150,
      "lr": 0.01,
      "logits_lr": 0.1,
      "adam_eps": 1.0,
      "tau": 0.001,
      "cost": "params",
      "lambda": 4.0,
      "lambda_relative": true,
      "width_rule": "floor",
      "log_every": 20,
      "checkpoint_every": 0
    },
    "retrain": {
      "epochs": 1,
      "max_steps": 200,
      "lr": 0.01,
      "weight_decay": 0.0,
      "schedule": "cosine",
      "log_every": 20
    },
    "seed": 0,
    "threads": 0,
    "device": "cpu"
  })");
}

namespace {

// Sets `path` in `config`, which must already exist there with a value of the same kind.
void set_path(json& config, const std::string& path, const json& value) {
  json* node = &config;
  std::string walked;
  std::stringstream ss(path);
  std::string part;
  std::vector<std::string> parts;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  FIGS_CHECK(!parts.empty(), "config: empty key in '", path, "'");
  for (size_t i = 0; i < parts.size(); ++i) {
    walked += (i ? "." : "") + parts[i];
    FIGS_CHECK(node->is_object() && node->contains(parts[i]), "config: unknown key '", walked, "'");
    node = &(*node)[parts[i]];
  }
  const bool numbers = node->is_number() && value.is_number();
  FIGS_CHECK(numbers || node->type() == value.type(), "config: '", path, "' expects a ", node->type_name(),
             ", got ", value.dump());
  *node = node->is_number_integer() && value.is_number_float() ? json(value.get<double>()) : value;
}

void merge(json& config, const json& patch, const std::string& prefix) {
  FIGS_CHECK(patch.is_object(), "config: '", prefix.empty() ? "<root>" : prefix, "' must be an object");
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it.value().is_object()) {
      FIGS_CHECK(config.contains(it.key()) && config[it.key()].is_object(), "config: unknown key '", key, "'");
      merge(config[it.key()], it.value(), key);
    } else {
      set_path(config, it.key(), it.value());
    }
  }
}

}  // namespace

void apply_override(json& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  FIGS_CHECK(eq != std::string::npos && eq > 0, "--set '", assignment, "': expected key.path=value");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::exception&) {
    value = text;  // a bare word: a string
  }
  set_path(config, key, value);
}

json run_preset(const std::string& name) {
  json c = default_config();
  if (name == "default") return c;
  if (name == "quick") {
    c["space"]["preset"] = "tiny28";
    c["data"]["train_limit"] = 3000;
    c["search"]["max_steps"] = 40;
    c["retrain"]["max_steps"] = 40;
    c["search"]["log_every"] = 10;
    c["retrain"]["log_every"] = 10;
    return c;
  }
  fail("unknown run preset '", name, "' (presets: default, quick)");
}

json load_config(json base, const std::string& file, const std::vector<std::string>& overrides) {
  json config = std::move(base);
  if (!file.empty()) {
    std::ifstream in(file);
    FIGS_CHECK(in.good(), "config: cannot read '", file, "'");
    json patch;
    try {
      patch = json::parse(in);
    } catch (const json::exception& e) {
      fail("config '", file, "': not valid JSON (", e.what(), ")");
    }
    merge(config, patch, "");
  }
  for (const std::string& o : overrides) apply_override(config, o);
  return config;
}

}  // namespace figs::app

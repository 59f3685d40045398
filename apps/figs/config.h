// The `figs` command's configuration: one JSON document with every option and its default
// (docs/cli.md), overridden by --set key.path=value, saved as the effective config of each run.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace figs::nas {
class SearchSpace;
}

namespace figs::app {

using json = nlohmann::json;

// Every option with its default.
json default_config();
// The search keys added after runs were written, with the value those runs had (the spec's
// accounting): a run folder without them reads these, and a run's identity (its checkpoints'
// hash) leaves them out while they hold these values.
json legacy_search_defaults();
// `base` (a run preset), then the JSON file (if any), then the --set overrides in order, then
// validate_config. Unknown keys and values of the wrong type are errors naming the key.
json load_config(json base, const std::string& file, const std::vector<std::string>& overrides);
// The effective configuration a run folder was started with (RUN_DIR/config.json), read over the
// defaults and validated like --config; errors name the file and the key.
json load_run_config(const std::string& run_dir);
// Every key's type and range, for every stage (apps/figs/config_check.cpp): integers are
// integers (an integral 1e5 becomes 100000 in place), names are known, ranges hold. Errors name
// the key as the user writes it ("search.lambda") and `origin` (the file, or "config").
void validate_config(json& config, const std::string& origin);
// A search's budget (search.target > 0) is reachable in its space: below the supernet's count
// and at or above the smallest network the space exports. `what` names the setting in errors.
void check_budget_reachable(const json& config, const nas::SearchSpace& space, double target, const std::string& what);
// Applies one "a.b.c=value" (value parsed as JSON when it parses, else taken as a string).
void apply_override(json& config, const std::string& assignment);
// The search space of config["space"]: the preset, with space.options (the space's own
// configuration keys, e.g. {"width": 12}) applied on top. Unknown options are errors.
std::unique_ptr<nas::SearchSpace> make_space_from_config(const json& config);
// Named presets of the whole run: "default" (Fashion-MNIST, ~15 min on 2 cores) and "quick"
// (a ~2 minute smoke run, what CI uses).
json run_preset(const std::string& name);

}  // namespace figs::app

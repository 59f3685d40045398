// The `figs` command's configuration: one JSON document with every option and its default
// (docs/cli.md), overridden by --set key.path=value, saved as the effective config of each run.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace figs::app {

using json = nlohmann::json;

// Every option with its default.
json default_config();
// `base` (a run preset), then the JSON file (if any), then the --set overrides in order. Unknown
// keys and values of the wrong type are errors naming the key.
json load_config(json base, const std::string& file, const std::vector<std::string>& overrides);
// Applies one "a.b.c=value" (value parsed as JSON when it parses, else taken as a string).
void apply_override(json& config, const std::string& assignment);
// Named presets of the whole run: "default" (Fashion-MNIST, ~15 min on 2 cores) and "quick"
// (a ~2 minute smoke run, what CI uses).
json run_preset(const std::string& name);

}  // namespace figs::app

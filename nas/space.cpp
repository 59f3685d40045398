#include "nas/space.h"

#include <nlohmann/json.hpp>

#include <cmath>

#include "nas/objective.h"

#include <algorithm>
#include <mutex>
#include <set>

namespace figs::nas {

namespace {
std::map<std::string, SpaceEntry>& registry() {
  static std::map<std::string, SpaceEntry> spaces;
  return spaces;
}
std::string known_spaces() {
  std::string out;
  for (const auto& [name, e] : registry()) out += (out.empty() ? "" : ", ") + name;
  return out;
}
const SpaceEntry& entry(const std::string& name) {
  auto it = registry().find(name);
  FIGS_CHECK(it != registry().end(), "search space '", name, "' does not exist (known: ", known_spaces(), ")");
  return it->second;
}
}  // namespace

void register_space(SpaceEntry e) { registry()[e.name] = std::move(e); }

std::vector<std::string> space_names() {
  std::vector<std::string> out;
  for (const auto& [name, e] : registry()) out.push_back(name);
  return out;
}

std::unique_ptr<SearchSpace> make_space(const std::string& name, const std::string& preset) {
  const SpaceEntry& e = entry(name);
  const std::string p = preset.empty() ? e.presets.front() : preset;
  bool known = false;
  std::string list;
  for (const std::string& q : e.presets) {
    known = known || q == p;
    list += (list.empty() ? "" : ", ") + q;
  }
  FIGS_CHECK(known, "search space '", name, "' has no preset '", p, "' (presets: ", list, ")");
  return e.from_preset(p);
}

namespace {

bool is_integral(const nlohmann::json& v) {
  return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                                   std::isfinite(v.get<double>()));
}

// `value` has the kind of `reference` (a space's own field): integers stay integers, arrays hold
// elements of the reference's element kind.
void check_same_kind(const nlohmann::json& reference, const nlohmann::json& value, const std::string& what) {
  const std::string got = value.dump().substr(0, 60);
  if (reference.is_number_integer()) {
    FIGS_CHECK(is_integral(value), what, " must be an integer, got ", got);
  } else if (reference.is_number()) {
    FIGS_CHECK(value.is_number(), what, " must be a number, got ", got);
  } else if (reference.is_array()) {
    FIGS_CHECK(value.is_array(), what, " must be an array, got ", got);
    if (!reference.empty())
      for (size_t i = 0; i < value.size(); ++i)
        check_same_kind(reference[0], value[i], what + "[" + std::to_string(i) + "]");
  } else if (!reference.is_null()) {
    FIGS_CHECK(value.type() == reference.type(), what, " must be ", reference.is_string() ? "a string" :
               reference.is_boolean() ? "true or false" : reference.is_object() ? "an object" : reference.type_name(),
               ", got ", got);
  }
}

// Sizes a network can have: every integer field (and element) of a space configuration lies in
// [0, 4096], image_size in [1, 2048], num_classes in [1, 100000], arrays hold at most 256
// elements. The presets' largest values are 1984 channels, 224 px and 1000 classes; the bounds
// keep a damaged or hostile file (a 10^6 px image, 10^5 cells: found by fuzzing) from asking
// for terabytes or hours before anything can say no.
void check_size(const std::string& key, const nlohmann::json& value, const std::string& what) {
  if (value.is_array()) {
    FIGS_CHECK(value.size() <= 256, what, " has ", value.size(), " elements (at most 256)");
    for (size_t i = 0; i < value.size(); ++i) check_size(key, value[i], what + "[" + std::to_string(i) + "]");
    return;
  }
  if (!value.is_number()) return;
  const double v = value.get<double>();
  const double lo = key == "image_size" || key == "num_classes" ? 1 : 0;
  const double hi = key == "image_size" ? 2048 : key == "num_classes" ? 100000 : 4096;
  FIGS_CHECK(v >= lo && v <= hi, what, " must be in [", lo, ", ", hi, "], got ", value.dump());
}

}  // namespace

std::unique_ptr<SearchSpace> make_space_from_json(const std::string& config_json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(config_json);
  } catch (const nlohmann::json::exception& ex) {
    fail("search space configuration: not valid JSON (", ex.what(), ")");
  }
  FIGS_CHECK(j.is_object() && j.contains("space") && j["space"].is_string(),
             "search space configuration: needs a string field \"space\"");
  const SpaceEntry& e = entry(j["space"].get<std::string>());
  // Every field must be one the space has (its preset's configuration lists them all), of the
  // same kind: a misspelt field is not silently ignored, and a width of 12.5 is not truncated.
  std::string preset = e.presets.front();
  if (j.contains("preset")) {
    FIGS_CHECK(j["preset"].is_string(), "search space configuration: \"preset\" must be a string");
    preset = j["preset"].get<std::string>();
  }
  const nlohmann::json reference = nlohmann::json::parse(make_space(e.name, preset)->config_json());
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string fields;
    for (auto r = reference.begin(); r != reference.end(); ++r) fields += (fields.empty() ? "" : ", ") + r.key();
    FIGS_CHECK(reference.contains(it.key()), e.name, " configuration: unknown field '", it.key(), "' (fields: ",
               fields, ")");
    check_same_kind(reference[it.key()], it.value(), e.name + " configuration: '" + it.key() + "'");
    check_size(it.key(), it.value(), e.name + " configuration: '" + it.key() + "'");
  }
  return e.from_json(config_json);
}

std::vector<std::string> describe_presets() {
  std::vector<std::string> out;
  for (const auto& [name, e] : registry()) {
    std::string presets;
    for (const std::string& p : e.presets) presets += (presets.empty() ? "" : ", ") + p;
    out.push_back(name + " (" + presets + "): " + e.description);
  }
  return out;
}

int64_t SearchSpace::width_of(const WidthMap& widths, const std::string& key) const {
  const WidthMap full = full_widths();
  auto f = full.find(key);
  FIGS_CHECK(f != full.end(), name(), ": no width key '", key, "' in this space");
  auto it = widths.find(key);
  if (it == widths.end()) return f->second;
  FIGS_CHECK(it->second >= 0 && it->second <= f->second, name(), ": width ", it->second, " for '", key,
             "' is outside [0, ", f->second, "]");
  return it->second;
}

void SearchSpace::check_keys(const WidthMap& widths) const {
  const WidthMap full = full_widths();
  std::string unknown;
  for (const auto& [key, w] : widths)
    if (!full.count(key)) unknown += (unknown.empty() ? "'" : ", '") + key + "'";
  FIGS_CHECK(unknown.empty(), name(), " (", preset(), "): unknown width keys ", unknown);
}

std::string width_key_of_mask(const std::string& logits_name) {
  const std::string suffix = ".mask.logits";
  FIGS_CHECK(logits_name.size() > suffix.size() &&
                 logits_name.compare(logits_name.size() - suffix.size(), suffix.size(), suffix) == 0,
             "width_key_of_mask: '", logits_name, "' is not a ConvUnit's mask logits (<path>.mask.logits)");
  return logits_name.substr(0, logits_name.size() - suffix.size());
}

WidthMap width_map_from_export(const SearchSpace& space, const std::vector<LayerWidth>& exported) {
  const WidthMap full = space.full_widths();
  WidthMap out;
  for (const LayerWidth& w : exported) {
    const std::string key = width_key_of_mask(w.mask);
    if (full.count(key)) out[key] = w.width;
  }
  return out;
}

std::vector<RemovableOperator> removable_operators(const SearchSpace& space) {
  std::vector<RemovableOperator> out;
  for (const OperatorChoice& c : space.operator_choices()) {
    RemovableOperator r{c.name, {}};
    for (const std::string& key : c.keys) r.key_weights.push_back(key + ".weight");
    out.push_back(std::move(r));
  }
  return out;
}

WidthMap keep_network_connected(const SearchSpace& space, WidthMap widths,
                                const std::map<std::string, double>& key_scores, std::vector<std::string>* changes) {
  const WidthMap full = space.full_widths();
  auto width = [&](const std::string& key) {
    auto it = widths.find(key);
    return it == widths.end() ? full.at(key) : it->second;
  };
  auto raise = [&](const std::string& key, const std::string& why) {
    const int64_t w = std::min(space.width_quantum(key), full.at(key));
    if (changes) changes->push_back(key + ": 0 -> " + std::to_string(w) + " (" + why + ")");
    widths[key] = w;
  };
  const std::vector<OperatorChoice> choices = space.operator_choices();
  std::set<std::string> removable;
  for (const OperatorChoice& c : choices) removable.insert(c.keys.begin(), c.keys.end());
  for (const auto& [key, w] : full)
    if (!removable.count(key) && width(key) == 0) raise(key, "it cannot be removed");

  // Choices of one group are contiguous (operator_choices()' contract).
  for (size_t begin = 0; begin < choices.size();) {
    size_t end = begin;
    while (end < choices.size() && choices[end].group == choices[begin].group) ++end;
    auto removed = [&](const OperatorChoice& c) {
      for (const std::string& k : c.keys)
        if (width(k) == 0) return true;
      return false;
    };
    bool any_kept = false;
    for (size_t i = begin; i < end; ++i) any_kept = any_kept || !removed(choices[i]);
    if (choices[begin].group_needs_one && !any_kept) {
      size_t best = begin;
      double best_score = -1;
      for (size_t i = begin; i < end; ++i) {
        double score = 0;
        for (const std::string& k : choices[i].keys) {
          auto it = key_scores.find(k);
          score += it == key_scores.end() ? 0.0 : it->second;
        }
        if (score > best_score) best = i, best_score = score;
      }
      for (const std::string& k : choices[best].keys)
        if (width(k) == 0) raise(k, "'" + choices[best].group + "' must keep one operator");
    }
    begin = end;
  }
  return widths;
}

}  // namespace figs::nas

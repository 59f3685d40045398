// Search spaces: one builder per space turns a configuration and a width map into a network
// (spec section 4): the supernet is the full-width map with masks, an exported architecture the
// learned map without masks, and a hand-written map any variant in between.
//
// Width maps name the ConvUnits (nas/conv_unit.h) of a space by their path in the network; a
// unit's width is its output channels. Depthwise units have no key: their width is their input's.
// A key missing from the map means full width; 0 removes the unit, and what only it fed goes
// with it (an operator whose convs all vanish is dropped; a concat drops the input; a sum keeps
// the others) — each space documents how that plays out in its structure.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nas/channel_graph.h"
#include "nas/conv_unit.h"
#include "nn/module.h"

namespace figs::nas {

using WidthMap = std::map<std::string, int64_t>;

// An operator a width map can remove (docs/spaces.md, "Operator choices"): random search
// samples subsets of them, and exports keep the network connected with them.
//   name   its module path, e.g. "cell0.block1.sep3", "stage2.0.k3_e6", "layer1.1" (a branch)
//   group  the block / layer it is an alternative in, e.g. "cell0.block1", "stage2.0"
//   keys   its free width keys: setting them all to 0 removes the operator (and what only it
//          fed); keys tied to a stream are never listed (a stream cannot be 0)
//   group_needs_one  whether the group must keep at least one of its choices to stay connected
//          (false when the group has an operator that cannot be removed: a parameterless op, an
//          identity shortcut, a shape-changing skip conv); the same on every choice of a group
struct OperatorChoice {
  std::string name;
  std::string group;
  std::vector<std::string> keys;
  bool group_needs_one = false;
};

struct BuildOptions {
  bool masks = false;  // the supernet: a MaskLayer in every ConvUnit
  MaskOptions mask_options;
};

class SearchSpace {
 public:
  virtual ~SearchSpace() = default;
  virtual std::string name() const = 0;    // "oneshot", "fbnet", "resnet"
  virtual std::string preset() const = 0;  // e.g. "small28", "imagenet"
  // The configuration as a JSON object (text), enough to rebuild the space with make_space().
  virtual std::string config_json() const = 0;
  virtual Shape input_shape() const = 0;  // (C, H, W)
  virtual int num_classes() const = 0;
  // Every width key at its supernet width.
  virtual WidthMap full_widths() const = 0;
  // The network at `widths` (unknown keys and widths above full are errors).
  virtual nn::ModulePtr build(const WidthMap& widths, const BuildOptions& options = {}) const = 0;
  // The operators a width map can remove, in a fixed order (groups contiguous). Keys that are in
  // no choice's `keys` must stay >= 1: a 0 there would cut the network (a stream, a stem, a head).
  virtual std::vector<OperatorChoice> operator_choices() const = 0;
  // Widths of `key` must be a multiple of this (2 for the grouped convs of FBNet's g2 blocks and
  // the streams around them; 1 elsewhere).
  virtual int64_t width_quantum(const std::string& key) const {
    (void)key;
    return 1;
  }
  // Width of `key` in `widths` (full when absent); checks the key is known and the width valid.
  int64_t width_of(const WidthMap& widths, const std::string& key) const;

 protected:
  // Throws naming every key of `widths` that full_widths() does not have.
  void check_keys(const WidthMap& widths) const;
};

// Each space registers itself (nas/spaces/<name>.cpp) with its presets and factories.
struct SpaceEntry {
  std::string name;
  std::vector<std::string> presets;  // first = default
  std::string description;           // one line for --help
  std::function<std::unique_ptr<SearchSpace>(const std::string& preset)> from_preset;
  std::function<std::unique_ptr<SearchSpace>(const std::string& config_json)> from_json;
};
void register_space(SpaceEntry entry);
std::vector<std::string> space_names();

// make_space("oneshot", "small28"); config_json() text rebuilds the same space with
// make_space_from_json(). Unknown names and presets throw, listing what exists.
std::unique_ptr<SearchSpace> make_space(const std::string& name, const std::string& preset);
std::unique_ptr<SearchSpace> make_space_from_json(const std::string& config_json);
// {"oneshot": ["small28", "small32", "imagenet", ...], ...} as lines for --help.
std::vector<std::string> describe_presets();

// The width key of a mask found by ChannelGraph ("<path>.mask.logits" -> "<path>").
std::string width_key_of_mask(const std::string& logits_name);

// A width map from exported mask widths (nas/objective.h export_widths): masks of units the
// space has no key for (depthwise units, whose width is their input's) are left out.
struct LayerWidth;
WidthMap width_map_from_export(const SearchSpace& space, const std::vector<LayerWidth>& exported);

// The space's export rule for removal-aware accounting (ChannelGraph::set_accounting): one entry
// per operator choice, its keys named by their ConvUnits' weights ("<key>.weight").
std::vector<RemovableOperator> removable_operators(const SearchSpace& space);

// Makes an exported map buildable where a search removed too much (operator_choices()):
//   - a key in no choice (a stream, a stem, a head; also One-Shot's last-block proj) at 0 gets
//     width_quantum(key) (tied keys share one group, so they are all 0 and all raised together);
//   - a group that must keep one choice but lost all of them gets back the choice with the
//     highest score (the sum of key_scores over its keys; ties: the first), each of its 0 keys at
//     width_quantum(key).
// Each change is appended to `changes` (when given) as "key: 0 -> w (why)".
WidthMap keep_network_connected(const SearchSpace& space, WidthMap widths,
                                const std::map<std::string, double>& key_scores = {},
                                std::vector<std::string>* changes = nullptr);

}  // namespace figs::nas

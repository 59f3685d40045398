// ChannelGraph's accounting (nas/channel_graph.h): the group rule and the removal structure.
//
// Removal, as the export applies it (nas/space.h): an operator vanishes when one of its keys
// keeps no channel, and everything under its module path goes with it. So
//   - op o is kept        iff every key in needs(o) is alive (the keys of every removable
//                             operator whose path encloses o's weight; BatchNorms alike);
//   - group g's channels  survive iff g is alive and every key in needs(g) is alive, needs(g)
//                             being the keys that every operator producing g needs (a group also
//                             produced by an operator that always stays, such as a stream fed by
//                             an adapter, needs nothing);
//   - key k is alive      iff any of its groups is alive.
#include <algorithm>
#include <map>

#include "core/error.h"
#include "nas/channel_graph.h"

namespace figs::nas {

const char* group_rule_name(GroupRule rule) { return rule == GroupRule::Any ? "any" : "max"; }

GroupRule parse_group_rule(const std::string& name) {
  if (name == "any") return GroupRule::Any;
  if (name == "max") return GroupRule::Max;
  fail("unknown group rule '", name, "' (choices: any, max)");
}

namespace {

bool lies_under(const std::string& name, const std::string& path) {
  return name.size() > path.size() && name.compare(0, path.size(), path) == 0 && name[path.size()] == '.';
}

std::vector<int> intersect(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

void ChannelGraph::set_accounting(const CostAccounting& accounting) {
  std::map<std::string, size_t> op_index;
  for (size_t o = 0; o < ops_.size(); ++o)
    if (!ops_[o].weight_name.empty()) op_index[ops_[o].weight_name] = o;

  std::vector<std::vector<int64_t>> key_groups;
  std::map<std::string, int> key_of;
  std::vector<std::vector<int>> op_needs(ops_.size()), norm_needs(norms_.size());
  for (const RemovableOperator& r : accounting.removable) {
    FIGS_CHECK(!r.key_weights.empty(), "ChannelGraph::set_accounting: removable operator '", r.path, "' has no keys");
    std::vector<int> keys;
    for (const std::string& name : r.key_weights) {
      auto at = op_index.find(name);
      FIGS_CHECK(at != op_index.end(), "ChannelGraph::set_accounting: removable operator '", r.path, "' names the "
                 "key layer '", name, "', which the traced network does not have");
      auto [it, added] = key_of.try_emplace(name, static_cast<int>(key_groups.size()));
      if (added) {
        const CostedOp& op = ops_[at->second];
        std::vector<int64_t> groups;
        for (int64_t c = 0; c < op.out_channels; ++c) groups.push_back(group_of_[op.out_slot + c]);
        std::sort(groups.begin(), groups.end());
        groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
        key_groups.push_back(std::move(groups));
      }
      keys.push_back(it->second);
    }
    bool encloses = false;
    for (size_t o = 0; o < ops_.size(); ++o)
      if (lies_under(ops_[o].weight_name, r.path)) {
        op_needs[o].insert(op_needs[o].end(), keys.begin(), keys.end());
        encloses = true;
      }
    FIGS_CHECK(encloses, "ChannelGraph::set_accounting: removable operator '", r.path, "' holds no traced convolution "
               "or linear layer");
    for (size_t n = 0; n < norms_.size(); ++n)
      if (lies_under(norms_[n].weight_name, r.path))
        norm_needs[n].insert(norm_needs[n].end(), keys.begin(), keys.end());
  }
  for (auto* needs : {&op_needs, &norm_needs})
    for (std::vector<int>& n : *needs) {
      std::sort(n.begin(), n.end());
      n.erase(std::unique(n.begin(), n.end()), n.end());
    }

  // A group needs what all of its producers need (a depthwise conv produces its input's group).
  std::vector<std::vector<int>> group_needs(static_cast<size_t>(num_groups_));
  std::vector<bool> produced(static_cast<size_t>(num_groups_), false);
  for (size_t o = 0; o < ops_.size(); ++o)
    for (int64_t c = 0; c < ops_[o].out_channels; ++c) {
      const auto g = static_cast<size_t>(group_of_[ops_[o].out_slot + c]);
      group_needs[g] = produced[g] ? intersect(group_needs[g], op_needs[o]) : op_needs[o];
      produced[g] = true;
    }
  std::vector<std::vector<int>> contained_in(static_cast<size_t>(num_groups_));
  for (size_t k = 0; k < key_groups.size(); ++k)
    for (int64_t g : key_groups[k]) contained_in[static_cast<size_t>(g)].push_back(static_cast<int>(k));

  accounting_ = accounting;
  key_groups_ = std::move(key_groups);
  op_needs_ = std::move(op_needs);
  norm_needs_ = std::move(norm_needs);
  group_needs_ = std::move(group_needs);
  contained_in_ = std::move(contained_in);
  plans_.clear();
}

ChannelGraph::Kept ChannelGraph::kept(const std::vector<bool>& alive) const {
  FIGS_CHECK(static_cast<int64_t>(alive.size()) == num_groups_, "ChannelGraph::kept: ", alive.size(),
             " alive flags for ", num_groups_, " groups");
  Kept out{std::vector<bool>(ops_.size(), true), std::vector<bool>(norms_.size(), true),
           std::vector<bool>(static_cast<size_t>(num_groups_), true)};
  if (!removal_aware()) return out;
  std::vector<bool> key_alive(key_groups_.size(), false);
  for (size_t k = 0; k < key_groups_.size(); ++k)
    for (int64_t g : key_groups_[k]) key_alive[k] = key_alive[k] || alive[static_cast<size_t>(g)];
  auto all_alive = [&](const std::vector<int>& keys) {
    return std::all_of(keys.begin(), keys.end(), [&](int k) { return key_alive[static_cast<size_t>(k)]; });
  };
  for (size_t o = 0; o < ops_.size(); ++o) out.op[o] = all_alive(op_needs_[o]);
  for (size_t n = 0; n < norms_.size(); ++n) out.norm[n] = all_alive(norm_needs_[n]);
  for (size_t g = 0; g < group_needs_.size(); ++g) out.group[g] = all_alive(group_needs_[g]);
  return out;
}

}  // namespace figs::nas

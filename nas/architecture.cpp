#include "nas/architecture.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "autograd/ops.h"
#include "nas/channel_graph.h"

namespace figs::nas {

using json = nlohmann::json;

Architecture describe_architecture(const SearchSpace& space, const WidthMap& widths, const std::string& source_json) {
  Architecture a;
  a.space_json = space.config_json();
  a.widths = space.full_widths();
  for (const auto& [k, w] : widths) a.widths[k] = w;
  a.source_json = source_json;
  const nn::ModulePtr net = space.build(a.widths);
  for (const nn::NamedModule& m : net->named_modules())
    if (dynamic_cast<ConvUnit*>(m.module)) a.surviving_units.push_back(m.name);
  // MACs per image from the channel graph of one traced forward pass (N = 2: BatchNorm in
  // training mode needs more than one value per channel).
  const Shape in = space.input_shape();
  ChannelGraph::NamedParameters params;
  for (const nn::NamedTensor& p : net->named_parameters()) params.push_back({p.name, p.tensor});
  const Tensor out = (*net)(zeros({2, in[0], in[1], in[2]}, {DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast}));
  const ChannelGraph graph = ChannelGraph::trace(sum(out), params);
  a.params = net->num_parameters();
  a.macs = static_cast<int64_t>(graph.count_all(CostKind::Macs));
  return a;
}

std::string architecture_to_json(const Architecture& a) {
  json j;
  j["format"] = "figs-architecture";
  j["version"] = 1;
  j["space"] = json::parse(a.space_json);
  j["widths"] = a.widths;
  j["surviving_units"] = a.surviving_units;
  j["params"] = a.params;
  j["macs"] = a.macs;
  j["source"] = json::parse(a.source_json);
  return j.dump(2) + "\n";
}

Architecture architecture_from_json(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(origin, ": not valid JSON (", e.what(), ")");
  }
  FIGS_CHECK(j.is_object() && j.value("format", "") == "figs-architecture", origin,
             ": not a figs architecture file (\"format\" must be \"figs-architecture\")");
  FIGS_CHECK(j.value("version", 0) == 1, origin, ": unsupported version ", j.value("version", 0), " (this figs reads 1)");
  FIGS_CHECK(j.contains("space") && j["space"].is_object(), origin, ": missing the \"space\" object");
  FIGS_CHECK(j.contains("widths") && j["widths"].is_object(), origin, ": missing the \"widths\" object");
  Architecture a;
  a.space_json = j["space"].dump();
  try {
    a.widths = j["widths"].get<WidthMap>();
    a.surviving_units = j.value("surviving_units", std::vector<std::string>{});
    a.params = j.value("params", int64_t{0});
    a.macs = j.value("macs", int64_t{0});
  } catch (const json::exception& e) {
    fail(origin, ": ", e.what());
  }
  a.source_json = j.contains("source") ? j["source"].dump() : "{}";
  // The space must exist and accept every width (rebuilding checks tied keys too).
  try {
    const auto space = make_space_from_json(a.space_json);
    space->build(a.widths);
  } catch (const Error& e) {
    fail(origin, ": ", e.what());
  }
  return a;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  FIGS_CHECK(f != nullptr, "cannot write '", tmp, "': ", std::strerror(errno));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
                  ::fsync(::fileno(f)) == 0;
  const int saved = errno;
  std::fclose(f);
  if (!ok) {
    std::remove(tmp.c_str());
    fail("writing '", tmp, "' failed: ", std::strerror(saved));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail("renaming '", tmp, "' to '", path, "' failed: ", std::strerror(e));
  }
}

void save_architecture(const Architecture& arch, const std::string& path) {
  write_file_atomically(path, architecture_to_json(arch));
}

Architecture load_architecture(const std::string& path) {
  std::ifstream in(path);
  FIGS_CHECK(in.good(), "cannot read architecture file '", path, "': ", std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return architecture_from_json(ss.str(), path);
}

}  // namespace figs::nas

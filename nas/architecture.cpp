#include "nas/architecture.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "core/atomic_file.h"
#include "autograd/ops.h"
#include "autograd/trace.h"
#include "core/autograd_meta.h"
#include "core/json_reader.h"
#include "nas/channel_graph.h"

namespace figs::nas {

using json = nlohmann::json;

namespace {

// Multiply-adds of the convolutions and linear layers of a forward pass, per image, counted as the
// ops run (autograd/trace.h) and dropped at once, so the pass keeps no activations alive: the
// count ChannelGraph::count_all(CostKind::Macs) gives with every channel alive —
// KH*KW*OH*OW*C_in*C_out/groups per convolution (depthwise: KH*KW*OH*OW*C), in*out per linear
// layer, i.e. the weight's size times the output's spatial size — without a graph.
class MacCounter : public OpTracer {
 public:
  void record(TracedOp op) override {
    if (op.kind == OpKind::Conv2d) {
      const Shape& y = op.output.shape();  // (1, C_out, OH, OW)
      macs_ += op.inputs[1].numel() * y[2] * y[3];
    } else if (op.kind == OpKind::Linear) {
      macs_ += op.inputs[1].numel();
    } else if (op.kind == OpKind::Matmul) {
      fail("describe_architecture: a bare matmul in the network; its MACs are not defined per image here");
    }
  }
  int64_t macs() const { return macs_; }

 private:
  int64_t macs_ = 0;
};

}  // namespace

Architecture describe_architecture(const SearchSpace& space, const WidthMap& widths, const std::string& source_json) {
  Architecture a;
  a.space_json = space.config_json();
  a.widths = space.full_widths();
  for (const auto& [k, w] : widths) a.widths[k] = w;
  a.source_json = source_json;
  const nn::ModulePtr net = space.build(a.widths);
  for (const nn::NamedModule& m : net->named_modules())
    if (dynamic_cast<ConvUnit*>(m.module)) a.surviving_units.push_back(m.name);
  // MACs per image from one image in eval mode without a graph (BatchNorm uses its running
  // statistics, so N = 1 is enough): the ImageNet supernets are counted in about a second and a
  // few hundred MB instead of a training-mode pass at N = 2 that held every activation (43 s and
  // 5.6 GB for One-Shot's). tests/nas check that the count equals ChannelGraph's.
  const Shape in = space.input_shape();
  MacCounter counter;
  {
    NoGradGuard no_grad;
    net->eval();
    TraceOps tracing(&counter);
    (void)(*net)(zeros({1, in[0], in[1], in[2]}, {DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast}));
  }
  a.params = net->num_parameters();
  a.macs = counter.macs();
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
  const json j = JsonReader::parse(text, origin);
  const JsonReader file(j, origin);
  FIGS_CHECK(j.is_object() && j.contains("format") && j["format"] == "figs-architecture", origin,
             ": not a figs architecture file (\"format\" must be \"figs-architecture\")");
  const int64_t version = file["version"].integer();
  FIGS_CHECK(version == 1, origin, ": unsupported version ", version, " (this figs reads 1)");
  if (!file["space"].is_object()) file["space"].fail("must be an object, got ", json_excerpt(j["space"]));
  const JsonReader widths = file["widths"];
  if (!widths.is_object()) widths.fail("must be an object of widths, got ", json_excerpt(j["widths"]));
  WidthMap map;
  for (const std::string& key : widths.keys()) map[key] = widths[key].count();
  if (file.has("source") && !file["source"].is_object()) file["source"].fail("must be an object");
  // The space must exist and accept every width (building checks tied keys too); params, MACs
  // and surviving units are counted from the network built here, never copied from the file.
  Architecture a;
  try {
    const auto space = make_space_from_json(j["space"].dump());
    a = describe_architecture(*space, map, file.has("source") ? j["source"].dump() : "{}");
  } catch (const Error& e) {
    fail(origin, ": ", e.what());
  }
  // A file whose counts disagree with its network was edited or damaged: say so, and use the
  // network's.
  const int64_t params = file.integer_or("params", a.params), macs = file.integer_or("macs", a.macs);
  if (params != a.params || macs != a.macs)
    std::fprintf(stderr, "%s: warning: the file says %lld params and %lld MACs, but the network it describes has %lld "
                 "and %lld; using the network's\n", origin.c_str(), static_cast<long long>(params),
                 static_cast<long long>(macs), static_cast<long long>(a.params), static_cast<long long>(a.macs));
  return a;
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

// libFuzzer target for the architecture file reader (nas/architecture.cpp): load_architecture,
// the reader of arch.json that `figs retrain` and `figs info` run on a user's file.
// Input: the file. A malformed file must end in figs::Error naming it; any other exception type
// escaping (e.g. nlohmann::json::exception), a crash or a sanitizer report is a finding. An
// accepted file must round-trip: architecture_to_json of the result reads back to the same
// widths and space.
//
// FIGS_FUZZ_WRITE_SEEDS=<dir> in the environment: write the seed corpus (architectures of the
// small presets of each space, full and narrowed, by describe_architecture) to <dir> and exit.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fuzz_util.h"
#include "nas/architecture.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("FIGS_FUZZ_WRITE_SEEDS");
  if (dir == nullptr) return 0;
  std::filesystem::create_directories(dir);
  for (const char* name : {"oneshot", "resnet", "fbnet"}) {
    // Reading an architecture builds and traces its network once (the counts are the network's,
    // not the file's): at 8x8 pixels instead of 28x28, an input costs milliseconds, not seconds.
    const auto preset = figs::nas::make_space(name, std::string(name) == "oneshot" ? "tiny28" : "small28");
    nlohmann::json config = nlohmann::json::parse(preset->config_json());
    config["image_size"] = 8;
    const auto space = figs::nas::make_space_from_json(config.dump());
    figs::nas::WidthMap narrow = space->full_widths();
    for (auto& [key, width] : narrow) width = width / 2;  // tied keys stay equal
    figs::nas::save_architecture(figs::nas::describe_architecture(*space, {}), std::string(dir) + "/" + name + "_full.json");
    try {
      figs::nas::save_architecture(figs::nas::describe_architecture(*space, narrow, R"({"method":"seed"})"),
                                   std::string(dir) + "/" + name + "_half.json");
    } catch (const figs::Error& e) {  // halving cut the network somewhere: the full one suffices
      std::fprintf(stderr, "%s: no halved seed (%s)\n", name, e.what());
    }
  }
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static figs::fuzz::MemFile mem("figs-fuzz-arch.json");
  const std::string& path = mem.write(data, size);
  figs::nas::Architecture a;
  try {
    a = figs::nas::load_architecture(path);
  } catch (const figs::Error&) {
    return 0;
  }
  const figs::nas::Architecture b = figs::nas::architecture_from_json(figs::nas::architecture_to_json(a), "round trip");
  figs::fuzz::require(a.widths == b.widths && a.space_json == b.space_json, "architecture does not round-trip");
  return 0;
}

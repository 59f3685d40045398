// libFuzzer target for the run configuration (apps/figs/config.cpp): load_config with a JSON
// file and --set overrides on the default preset, then make_space_from_config, as `figs run
// --config FILE --set ...` does.
//
// Input: the config file's text up to the first NUL byte, then up to 8 NUL-separated --set
// assignments. A bad file or assignment must end in figs::Error; any other exception type
// escaping, a crash or a sanitizer report is a finding. An accepted configuration must keep the
// schema docs/cli.md promises ("unknown keys and wrong types are errors"): every key of the
// defaults still there with a value of the same kind (numbers interchangeable; array elements of
// the kind of the default's elements), and no key the defaults lack outside space.options.
//
// FIGS_FUZZ_WRITE_SEEDS=<dir> in the environment: write the seed corpus to <dir> and exit.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "apps/figs/config.h"
#include "core/error.h"
#include "fuzz_util.h"
#include "nas/space.h"

namespace {

using figs::app::json;

bool same_kind(const json& want, const json& got) {
  return (want.is_number() && got.is_number()) || want.type() == got.type();
}

// Whether `got` keeps the shape of `want` (the defaults) at `path`.
bool keeps_schema(const json& want, const json& got, const std::string& path) {
  if (!same_kind(want, got)) return false;
  if (want.is_object()) {
    if (path == "space.options") return true;  // the space's own keys, checked when it is built
    for (auto it = want.begin(); it != want.end(); ++it)
      if (!got.contains(it.key()) || !keeps_schema(it.value(), got.at(it.key()), path.empty() ? it.key() : path + "." + it.key()))
        return false;
    for (auto it = got.begin(); it != got.end(); ++it)
      if (!want.contains(it.key())) return false;
  }
  if (want.is_array() && !want.empty())
    for (const json& e : got)
      if (!same_kind(want.front(), e)) return false;
  return true;
}

void write_seed(const std::string& path, const std::string& file, const std::vector<std::string>& overrides) {
  std::ofstream out(path, std::ios::binary);
  out << file;
  for (const std::string& o : overrides) out << '\0' << o;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("FIGS_FUZZ_WRITE_SEEDS");
  if (dir == nullptr) return 0;
  const std::string d = dir;
  std::filesystem::create_directories(d);
  write_seed(d + "/defaults", figs::app::default_config().dump(2), {});
  write_seed(d + "/partial_and_sets",
             R"({"search": {"target": 50000, "cost": "macs"}, "space": {"options": {"width": 8}}, "seed": 2})",
             {"search.lr=0.1", "data.dataset=synthetic", "sweep.budgets=[1000,2000]", "space.options.cells=2"});
  write_seed(d + "/sets_only", "", {"space.preset=tiny28", "search.lambda_relative=false", "retrain.schedule=cosine"});
  write_seed(d + "/other_space", R"({"space": {"name": "resnet", "preset": "small28", "options": {}}})", {"threads=1"});
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static figs::fuzz::MemFile mem("figs-fuzz-config.json");
  static const json defaults = figs::app::run_preset("default");
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  const std::string_view file = in.substr(0, nul);
  std::vector<std::string> overrides;
  while (nul != std::string_view::npos && overrides.size() < 8) {
    const size_t next = in.find('\0', nul + 1);
    overrides.emplace_back(in.substr(nul + 1, next == std::string_view::npos ? std::string_view::npos : next - nul - 1));
    nul = next;
  }
  const std::string& path = mem.write(file.data(), file.size());
  json config;
  try {
    config = figs::app::load_config(defaults, file.empty() ? std::string() : path, overrides);
  } catch (const figs::Error&) {
    return 0;
  }
  figs::fuzz::require(keeps_schema(defaults, config, ""), "an accepted configuration breaks the schema");
  try {
    (void)figs::app::make_space_from_config(config);
  } catch (const figs::Error&) {
  }
  return 0;
}

// figs: FiGS architecture search from the command line (docs/cli.md).
//
//   figs run     [--quick] [--config FILE] [--set key=value ...] --out RUN_DIR
//   figs search  [--quick] [--config FILE] [--set key=value ...] --out RUN_DIR
//   figs retrain ARCH.json [--config FILE] [--set key=value ...] --out RUN_DIR
//   figs info    (--space NAME [--preset P] | ARCH.json)
//   figs config  [--quick] [--config FILE] [--set ...]     print the effective configuration
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "config.h"
#include "core/build_info.h"
#include "core/error.h"
#include "core/parallel.h"
#include "nas/architecture.h"
#include "nas/space.h"
#include "trainer.h"

namespace fs = std::filesystem;
using namespace figs;
using namespace figs::app;

namespace {

struct ConfigOptions {
  std::string file;
  std::vector<std::string> sets;
  bool quick = false;
};

void add_config_options(CLI::App* cmd, ConfigOptions& o) {
  cmd->add_option("--config", o.file, "JSON file overriding the defaults (figs config prints them)");
  cmd->add_option("--set", o.sets, "override one option, e.g. --set search.lambda=2 (repeatable)");
  cmd->add_flag("--quick", o.quick, "the ~2 minute smoke-run preset (tiny space, 3000 images, 40 steps)");
}

json effective_config(const ConfigOptions& o, int threads, int64_t seed, const std::string& device) {
  json c = load_config(run_preset(o.quick ? "quick" : "default"), o.file, o.sets);
  if (threads > 0) c["threads"] = threads;
  if (seed >= 0) c["seed"] = seed;
  if (!device.empty()) c["device"] = device;
  FIGS_CHECK(c["device"] == "cpu", "device '", c["device"].get<std::string>(),
             "': training on CUDA is not available yet (the CUDA backend has memory, copies and random fills only); "
             "use --device cpu");
  if (c["threads"].get<int>() > 0) set_num_threads(c["threads"].get<int>());
  nas::make_space(c["space"]["name"].get<std::string>(), c["space"]["preset"].get<std::string>());  // exists?
  return c;
}

// Creates the run folder (refusing one that already holds a run) and writes the effective config.
void prepare_run_dir(const std::string& dir, const json& config) {
  FIGS_CHECK(!dir.empty(), "--out RUN_DIR is required");
  std::error_code ec;
  fs::create_directories(dir, ec);
  FIGS_CHECK(!ec, "cannot create run folder '", dir, "': ", ec.message());
  FIGS_CHECK(!fs::exists(fs::path(dir) / "config.json"), "run folder '", dir,
             "' already holds a run (config.json); choose another --out");
  nas::write_file_atomically((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
}

void print_info_space(const std::string& name, const std::string& preset) {
  const auto space = nas::make_space(name, preset);
  const nas::Architecture full = nas::describe_architecture(*space, {});
  std::printf("%s/%s: input %lldx%lldx%lld, %d classes, %zu width keys\n", space->name().c_str(),
              space->preset().c_str(), static_cast<long long>(space->input_shape()[0]),
              static_cast<long long>(space->input_shape()[1]), static_cast<long long>(space->input_shape()[2]),
              space->num_classes(), space->full_widths().size());
  std::printf("full-width network: %lld params, %lld MACs per image\n", static_cast<long long>(full.params),
              static_cast<long long>(full.macs));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"figs: fine-grained stochastic architecture search (" + build_info().summary() + ")"};
  app.require_subcommand(1);
  int threads = 0;
  int64_t seed = -1;
  std::string device;
  app.add_option("--threads", threads, "CPU threads (default: all)");
  app.add_option("--seed", seed, "random seed (default: the config's)");
  app.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));

  ConfigOptions run_o, search_o, retrain_o, config_o;
  std::string run_out, search_out, retrain_out, arch_path, info_arch, info_space, info_preset;
  auto* run = app.add_subcommand("run", "search -> export -> retrain -> report, into one run folder");
  add_config_options(run, run_o);
  run->add_option("--out", run_out, "run folder")->required();
  auto* search = app.add_subcommand("search", "architecture learning on the supernet; writes arch.json");
  add_config_options(search, search_o);
  search->add_option("--out", search_out, "run folder")->required();
  auto* retrain = app.add_subcommand("retrain", "train an exported architecture from scratch; writes results.json");
  retrain->add_option("arch", arch_path, "architecture file (arch.json)")->required()->check(CLI::ExistingFile);
  add_config_options(retrain, retrain_o);
  retrain->add_option("--out", retrain_out, "run folder")->required();
  auto* info = app.add_subcommand("info", "params and MACs of a space preset or an architecture file");
  info->add_option("arch", info_arch, "architecture file");
  info->add_option("--space", info_space, "search space");
  info->add_option("--preset", info_preset, "preset of --space");
  auto* config = app.add_subcommand("config", "print the effective configuration (defaults + --config + --set)");
  add_config_options(config, config_o);
  std::string presets_help = "search spaces:";
  for (const std::string& line : nas::describe_presets()) presets_help += "\n  " + line;
  app.footer(presets_help);

  CLI11_PARSE(app, argc, argv);
  try {
    if (*config) {
      std::printf("%s\n", effective_config(config_o, threads, seed, device).dump(2).c_str());
    } else if (*info) {
      if (!info_arch.empty()) {
        const nas::Architecture a = nas::load_architecture(info_arch);
        std::printf("%s: %lld params, %lld MACs per image, %zu surviving units\nspace: %s\n", info_arch.c_str(),
                    static_cast<long long>(a.params), static_cast<long long>(a.macs), a.surviving_units.size(),
                    a.space_json.c_str());
      } else {
        FIGS_CHECK(!info_space.empty(), "info: give an architecture file or --space");
        print_info_space(info_space, info_preset);
      }
    } else if (*search) {
      const json c = effective_config(search_o, threads, seed, device);
      prepare_run_dir(search_out, c);
      const Datasets d = load_datasets(c);
      run_search(c, d, search_out);
    } else if (*retrain) {
      const json c = effective_config(retrain_o, threads, seed, device);
      const nas::Architecture a = nas::load_architecture(arch_path);
      prepare_run_dir(retrain_out, c);
      const Datasets d = load_datasets(c);
      run_retrain(c, d, a, retrain_out);
    } else if (*run) {
      const json c = effective_config(run_o, threads, seed, device);
      prepare_run_dir(run_out, c);
      const auto start = std::chrono::steady_clock::now();
      const Datasets d = load_datasets(c);
      const SearchResult s = run_search(c, d, run_out);
      const RetrainResult r = run_retrain(c, d, s.arch, run_out);
      const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("figs run: %s/%s on %s -> %lld params, %lld MACs, test accuracy %.4f (search %.0f s, retrain %.0f s, "
                  "total %.0f s) in %s\n",
                  c["space"]["name"].get<std::string>().c_str(), c["space"]["preset"].get<std::string>().c_str(),
                  c["data"]["dataset"].get<std::string>().c_str(), static_cast<long long>(r.params),
                  static_cast<long long>(r.macs), r.test_accuracy, s.seconds, r.seconds, total, run_out.c_str());
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "figs: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

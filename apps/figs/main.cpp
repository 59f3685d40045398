// figs: FiGS architecture search from the command line (docs/cli.md).
//
//   figs run     [--quick] [--config FILE] [--set key=value ...] --out RUN_DIR  |  --resume RUN_DIR
//   figs search  [--quick] [--config FILE] [--set key=value ...] --out RUN_DIR  |  --resume RUN_DIR
//   figs retrain ARCH.json [--config FILE] [--set key=value ...] --out RUN_DIR  |  --resume RUN_DIR
//   figs eval    RUN_DIR [--split test|val|train]
//   figs sweep   [--quick|--study] [--config FILE] [--set ...] --out STUDY_DIR   |  --resume STUDY_DIR [--report]
//   figs info    (--space NAME [--preset P] | ARCH.json)
//   figs config  [--quick] [--config FILE] [--set ...]     print the effective configuration
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "config.h"
#include "core/build_info.h"
#include "core/error.h"
#include "core/parallel.h"
#include "cpu/kernel_stats.h"
#include "nas/architecture.h"
#include "nas/space.h"
#include "run_log.h"
#include "trainer.h"

namespace fs = std::filesystem;
using namespace figs;
using namespace figs::app;

namespace {

struct ConfigOptions {
  std::string file;
  std::vector<std::string> sets;
  bool quick = false, study = false;
  std::string preset, out, resume;
};

void add_config_options(CLI::App* cmd, ConfigOptions& o, bool run_folder = true) {
  cmd->add_option("--config", o.file, "JSON file overriding the defaults (figs config prints them)");
  cmd->add_option("--set", o.sets, "override one option, e.g. --set search.lambda=2 (repeatable)");
  cmd->add_flag("--quick", o.quick, "the ~2 minute smoke-run preset (tiny space, 3000 images, 40 steps)");
  cmd->add_option("--preset", o.preset, "a named starting configuration: default, quick, study, paper (docs/cli.md)");
  if (!run_folder) return;
  auto* out = cmd->add_option("--out", o.out, "run folder (created; must not hold a run yet)");
  auto* resume = cmd->add_option("--resume", o.resume, "continue the interrupted run in this folder, with its config.json");
  out->excludes(resume);
}

// "cuda" needs a build with CUDA and a visible GPU (run_device names what is missing); checked
// before anything is created.
void check_device(const json& c) { (void)run_device(c); }

json effective_config(const ConfigOptions& o, int threads, int64_t seed, const std::string& device) {
  json c;
  if (!o.resume.empty()) {
    FIGS_CHECK(o.file.empty() && o.sets.empty() && !o.quick && !o.study && o.preset.empty() && seed < 0 &&
                   device.empty(),
               "--resume continues with the run's own config.json; --config, --set, --quick, --study, --preset, --seed and --device "
               "cannot change it (only --threads may)");
    c = load_run_config(o.resume);
  } else {
    FIGS_CHECK(int(o.quick) + int(o.study) + int(!o.preset.empty()) <= 1, "--quick, --study and --preset each name a "
               "preset: give one");
    c = load_config(run_preset(o.quick ? "quick" : o.study ? "study" : o.preset.empty() ? "default" : o.preset), o.file,
                    o.sets);
    if (seed >= 0) c["seed"] = seed;
    if (!device.empty()) c["device"] = device;
  }
  if (threads > 0) c["threads"] = threads;
  check_device(c);
  if (c["threads"].get<int>() > 0) set_num_threads(c["threads"].get<int>());
  make_space_from_config(c);  // the space exists and its options are valid
  return c;
}

// Creates the run folder (refusing one that already holds a run) and writes the effective config.
void prepare_run_dir(const std::string& dir, const json& config) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  FIGS_CHECK(!ec, "cannot create run folder '", dir, "': ", ec.message());
  FIGS_CHECK(!fs::exists(fs::path(dir) / "config.json"), "run folder '", dir,
             "' already holds a run (config.json); choose another --out");
  nas::write_file_atomically((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
}

// The folder a command works in: a new one (created, config written) or the one it resumes.
// Called once everything that can fail on bad input has been checked (config, data, arch).
std::string run_folder(const ConfigOptions& o, const json& config) {
  if (!o.resume.empty()) return o.resume;
  FIGS_CHECK(!o.out.empty(), "--out RUN_DIR (a new run folder) or --resume RUN_DIR is required");
  prepare_run_dir(o.out, config);
  return o.out;
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
  // FIGS_KERNEL_STATS=1: on the way out, which implementation (oneDNN, own AVX2, reference, CUDA)
  // served each CPU kernel and how often; a "reference" count in a run is a missing fast path.
  struct KernelStatsAtExit {
    ~KernelStatsAtExit() {
      if (std::getenv("FIGS_KERNEL_STATS"))
        std::fprintf(stderr, "figs: kernels: %s\n", cpu::kernel_counts_summary().c_str());
    }
  } kernel_stats;
  CLI::App app{"figs: fine-grained stochastic architecture search (" + build_info().summary() + ")"};
  app.require_subcommand(1);
  app.fallthrough();  // --threads, --seed, --device also after the subcommand (figs sweep --resume S --threads 1)
  int threads = 0;
  int64_t seed = -1;
  std::string device;
  app.add_option("--threads", threads, "CPU threads (default: all)");
  app.add_option("--seed", seed, "random seed (default: the config's)");
  app.add_option("--device", device, "cpu (default) or cuda (needs a build with CUDA and a GPU); eval: the run's "
                 "by default")
      ->check(CLI::IsMember({"cpu", "cuda"}));

  ConfigOptions run_o, search_o, retrain_o, config_o, sweep_o;
  std::string arch_path, info_arch, info_space, info_preset, eval_dir, eval_split = "test";
  auto* run = app.add_subcommand("run", "search -> export -> retrain -> report, into one run folder");
  add_config_options(run, run_o);
  auto* search = app.add_subcommand("search", "architecture learning on the supernet; writes arch.json");
  add_config_options(search, search_o);
  auto* retrain = app.add_subcommand("retrain", "train an exported architecture from scratch; writes results.json");
  retrain->add_option("arch", arch_path, "architecture file (arch.json); not with --resume")->check(CLI::ExistingFile);
  add_config_options(retrain, retrain_o);
  auto* eval = app.add_subcommand("eval", "accuracy of a run's trained network (retrained, else the supernet)");
  eval->add_option("run_dir", eval_dir, "run folder")->required()->check(CLI::ExistingDirectory);
  eval->add_option("--split", eval_split, "test, val or train")->check(CLI::IsMember({"test", "val", "train"}));
  auto* info = app.add_subcommand("info", "params and MACs of a space preset or an architecture file");
  info->add_option("arch", info_arch, "architecture file");
  info->add_option("--space", info_space, "search space");
  info->add_option("--preset", info_preset, "preset of --space");
  auto* sweep = app.add_subcommand("sweep", "a grid of runs (method x budget x seed) into one study folder, with "
                                    "results.csv and Pareto plots");
  add_config_options(sweep, sweep_o);
  sweep->add_flag("--study", sweep_o.study, "the search-quality study preset (docs/results.md; hours on 2 cores)");
  bool sweep_report = false;
  sweep->add_flag("--report", sweep_report, "with --resume: rewrite the tables and plots from the finished runs, "
                  "run nothing");
  auto* config = app.add_subcommand("config", "print the effective configuration (defaults + --config + --set)");
  add_config_options(config, config_o, false);
  config->add_flag("--study", config_o.study, "the study preset");
  std::string presets_help = "search spaces:";
  for (const std::string& line : nas::describe_presets()) presets_help += "\n  " + line;
  app.footer(presets_help);

  CLI11_PARSE(app, argc, argv);
  install_stop_handlers();
  std::string resume_dir;  // the run folder a stopped command resumes from
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
    } else if (*eval) {
      if (threads > 0) set_num_threads(threads);
      const EvalReport r = evaluate_run(eval_dir, eval_split, device);
      std::printf("%s: %s network (step %lld), %lld params%s: %s accuracy %.4f on %lld images (%.0f img/s)\n",
                  eval_dir.c_str(), r.network.c_str(), static_cast<long long>(r.step), static_cast<long long>(r.params),
                  r.macs ? (", " + std::to_string(r.macs) + " MACs").c_str() : "", r.split.c_str(), r.accuracy,
                  static_cast<long long>(r.images), r.images_per_s);
    } else if (*sweep) {
      const json c = effective_config(sweep_o, threads, seed, device);
      check_sweep(c);
      if (sweep_report) {
        FIGS_CHECK(!sweep_o.resume.empty(), "sweep --report needs --resume STUDY_DIR (the study to report on)");
        report_sweep(c, sweep_o.resume);
        return 0;
      }
      const Datasets d = load_datasets(c);
      const std::string dir = run_folder(sweep_o, c);
      resume_dir = dir;
      run_sweep(c, dir, d);
    } else if (*search) {
      const json c = effective_config(search_o, threads, seed, device);
      const Datasets d = load_datasets(c);
      const std::string dir = run_folder(search_o, c);
      resume_dir = dir;
      run_search(c, d, dir, !search_o.resume.empty());
    } else if (*retrain) {
      const json c = effective_config(retrain_o, threads, seed, device);
      const bool resume = !retrain_o.resume.empty();
      FIGS_CHECK(resume != !arch_path.empty(), resume ? "retrain --resume reads the run's own arch.json; drop ARCH.json"
                                                      : "retrain needs ARCH.json");
      const nas::Architecture a = nas::load_architecture(resume ? retrain_o.resume + "/arch.json" : arch_path);
      const Datasets d = load_datasets(c);
      const std::string dir = run_folder(retrain_o, c);
      resume_dir = dir;
      if (!resume) nas::save_architecture(a, dir + "/arch.json");  // the folder holds what it trained
      run_retrain(c, d, a, dir, resume);
    } else if (*run) {
      const json c = effective_config(run_o, threads, seed, device);
      const auto start = std::chrono::steady_clock::now();
      const Datasets d = load_datasets(c);
      const std::string dir = run_folder(run_o, c);
      resume_dir = dir;
      const bool resume = !run_o.resume.empty();
      const SearchResult s = run_search(c, d, dir, resume);
      const RetrainResult r = run_retrain(c, d, s.arch, dir, resume);
      const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("figs run: %s/%s on %s -> %lld params, %lld MACs, test accuracy %.4f (search %.0f s, retrain %.0f s, "
                  "total %.0f s) in %s\n",
                  c["space"]["name"].get<std::string>().c_str(), c["space"]["preset"].get<std::string>().c_str(),
                  c["data"]["dataset"].get<std::string>().c_str(), static_cast<long long>(r.params),
                  static_cast<long long>(r.macs), r.test_accuracy, s.seconds, r.seconds, total, dir.c_str());
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "figs: error: %s\n", e.what());
    return 1;
  } catch (const Interrupted& i) {
    std::fprintf(stderr, "\nfigs: stopped after %s step %lld (checkpoint written); continue with: figs %s --resume %s\n",
                 i.stage.c_str(), static_cast<long long>(i.step), app.get_subcommands()[0]->get_name().c_str(),
                 resume_dir.c_str());
    return 130;
  }
  return 0;
}

// figs: FiGS architecture search from the command line (docs/cli.md).
//
//   figs run     [--quick] [--config FILE] [--set key=value ...] --out RUN_DIR  |  --resume RUN_DIR
//   figs search  [--quick] [--config FILE] [--set key=value ...] --out RUN_DIR  |  --resume RUN_DIR
//   figs retrain ARCH.json [--config FILE] [--set key=value ...] --out RUN_DIR  |  --resume RUN_DIR
//   figs eval    RUN_DIR [--split test|val|train]
//   figs sweep   [--quick|--study] [--config FILE] [--set ...] --out STUDY_DIR   |  --resume STUDY_DIR [--report]
//   figs info    (--space NAME [--preset P] | ARCH.json)
//   figs config  [--quick] [--config FILE] [--set ...]     print the effective configuration
//   figs export  RUN_DIR --onnx OUT.onnx [--batch N|dynamic] [--fold-bn] [--supernet] [--reference N]
//   figs bench   [--preset P] [--set ...] [--batch N] [--steps N] [--stage search|retrain|both] [--json FILE]
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <new>
#include <optional>
#include <sstream>
#include <vector>

#include "config.h"
#include "core/build_info.h"
#include "core/denormals.h"
#include "core/distributed.h"
#include "cuda/cuda.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/kernel_stats.h"
#include "cpu/cpu_backend.h"
#include "dist/mpi_group.h"
#include "dist/nccl_group.h"
#include "nas/architecture.h"
#include "nas/space.h"
#include "nn/divergence.h"
#include "run_folder.h"
#include "bench.h"
#include "export.h"
#include "run_log.h"
#include "drivers.h"

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
  cmd->add_option("--preset", o.preset, "a named starting configuration: default, quick, study, paper, paper-oneshot, "
                  "paper-fbnet, paper-resnet50, paper-resnet152 (the paper's ImageNet recipe; docs/cli.md)");
  if (!run_folder) return;
  auto* out = cmd->add_option("--out", o.out, "run folder (created; must not hold a run yet)");
  auto* resume = cmd->add_option("--resume", o.resume, "continue the interrupted run in this folder, with its config.json");
  out->excludes(resume);
}

// The global options (before or after the subcommand); unset ones leave the config's value.
struct GlobalOptions {
  std::optional<int> threads;
  std::optional<int64_t> seed;
  std::string device;
};

// The configuration a command runs with, checked whole before anything is created or loaded:
// every key (config_check.cpp), the device, the space and its options.
json effective_config(const ConfigOptions& o, const GlobalOptions& g) {
  if (g.seed) FIGS_CHECK(*g.seed >= 0, "--seed must be >= 0, got ", *g.seed);
  json c;
  if (!o.resume.empty()) {
    FIGS_CHECK(o.file.empty() && o.sets.empty() && !o.quick && !o.study && o.preset.empty() && !g.seed &&
                   g.device.empty(),
               "--resume continues with the run's own config.json; --config, --set, --quick, --study, --preset, --seed and --device "
               "cannot change it (only --threads may)");
    c = load_run_config(o.resume);
  } else {
    FIGS_CHECK(int(o.quick) + int(o.study) + int(!o.preset.empty()) <= 1, "--quick, --study and --preset each name a "
               "preset: give one");
    c = load_config(run_preset(o.quick ? "quick" : o.study ? "study" : o.preset.empty() ? "default" : o.preset), o.file,
                    o.sets);
    if (g.seed) c["seed"] = *g.seed;
    if (!g.device.empty()) c["device"] = g.device;
  }
  if (g.threads) {
    FIGS_CHECK(*g.threads >= 0, "--threads must be >= 0 (0: all cores), got ", *g.threads);
    c["threads"] = *g.threads;
  }
  validate_config(c, "config");
  const dist::ProcessGroup& world = dist::world();
  if (world.world_size() > 1) {  // data parallel: what each rank must agree on, before anything starts
    for (const char* stage : {"search", "retrain"}) {
      const int64_t batch = stage_batch_size(c, stage);
      FIGS_CHECK(batch % world.world_size() == 0, stage, ": the global batch of ", batch, " images cannot be split over ",
                 world.world_size(), " ranks: data.batch_size (or ", stage, ".batch_size) must be a multiple of the "
                 "number of ranks");
    }
    FIGS_CHECK(dist::all_ranks_agree(checkpoint_config_hash(c)), "the ranks of this mpirun were given different "
               "configurations (arguments, --config files or config.json); every rank must run the same command");
  }
  (void)run_device(c);  // "cuda" needs a build with CUDA and a visible GPU: said before anything starts
  cuda::set_tf32(c["tf32"].get<bool>());
  if (c["threads"].get<int>() > 0) set_num_threads(c["threads"].get<int>());
  make_space_from_config(c);  // the space exists and its options are valid
  return c;
}

// A search's budget is reachable in its space (figs search, figs run; a sweep checks its own).
void check_search_budget(const json& c) {
  check_budget_reachable(c, *make_space_from_config(c), c["search"]["target"].get<double>(), "search.target");
}

// The folder a command works in: a new one (created, marked with its kind, config written) or
// the one it resumes; locked either way. Called once everything that can fail on bad input has
// been checked (config, data, arch).
// In a data-parallel run rank 0 claims it while the others wait, then they follow it.
RunFolder claim_folder(const ConfigOptions& o, const std::string& kind, const json& config) {
  dist::ProcessGroup& world = dist::world();
  const std::string& dir = o.resume.empty() ? o.out : o.resume;
  if (!world.is_root()) {
    world.barrier();
    return RunFolder::follow(dir);
  }
  RunFolder folder = o.resume.empty() ? RunFolder::create(o.out, kind, config) : RunFolder::resume(o.resume, kind);
  world.barrier();
  return folder;
}

// The kind a --resume folder must have, checked before the data loads (claim_folder checks it
// again and takes the lock; this check takes none, so every rank of a data-parallel run can make it).
void check_resume_kind(const ConfigOptions& o, const std::string& kind) {
  if (!o.resume.empty()) RunFolder::check_resumable(o.resume, kind);
}

std::shared_ptr<dist::ProcessGroup> g_mpi;  // the MPI group of a run under mpirun

// After every rank's last collective: NCCL communicator, then MPI_Finalize.
void finish_world() {
  dist::set_world(nullptr);
  g_mpi.reset();
}

// One GPU per rank on each node: before CUDA starts, the rank sees only the GPU of its local rank
// (the local_rank-th of CUDA_VISIBLE_DEVICES when the launcher set a list), as cuda:0.
void one_gpu_per_rank() {
  const int local = dist::local_rank();
  std::vector<std::string> visible;
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES")) {
    std::stringstream ss(v);
    for (std::string id; std::getline(ss, id, ',');)
      if (!id.empty()) visible.push_back(id);
  }
  const std::string mine = visible.empty() ? std::to_string(local) : visible[static_cast<size_t>(local) % visible.size()];
  ::setenv("CUDA_VISIBLE_DEVICES", mine.c_str(), 1);
}

// A CUDA run of several ranks all-reduces on the GPUs with NCCL, over the MPI group.
void use_device_collectives(const json& c) {
  if (dist::world().world_size() == 1 || c["device"].get<std::string>() != "cuda") return;
  if (!dist::nccl_available()) {
    std::fprintf(stderr, "figs: warning: built without NCCL: the gradients of this CUDA run go through the host "
                 "with MPI (slow)\n");
    return;
  }
  dist::set_world(dist::make_nccl_group(g_mpi, 0));
}

// A rank other than 0 got its stderr back (main silenced it) to say why it stops, naming itself.
void speak_as_rank(int saved_stderr) {
  if (saved_stderr < 0) return;
  std::fflush(stderr);
  ::dup2(saved_stderr, 2);
  std::fprintf(stderr, "figs: rank %d of %d:\n", dist::world().rank(), dist::world().world_size());
}

// An error on one rank would leave the others waiting in their next collective: the whole job
// stops (MPI_Abort) with the error's exit code. A single process just returns it.
void stop_all_ranks(int code) {
  if (dist::world().world_size() > 1) dist::world().abort(code);
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
  // FIGS_KERNEL_STATS=1: on the way out, which implementation (oneDNN, own AVX2, reference, own
  // CUDA kernels, cuDNN and its retries) served each kernel and how often; a "reference" count in
  // a CPU run is a missing fast path (core/kernel_stats.h).
  struct KernelStatsAtExit {
    ~KernelStatsAtExit() {
      if (std::getenv("FIGS_KERNEL_STATS"))
        std::fprintf(stderr, "figs: kernels: %s\nfigs: kernels per op: %s\n", kernel_counts_summary().c_str(),
                     op_kernel_counts_summary().c_str());
    }
  } kernel_stats;
  CLI::App app{"figs: fine-grained stochastic architecture search (" + build_info().summary() + ")"};
  app.require_subcommand(1);
  app.fallthrough();  // the global options also after the subcommand (figs sweep --resume S --threads 1)
  int threads = 0;
  int64_t seed = 0;
  GlobalOptions global;
  auto* threads_opt = app.add_option("--threads", threads, "CPU threads (default: all; at most 1024)");
  auto* seed_opt = app.add_option("--seed", seed, "random seed, >= 0 (default: the config's)");
  int64_t stop_after_step = 0;
  auto* stop_after_opt = app.add_option("--stop-after-step", stop_after_step,
                                        "stop after step N of the stage that reaches it first, as Ctrl-C would "
                                        "(checkpoint written, exit 130); --resume continues");
  app.add_option("--device", global.device, "cpu (default) or cuda (needs a build with CUDA and a GPU); eval: the "
                 "run's by default")
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
  ExportOptions export_o;
  auto* export_cmd = add_export_command(app, export_o);
  BenchOptions bench_o;
  auto* bench_cmd = add_bench_command(app, bench_o);
  std::string presets_help = "search spaces:";
  for (const std::string& line : nas::describe_presets()) presets_help += "\n  " + line;
  app.footer(presets_help);

  CLI11_PARSE(app, argc, argv);
  const std::string command = app.get_subcommands()[0]->get_name();
  // Data parallel: under mpirun every process is one rank of dist::world() (core/distributed.h).
  // Rank 0 alone writes files and prints; the others keep only their error messages.
  int rank_stderr = -1;
  try {
    if (dist::launched_by_mpirun()) {
      g_mpi = dist::make_mpi_group();
      dist::set_world(g_mpi);
      one_gpu_per_rank();
      FIGS_CHECK(command == "run" || command == "search" || command == "retrain" || command == "sweep", "figs ",
                 command, " runs in one process; under mpirun (", dist::world().world_size(),
                 " ranks) use figs run, search, retrain or sweep");
      if (!dist::world().is_root()) {
        rank_stderr = ::dup(2);
        FIGS_CHECK(std::freopen("/dev/null", "w", stdout) && std::freopen("/dev/null", "w", stderr),
                   "rank ", dist::world().rank(), ": cannot silence its output");
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "figs: error: %s\n", e.what());
    return 1;
  }
  // Denormal floats compute through slow microcode on x86 and mean nothing to training: flushed
  // (core/denormals.h), before any worker thread exists so that every one inherits the mode.
  // FIGS_FLUSH_DENORMALS=0 keeps IEEE gradual underflow (for measuring what the flush changes).
  const char* flush = std::getenv("FIGS_FLUSH_DENORMALS");
  set_flush_denormals(!(flush && std::string(flush) == "0"));
  if (threads_opt->count()) global.threads = threads;
  if (seed_opt->count()) global.seed = seed;
  install_stop_handlers();
  std::string resume_dir;  // the run folder a stopped command resumes from
  // No exception leaves main: figs's own errors are one line naming what is wrong; anything else
  // (a library's exception, out of memory) is reported the same way instead of aborting.
  try {
    if (stop_after_opt->count()) set_stop_after_step(stop_after_step);
    // The CPU backend reads FIGS_CPU_KERNELS and FIGS_CPU_ISA at first use; read them now, so
    // that a bad value stops the command before any data is read or anything is written.
    cpu::kernel_mode();
    cpu::vector_isa();
    if (*export_cmd) {
      run_export(export_o);
    } else if (*bench_cmd) {
      ConfigOptions bench_config;
      bench_config.preset = bench_o.preset;
      bench_config.file = bench_o.config_file;
      bench_config.sets = bench_o.sets;
      run_bench(bench_o, effective_config(bench_config, global));
    } else if (*config) {
      std::printf("%s\n", effective_config(config_o, global).dump(2).c_str());
    } else if (*info) {
      if (!info_arch.empty()) {
        const nas::Architecture a = nas::load_architecture(info_arch);  // counts recomputed from the network
        std::printf("%s: %lld params, %lld MACs per image, %zu surviving units\nspace: %s\n", info_arch.c_str(),
                    static_cast<long long>(a.params), static_cast<long long>(a.macs), a.surviving_units.size(),
                    a.space_json.c_str());
      } else {
        FIGS_CHECK(!info_space.empty(), "info: give an architecture file or --space");
        print_info_space(info_space, info_preset);
      }
    } else if (*eval) {
      if (global.threads) {
        FIGS_CHECK(*global.threads >= 0 && *global.threads <= 1024, "--threads must be in [0, 1024], got ",
                   *global.threads);
        if (*global.threads > 0) set_num_threads(*global.threads);
      }
      const std::string kind = RunFolder::kind_of(eval_dir);
      FIGS_CHECK(kind != "sweep", "eval: '", eval_dir, "' is a study (figs sweep); evaluate one of its runs: ", eval_dir,
                 "/runs/<run>");
      const EvalReport r = evaluate_run(eval_dir, eval_split, global.device);
      std::printf("%s: %s network (step %lld), %lld params%s: %s accuracy %.4f on %lld images (%.0f img/s)\n",
                  eval_dir.c_str(), r.network.c_str(), static_cast<long long>(r.step), static_cast<long long>(r.params),
                  r.macs ? (", " + std::to_string(r.macs) + " MACs").c_str() : "", r.split.c_str(), r.accuracy,
                  static_cast<long long>(r.images), r.images_per_s);
    } else if (*sweep) {
      json c = effective_config(sweep_o, global);
      use_device_collectives(c);
      check_resume_kind(sweep_o, "sweep");
      check_sweep(c);
      if (sweep_report) {
        FIGS_CHECK(dist::world().world_size() == 1, "sweep --report runs in one process (drop mpirun)");
        FIGS_CHECK(!sweep_o.resume.empty(), "sweep --report needs --resume STUDY_DIR (the study to report on)");
        const RunFolder folder = RunFolder::resume(sweep_o.resume, "sweep");
        report_sweep(c, folder.dir());
        return 0;
      }
      const Datasets d = load_datasets(c);
      fit_space_to_data(c, d);  // the space's open input (channels, size, classes) from the data
      check_sweep(c);           // again, on the space the data gave
      const RunFolder folder = claim_folder(sweep_o, "sweep", c);
      resume_dir = folder.dir();
      run_sweep(c, folder.dir(), d);
    } else if (*search) {
      json c = effective_config(search_o, global);
      use_device_collectives(c);
      check_resume_kind(search_o, "search");
      const Datasets d = load_datasets(c);
      fit_space_to_data(c, d);  // the space's open input (channels, size, classes) from the data
      check_search_budget(c);
      const RunFolder folder = claim_folder(search_o, "search", c);
      resume_dir = folder.dir();
      run_search(c, d, folder.dir(), !search_o.resume.empty());
    } else if (*retrain) {
      const json c = effective_config(retrain_o, global);
      use_device_collectives(c);
      const bool resume = !retrain_o.resume.empty();
      FIGS_CHECK(resume != !arch_path.empty(), resume ? "retrain --resume reads the run's own arch.json; drop ARCH.json"
                                                      : "retrain needs ARCH.json");
      check_resume_kind(retrain_o, "retrain");
      const nas::Architecture a = nas::load_architecture(resume ? retrain_o.resume + "/arch.json" : arch_path);
      const Datasets d = load_datasets(c);
      check_data_fits(*nas::make_space_from_json(a.space_json), d);
      const RunFolder folder = claim_folder(retrain_o, "retrain", c);
      resume_dir = folder.dir();
      if (!resume) nas::save_architecture(a, folder.dir() + "/arch.json");  // the folder holds what it trained
      run_retrain(c, d, a, folder.dir(), resume);
    } else if (*run) {
      json c = effective_config(run_o, global);
      use_device_collectives(c);
      check_resume_kind(run_o, "run");
      const auto start = std::chrono::steady_clock::now();
      const Datasets d = load_datasets(c);
      fit_space_to_data(c, d);  // the space's open input (channels, size, classes) from the data
      check_search_budget(c);
      const RunFolder folder = claim_folder(run_o, "run", c);
      const std::string& dir = folder.dir();
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
  } catch (const Interrupted& i) {
    // Training stops are agreed by every rank at one step (stop_requested), so each exits here.
    speak_as_rank(rank_stderr);
    if (command == "eval") {
      std::fprintf(stderr, "\nfigs: eval stopped (it writes nothing)\n");
    } else if (i.stage == "evaluation") {
      std::fprintf(stderr, "\nfigs: stopped during the final evaluation (the trained weights are in the checkpoint); "
                   "continue with: figs %s --resume %s\n", command.c_str(), resume_dir.c_str());
    } else {
      std::fprintf(stderr, "\nfigs: stopped after %s step %lld (checkpoint written); continue with: figs %s --resume %s\n",
                   i.stage.c_str(), static_cast<long long>(i.step), command.c_str(), resume_dir.c_str());
    }
    finish_world();
    return 130;
  } catch (const nn::Diverged& d) {
    // Every rank sees the same non-finite loss (all-reduced) and weights, at the same step.
    speak_as_rank(rank_stderr);
    std::fprintf(stderr, "\nfigs: error: %s\nfigs: nothing was exported and no results were written; a smaller "
                 "learning rate (%s) usually helps\n", d.what(),
                 d.stage() == "retrain" ? "retrain.lr" : "search.lr, or search.logits_lr for the mask logits");
    finish_world();
    return 3;
  } catch (const Error& e) {
    speak_as_rank(rank_stderr);
    std::fprintf(stderr, "figs: error: %s\n", e.what());
    stop_all_ranks(1);
    return 1;
  } catch (const std::bad_alloc&) {
    speak_as_rank(rank_stderr);
    std::fprintf(stderr, "figs: error: out of memory (a smaller data.batch_size or space may fit)\n");
    stop_all_ranks(1);
    return 1;
  } catch (const std::exception& e) {
    speak_as_rank(rank_stderr);
    std::fprintf(stderr, "figs: error: %s\n", e.what());
    stop_all_ranks(1);
    return 1;
  } catch (...) {
    speak_as_rank(rank_stderr);
    std::fprintf(stderr, "figs: error: an unknown exception stopped %s\n", command.c_str());
    stop_all_ranks(1);
    return 1;
  }
  finish_world();
  return 0;
}

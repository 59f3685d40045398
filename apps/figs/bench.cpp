#include "bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/atomic_file.h"
#include "core/autograd_meta.h"
#include "core/build_info.h"
#include "core/kernel_stats.h"
#include "core/denormals.h"
#include "core/parallel.h"
#include "core/view.h"
#include "cpu/allocator.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_features.h"
#include "cuda/allocator.h"
#include "nas/architecture.h"
#include "nas/channel_graph.h"
#include "nas/mask_layer.h"
#include "nas/objective.h"
#include "nas/search.h"
#include "nn/optim/adam.h"
#include "drivers.h"

namespace figs::app {

namespace {

using Clock = std::chrono::steady_clock;

// What one stage measured.
struct StageTiming {
  double median_s = 0, min_s = 0, max_s = 0;
  double images_per_s = 0, gflops = 0;
  double peak_memory_mib = 0;  // CPU: the process's peak RSS so far; CUDA: the allocator's peak
  // The allocator's peak of bytes held by live tensors (CPU and CUDA alike): what the step's
  // tensors need, without the cache's free blocks, the code and the libraries' own buffers.
  double peak_tensor_mib = 0;
  double first_loss = 0, last_loss = 0;
  // Host wall time per op of the list over the timed steps, per step (core/kernel_stats.h; on a
  // GPU the time to launch), and the step time outside every op (optimizer, engine, host).
  std::map<std::string, OpTime> ops;
  double outside_ops_s = 0;
};

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

// Runs `step` warmup + steps times; the median of the timed ones. `step` returns the loss it
// read back (which also waits for a device to finish the step).
// flops_per_mac: 6 for a training step (a forward and two backward passes of about the forward's
// MACs each, at 2 FLOPs per MAC), 2 for inference.
StageTiming time_steps(const BenchOptions& o, double macs_per_image, double flops_per_mac, Device device,
                       const std::function<double()>& step) {
  StageTiming t;
  for (int64_t i = 0; i < o.warmup; ++i) {
    const double loss = step();
    if (i == 0) t.first_loss = loss;
  }
  std::vector<double> seconds;
  reset_kernel_counts();  // and the op times: the timed steps' alone
  for (int64_t i = 0; i < o.steps; ++i) {
    const auto start = Clock::now();
    const double loss = step();
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    if (o.warmup == 0 && i == 0) t.first_loss = loss;
    t.last_loss = loss;
  }
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  t.median_s = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  t.min_s = sorted.front();
  t.max_s = sorted.back();
  t.images_per_s = static_cast<double>(o.batch) / t.median_s;
  t.gflops = flops_per_mac * macs_per_image * static_cast<double>(o.batch) / t.median_s / 1e9;
  t.peak_tensor_mib = static_cast<double>(device.is_cuda() ? cuda::device_allocator_stats().peak_bytes_in_use
                                                           : cpu::allocator_stats().peak_bytes_in_use) / 1048576.0;
  t.peak_memory_mib = device.is_cuda() ? t.peak_tensor_mib : peak_rss_mib();
  double total_s = 0, in_ops_s = 0;
  for (double x : seconds) total_s += x;
  t.ops = op_times();
  for (auto& [name, ot] : t.ops) {
    ot.seconds /= static_cast<double>(o.steps);
    ot.calls /= o.steps;
    in_ops_s += ot.seconds;
  }
  t.outside_ops_s = total_s / static_cast<double>(o.steps) - in_ops_s;
  return t;
}

// The ops by time per step, the largest first: "conv2d 41.2 ms (38%, 180 calls)".
std::vector<std::pair<std::string, OpTime>> ops_by_time(const StageTiming& t) {
  std::vector<std::pair<std::string, OpTime>> v(t.ops.begin(), t.ops.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  return v;
}

json timing_json(const StageTiming& t) {
  json ops = json::object();
  for (const auto& [name, ot] : t.ops) ops[name] = {{"ms_per_step", 1e3 * ot.seconds}, {"calls_per_step", ot.calls}};
  return {{"img_per_s", t.images_per_s}, {"step_ms_median", 1e3 * t.median_s}, {"step_ms_min", 1e3 * t.min_s},
          {"step_ms_max", 1e3 * t.max_s}, {"gflops", t.gflops}, {"peak_memory_mib", t.peak_memory_mib},
          {"peak_tensor_mib", t.peak_tensor_mib}, {"first_loss", t.first_loss}, {"last_loss", t.last_loss}, {"ops", ops},
          {"outside_ops_ms_per_step", 1e3 * t.outside_ops_s}};
}

struct Batch {
  Tensor images, labels;
};

// Random images at the space's input shape (channels-last, on the device) and random labels:
// speed does not depend on the pixels, and no dataset is needed.
Batch synthetic_batch(const nas::SearchSpace& space, int64_t batch, uint64_t seed, Device device) {
  Generator gen(seed, 0x62656e6368ull);  // "bench"
  const Shape in = space.input_shape();
  const Tensor images = normal({batch, in[0], in[1], in[2]}, 0.0, 1.0, gen);
  const std::vector<float> u = uniform({batch}, 0.0, static_cast<double>(space.num_classes()), gen).to_vector<float>();
  std::vector<int64_t> labels(u.size());
  for (size_t i = 0; i < u.size(); ++i)
    labels[i] = std::min<int64_t>(static_cast<int64_t>(u[i]), space.num_classes() - 1);
  return {network_images(images, device), raw::to(from_vector(labels, {batch}), device)};
}

bool is_logits(const std::string& name) { return name.size() > 7 && name.compare(name.size() - 7, 7, ".logits") == 0; }

// The search step of `figs search` (FiGS, past its warmup: the masks learn under the expected
// cost): sampled masks, forward, cross-entropy + lambda * E[cost], backward, Adam.
StageTiming bench_search(const BenchOptions& o, const json& config, const nas::SearchSpace& space, double macs,
                         Device device) {
  const json& sc = config["search"];
  nas::BuildOptions build{.masks = true, .mask_options = {}};
  build.mask_options.tau = sc["tau"].get<double>();
  nn::Model model(space.build(space.full_widths(), build), {.seed = config["seed"].get<uint64_t>(), .device = device});
  nas::configure_masks(model.root(), config["seed"].get<uint64_t>());
  const Batch b = synthetic_batch(space, o.batch, config["seed"].get<uint64_t>(), device);
  nas::ChannelGraph::NamedParameters named;
  for (const nn::ArenaSlot& s : model.param_slots()) named.push_back({s.name, s.tensor});
  const nas::ChannelGraph graph = nas::ChannelGraph::trace(sum(model(b.images)), named);
  nas::CostPenalty penalty(graph, {.kind = sc["cost"] == "macs" ? nas::CostKind::Macs : nas::CostKind::Params,
                                   .form = nas::CostForm::Expected,
                                   .lambda = sc["lambda"].get<double>(),
                                   .relative_lambda = sc["lambda_relative"].get<bool>()});
  nn::Adam opt(model, {.lr = sc["lr"].get<double>(), .eps = sc["adam_eps"].get<double>()},
               {nn::ParamGroupSpec{.name = "logits", .selects = is_logits, .lr = sc["logits_lr"].get<double>(),
                                   .weight_decay = 0.0}});
  // search.cuda_graph: the step replayed from a CUDA graph after the first (Note [The search step
  // as a CUDA graph], nas/search.h); --warmup covers the eager step and the capture.
  nas::ArchitectureSearch search(model, penalty, opt, {.tau = nas::TauSchedule::constant(sc["tau"].get<double>()),
                                                       .cuda_graph = sc["cuda_graph"].get<bool>()});
  return time_steps(o, macs, 6.0, device, [&] {
    const nas::SearchStepStats s = search.step(b.images, b.labels);
    return s.task_loss + s.penalty;
  });
}

// The retrain step of `figs retrain` on the full-width network without masks.
StageTiming bench_retrain(const BenchOptions& o, const json& config, const nas::SearchSpace& space, double macs,
                          Device device) {
  nn::Model model(space.build(space.full_widths()), {.seed = config["seed"].get<uint64_t>() + 1, .device = device});
  nn::Adam opt(model, {.lr = config["retrain"]["lr"].get<double>()});
  const Batch b = synthetic_batch(space, o.batch, config["seed"].get<uint64_t>() + 1, device);
  model.train();
  return time_steps(o, macs, 6.0, device, [&] {
    opt.zero_grad();
    const Tensor loss = cross_entropy(model(b.images), b.labels);
    backward(loss);
    opt.step();
    return loss.item<double>();
  });
}

// Inference of the supernet as a searched network is evaluated (eval mode: hard masks, BatchNorm
// on its running statistics, no autograd), the forward that PyTorch twins time with --infer.
StageTiming bench_infer(const BenchOptions& o, const json& config, const nas::SearchSpace& space, double macs,
                        Device device) {
  nn::Model model(space.build(space.full_widths(), {.masks = true, .mask_options = {}}),
                  {.seed = config["seed"].get<uint64_t>() + 2, .device = device});
  nas::configure_masks(model.root(), config["seed"].get<uint64_t>());
  const Batch b = synthetic_batch(space, o.batch, config["seed"].get<uint64_t>() + 2, device);
  model.eval();
  return time_steps(o, macs, 2.0, device, [&] {
    NoGradGuard no_grad;
    return sum(model(b.images)).item<double>();  // waits for a device to finish
  });
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchOptions& o) {
  auto* cmd = app.add_subcommand("bench", "time the search and retrain steps of a space on synthetic data (no "
                                 "dataset needed)");
  cmd->add_option("--preset", o.preset, "the run preset whose space and recipe to time (default: the main job's)");
  cmd->add_option("--config", o.config_file, "JSON file overriding the preset");
  cmd->add_option("--set", o.sets, "override one option, e.g. --set space.preset=imagenet (repeatable)");
  cmd->add_option("--batch", o.batch, "images per step (default 128)")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--warmup", o.warmup, "untimed steps first (default 3)")->check(CLI::Range(int64_t{0}, int64_t{1000}));
  cmd->add_option("--steps", o.steps, "timed steps; the median is reported (default 10)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_option("--stage", o.stages,
                  "search, retrain, both (default: search and retrain), infer (the supernet in eval mode, no "
                  "autograd) or all")
      ->check(CLI::IsMember({"search", "retrain", "both", "infer", "all"}));
  cmd->add_option("--json", o.json_out, "also write the figures to this JSON file");
  return cmd;
}

void run_bench(const BenchOptions& o, const json& config) {
  const auto space = make_space_from_config(config);
  const Device device = run_device(config);
  const nas::Architecture full = nas::describe_architecture(*space, {});
  const double macs = static_cast<double>(full.macs);
  // OpenMP's wait policy changes CPU timings: under "passive" (the test scripts' setting) each
  // parallel region wakes sleeping threads: ~1.45x the default's step time on 2 cores (docs/cli.md).
  const char* wait_env = std::getenv("OMP_WAIT_POLICY");
  const std::string wait_policy = wait_env && *wait_env ? wait_env : "default";
  // The widest vector ISA of the own CPU kernels (AVX-512 where the CPU has it; FIGS_CPU_ISA=avx2
  // caps it; none without AVX2 and FMA), so that timings from different machines or settings can
  // be told apart.
  const char* cpu_isa = cpu::vector_isa_name(cpu::vector_isa());
  const std::string own_kernels =
      cpu::vector_isa() != cpu::fast::VectorIsa::None
          ? str_cat("own CPU kernels up to ", cpu_isa)
          : str_cat("no own CPU kernels (", cpu::fast::cpu_supported() ? "FIGS_CPU_ISA=none" : "no AVX2 and FMA",
                    build_info().with_onednn ? ": reference kernels and oneDNN)" : ": reference kernels)");
  std::fprintf(stderr, "bench: %s/%s, %lld params, %.4g MACs per image, batch %lld, %s, %d threads, denormals %s, "
               "OpenMP wait policy %s, %s; %lld warmup + %lld timed steps per stage\n",
               space->name().c_str(), space->preset().c_str(), static_cast<long long>(full.params), macs,
               static_cast<long long>(o.batch), str_cat(device).c_str(), num_threads(),
               flush_denormals_enabled() ? "flushed" : "kept", wait_policy.c_str(), own_kernels.c_str(),
               static_cast<long long>(o.warmup), static_cast<long long>(o.steps));
  json out{{"space", space->name()}, {"preset", space->preset()}, {"params", full.params}, {"macs", full.macs},
           {"batch", o.batch}, {"device", str_cat(device)}, {"threads", num_threads()},
           {"flush_denormals", flush_denormals_enabled()}, {"omp_wait_policy", wait_policy}, {"cpu_vector_isa", cpu_isa},
           {"build", build_info().summary()}, {"warmup_steps", o.warmup}, {"timed_steps", o.steps}};
  // Inference, then retrain, then search: each needs more memory than the one before, so the
  // CPU's high-water mark read after each stage is that stage's own (docs/cli.md).
  std::printf("%-8s %10s %12s %10s %10s %12s %12s\n", "stage", "img/s", "step ms", "min ms", "GFLOP/s", "peak MiB",
              "tensors MiB");
  auto report = [&](const char* name, const StageTiming& t) {
    std::printf("%-8s %10.1f %12.2f %10.2f %10.1f %12.0f %12.0f\n", name, t.images_per_s, 1e3 * t.median_s,
                1e3 * t.min_s, t.gflops, t.peak_memory_mib, t.peak_tensor_mib);
    std::fflush(stdout);
    out[name] = timing_json(t);
  };
  auto wanted = [&](const char* stage) {
    return o.stages == stage || o.stages == "all" || (o.stages == "both" && std::string(stage) != "infer");
  };
  std::vector<std::pair<const char*, StageTiming>> stages;
  auto run = [&](const char* name, const std::function<StageTiming()>& time) {
    stages.emplace_back(name, time());
    report(name, stages.back().second);
  };
  if (wanted("infer")) run("infer", [&] { return bench_infer(o, config, *space, macs, device); });
  if (wanted("retrain")) run("retrain", [&] { return bench_retrain(o, config, *space, macs, device); });
  if (wanted("search")) run("search", [&] { return bench_search(o, config, *space, macs, device); });
  // Where each step's time went, per op of the list (the ten largest; the JSON has them all).
  for (const auto& [name, t] : stages) {
    double step_s = 0;
    for (const auto& [op, ot] : t.ops) step_s += ot.seconds;
    step_s += t.outside_ops_s;
    std::printf("\n%s %s, time per op%s (ms per step, share, calls per step):\n", name,
                std::string(name) == "infer" ? "batch" : "step",
                device.is_cuda() ? " (host time: on a GPU, launching)" : "");
    const auto ranked = ops_by_time(t);
    for (size_t i = 0; i < ranked.size() && i < 10; ++i)
      std::printf("  %-18s %9.2f %5.1f%% %6ld\n", ranked[i].first.c_str(), 1e3 * ranked[i].second.seconds,
                  100 * ranked[i].second.seconds / step_s, ranked[i].second.calls);
    std::printf("  %-18s %9.2f %5.1f%%\n", "(outside ops)", 1e3 * t.outside_ops_s, 100 * t.outside_ops_s / step_s);
  }
  if (!o.json_out.empty()) write_file_atomically(o.json_out, out.dump(2) + "\n");
}

}  // namespace figs::app

// `figs export RUN_DIR --onnx OUT.onnx`: the run's retrained network (or, with --supernet, its
// supernet under the eval masks) rebuilt as `figs eval` rebuilds it, in eval mode, written as
// ONNX by deploy/onnx_export.h after the ONNX checker accepted it.
#include "export.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/atomic_file.h"
#include "core/autograd_meta.h"
#include "core/error.h"
#include "core/view.h"
#include "data/loader.h"
#include "nas/architecture.h"
#include "nn/checkpoint.h"
#include "nn/ema.h"
#include "drivers.h"
#if FIGS_WITH_ONNX
#include "deploy/onnx_export.h"
#endif

namespace figs::app {

namespace {
namespace fs = std::filesystem;

int64_t parse_batch(const std::string& text) {
  if (text == "dynamic") return 0;
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  FIGS_CHECK(used == text.size() && n >= 1, "export: --batch must be a batch size >= 1 or 'dynamic', got '", text, "'");
  return n;
}

// The output must be a file in an existing, writable folder: checked before anything is
// computed, so a bad path fails fast and leaves nothing behind.
void check_output_path(const std::string& path) {
  FIGS_CHECK(!path.empty(), "export: --onnx needs a file name");
  const fs::path p(path);
  FIGS_CHECK(!fs::is_directory(p), "export: '", path, "' is a folder; --onnx names the model file to write");
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  FIGS_CHECK(fs::is_directory(dir), "export: cannot write '", path, "': folder '", dir.string(), "' does not exist");
  FIGS_CHECK(::access(dir.c_str(), W_OK) == 0, "export: cannot write '", path, "': folder '", dir.string(),
             "' is not writable");
}

// A NumPy .npy file (format 1.0, little-endian, C order) of `count` values of `descr` ("<f4", "<i8").
std::string npy(const char* descr, const void* data, size_t bytes, const std::vector<int64_t>& shape) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, '\n' last.
  const size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(data), bytes);
  return out;
}

std::string json_floats(const std::vector<float>& v) {
  json a = json::array();
  for (float x : v) a.push_back(x);
  return a.dump();
}

struct Network {
  std::unique_ptr<nn::Model> model;
  std::string kind;  // "retrained" or "supernet"
  int64_t step = 0, params = 0, macs = 0;
  nas::Architecture arch;  // of the retrained network; the supernet's full widths
  bool ema = false;
};

// Loads a checkpoint into `model`; with EMA averages in the file, the model ends up holding them.
int64_t load_weights(nn::Model& model, const std::string& path, const json& config, bool& ema_applied) {
  const nn::CheckpointInfo info = nn::read_checkpoint_info(path);
  std::unique_ptr<nn::Ema> ema;
  if (info.has_ema) {
    nn::EmaOptions eo;
    eo.decay = info.ema_decay;
    eo.include_buffers = info.ema_include_buffers;
    ema = std::make_unique<nn::Ema>(model, eo);
  }
  nn::TrainingState state{&model, nullptr, ema.get(), {}, 0, 0, checkpoint_config_hash(config)};
  nn::load_checkpoint(path, state);
  ema_applied = ema != nullptr;
  if (ema) ema->apply();  // the averages stay in the model: `ema` only owned the shadow
  return state.step;
}

Network load_network(const ExportOptions& o, const json& config, const Datasets& d) {
  const std::string& dir = o.run_dir;
  Network n;
  if (!o.supernet) {
    FIGS_CHECK(fs::exists(dir + "/retrain.ckpt"), "export: '", dir,
               "' holds no retrained network (no retrain.ckpt): run `figs run` or `figs retrain` there first, or "
               "export the searched supernet with --supernet");
    FIGS_CHECK(fs::exists(dir + "/results.json"), "export: the retraining in '", dir,
               "' has not finished (no results.json): continue it with `figs retrain --resume ", dir, "`");
    n.kind = "retrained";
    n.arch = nas::load_architecture(dir + "/arch.json");
    n.model = std::make_unique<nn::Model>(nas::make_space_from_json(n.arch.space_json)->build(n.arch.widths),
                                          nn::ModelOptions{.device = Device::cpu()});
    n.step = load_weights(*n.model, dir + "/retrain.ckpt", config, n.ema);
  } else {
    FIGS_CHECK(fs::exists(dir + "/search.ckpt"), "export: '", dir,
               "' holds no searched supernet (no search.ckpt): run `figs search` there first");
    n.kind = "supernet";
    const auto space = make_space_from_config(config);
    n.arch = nas::describe_architecture(*space, space->full_widths(), "{\"network\": \"supernet\"}");
    nas::BuildOptions build{.masks = true, .mask_options = {}};
    n.model = std::make_unique<nn::Model>(space->build(space->full_widths(), build),
                                          nn::ModelOptions{.device = Device::cpu()});
    n.step = load_weights(*n.model, dir + "/search.ckpt", config, n.ema);
    recalibrate_supernet(*n.model, config, d);  // as `figs eval` and the end of a search do
  }
  n.params = n.model->num_parameters();
  n.macs = n.arch.macs;
  return n;
}

}  // namespace

CLI::App* add_export_command(CLI::App& app, ExportOptions& o) {
  CLI::App* cmd = app.add_subcommand("export", "a run's retrained network (or --supernet) as an ONNX model");
  cmd->add_option("run_dir", o.run_dir, "run folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--onnx", o.onnx, "the ONNX file to write")->required();
  cmd->add_option("--batch", o.batch, "batch size of the model's input: N (default 1) or 'dynamic'");
  cmd->add_flag("--fold-bn", o.fold_bn, "fold every BatchNorm into the convolution before it");
  cmd->add_flag("--supernet", o.supernet, "export the searched supernet under its eval masks (for inspection)");
  cmd->add_option("--reference", o.reference,
                  "also write the first N test images (as the model takes them) and figs's logits for them, "
                  "OUT.inputs.npy / OUT.logits.npy / OUT.labels.npy")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  return cmd;
}

#if FIGS_WITH_ONNX

void run_export(const ExportOptions& o) {
  const int64_t batch = parse_batch(o.batch);
  check_output_path(o.onnx);
  const json config = load_run_config(o.run_dir);
  const Datasets d = load_datasets(config);  // the normalisation the network was trained with
  Network n = load_network(o, config, d);
  const auto space = nas::make_space_from_json(n.arch.space_json);

  deploy::OnnxExportOptions opt;
  opt.batch = batch;
  opt.fold_batch_norm = o.fold_bn;
  opt.graph_name = "figs-" + space->name() + "-" + space->preset();
  opt.doc_string = "figs " + n.kind + " network of " + o.run_dir;
  json widths = json::object();
  for (const auto& [key, w] : n.arch.widths) widths[key] = w;
  opt.metadata = {
      {"figs.network", n.kind == "supernet" ? "supernet under its eval masks (BatchNorm re-estimated)" : "retrained"},
      {"figs.weights", n.ema ? "EMA averages" : "trained weights"},
      {"figs.step", std::to_string(n.step)},
      {"figs.space", n.arch.space_json},
      {"figs.widths", widths.dump()},
      {"figs.params", std::to_string(n.params)},
      {"figs.macs", std::to_string(n.macs)},
      {"figs.source", n.arch.source_json},
      {"figs.input", "float32 (N, C, H, W) images: pixel / 255, then (x - mean[c]) / std[c] with figs.norm_mean and "
                     "figs.norm_std (not folded into the model)"},
      {"figs.norm_mean", json_floats(d.mean)},
      {"figs.norm_std", json_floats(d.std)},
      {"figs.output", "logits (N, classes), no softmax"},
      {"figs.batch_norm", o.fold_bn ? "folded into the convolutions" : "BatchNormalization nodes (eval statistics)"},
  };
  deploy::OnnxExportSummary summary;
  const std::string model = deploy::export_onnx(n.model->root(), space->input_shape(), opt, &summary);
  deploy::check_onnx(model, o.onnx);

  std::vector<std::string> written;
  if (o.reference > 0) {  // written first: the model file appears last, when everything else is there
    FIGS_CHECK(o.reference <= d.test->size(), "export: --reference ", o.reference, " is more than the ",
               d.test->size(), " test images");
    data::LoaderConfig lc = loader_config(config, d, false);
    lc.batch_size = o.reference;
    lc.num_workers = 1;
    data::Loader loader(d.test, lc);
    loader.start_epoch(0);
    const std::optional<data::Batch> b = loader.next();
    FIGS_CHECK(b.has_value(), "export: the test set gave no batch");
    NoGradGuard no_grad;
    n.model->eval();
    const std::vector<float> inputs = b->images.to_vector<float>();
    const Tensor logits = (*n.model)(network_images(b->images, Device::cpu()));
    const std::vector<float> out = logits.to_vector<float>();
    const std::vector<int64_t> labels = b->labels.to_vector<int64_t>();
    const std::string stem = (fs::path(o.onnx).parent_path() / fs::path(o.onnx).stem()).string();
    const auto save = [&](const std::string& suffix, const std::string& bytes) {
      write_file_atomically(stem + suffix, bytes);
      written.push_back(stem + suffix);
    };
    save(".inputs.npy", npy("<f4", inputs.data(), inputs.size() * 4, b->images.shape().vec()));
    save(".logits.npy", npy("<f4", out.data(), out.size() * 4, logits.shape().vec()));
    save(".labels.npy", npy("<i8", labels.data(), labels.size() * 8, {static_cast<int64_t>(labels.size())}));
  }
  write_file_atomically(o.onnx, model);

  std::string ops;
  for (const auto& [type, count] : summary.op_types) ops += (ops.empty() ? "" : ", ") + type + " " + std::to_string(count);
  std::printf("figs export: %s (%s network, step %lld, %lld params, %lld MACs%s) -> %s: %lld nodes (%s), batch %s%s; "
              "ONNX checker: ok%s\n",
              o.run_dir.c_str(), n.kind.c_str(), static_cast<long long>(n.step), static_cast<long long>(n.params),
              static_cast<long long>(n.macs), n.ema ? ", EMA weights" : "", o.onnx.c_str(),
              static_cast<long long>(summary.nodes), ops.c_str(), batch == 0 ? "dynamic" : std::to_string(batch).c_str(),
              o.fold_bn ? (", " + std::to_string(summary.folded_batch_norms) + " BatchNorms folded").c_str() : "",
              written.empty() ? "" : (", reference data in " + std::to_string(written.size()) + " .npy files").c_str());
}

#else

void run_export(const ExportOptions&) {
  fail("export: this figs was built without the ONNX exporter (configure with -DFIGS_WITH_ONNX=ON; needs Debian's "
       "libonnx-dev and libprotobuf-dev)");
}

#endif

}  // namespace figs::app

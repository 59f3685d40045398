#include "run_support.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/autograd_meta.h"
#include "core/backend.h"
#include "core/build_info.h"
#include "core/distributed.h"
#include "core/view.h"
#include "cuda/cuda.h"
#include "cuda/pinned.h"
#include "data/image_folder.h"
#include "data/readers.h"
#include "data/synthetic.h"
#include "nas/recalibrate.h"
#include "nn/checkpoint.h"

namespace figs::app {

int64_t stage_batch_size(const json& config, const std::string& stage) {
  const int64_t own = config[stage]["batch_size"].get<int64_t>();
  return own > 0 ? own : config["data"]["batch_size"].get<int64_t>();
}

data::LoaderConfig loader_config(const json& config, const Datasets& d, bool train, int64_t batch_size) {
  const json& dc = config["data"];
  data::LoaderConfig c;
  c.batch_size = batch_size > 0 ? batch_size : dc["batch_size"].get<int64_t>();
  // Data parallel: a training batch is the global batch, split over the ranks (each takes every
  // world_size-th example of the epoch's order, data/sampler.h); evaluation reads every example on
  // every rank.
  const dist::ProcessGroup& world = dist::world();
  if (train && world.world_size() > 1) {
    FIGS_CHECK(c.batch_size % world.world_size() == 0, "the batch of ", c.batch_size, " images cannot be split over ",
               world.world_size(), " ranks: choose a batch size that is a multiple of the number of ranks");
    c.batch_size /= world.world_size();
    c.rank = world.rank();
    c.world_size = world.world_size();
  }
  c.shuffle = train;
  c.seed = config["seed"].get<uint64_t>();
  c.num_workers = dc["workers"].get<int>();
  if (run_device(config).is_cuda()) c.batch_allocator = cuda::allocate_pinned;  // DMA to the GPU, images and labels
  c.augment.mean = d.mean;
  c.augment.std = d.std;
  const data::ImageShape stored = d.train->image_shape();
  if (train && d.augment == "inception") {
    // Inception-style (the ImageNet recipe): a random window of 8%-100% of the area, aspect 3/4
    // to 4/3, resized to the input; flip; brightness, contrast and saturation jitter.
    c.augment.resized_crop = d.input.h;
    c.augment.resized_crop_scale_min = dc["scale_min"].get<double>();
    c.augment.horizontal_flip = dc["flip"].get<bool>();
    const double jitter = dc["jitter"].get<double>();
    c.augment.brightness = c.augment.contrast = jitter;
    c.augment.saturation = stored.c == 3 ? jitter : 0.0;  // saturation needs colour
    return c;
  }
  if (stored.h != d.input.h || stored.w != d.input.w) c.augment.center_crop = d.input.h;  // evaluation, or no augmentation
  if (train && d.augment == "pad-crop") {
    const int64_t pad = dc["crop_padding"].get<int64_t>();
    if (pad > 0) {
      c.augment.center_crop = 0;
      c.augment.random_crop = d.input.h;
      c.augment.crop_padding = pad;
    }
    c.augment.horizontal_flip = dc["flip"].get<bool>();
  }
  return c;
}

void check_data_fits(const nas::SearchSpace& space, const Datasets& d) {
  const Shape in = space.input_shape();
  const data::ImageShape ds = d.input;
  FIGS_CHECK(ds.c == in[0] && ds.h == in[1] && ds.w == in[2], "data: the dataset's images are ", ds, " (",
             d.source, ") but space ", space.name(), "/", space.preset(), " takes ", in[0], "x", in[1], "x",
             in[2]);
  FIGS_CHECK(d.train->num_classes() == space.num_classes(), "data: the dataset has ", d.train->num_classes(),
             " classes (", d.source, "), the classifier of space ", space.name(), "/", space.preset(), " ",
             space.num_classes());
  FIGS_CHECK(d.train->size() > 0, "data: the training split is empty (", d.source, ")");
  FIGS_CHECK(d.val->size() > 0, "data: the validation split is empty (data.val_fraction of ", d.train->size() + d.val->size(),
             " images rounds to 0); raise data.val_fraction or data.train_limit");
  FIGS_CHECK(d.test->size() > 0, "data: the test split is empty (", d.test->describe(), ")");
}

void fit_space_to_data(json& config, const Datasets& d) {
  FIGS_CHECK(d.input.h == d.input.w, "data: the network's input must be square, the data give ", d.input, " (",
             d.source, ")");
  const auto space = make_space_from_config(config);
  const Shape in = space->input_shape();
  json& options = config["space"]["options"];
  struct Field {
    const char* key;
    int64_t space_value, data_value;
    const char* what;
  };
  const Field fields[] = {{"in_channels", in[0], d.input.c, "channels"},
                          {"image_size", in[1], d.input.h, "image size"},
                          {"num_classes", space->num_classes(), d.train->num_classes(), "classes"}};
  for (const Field& f : fields) {
    if (f.space_value == f.data_value) continue;
    // Set by the user: a real mismatch, not an open field.
    FIGS_CHECK(!options.contains(f.key), "data: the data give ", f.what, " = ", f.data_value, " (", d.source,
               ") but space.options.", f.key, " is ", f.space_value, " (space ", space->name(), "/", space->preset(),
               "); drop the option to take the data's, or change the data");
    options[f.key] = f.data_value;
  }
  check_data_fits(*make_space_from_config(config), d);
}

Device run_device(const json& config) {
  const std::string name = config["device"].get<std::string>();
  if (name == "cpu") return Device::cpu();
  FIGS_CHECK(name == "cuda", "config: device must be \"cpu\" or \"cuda\", got \"", name, "\"");
  FIGS_CHECK(build_info().with_cuda, "device 'cuda': this figs was built without CUDA (configure with "
             "-DFIGS_WITH_CUDA=ON); use --device cpu");
  FIGS_CHECK(cuda::is_available(), "device 'cuda': no CUDA device found (figs was built with CUDA, but the driver "
             "reports no GPU); use --device cpu");
  return Device::cuda();
}

Tensor network_images(const Tensor& images, Device device) {
  return raw::contiguous(raw::to(images, device), MemoryFormat::ChannelsLast);
}

double evaluate(nn::Model& model, const std::shared_ptr<const data::Dataset>& set, const json& config,
                const Datasets& d) {
  NoGradGuard no_grad;
  model.eval();
  data::Loader loader(set, loader_config(config, d, false));
  loader.start_epoch(0);
  int64_t correct = 0, seen = 0;
  while (auto b = loader.next()) {
    if (stop_signal_received()) {
      model.train();
      throw Interrupted{"evaluation", 0};
    }
    const std::vector<float> logits = model(network_images(b->images, model.device())).to_vector<float>();
    const std::vector<int64_t> labels = b->labels.to_vector<int64_t>();
    const int64_t K = static_cast<int64_t>(logits.size() / labels.size());
    for (size_t i = 0; i < labels.size(); ++i) {
      const float* row = &logits[i * K];
      correct += std::max_element(row, row + K) - row == labels[i];
    }
    seen += static_cast<int64_t>(labels.size());
  }
  model.train();
  return seen ? static_cast<double>(correct) / seen : 0.0;
}

int64_t total_steps(const json& stage, int64_t per_epoch) {
  const int64_t max_steps = stage["max_steps"].get<int64_t>();
  const int64_t by_epochs = stage["epochs"].get<int64_t>() * per_epoch;
  FIGS_CHECK(max_steps > 0 || by_epochs > 0, "config: a stage needs epochs > 0 or max_steps > 0");
  return max_steps > 0 ? max_steps : by_epochs;
}

void recalibrate_supernet(nn::Model& supernet, const json& config, const Datasets& d) {
  data::Loader calib(d.train, loader_config(config, d, false));
  calib.start_epoch(0);
  std::vector<Tensor> batches;
  for (int64_t seen = 0; seen < 2500;) {
    auto b = calib.next();
    if (!b) break;
    seen += b->labels.numel();
    batches.push_back(network_images(b->images, supernet.device()));
  }
  nas::recalibrate_batch_norm(supernet, batches);
}

std::string time_left(double seconds, int64_t done, int64_t remaining) {
  if (done <= 0) return "";
  const auto left = static_cast<int64_t>(seconds / static_cast<double>(done) * static_cast<double>(remaining) + 0.5);
  char text[64];
  if (left >= 3600)
    std::snprintf(text, sizeof text, "%lldh %02lldm left", static_cast<long long>(left / 3600),
                  static_cast<long long>(left / 60 % 60));
  else
    std::snprintf(text, sizeof text, "%lldm %02llds left", static_cast<long long>(left / 60),
                  static_cast<long long>(left % 60));
  return text;
}

json run_identity(const json& config) {
  json c = config;
  c.erase("threads");           // how fast, not what
  c.erase("loss_warn_factor");  // when to warn, not what
  // Runs from before the key existed keep their identity while it holds its default.
  if (c.contains("distributed") && c["distributed"] == default_config()["distributed"]) c.erase("distributed");
  if (c.contains("tf32") && c["tf32"] == true) c.erase("tf32");  // likewise
  const json legacy = legacy_search_defaults();
  if (c.contains("search"))
    for (const auto& [key, before] : legacy.items())
      if (c["search"].contains(key) && c["search"][key] == before) c["search"].erase(key);
  return c;
}

uint64_t checkpoint_config_hash(const json& config) { return nn::config_hash(run_identity(config).dump()); }

void report_communication(const char* stage, double seconds, int64_t steps) {
  static dist::CollectiveStats before;  // figs run: the retrain's share excludes the search's
  const dist::ProcessGroup& world = dist::world();
  if (world.world_size() == 1) return;
  const dist::CollectiveStats now = world.stats();
  const double comm = now.seconds - before.seconds;
  const int64_t calls = now.tensor_all_reduces - before.tensor_all_reduces;
  before = now;
  if (calls == 0 || steps <= 0) return;
  std::fprintf(stderr, "%s: %d ranks (%s); all-reduce of gradients and buffers: %lld calls, %.2f ms per step, "
               "%.1f%% of the stage's time\n", stage, world.world_size(), world.backend_name().c_str(),
               static_cast<long long>(calls), 1e3 * comm / static_cast<double>(steps), 100.0 * comm / std::max(seconds, 1e-9));
}

SyncBatchNormScope::SyncBatchNormScope(const json& config) {
  dist::set_sync_batch_norm(config["distributed"]["sync_batch_norm"].get<bool>());
}
SyncBatchNormScope::~SyncBatchNormScope() { dist::set_sync_batch_norm(false); }

void average_buffers_over_ranks(nn::Model& model) {
  dist::average_over_ranks(model.buffers());
}


namespace {

std::shared_ptr<const data::Dataset> first_n(std::shared_ptr<const data::Dataset> set, int64_t n) {
  std::vector<int64_t> first(n);
  for (int64_t i = 0; i < n; ++i) first[i] = i;
  const std::string name = set->describe() + " (first " + std::to_string(n) + ")";
  return std::make_shared<data::Subset>(std::move(set), std::move(first), name);
}

}  // namespace

Datasets load_datasets(const json& config) {
  namespace fs = std::filesystem;
  const json& dc = config["data"];
  const std::string name = dc["dataset"].get<std::string>();
  const std::string dir = dc["dir"].get<std::string>();
  // The data (synthetic images, the validation split) depend on data.split_seed, not on the
  // run's seed: every run of a sweep, whatever its seed, sees the same split.
  const uint64_t seed = dc["split_seed"].get<uint64_t>();
  const double val_fraction = dc["val_fraction"].get<double>();
  // Where the data leave a size open (synthetic images, the side an ImageFolder is cut to), the
  // space's input decides.
  const auto space = make_space_from_config(config);
  const Shape space_in = space->input_shape();
  Datasets d;
  d.augment = dc["augment"].get<std::string>();
  if (d.augment == "auto") d.augment = name == "imagefolder" ? "inception" : "pad-crop";
  std::shared_ptr<const data::Dataset> full, test;
  int64_t stats_examples = 10000;  // images the normalisation is measured on (decoding costs, for files)
  if (name == "fashion-mnist" || name == "mnist") {
    full = data::load_mnist_dir(dir, true);
    test = data::load_mnist_dir(dir, false);
  } else if (name == "idx") {
    const json& x = dc["idx"];
    const data::IdxOptions o{.num_classes = x["classes"].get<int64_t>(), .label_offset = x["label_offset"].get<int64_t>(),
                             .transpose = x["transpose"].get<bool>()};
    full = data::load_idx(x["train_images"].get<std::string>(), x["train_labels"].get<std::string>(), o);
    test = data::load_idx(x["test_images"].get<std::string>(), x["test_labels"].get<std::string>(), o);
  } else if (name == "cifar10") {
    full = data::load_cifar10_dir(dir, true);
    test = data::load_cifar10_dir(dir, false);
  } else if (name == "cifar100") {
    const bool coarse = dc["cifar100_coarse"].get<bool>();
    full = data::load_cifar100_dir(dir, true, coarse);
    test = data::load_cifar100_dir(dir, false, coarse);
  } else if (name == "imagefolder") {
    // root/train and root/val (ImageNet's layout; val is the test set), or root itself as the
    // training folder. Images are decoded at `resize` (shorter side) and cut to a square: the
    // network's side for pad-crop / none, `resize` for the Inception crop, which then picks its
    // window in the whole square (evaluation takes the centre image_size square of it, i.e.
    // torchvision's Resize(resize) + CenterCrop(image_size)).
    const int64_t size = dc["image_size"].get<int64_t>() > 0 ? dc["image_size"].get<int64_t>() : space_in[1];
    int64_t resize = dc["resize"].get<int64_t>();
    if (resize == 0) resize = d.augment == "inception" ? (size * 8 + 6) / 7 : size;  // 224 -> 256
    FIGS_CHECK(resize >= size, "config: 'data.resize' (", resize, ") must be >= the image size ", size);
    const data::ImageFolderOptions o{.crop = d.augment == "inception" ? resize : size, .resize = resize};
    const std::string train_dir = fs::is_directory(dir + "/train") ? dir + "/train" : dir;
    full = std::make_shared<data::ImageFolder>(train_dir, o);
    if (fs::is_directory(dir + "/val")) {
      const auto val = std::make_shared<data::ImageFolder>(dir + "/val", o);
      const auto& a = static_cast<const data::ImageFolder&>(*full).classes();
      FIGS_CHECK(val->classes() == a, "data: ", dir, "/val has ", val->classes().size(), " class folders, ", train_dir,
                 " has ", a.size(), ": the class folders (and so the labels) must be the same");
      test = val;
    }
    d.input = {3, size, size};
    stats_examples = 500;
  } else if (name == "synthetic") {  // for tests and smoke runs: no files needed
    const json& sy = dc["synthetic"];
    auto open = [&](const char* key, int64_t fallback) { return sy[key].get<int64_t>() > 0 ? sy[key].get<int64_t>() : fallback; };
    const int64_t side = open("image_size", space_in[1]);
    const data::ImageShape shape{open("channels", space_in[0]), side, side};
    const int64_t classes = open("classes", space->num_classes());
    full = std::make_shared<data::SyntheticDataset>(
        data::SyntheticOptions{sy["train_size"].get<int64_t>(), shape, classes, seed});
    test = std::make_shared<data::SyntheticDataset>(
        data::SyntheticOptions{sy["test_size"].get<int64_t>(), shape, classes, seed + 1});
  } else {
    fail("config: data.dataset \"", name, "\" is not one of fashion-mnist, mnist, idx, cifar10, cifar100, imagefolder, "
         "synthetic");
  }
  if (d.input.numel() == 0) d.input = full->image_shape();
  d.source = name + " " + full->describe();
  if (!test) {
    // An ImageFolder without val/: the test set is held out of the training folder first (the
    // same fraction as the validation split, from its own stream of split_seed), so no image
    // is in two splits.
    const data::Split held = data::split_validation(full, val_fraction, seed + 0x7e57);
    full = held.train;
    test = held.val;
    std::fprintf(stderr, "data: %s has no val/ folder: %lld of its images are the test set\n", dir.c_str(),
                 static_cast<long long>(test->size()));
  }
  const int64_t limit = dc["train_limit"].get<int64_t>();
  if (limit > 0 && limit < full->size()) full = first_n(full, limit);
  const data::Split split = data::split_validation(full, val_fraction, seed);
  d.train = split.train;
  d.val = split.val;
  d.test = test;
  if (dc["stats_images"].get<int64_t>() > 0) stats_examples = dc["stats_images"].get<int64_t>();
  const data::ChannelStats stats = data::channel_stats(*d.train, stats_examples);
  d.mean = stats.mean;
  d.std = stats.std;
  return d;
}

}  // namespace figs::app

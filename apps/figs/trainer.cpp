#include "trainer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/autograd_meta.h"
#include "core/build_info.h"
#include "core/view.h"
#include "cuda/cuda.h"
#include "data/readers.h"
#include "data/synthetic.h"
#include "nas/recalibrate.h"
#include "nn/checkpoint.h"

namespace figs::app {

data::LoaderConfig loader_config(const json& config, const Datasets& d, bool train) {
  data::LoaderConfig c;
  c.batch_size = config["data"]["batch_size"].get<int64_t>();
  c.shuffle = train;
  c.seed = config["seed"].get<uint64_t>();
  c.num_workers = config["data"]["workers"].get<int>();
  c.augment.mean = d.mean;
  c.augment.std = d.std;
  if (train) {
    const int64_t pad = config["data"]["crop_padding"].get<int64_t>();
    if (pad > 0) {
      c.augment.random_crop = d.train->image_shape().h;
      c.augment.crop_padding = pad;
    }
    c.augment.horizontal_flip = config["data"]["flip"].get<bool>();
  }
  return c;
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

json load_json_file(const std::string& path) {
  std::ifstream in(path);
  FIGS_CHECK(in.good(), "cannot read '", path, "'");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail("'", path, "': not valid JSON (", e.what(), ")");
  }
}

json load_run_config(const std::string& run_dir) {
  FIGS_CHECK(std::filesystem::exists(run_dir + "/config.json"), "'", run_dir, "' is not a run folder (no config.json)");
  return load_json_file(run_dir + "/config.json");
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

json run_identity(const json& config) {
  json c = config;
  c.erase("threads");
  return c;
}

uint64_t checkpoint_config_hash(const json& config) { return nn::config_hash(run_identity(config).dump()); }


Datasets load_datasets(const json& config) {
  const json& dc = config["data"];
  const std::string name = dc["dataset"].get<std::string>();
  // The data (synthetic images, the validation split) depend on data.split_seed, not on the
  // run's seed: every run of a sweep, whatever its seed, sees the same split.
  const uint64_t seed = dc["split_seed"].get<uint64_t>();
  std::shared_ptr<const data::Dataset> full, test;
  if (name == "fashion-mnist" || name == "mnist") {
    const std::string dir = dc["dir"].get<std::string>();
    full = data::load_mnist_dir(dir, true);
    test = data::load_mnist_dir(dir, false);
  } else if (name == "synthetic") {  // for tests and smoke runs: no files needed
    full = std::make_shared<data::SyntheticDataset>(data::SyntheticOptions{2048, {1, 28, 28}, 10, seed});
    test = std::make_shared<data::SyntheticDataset>(data::SyntheticOptions{512, {1, 28, 28}, 10, seed + 1});
  } else {
    fail("config: data.dataset \"", name, "\" is not one of fashion-mnist, mnist, synthetic");
  }
  const int64_t limit = dc["train_limit"].get<int64_t>();
  if (limit > 0 && limit < full->size()) {
    std::vector<int64_t> first(limit);
    for (int64_t i = 0; i < limit; ++i) first[i] = i;
    full = std::make_shared<data::Subset>(full, first, full->describe() + " (first " + std::to_string(limit) + ")");
  }
  const data::Split split = data::split_validation(full, dc["val_fraction"].get<double>(), seed);
  Datasets d{split.train, split.val, test, {}, {}};
  const data::ChannelStats stats = data::channel_stats(*d.train, 10000);
  d.mean = stats.mean;
  d.std = stats.std;
  return d;
}

}  // namespace figs::app

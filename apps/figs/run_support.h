// What the stage drivers (drivers.h) share: the run's data, loaders, device and batches,
// evaluation, the step count of a stage, BatchNorm recalibration, the run's identity and
// checkpoint hash, and the data-parallel helpers.
#pragma once

#include <memory>
#include <string>

#include "config.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "nas/space.h"
#include "nn/model.h"
#include "run_log.h"

namespace figs::app {

// The data of a run (docs/data.md, "Pointing figs at a dataset"): data.dataset read from its
// files, the validation split held out of the training set, the test set, and the transforms.
struct Datasets {
  std::shared_ptr<const data::Dataset> train, val, test;
  std::vector<float> mean, std;  // per-channel normalisation from the training split
  // What the loader hands the network, after the crops: the stored images may be larger
  // (an ImageFolder decoded at data.resize for a random-resized crop, or a centre crop to evaluate).
  data::ImageShape input;
  std::string augment;  // data.augment resolved: "pad-crop", "inception" or "none"
  std::string source;   // for messages: "imagefolder /data/imagenet/train (1281167 x 3x256x256)"
};
Datasets load_datasets(const json& config);

// The data fit the network before anything is created: the images' shape and the class count
// match the space's, and the training and validation splits are not empty. Errors name both sides.
void check_data_fits(const nas::SearchSpace& space, const Datasets& d);
// The space's input from the data where the configuration leaves it open: in_channels,
// image_size and num_classes the data give are written into space.options unless the options
// already set them, in which case a difference is an error naming both (then check_data_fits).
// Run before the budget checks and before the run folder is created, so config.json records
// the space the run trains.
void fit_space_to_data(json& config, const Datasets& d);

// The batch size of a stage ("search" or "retrain"): its batch_size, or data.batch_size when 0.
int64_t stage_batch_size(const json& config, const std::string& stage);
// The loader of a stage: augmented and shuffled for training, plain otherwise (centre-cropped
// where the stored images are larger than the network's input). batch_size 0: data.batch_size.
data::LoaderConfig loader_config(const json& config, const Datasets& d, bool train, int64_t batch_size = 0);
// The device of config["device"]: "cpu", or "cuda" when figs was built with CUDA and a CUDA
// device is visible; otherwise an error naming what is missing.
Device run_device(const json& config);
// A loader batch's images as the networks take them: on `device` (the model's), channels-last
// (the CPU backend's fast layout). Moved before the layout change, which then runs on the device.
Tensor network_images(const Tensor& images, Device device);
// Top-1 accuracy of `model` (eval mode) on `set`, with the batches on the model's device. Ctrl-C
// stops it between batches (throws Interrupted{"evaluation"}).
double evaluate(nn::Model& model, const std::shared_ptr<const data::Dataset>& set, const json& config,
                const Datasets& d);
// Steps of a stage ("search" or "retrain" config): exactly max_steps when > 0, else epochs * per_epoch.
int64_t total_steps(const json& stage, int64_t per_epoch);
// Re-estimates a supernet's BatchNorm statistics under its eval masks on ~2,500 training images
// (spec, section 1: the statistics gathered under sampled masks do not fit the eval masks), on
// the supernet's device.
void recalibrate_supernet(nn::Model& supernet, const json& config, const Datasets& d);
// "12m 05s left" after `done` steps in `seconds` (this invocation's), `remaining` steps to go.
std::string time_left(double seconds, int64_t done, int64_t remaining);
// What identifies a run: the configuration without the options that do not change results
// (threads), so a run resumed with another --threads is the same run.
json run_identity(const json& config);
// The hash checkpoints carry: that of run_identity(config).
uint64_t checkpoint_config_hash(const json& config);

// Data parallel without synchronised BatchNorm: each rank's running statistics saw only its share;
// their mean is what a checkpoint holds and what evaluation uses (a no-op with one process; exact
// when the ranks agree, as with synchronised BatchNorm, for 2^k ranks).
void average_buffers_over_ranks(nn::Model& model);

// In a data-parallel run, prints how much of a stage's wall time went to all-reducing gradients
// and buffers (steps: the steps this invocation made); nothing with one process.
void report_communication(const char* stage, double seconds, int64_t steps);

// distributed.sync_batch_norm for the lifetime of a training loop only: a channel-graph trace or
// an evaluation outside it sees plain batch_norm nodes (nas/channel_graph.h reads them).
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(const json& config);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;
};

}  // namespace figs::app

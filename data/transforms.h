// Per-example transforms: uint8 CHW in, float CHW out, in one fixed order
//
//   geometry   random crop with zero padding  |  random-resized crop  |  centre crop  |  neither
//   flip       horizontal, probability 1/2
//   jitter     brightness, then contrast, then saturation (torchvision ColorJitter's formulas)
//   normalise  (x - mean[c]) / std[c]
//
// on values scaled to [0, 1] (pixel / 255). Each random choice is drawn from (seed, epoch,
// dataset index) by Philox (Note [Data randomness], data/sampler.h), so an example is augmented
// the same way whichever worker, batch or rank handles it.
//
// AugmentConfig is a plain struct of numbers, so a JSON config maps onto it field by field.
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/resample.h"

namespace figs::data {

struct AugmentConfig {
  // Random crop (CIFAR-style): pad every side with `crop_padding` zeros, then take a
  // random_crop x random_crop window. 0 = off.
  int64_t random_crop = 0;
  int64_t crop_padding = 0;
  // Random-resized crop (Inception-style, torchvision RandomResizedCrop): a window of area
  // fraction in [scale_min, scale_max] and aspect ratio log-uniform in [ratio_min, ratio_max]
  // (10 tries, then the centre crop), resized to resized_crop x resized_crop. 0 = off.
  int64_t resized_crop = 0;
  double resized_crop_scale_min = 0.08, resized_crop_scale_max = 1.0;
  double resized_crop_ratio_min = 3.0 / 4.0, resized_crop_ratio_max = 4.0 / 3.0;
  // Centre crop (evaluation on images stored larger than the network's input, e.g. ImageFolder
  // decoded at 256 for a 224 network): the window torchvision's CenterCrop takes, offsets
  // round((H - center_crop) / 2) half to even. Deterministic; exclusive with the two crops above.
  // 0 = off.
  int64_t center_crop = 0;
  bool horizontal_flip = false;
  // Jitter strength x: the factor is uniform in [max(0, 1 - x), 1 + x]; 0 = off.
  // Saturation needs 3 channels.
  double brightness = 0, contrast = 0, saturation = 0;
  // Per-channel mean and std on the [0, 1] scale (data/dataset.h: channel_stats); both empty =
  // no normalisation.
  std::vector<float> mean, std;
};

// The random choices for one example.
struct AugmentParams {
  int64_t crop_y = 0, crop_x = 0;  // random or centre crop: window origin in the padded image
  Region region;                   // random-resized crop: source window
  bool flip = false;
  float brightness = 1, contrast = 1, saturation = 1;
};

class Augmenter {
 public:
  // Checks the config against the input shape; errors name the offending field.
  Augmenter(const AugmentConfig& config, ImageShape input);

  ImageShape input_shape() const { return in_; }
  ImageShape output_shape() const { return out_; }
  const AugmentConfig& config() const { return cfg_; }

  // The choices for dataset example `index` in `epoch` under `seed`.
  AugmentParams draw(uint64_t seed, int64_t epoch, int64_t index) const;
  // in: CHW uint8 of input_shape(); out: CHW float of output_shape().
  void apply(const AugmentParams& p, const uint8_t* in, float* out) const;
  void apply(const uint8_t* in, float* out, uint64_t seed, int64_t epoch, int64_t index) const {
    apply(draw(seed, epoch, index), in, out);
  }

 private:
  AugmentConfig cfg_;
  ImageShape in_, out_;
};

}  // namespace figs::data

// A synthetic dataset for tests and benchmarks: pixels and labels computed on demand from
// (seed, index) by Philox (Note [Data randomness]), nothing stored. The mean brightness of an
// image grows with its label, so a model can learn it: pixel = (noise & 127) + 128 * label / K.
#pragma once

#include "data/dataset.h"

namespace figs::data {

struct SyntheticOptions {
  int64_t size = 1024;
  ImageShape shape{3, 32, 32};
  int64_t num_classes = 10;
  uint64_t seed = 0;
};

class SyntheticDataset : public Dataset {
 public:
  explicit SyntheticDataset(const SyntheticOptions& options);

  int64_t size() const override { return o_.size; }
  int64_t num_classes() const override { return o_.num_classes; }
  ImageShape image_shape() const override { return o_.shape; }
  int64_t label(int64_t i) const override;
  int64_t get(int64_t i, uint8_t* pixels) const override;
  std::string describe() const override;

 private:
  SyntheticOptions o_;
};

}  // namespace figs::data

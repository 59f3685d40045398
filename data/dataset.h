// The Dataset interface, in-memory datasets, subsets and the validation split.
//
// A dataset is a list of labelled images of one shape. Every example comes out as CHW uint8
// (the datasets figs reads are 8-bit); transforms (data/transforms.h) turn it into float.
// In-memory datasets (IDX, CIFAR, synthetic) hold or compute their pixels; ImageFolder decodes
// one file per get(), on the loader's worker threads.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace figs::data {

struct ImageShape {
  int64_t c = 0, h = 0, w = 0;
  int64_t numel() const { return c * h * w; }
  friend bool operator==(const ImageShape&, const ImageShape&) = default;
};
std::ostream& operator<<(std::ostream& os, const ImageShape& s);  // "1x28x28"

struct Example {
  std::vector<uint8_t> pixels;  // CHW
  int64_t label = 0;
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual ImageShape image_shape() const = 0;  // (C, H, W) of every example
  // The label of example i, without decoding its image.
  virtual int64_t label(int64_t i) const = 0;
  // Writes example i as CHW uint8 (image_shape().numel() bytes) to `pixels`; returns its label.
  // Safe to call from several threads at once. Throws figs::Error naming the source (file,
  // index) on any failure.
  virtual int64_t get(int64_t i, uint8_t* pixels) const = 0;
  // What this is, for messages: "fashion-mnist/train-images-idx3-ubyte.gz (60000 x 1x28x28)".
  virtual std::string describe() const = 0;

  Example example(int64_t i) const;  // get() into a fresh buffer

 protected:
  void check_index(int64_t i) const;  // throws "<describe()>: index i out of range [0, size)"
};

// Images and labels held in memory (what the IDX and CIFAR readers return).
class MemoryDataset : public Dataset {
 public:
  // Throws unless pixels.size() == labels.size() * shape.numel() and every label is in
  // [0, num_classes); the error names `name` and the first bad index.
  MemoryDataset(std::string name, ImageShape shape, int64_t num_classes,
                std::vector<uint8_t> pixels, std::vector<int64_t> labels);

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  ImageShape image_shape() const override { return shape_; }
  int64_t label(int64_t i) const override;
  int64_t get(int64_t i, uint8_t* pixels) const override;
  std::string describe() const override;

  const uint8_t* pixels(int64_t i) const;  // CHW, image_shape().numel() bytes

 private:
  std::string name_;
  ImageShape shape_;
  int64_t num_classes_;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
};

// A view of some examples of another dataset, in the given order (indices may repeat).
class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices, std::string name);

  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int64_t num_classes() const override { return base_->num_classes(); }
  ImageShape image_shape() const override { return base_->image_shape(); }
  int64_t label(int64_t i) const override;
  int64_t get(int64_t i, uint8_t* pixels) const override;
  std::string describe() const override;

  int64_t base_index(int64_t i) const;
  const std::vector<int64_t>& indices() const { return indices_; }
  const Dataset& base() const { return *base_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
  std::string name_;
};

// A held-out validation split for search runs: round(val_fraction * n) examples chosen by a
// permutation drawn from `seed` (Note [Data randomness], data/sampler.h) go to `val`, the rest
// to `train`; both keep ascending dataset order. Deterministic in (n, val_fraction, seed).
// val_fraction must be in [0, 1) and leave at least one training example.
struct Split {
  std::shared_ptr<const Subset> train, val;
};
Split split_validation(std::shared_ptr<const Dataset> data, double val_fraction, uint64_t seed);

// Examples per class (uses label(), decodes nothing).
std::vector<int64_t> label_histogram(const Dataset& data);

// Per-channel mean and standard deviation of the pixels on the [0, 1] scale, for
// AugmentConfig::mean / std. max_examples > 0 uses that many examples, evenly strided.
struct ChannelStats {
  std::vector<float> mean, std;
};
ChannelStats channel_stats(const Dataset& data, int64_t max_examples = 0);

}  // namespace figs::data

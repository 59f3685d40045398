#include "data/dataset.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/sampler.h"

namespace figs::data {

std::ostream& operator<<(std::ostream& os, const ImageShape& s) {
  return os << s.c << 'x' << s.h << 'x' << s.w;
}

Example Dataset::example(int64_t i) const {
  Example e;
  e.pixels.resize(static_cast<size_t>(image_shape().numel()));
  e.label = get(i, e.pixels.data());
  return e;
}

void Dataset::check_index(int64_t i) const {
  FIGS_CHECK(i >= 0 && i < size(), describe(), ": index ", i, " out of range [0, ", size(), ")");
}

// --- MemoryDataset ------------------------------------------------------------------------------

MemoryDataset::MemoryDataset(std::string name, ImageShape shape, int64_t num_classes,
                             std::vector<uint8_t> pixels, std::vector<int64_t> labels)
    : name_(std::move(name)),
      shape_(shape),
      num_classes_(num_classes),
      pixels_(std::move(pixels)),
      labels_(std::move(labels)) {
  FIGS_CHECK(shape_.c > 0 && shape_.h > 0 && shape_.w > 0, name_, ": image shape ", shape_,
             " must be positive");
  FIGS_CHECK(num_classes_ >= 1, name_, ": num_classes ", num_classes_, " must be >= 1");
  FIGS_CHECK(pixels_.size() == labels_.size() * static_cast<size_t>(shape_.numel()), name_, ": ",
             pixels_.size(), " pixel bytes do not hold ", labels_.size(), " images of ", shape_);
  for (size_t i = 0; i < labels_.size(); ++i)
    FIGS_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, name_, ": label ", labels_[i],
               " of example ", i, " out of range [0, ", num_classes_, ")");
}

int64_t MemoryDataset::label(int64_t i) const {
  check_index(i);
  return labels_[static_cast<size_t>(i)];
}

const uint8_t* MemoryDataset::pixels(int64_t i) const {
  check_index(i);
  return pixels_.data() + static_cast<size_t>(i) * static_cast<size_t>(shape_.numel());
}

int64_t MemoryDataset::get(int64_t i, uint8_t* out) const {
  const uint8_t* src = pixels(i);
  std::copy(src, src + shape_.numel(), out);
  return labels_[static_cast<size_t>(i)];
}

std::string MemoryDataset::describe() const {
  return str_cat(name_, " (", size(), " x ", shape_, ", ", num_classes_, " classes)");
}

// --- Subset -------------------------------------------------------------------------------------

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices, std::string name)
    : base_(std::move(base)), indices_(std::move(indices)), name_(std::move(name)) {
  FIGS_CHECK(base_ != nullptr, "Subset ", name_, ": no base dataset");
  const int64_t n = base_->size();
  for (size_t i = 0; i < indices_.size(); ++i)
    FIGS_CHECK(indices_[i] >= 0 && indices_[i] < n, "Subset ", name_, ": index ", indices_[i],
               " at position ", i, " out of range for ", base_->describe());
}

int64_t Subset::base_index(int64_t i) const {
  check_index(i);
  return indices_[static_cast<size_t>(i)];
}
int64_t Subset::label(int64_t i) const { return base_->label(base_index(i)); }
int64_t Subset::get(int64_t i, uint8_t* pixels) const { return base_->get(base_index(i), pixels); }
std::string Subset::describe() const {
  return str_cat(name_, " (", size(), " of ", base_->describe(), ")");
}

// --- split, statistics --------------------------------------------------------------------------

Split split_validation(std::shared_ptr<const Dataset> data, double val_fraction, uint64_t seed) {
  FIGS_CHECK(data != nullptr, "split_validation: no dataset");
  FIGS_CHECK(val_fraction >= 0 && val_fraction < 1, "split_validation: val_fraction ",
             val_fraction, " must be in [0, 1)");
  const int64_t n = data->size();
  const auto n_val = static_cast<int64_t>(std::llround(val_fraction * static_cast<double>(n)));
  FIGS_CHECK(n_val < n, "split_validation: val_fraction ", val_fraction, " of ", n,
             " examples leaves no training example");
  const std::vector<int64_t> perm = random_permutation(n, seed, kSplitStreamTag << 32);
  std::vector<int64_t> val(perm.begin(), perm.begin() + n_val);
  std::vector<int64_t> train(perm.begin() + n_val, perm.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  Split s;
  s.train = std::make_shared<Subset>(data, std::move(train), str_cat("train split (seed ", seed, ")"));
  s.val = std::make_shared<Subset>(data, std::move(val), str_cat("validation split (seed ", seed, ")"));
  return s;
}

std::vector<int64_t> label_histogram(const Dataset& data) {
  std::vector<int64_t> h(static_cast<size_t>(data.num_classes()), 0);
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t l = data.label(i);
    FIGS_CHECK(l >= 0 && l < data.num_classes(), data.describe(), ": label ", l, " of example ", i,
               " out of range [0, ", data.num_classes(), ")");
    ++h[static_cast<size_t>(l)];
  }
  return h;
}

ChannelStats channel_stats(const Dataset& data, int64_t max_examples) {
  const int64_t n = data.size();
  FIGS_CHECK(n > 0, "channel_stats: ", data.describe(), " is empty");
  const int64_t used = max_examples > 0 ? std::min(max_examples, n) : n;
  const ImageShape s = data.image_shape();
  const int64_t plane = s.h * s.w;
  std::vector<uint8_t> px(static_cast<size_t>(s.numel()));
  // Integer sums are exact: a plane sum of squares is < 2^16 * plane, far from 2^63.
  std::vector<uint64_t> sum(static_cast<size_t>(s.c), 0), sum_sq(static_cast<size_t>(s.c), 0);
  for (int64_t k = 0; k < used; ++k) {
    data.get(k * n / used, px.data());
    for (int64_t c = 0; c < s.c; ++c) {
      uint64_t a = 0, b = 0;
      const uint8_t* p = px.data() + c * plane;
      for (int64_t j = 0; j < plane; ++j) {
        a += p[j];
        b += static_cast<uint64_t>(p[j]) * p[j];
      }
      sum[static_cast<size_t>(c)] += a;
      sum_sq[static_cast<size_t>(c)] += b;
    }
  }
  ChannelStats st;
  const double count = static_cast<double>(used) * static_cast<double>(plane);
  for (int64_t c = 0; c < s.c; ++c) {
    const double mean = static_cast<double>(sum[static_cast<size_t>(c)]) / count / 255.0;
    const double mean_sq = static_cast<double>(sum_sq[static_cast<size_t>(c)]) / count / (255.0 * 255.0);
    st.mean.push_back(static_cast<float>(mean));
    st.std.push_back(static_cast<float>(std::sqrt(std::max(mean_sq - mean * mean, 0.0))));
  }
  return st;
}

}  // namespace figs::data

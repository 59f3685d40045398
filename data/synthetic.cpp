#include "data/synthetic.h"

#include "core/error.h"
#include "core/rng.h"
#include "data/sampler.h"

namespace figs::data {

SyntheticDataset::SyntheticDataset(const SyntheticOptions& options) : o_(options) {
  FIGS_CHECK(o_.size >= 0, "SyntheticDataset: size ", o_.size, " must be >= 0");
  FIGS_CHECK(o_.shape.c > 0 && o_.shape.h > 0 && o_.shape.w > 0, "SyntheticDataset: image shape ",
             o_.shape, " must be positive");
  FIGS_CHECK(o_.num_classes >= 1 && o_.num_classes <= 128, "SyntheticDataset: num_classes ",
             o_.num_classes, " must be in 1..128");
}

int64_t SyntheticDataset::label(int64_t i) const {
  check_index(i);
  const PhiloxBlock b = philox_draw(o_.seed, kSyntheticLabelTag << 32, static_cast<uint64_t>(i));
  return static_cast<int64_t>(b.w[0] % static_cast<uint32_t>(o_.num_classes));
}

int64_t SyntheticDataset::get(int64_t i, uint8_t* pixels) const {
  const int64_t y = label(i);
  const int64_t n = o_.shape.numel();
  const uint8_t base = static_cast<uint8_t>(128 * y / o_.num_classes);
  const int64_t blocks = (n + 15) / 16;  // 16 bytes per Philox block
  for (int64_t k = 0; k < blocks; ++k) {
    const PhiloxBlock b = philox_draw(o_.seed, kSyntheticPixelTag << 32,
                                      static_cast<uint64_t>(i * blocks + k));
    for (int64_t j = 0; j < 16 && k * 16 + j < n; ++j) {
      const uint32_t byte = (b.w[j / 4] >> (8 * (j % 4))) & 0x7F;
      pixels[k * 16 + j] = static_cast<uint8_t>(byte + base);
    }
  }
  return y;
}

std::string SyntheticDataset::describe() const {
  return str_cat("synthetic (seed ", o_.seed, ", ", o_.size, " x ", o_.shape, ", ", o_.num_classes,
                 " classes)");
}

}  // namespace figs::data

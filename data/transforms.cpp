#include "data/transforms.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "data/sampler.h"

namespace figs::data {

namespace {

// Uniform draws for one example: blocks index * 16 + k, k < 16, of the epoch's augmentation
// stream (Note [Data randomness]); four draws per block.
class ExampleRng {
 public:
  static constexpr uint64_t kBlocksPerExample = 16;
  ExampleRng(uint64_t seed, int64_t epoch, int64_t index)
      : seed_(seed),
        stream_(data_stream(kAugmentStreamTag, epoch)),
        base_(static_cast<uint64_t>(index) * kBlocksPerExample) {}
  double uniform() {  // in (0, 1)
    if (used_ == 4) {
      // 16 blocks cover the worst case (10 resized-crop tries = 40 draws, plus 4): an internal bound.
      FIGS_CHECK(block_ < kBlocksPerExample, "augment: more than ", 4 * kBlocksPerExample,
                 " random draws for one example");
      b_ = philox_draw(seed_, stream_, base_ + block_++);
      used_ = 0;
    }
    return uniform_open_f32(b_.w[used_++]);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int64_t below(int64_t n) {  // uniform in [0, n)
    return std::min<int64_t>(static_cast<int64_t>(uniform() * static_cast<double>(n)), n - 1);
  }

 private:
  uint64_t seed_, stream_, base_;
  uint64_t block_ = 0;
  PhiloxBlock b_{};
  int used_ = 4;
};

// torchvision's rgb_to_grayscale weights.
constexpr float kGrayR = 0.299f, kGrayG = 0.587f, kGrayB = 0.114f;

float clamp01(float v) { return std::min(std::max(v, 0.f), 1.f); }

}  // namespace

Augmenter::Augmenter(const AugmentConfig& config, ImageShape input) : cfg_(config), in_(input) {
  const auto& c = cfg_;
  FIGS_CHECK(in_.c > 0 && in_.h > 0 && in_.w > 0, "augment: input shape ", in_, " must be positive");
  FIGS_CHECK(c.random_crop >= 0 && c.crop_padding >= 0 && c.resized_crop >= 0, "augment: random_crop (",
             c.random_crop, "), crop_padding (", c.crop_padding, ") and resized_crop (",
             c.resized_crop, ") must be >= 0");
  FIGS_CHECK(!(c.random_crop > 0 && c.resized_crop > 0),
             "augment: random_crop and resized_crop are exclusive; set one of them");
  FIGS_CHECK(c.center_crop >= 0, "augment: center_crop (", c.center_crop, ") must be >= 0");
  FIGS_CHECK(c.center_crop == 0 || (c.random_crop == 0 && c.resized_crop == 0),
             "augment: center_crop is exclusive with random_crop and resized_crop; set one of them");
  FIGS_CHECK(c.center_crop <= in_.h && c.center_crop <= in_.w, "augment: center_crop ", c.center_crop,
             " is larger than the ", in_.h, "x", in_.w, " image");
  FIGS_CHECK(c.crop_padding == 0 || c.random_crop > 0, "augment: crop_padding ", c.crop_padding,
             " needs random_crop > 0");
  FIGS_CHECK(c.random_crop <= in_.h + 2 * c.crop_padding && c.random_crop <= in_.w + 2 * c.crop_padding,
             "augment: random_crop ", c.random_crop, " is larger than the padded ", in_.h, "x", in_.w,
             " image (crop_padding ", c.crop_padding, ")");
  if (c.resized_crop > 0) {
    FIGS_CHECK(c.resized_crop_scale_min > 0 && c.resized_crop_scale_min <= c.resized_crop_scale_max &&
                   c.resized_crop_scale_max <= 1,
               "augment: resized_crop scale range [", c.resized_crop_scale_min, ", ",
               c.resized_crop_scale_max, "] must satisfy 0 < min <= max <= 1");
    FIGS_CHECK(c.resized_crop_ratio_min > 0 && c.resized_crop_ratio_min <= c.resized_crop_ratio_max,
               "augment: resized_crop ratio range [", c.resized_crop_ratio_min, ", ",
               c.resized_crop_ratio_max, "] must satisfy 0 < min <= max");
  }
  FIGS_CHECK(c.brightness >= 0 && c.contrast >= 0 && c.saturation >= 0, "augment: brightness (",
             c.brightness, "), contrast (", c.contrast, ") and saturation (", c.saturation,
             ") must be >= 0");
  FIGS_CHECK(c.saturation == 0 || in_.c == 3, "augment: saturation jitter needs 3 channels, the images have ",
             in_.c);
  FIGS_CHECK(c.mean.size() == c.std.size() && (c.mean.empty() || static_cast<int64_t>(c.mean.size()) == in_.c),
             "augment: mean (", c.mean.size(), " values) and std (", c.std.size(),
             " values) must both be empty or both have one value per channel (", in_.c, ")");
  for (size_t k = 0; k < c.std.size(); ++k)
    FIGS_CHECK(c.std[k] > 0, "augment: std[", k, "] = ", c.std[k], " must be > 0");

  out_ = in_;
  if (c.random_crop > 0) out_.h = out_.w = c.random_crop;
  if (c.resized_crop > 0) out_.h = out_.w = c.resized_crop;
  if (c.center_crop > 0) out_.h = out_.w = c.center_crop;
}

AugmentParams Augmenter::draw(uint64_t seed, int64_t epoch, int64_t index) const {
  ExampleRng rng(seed, epoch, index);
  AugmentParams p;
  const auto& c = cfg_;
  if (c.random_crop > 0) {
    p.crop_y = rng.below(in_.h + 2 * c.crop_padding - c.random_crop + 1);
    p.crop_x = rng.below(in_.w + 2 * c.crop_padding - c.random_crop + 1);
  }
  if (c.center_crop > 0) {  // no draw: Python's round((n - crop) / 2), half to even
    p.crop_y = static_cast<int64_t>(std::nearbyint((in_.h - c.center_crop) / 2.0));
    p.crop_x = static_cast<int64_t>(std::nearbyint((in_.w - c.center_crop) / 2.0));
  }
  if (c.resized_crop > 0) {
    // torchvision RandomResizedCrop.get_params.
    const double H = static_cast<double>(in_.h), W = static_cast<double>(in_.w), area = H * W;
    const double log_lo = std::log(c.resized_crop_ratio_min), log_hi = std::log(c.resized_crop_ratio_max);
    bool found = false;
    for (int attempt = 0; attempt < 10 && !found; ++attempt) {
      const double target = area * rng.uniform(c.resized_crop_scale_min, c.resized_crop_scale_max);
      const double ratio = std::exp(rng.uniform(log_lo, log_hi));
      const double w = std::round(std::sqrt(target * ratio)), h = std::round(std::sqrt(target / ratio));
      const double uy = rng.uniform(), ux = rng.uniform();
      if (w > 0 && w <= W && h > 0 && h <= H) {
        const auto y0 = std::min<int64_t>(static_cast<int64_t>(uy * (H - h + 1)), static_cast<int64_t>(H - h));
        const auto x0 = std::min<int64_t>(static_cast<int64_t>(ux * (W - w + 1)), static_cast<int64_t>(W - w));
        p.region = Region{static_cast<double>(y0), static_cast<double>(x0), h, w};
        found = true;
      }
    }
    if (!found) {  // the centre crop, aspect ratio clamped into the range
      double w = W, h = H;
      if (W / H < c.resized_crop_ratio_min) h = std::round(W / c.resized_crop_ratio_min);
      else if (W / H > c.resized_crop_ratio_max) w = std::round(H * c.resized_crop_ratio_max);
      p.region = Region{std::floor((H - h) / 2), std::floor((W - w) / 2), h, w};
    }
  }
  if (c.horizontal_flip) p.flip = rng.uniform() < 0.5;
  auto factor = [&](double x) {
    return static_cast<float>(rng.uniform(std::max(0.0, 1 - x), 1 + x));
  };
  if (c.brightness > 0) p.brightness = factor(c.brightness);
  if (c.contrast > 0) p.contrast = factor(c.contrast);
  if (c.saturation > 0) p.saturation = factor(c.saturation);
  return p;
}

void Augmenter::apply(const AugmentParams& p, const uint8_t* in, float* out) const {
  const auto& c = cfg_;
  const int64_t C = in_.c, H = in_.h, W = in_.w;
  const int64_t OH = out_.h, OW = out_.w, plane = OH * OW;
  constexpr float kInv255 = 1.0f / 255.0f;

  // Normalisation folds into the uint8 -> float conversion, v * a[c] + b[c], unless colour
  // jitter must see [0, 1] values first.
  const bool jitter = p.brightness != 1 || p.contrast != 1 || p.saturation != 1;
  const bool fold = !jitter && !c.mean.empty() && c.resized_crop == 0;

  // 1. Geometry (+ flip), uint8 -> float.
  if (c.resized_crop > 0) {
    resample(ImageView{in, C, H, W, /*interleaved=*/false}, p.region, OH, OW, kInv255, out);
    if (p.flip)
      for (int64_t y = 0; y < C * OH; ++y) std::reverse(out + y * OW, out + (y + 1) * OW);
  } else {
    // Output (y, x) reads input (y + dy, x' + dx), x' = x or OW - 1 - x, dy = crop_y - pad,
    // dx = crop_x - pad; outside the image it is the zero padding (value b after folding).
    const int64_t pad = c.random_crop > 0 ? c.crop_padding : 0;
    const int64_t dy = p.crop_y - pad, dx = p.crop_x - pad;
    // Output columns [xa, xb) read inside the image.
    int64_t xa, xb;
    if (!p.flip) {
      xa = std::max<int64_t>(0, -dx);
      xb = std::min<int64_t>(OW, W - dx);
    } else {  // sx = OW - 1 - x + dx in [0, W)
      xa = std::max<int64_t>(0, OW - W + dx);
      xb = std::min<int64_t>(OW, OW + dx);
    }
    xb = std::max(xa, xb);
    for (int64_t ch = 0; ch < C; ++ch) {
      const float a = fold ? kInv255 / c.std[static_cast<size_t>(ch)] : kInv255;
      const float b = fold ? -c.mean[static_cast<size_t>(ch)] / c.std[static_cast<size_t>(ch)] : 0.f;
      const uint8_t* src = in + ch * H * W;
      float* o = out + ch * plane;
      for (int64_t y = 0; y < OH; ++y) {
        const int64_t sy = y + dy;
        float* orow = o + y * OW;
        if (sy < 0 || sy >= H) {
          std::fill(orow, orow + OW, b);
          continue;
        }
        std::fill(orow, orow + xa, b);
        std::fill(orow + xb, orow + OW, b);
        const uint8_t* srow = src + sy * W;
        if (!p.flip) {
          for (int64_t x = xa; x < xb; ++x) orow[x] = static_cast<float>(srow[x + dx]) * a + b;
        } else {
          const int64_t last = OW - 1 + dx;
          for (int64_t x = xa; x < xb; ++x) orow[x] = static_cast<float>(srow[last - x]) * a + b;
        }
      }
    }
  }
  if (fold) return;

  // 2. Colour jitter (torchvision's adjust_brightness / adjust_contrast / adjust_saturation).
  const int64_t n = C * plane;
  if (p.brightness != 1) {
    for (int64_t k = 0; k < n; ++k) out[k] = clamp01(out[k] * p.brightness);
  }
  if (p.contrast != 1) {
    double sum = 0;  // mean of the grayscale image
    if (C == 3) {
      for (int64_t k = 0; k < plane; ++k)
        sum += kGrayR * out[k] + kGrayG * out[plane + k] + kGrayB * out[2 * plane + k];
    } else {
      for (int64_t k = 0; k < n; ++k) sum += out[k];
      sum /= static_cast<double>(C);
    }
    const float mean = static_cast<float>(sum / static_cast<double>(plane));
    const float a = p.contrast, b = (1 - p.contrast) * mean;
    for (int64_t k = 0; k < n; ++k) out[k] = clamp01(a * out[k] + b);
  }
  if (p.saturation != 1) {  // C == 3, checked in the constructor
    const float s = p.saturation;
    for (int64_t k = 0; k < plane; ++k) {
      const float gray = kGrayR * out[k] + kGrayG * out[plane + k] + kGrayB * out[2 * plane + k];
      for (int64_t ch = 0; ch < 3; ++ch) {
        float& v = out[ch * plane + k];
        v = clamp01(s * v + (1 - s) * gray);
      }
    }
  }

  // 3. Normalise.
  if (!c.mean.empty()) {
    for (int64_t ch = 0; ch < C; ++ch) {
      const float m = c.mean[static_cast<size_t>(ch)], inv = 1.0f / c.std[static_cast<size_t>(ch)];
      float* o = out + ch * plane;
      for (int64_t k = 0; k < plane; ++k) o[k] = (o[k] - m) * inv;
    }
  }
}

}  // namespace figs::data

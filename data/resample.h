// Resampling a rectangle of an 8-bit image to a new size, with PIL-style antialiasing.
//
// Separable triangle ("bilinear") filter whose support widens with the scale factor when
// shrinking, so downscaling averages every source pixel (PIL's Image.resize(BILINEAR) and
// torchvision's antialiased resize do the same). Pixel centres sit at half-integers; taps
// outside the image are dropped and the rest renormalised (edge clamp). Resampling a whole image
// to its own size is the identity.
#pragma once

#include <cstdint>

namespace figs::data {

// A rectangle of the source image in pixel units (may be fractional).
struct Region {
  double y0 = 0, x0 = 0, h = 0, w = 0;
};

// An 8-bit image of c channels, either planar (CHW) or interleaved (HWC).
struct ImageView {
  const uint8_t* data = nullptr;
  int64_t c = 1, h = 0, w = 0;
  bool interleaved = false;
};

// Writes the `region` of `src` resampled to out_h x out_w into `out` as CHW floats on the 0..255
// scale times `scale`. The filter weights are computed once for all channels. `region` must lie
// inside the image and have positive size.
void resample(const ImageView& src, const Region& region, int64_t out_h, int64_t out_w,
              float scale, float* out);

}  // namespace figs::data

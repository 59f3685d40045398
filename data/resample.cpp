#include "data/resample.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace figs::data {

namespace {

// For each output coordinate: the first source index and the normalised weights of its taps.
struct Taps {
  int64_t max_taps = 0;
  std::vector<int64_t> first;   // per output
  std::vector<int64_t> count;   // per output
  std::vector<float> weights;   // per output, max_taps each
  // True when every output is one source pixel with weight 1: a plain (integer-offset) copy.
  bool identity = true;
};

void make_taps(double start, double length, int64_t out, int64_t src_size, Taps& t) {
  const double scale = length / static_cast<double>(out);  // source pixels per output pixel
  const double support = std::max(scale, 1.0);              // triangle half-width
  t.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(out));
  t.count.resize(static_cast<size_t>(out));
  t.weights.assign(static_cast<size_t>(out * t.max_taps), 0.f);
  t.identity = true;
  std::vector<double> raw(static_cast<size_t>(t.max_taps));
  for (int64_t o = 0; o < out; ++o) {
    const double centre = start + (static_cast<double>(o) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(std::floor(centre - support)), 0);
    const int64_t hi = std::min({static_cast<int64_t>(std::ceil(centre + support)), src_size - 1,
                                 lo + t.max_taps - 1});
    double total = 0;
    for (int64_t j = lo; j <= hi; ++j) {
      const double d = std::abs(static_cast<double>(j) + 0.5 - centre) / support;
      raw[static_cast<size_t>(j - lo)] = std::max(0.0, 1.0 - d);
      total += raw[static_cast<size_t>(j - lo)];
    }
    float* w = t.weights.data() + o * t.max_taps;
    if (!(total > 0)) {  // cannot happen for a region inside the image; nearest pixel as a guard
      t.first[static_cast<size_t>(o)] = std::clamp<int64_t>(static_cast<int64_t>(centre), 0, src_size - 1);
      t.count[static_cast<size_t>(o)] = 1;
      w[0] = 1.f;
      continue;
    }
    int64_t a = 0, b = hi - lo;  // trim zero-weight taps at both ends
    while (a < b && raw[static_cast<size_t>(a)] == 0) ++a;
    while (b > a && raw[static_cast<size_t>(b)] == 0) --b;
    t.first[static_cast<size_t>(o)] = lo + a;
    t.count[static_cast<size_t>(o)] = b - a + 1;
    for (int64_t k = a; k <= b; ++k) w[k - a] = static_cast<float>(raw[static_cast<size_t>(k)] / total);
    if (b != a || w[0] != 1.f) t.identity = false;
  }
}

}  // namespace

void resample(const ImageView& src, const Region& r, int64_t out_h, int64_t out_w, float scale,
              float* out) {
  FIGS_CHECK(out_h > 0 && out_w > 0, "resample: output size ", out_h, "x", out_w, " must be positive");
  FIGS_CHECK(src.c > 0 && src.h > 0 && src.w > 0, "resample: empty source image");
  FIGS_CHECK(r.h > 0 && r.w > 0 && r.y0 >= 0 && r.x0 >= 0 &&
                 r.y0 + r.h <= static_cast<double>(src.h) + 1e-6 &&
                 r.x0 + r.w <= static_cast<double>(src.w) + 1e-6,
             "resample: region (y ", r.y0, ", x ", r.x0, ", ", r.h, "x", r.w,
             ") is not inside the ", src.h, "x", src.w, " image");
  thread_local Taps ty_local, tx_local;
  thread_local std::vector<float> tmp_local;
  Taps& ty = ty_local;
  Taps& tx = tx_local;
  make_taps(r.y0, r.h, out_h, src.h, ty);
  make_taps(r.x0, r.w, out_w, src.w, tx);
  const int64_t C = src.c, out_plane = out_h * out_w;
  // Element (ch, y, x) of the source.
  const int64_t pix = src.interleaved ? C : 1, row = src.interleaved ? src.w * C : src.w;
  const int64_t chan = src.interleaved ? 1 : src.h * src.w;

  if (ty.identity && tx.identity) {  // an integer-offset crop (first[i] = first[0] + i): copy
    const int64_t y0 = ty.first[0], x0 = tx.first[0];
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t y = 0; y < out_h; ++y) {
        const uint8_t* s = src.data + ch * chan + (y0 + y) * row + x0 * pix;
        float* o = out + ch * out_plane + y * out_w;
        if (pix == 1) {
          for (int64_t x = 0; x < out_w; ++x) o[x] = scale * static_cast<float>(s[x]);
        } else {
          for (int64_t x = 0; x < out_w; ++x) o[x] = scale * static_cast<float>(s[x * pix]);
        }
      }
    return;
  }

  // Source rows the vertical pass reads: [row_lo, row_hi).
  int64_t row_lo = src.h, row_hi = 0;
  for (int64_t y = 0; y < out_h; ++y) {
    row_lo = std::min(row_lo, ty.first[static_cast<size_t>(y)]);
    row_hi = std::max(row_hi, ty.first[static_cast<size_t>(y)] + ty.count[static_cast<size_t>(y)]);
  }
  const int64_t rows = row_hi - row_lo;
  // Horizontal pass: tmp (C, rows, out_w).
  std::vector<float>& tmp = tmp_local;
  tmp.resize(static_cast<size_t>(C * rows * out_w));
  for (int64_t ch = 0; ch < C; ++ch)
    for (int64_t y = 0; y < rows; ++y) {
      const uint8_t* s = src.data + ch * chan + (y + row_lo) * row;
      float* t = tmp.data() + (ch * rows + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        const uint8_t* p = s + tx.first[static_cast<size_t>(x)] * pix;
        const int64_t n = tx.count[static_cast<size_t>(x)];
        const float* w = tx.weights.data() + x * tx.max_taps;
        float acc = 0;
        for (int64_t k = 0; k < n; ++k) acc += w[k] * static_cast<float>(p[k * pix]);
        t[x] = acc;
      }
    }
  // Vertical pass.
  for (int64_t ch = 0; ch < C; ++ch)
    for (int64_t y = 0; y < out_h; ++y) {
      const int64_t f = ty.first[static_cast<size_t>(y)] - row_lo, n = ty.count[static_cast<size_t>(y)];
      const float* w = ty.weights.data() + y * ty.max_taps;
      float* o = out + ch * out_plane + y * out_w;
      const float* t0 = tmp.data() + (ch * rows + f) * out_w;
      const float w0 = w[0] * scale;
      for (int64_t x = 0; x < out_w; ++x) o[x] = w0 * t0[x];
      for (int64_t k = 1; k < n; ++k) {
        const float wk = w[k] * scale;
        const float* t = t0 + k * out_w;
        for (int64_t x = 0; x < out_w; ++x) o[x] += wk * t[x];
      }
    }
}

}  // namespace figs::data

// Transforms against hand-computed outputs; the random draws' ranges and reproducibility.
#include <cmath>
#include <set>

#include "data/data.h"
#include "test_util.h"

namespace figs::data {
namespace {

std::vector<float> run(const Augmenter& a, const AugmentParams& p, const std::vector<uint8_t>& in) {
  std::vector<float> out(static_cast<size_t>(a.output_shape().numel()));
  a.apply(p, in.data(), out.data());
  return out;
}

void expect_near(const std::vector<float>& got, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) EXPECT_NEAR(got[k], want[k], tol) << "element " << k;
}

// 1 x 3 x 3 image 0, 10, ..., 80 (row-major); values below are v / 255.
const std::vector<uint8_t> kImg = {0, 10, 20, 30, 40, 50, 60, 70, 80};
double u(double v) { return v / 255.0; }

TEST(data_transforms, NoOpConvertsToUnitRange) {
  Augmenter a({}, {1, 3, 3});
  EXPECT_EQ(a.output_shape(), (ImageShape{1, 3, 3}));
  std::vector<double> want;
  for (uint8_t v : kImg) want.push_back(u(v));
  expect_near(run(a, a.draw(1, 0, 0), kImg), want);
}

TEST(data_transforms, RandomCropWithPaddingAndFlip) {
  AugmentConfig c;
  c.random_crop = 2;
  c.crop_padding = 1;
  Augmenter a(c, {1, 3, 3});
  EXPECT_EQ(a.output_shape(), (ImageShape{1, 2, 2}));
  // Padded 5 x 5 image; window at (0, 0) covers the padding corner and pixel (0, 0).
  AugmentParams p;
  p.crop_y = 0;
  p.crop_x = 0;
  expect_near(run(a, p, kImg), {0, 0, 0, u(0)});
  p.crop_y = 2;  // rows 1..2, columns -1..0 of the image
  expect_near(run(a, p, kImg), {0, u(30), 0, u(60)});
  p.crop_x = 3;  // columns 2..3: pixel column 2, then padding
  expect_near(run(a, p, kImg), {u(50), 0, u(80), 0});
  p.flip = true;  // the same window, mirrored
  expect_near(run(a, p, kImg), {0, u(50), 0, u(80)});

  AugmentConfig f;
  f.horizontal_flip = true;
  Augmenter fl(f, {1, 3, 3});
  AugmentParams q;
  q.flip = true;
  expect_near(run(fl, q, kImg), {u(20), u(10), u(0), u(50), u(40), u(30), u(80), u(70), u(60)});
}

TEST(data_transforms, ResizedCropResamplesTheRegion) {
  AugmentConfig c;
  c.resized_crop = 2;
  Augmenter a(c, {1, 3, 3});
  AugmentParams p;
  p.region = Region{1, 1, 2, 2};  // same size: copies pixels (1..2, 1..2)
  expect_near(run(a, p, kImg), {u(40), u(50), u(70), u(80)});
  p.flip = true;
  expect_near(run(a, p, kImg), {u(50), u(40), u(80), u(70)});
  p.flip = false;
  p.region = Region{0, 0, 2, 3};  // 2 x 3 -> 2 x 2: rows kept, columns shrink by 1.5 (support 1.5)
  // Column centres 0.75 and 2.25; weight 1 - |j + 0.5 - centre| / 1.5 for j = 0, 1, 2 is
  // 5/6, 1/2, 0 for the first (normalised: 5/8, 3/8, 0) and mirrored for the second.
  const double r0 = (0 * 5 + 10 * 3) / 8.0, r1 = (20 * 5 + 10 * 3) / 8.0;
  const double r2 = (30 * 5 + 40 * 3) / 8.0, r3 = (50 * 5 + 40 * 3) / 8.0;
  expect_near(run(a, p, kImg), {u(r0), u(r1), u(r2), u(r3)});
}

TEST(data_transforms, CropFlipNormaliseMatchPlainLoops) {
  // Every crop position, with and without flip and normalisation, on a 2 x 5 x 7 image with
  // padding 3 (windows that stick out on each side), against the definition written plainly.
  const int64_t C = 2, H = 5, W = 7, S = 6, pad = 3;
  std::vector<uint8_t> img(static_cast<size_t>(C * H * W));
  for (size_t k = 0; k < img.size(); ++k) img[k] = static_cast<uint8_t>(k * 37 % 251);
  for (bool norm : {false, true}) {
    AugmentConfig c;
    c.random_crop = S;
    c.crop_padding = pad;
    if (norm) {
      c.mean = {0.4f, 0.6f};
      c.std = {0.3f, 0.2f};
    }
    Augmenter a(c, {C, H, W});
    for (int64_t cy = 0; cy <= H + 2 * pad - S; ++cy)
      for (int64_t cx = 0; cx <= W + 2 * pad - S; ++cx)
        for (bool flip : {false, true}) {
          AugmentParams p;
          p.crop_y = cy;
          p.crop_x = cx;
          p.flip = flip;
          const std::vector<float> got = run(a, p, img);
          for (int64_t ch = 0; ch < C; ++ch)
            for (int64_t y = 0; y < S; ++y)
              for (int64_t x = 0; x < S; ++x) {
                const int64_t sy = y + cy - pad, sx = (flip ? S - 1 - x : x) + cx - pad;
                double v = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? img[static_cast<size_t>((ch * H + sy) * W + sx)] / 255.0 : 0.0;
                if (norm) v = (v - c.mean[static_cast<size_t>(ch)]) / c.std[static_cast<size_t>(ch)];
                ASSERT_NEAR(got[static_cast<size_t>((ch * S + y) * S + x)], v, 1e-5)
                    << "crop " << cy << "," << cx << " flip " << flip << " norm " << norm << " at " << ch << "," << y << "," << x;
              }
        }
  }
}

TEST(data_transforms, ColourJitterFormulas) {
  // 3 x 1 x 2 image: pixel A = (255, 0, 51), pixel B = (102, 204, 0).
  const std::vector<uint8_t> img = {255, 102, 0, 204, 51, 0};
  AugmentConfig c;
  c.brightness = c.contrast = c.saturation = 0.5;
  Augmenter a(c, {3, 1, 2});
  AugmentParams p;
  p.brightness = 1.5f;  // x * 1.5, clamped
  expect_near(run(a, p, img), {1.0, 0.6, 0.0, 1.0, 0.3, 0.0});
  p.brightness = 1;
  p.contrast = 0.5f;  // 0.5 x + 0.5 mean(gray); gray A = .299 + .114 * .2, gray B = .299 * .4 + .587 * .8
  const double gA = 0.299 * 1.0 + 0.587 * 0 + 0.114 * 0.2, gB = 0.299 * 0.4 + 0.587 * 0.8 + 0.114 * 0;
  const double m = (gA + gB) / 2;
  expect_near(run(a, p, img), {0.5 + m / 2, 0.2 + m / 2, m / 2, 0.4 + m / 2, 0.1 + m / 2, m / 2});
  p.contrast = 1;
  p.saturation = 0;  // fully gray: every channel becomes the pixel's gray value
  expect_near(run(a, p, img), {gA, gB, gA, gB, gA, gB});
  p.saturation = 2;  // 2 x - gray, clamped
  expect_near(run(a, p, img), {1.0, 0.8 - gB, 0.0, std::min(1.6 - gB, 1.0), 0.4 - gA, 0.0});
}

TEST(data_transforms, Normalise) {
  AugmentConfig c;
  c.mean = {0.5f, 0.25f};
  c.std = {0.5f, 2.0f};
  Augmenter a(c, {2, 1, 2});
  expect_near(run(a, {}, {0, 255, 51, 102}), {-1.0, 1.0, (0.2 - 0.25) / 2, (0.4 - 0.25) / 2});
}

TEST(data_transforms, DrawsAreReproducibleAndCoverTheirRanges) {
  AugmentConfig c;
  c.random_crop = 28;
  c.crop_padding = 2;
  c.horizontal_flip = true;
  c.brightness = 0.4;
  c.contrast = 0.2;
  Augmenter a(c, {1, 28, 28});
  std::set<int64_t> ys, xs;
  int flips = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const AugmentParams p = a.draw(7, 3, i);
    const AugmentParams q = a.draw(7, 3, i);
    EXPECT_EQ(p.crop_y, q.crop_y);
    EXPECT_EQ(p.flip, q.flip);
    EXPECT_EQ(p.brightness, q.brightness);
    ys.insert(p.crop_y);
    xs.insert(p.crop_x);
    flips += p.flip;
    EXPECT_GE(p.brightness, 0.6f);
    EXPECT_LE(p.brightness, 1.4f);
    EXPECT_GE(p.contrast, 0.8f);
    EXPECT_LE(p.contrast, 1.2f);
  }
  EXPECT_EQ(ys, (std::set<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(xs, (std::set<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_NEAR(flips / double(n), 0.5, 0.04);
  // Another epoch, index or seed gives other draws.
  int same_epoch = 0, same_seed = 0;
  for (int i = 0; i < 200; ++i) {
    same_epoch += a.draw(7, 4, i).brightness == a.draw(7, 3, i).brightness;
    same_seed += a.draw(8, 3, i).brightness == a.draw(7, 3, i).brightness;
  }
  EXPECT_LE(same_epoch, 2);
  EXPECT_LE(same_seed, 2);
}

TEST(data_transforms, ResizedCropRegionsFollowScaleAndRatio) {
  AugmentConfig c;
  c.resized_crop = 16;
  c.resized_crop_scale_min = 0.25;
  c.resized_crop_scale_max = 0.5;
  Augmenter a(c, {3, 40, 60});
  for (int i = 0; i < 500; ++i) {
    const Region r = a.draw(1, 0, i).region;
    ASSERT_GE(r.y0, 0);
    ASSERT_GE(r.x0, 0);
    ASSERT_LE(r.y0 + r.h, 40);
    ASSERT_LE(r.x0 + r.w, 60);
    const double area = r.h * r.w / (40.0 * 60.0), ratio = r.w / r.h;
    EXPECT_GE(area, 0.2) << i;  // rounding of h and w moves the area a little
    EXPECT_LE(area, 0.56) << i;
    EXPECT_GE(ratio, 0.7) << i;
    EXPECT_LE(ratio, 1.45) << i;
  }
  // Impossible to satisfy (a 1 x 50 strip at ratio ~1 and scale 1) -> the clamped centre crop.
  AugmentConfig s;
  s.resized_crop = 4;
  s.resized_crop_scale_min = 1.0;
  Augmenter strip(s, {1, 1, 50});
  const Region r = strip.draw(0, 0, 0).region;
  EXPECT_EQ(r.h, 1);
  EXPECT_EQ(r.w, std::round(4.0 / 3.0));
  EXPECT_EQ(r.x0, std::floor((50 - r.w) / 2));
}

TEST(data_transforms, ConfigErrors) {
  AugmentConfig c;
  c.random_crop = 4;
  c.resized_crop = 4;
  EXPECT_ERROR_MENTIONS(Augmenter(c, {1, 8, 8}), "random_crop and resized_crop are exclusive");
  c = {};
  c.crop_padding = 2;
  EXPECT_ERROR_MENTIONS(Augmenter(c, {1, 8, 8}), "crop_padding 2 needs random_crop > 0");
  c.random_crop = 13;
  EXPECT_ERROR_MENTIONS(Augmenter(c, {1, 8, 8}), "random_crop 13 is larger than the padded 8x8 image");
  c = {};
  c.saturation = 0.3;
  EXPECT_ERROR_MENTIONS(Augmenter(c, {1, 8, 8}), "saturation jitter needs 3 channels");
  c = {};
  c.mean = {0.5f};
  c.std = {0.5f};
  EXPECT_ERROR_MENTIONS(Augmenter(c, {3, 8, 8}), "one value per channel (3)");
  c.std = {0.f};
  EXPECT_ERROR_MENTIONS(Augmenter(c, {1, 8, 8}), "std[0] = 0 must be > 0");
  c = {};
  c.resized_crop = 8;
  c.resized_crop_scale_min = 0;
  EXPECT_ERROR_MENTIONS(Augmenter(c, {1, 8, 8}), "resized_crop scale range [0, 1]");
  c = {};
  c.brightness = -1;
  EXPECT_ERROR_MENTIONS(Augmenter(c, {1, 8, 8}), "must be >= 0");
  Augmenter ok({}, {1, 2, 2});
  EXPECT_ERROR_MENTIONS(ok.draw(0, int64_t{1} << 32, 0), "epoch 4294967296 out of range");
}

}  // namespace
}  // namespace figs::data

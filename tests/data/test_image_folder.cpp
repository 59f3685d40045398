// ImageFolder on generated trees of PNG (libpng) and JPEG (TurboJPEG) files; resampling.
#include <cmath>

#include "data/data.h"
#include "data_test_util.h"
#include "test_util.h"

namespace figs::data {
namespace {

using test::jpeg_bytes;
using test::TempDir;
using test::write_bytes;
using test::write_png;

// A smooth RGB test image (JPEG-friendly), interleaved HWC.
std::vector<uint8_t> smooth_rgb(int h, int w, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(h * w * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      px[static_cast<size_t>((y * w + x) * 3 + 0)] = static_cast<uint8_t>(40 + (x * 160) / w + seed);
      px[static_cast<size_t>((y * w + x) * 3 + 1)] = static_cast<uint8_t>(30 + (y * 180) / h);
      px[static_cast<size_t>((y * w + x) * 3 + 2)] = static_cast<uint8_t>(200 - (x + y) * 100 / (w + h));
    }
  return px;
}

// Any pixel pattern, for the lossless PNG checks.
std::vector<uint8_t> pattern_rgb(int h, int w, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(h * w * 3));
  for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>((k * 29 + seed * 71) & 0xFF);
  return px;
}

// CHW value of interleaved HWC pixel (c, y, x).
uint8_t hwc(const std::vector<uint8_t>& px, int w, int c, int y, int x) {
  return px[static_cast<size_t>((y * w + x) * 3 + c)];
}

TEST(data_image_folder, ScansSortedClassesAndDecodesPngExactlyJpegClosely) {
  TempDir dir;
  const int S = 16;
  const auto p0 = pattern_rgb(S, S, 0), p1 = pattern_rgb(S, S, 1);
  const auto j0 = smooth_rgb(S, S, 0), j1 = smooth_rgb(S, S, 9);
  write_png(dir / "cat/b.png", p0, S, S);
  write_bytes(dir / "cat/a.jpg", jpeg_bytes(j0, S, S));
  write_png(dir / "dog/x.PNG", p1, S, S);
  write_bytes(dir / "dog/y.jpeg", jpeg_bytes(j1, S, S));
  write_bytes(dir / "dog/notes.txt", {'h', 'i'});      // ignored, counted
  write_bytes(dir / "dog/.hidden.png", {1, 2, 3});      // hidden: skipped
  write_bytes(dir / "README", {'x'});                   // a file at the root: ignored, counted
  std::filesystem::create_directories(dir.path() / ".cache/junk");  // hidden folder: not a class

  ImageFolderOptions o;
  o.crop = S;
  o.resize = S;  // same size: decoding only
  ImageFolder ds(dir.path().string(), o);
  ASSERT_EQ(ds.size(), 4);
  EXPECT_EQ(ds.classes(), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(ds.num_classes(), 2);
  EXPECT_EQ(ds.ignored_files(), 2);
  EXPECT_EQ(ds.image_shape(), (ImageShape{3, S, S}));
  EXPECT_EQ(ds.path(0), dir / "cat/a.jpg");
  EXPECT_EQ(ds.path(1), dir / "cat/b.png");
  EXPECT_EQ(ds.path(2), dir / "dog/x.PNG");
  EXPECT_EQ(ds.path(3), dir / "dog/y.jpeg");
  EXPECT_EQ(ds.label(1), 0);
  EXPECT_EQ(ds.label(2), 1);

  const std::vector<std::vector<uint8_t>> truth = {j0, p0, p1, j1};
  for (int64_t i = 0; i < 4; ++i) {
    const Example e = ds.example(i);
    EXPECT_EQ(e.label, i / 2);
    const bool png = i == 1 || i == 2;
    double sum_diff = 0;
    int max_diff = 0;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) {
          const int got = e.pixels[static_cast<size_t>((c * S + y) * S + x)];
          const int want = hwc(truth[static_cast<size_t>(i)], S, c, y, x);
          if (png) {
            ASSERT_EQ(got, want) << "example " << i << " c" << c << " y" << y << " x" << x;
          }
          max_diff = std::max(max_diff, std::abs(got - want));
          sum_diff += std::abs(got - want);
        }
    if (!png) {  // JPEG quality 95, 4:4:4, smooth content
      EXPECT_LE(max_diff, 12) << "example " << i;
      EXPECT_LE(sum_diff / (3 * S * S), 2.0) << "example " << i;
    }
  }
}

TEST(data_image_folder, GrayAndAlphaPngsBecomeRgb) {
  TempDir dir;
  std::vector<uint8_t> gray(6 * 4), rgba(6 * 4 * 4);
  for (size_t k = 0; k < gray.size(); ++k) gray[k] = static_cast<uint8_t>(k * 10);
  for (size_t k = 0; k < rgba.size(); ++k) rgba[k] = static_cast<uint8_t>(k * 3 + 1);
  write_png(dir / "a/gray.png", gray, 4, 6, PNG_FORMAT_GRAY);
  write_png(dir / "b/rgba.png", rgba, 4, 6, PNG_FORMAT_RGBA);
  ImageFolderOptions o;
  o.crop = 4;
  o.resize = 4;  // 4 x 6 -> centre crop of columns 1..4
  ImageFolder ds(dir.path().string(), o);
  const Example g = ds.example(0), a = ds.example(1);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(g.pixels[static_cast<size_t>((c * 4 + y) * 4 + x)], gray[static_cast<size_t>(y * 6 + x + 1)]);
        EXPECT_EQ(a.pixels[static_cast<size_t>((c * 4 + y) * 4 + x)], rgba[static_cast<size_t>((y * 6 + x + 1) * 4 + c)]);
      }
}

TEST(data_image_folder, CentreCropOffsetsRoundHalfToEven) {
  // 10 x 21 image, resize 10 (no scaling: shorter side already 10), crop 10: the crop starts at
  // nearbyint(5.5) = 6, as Python's round() in torchvision's CenterCrop; 10 x 20 starts at 5.
  for (const int w : {20, 21}) {
    std::vector<uint8_t> rgb(static_cast<size_t>(10 * w * 3));
    for (int y = 0; y < 10; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) rgb[static_cast<size_t>((y * w + x) * 3 + c)] = static_cast<uint8_t>(x * 10 + c + y);
    std::vector<uint8_t> chw(3 * 10 * 10);
    resize_center_crop(rgb.data(), 10, w, 10, 10, chw.data());
    const int x0 = w == 20 ? 5 : 6;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 10; ++y)
        for (int x = 0; x < 10; ++x)
          ASSERT_EQ(chw[static_cast<size_t>((c * 10 + y) * 10 + x)], (x + x0) * 10 + c + y) << w;
  }
}

TEST(data_image_folder, ResizeShorterSideAveragesConstantBlocks) {
  // 8 x 12 image of constant colour per channel: any antialiased shrink keeps it exactly.
  std::vector<uint8_t> rgb(8 * 12 * 3);
  for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = static_cast<uint8_t>(k % 3 == 0 ? 10 : k % 3 == 1 ? 128 : 250);
  std::vector<uint8_t> chw(3 * 4 * 4);
  resize_center_crop(rgb.data(), 8, 12, 4, 4, chw.data());
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < 16; ++k) EXPECT_EQ(chw[static_cast<size_t>(c * 16 + k)], c == 0 ? 10 : c == 1 ? 128 : 250);
}

TEST(data_resample, HandComputedTriangleWeights) {
  // Shrink a row [0, 8, 16, 24] to 2: support 2, taps at distance 0.5 and 1.5 from the centre
  // weigh 0.75 and 0.25; the tap outside the image is dropped and the rest renormalised:
  //   out0 = (0 * .75 + 8 * .75 + 16 * .25) / 1.75,  out1 = (8 * .25 + 16 * .75 + 24 * .75) / 1.75
  const uint8_t row[4] = {0, 8, 16, 24};
  float out[4];
  resample(ImageView{row, 1, 1, 4}, Region{0, 0, 1, 4}, 1, 2, 1.f, out);
  EXPECT_NEAR(out[0], 10.0 / 1.75, 1e-5);
  EXPECT_NEAR(out[1], 32.0 / 1.75, 1e-5);
  // Enlarge [0, 100] to 4: half-pixel centres 0.25, 0.75, 1.25, 1.75 -> 0, 25, 75, 100.
  const uint8_t two[2] = {0, 100};
  resample(ImageView{two, 1, 1, 2}, Region{0, 0, 1, 2}, 1, 4, 1.f, out);
  EXPECT_NEAR(out[0], 0, 1e-5);
  EXPECT_NEAR(out[1], 25, 1e-5);
  EXPECT_NEAR(out[2], 75, 1e-5);
  EXPECT_NEAR(out[3], 100, 1e-5);
  // Same size: the identity, also for a sub-region, and `scale` multiplies.
  const uint8_t img[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  resample(ImageView{img, 1, 3, 3}, Region{1, 1, 2, 2}, 2, 2, 0.5f, out);
  EXPECT_FLOAT_EQ(out[0], 2.5f);
  EXPECT_FLOAT_EQ(out[1], 3.0f);
  EXPECT_FLOAT_EQ(out[2], 4.0f);
  EXPECT_FLOAT_EQ(out[3], 4.5f);
  EXPECT_ERROR_MENTIONS(resample(ImageView{img, 1, 3, 3}, Region{2, 0, 2, 3}, 2, 2, 1.f, out),
                        "is not inside the 3x3 image");
}

TEST(data_resample, InterleavedAndPlanarAgree) {
  // A 3-channel 7 x 9 image, fractional region, shrink in one axis and enlarge in the other.
  std::vector<uint8_t> hwc(7 * 9 * 3), chw(7 * 9 * 3);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 9; ++x)
      for (int c = 0; c < 3; ++c) {
        const auto v = static_cast<uint8_t>((y * 31 + x * 17 + c * 101) & 0xFF);
        hwc[static_cast<size_t>((y * 9 + x) * 3 + c)] = v;
        chw[static_cast<size_t>((c * 7 + y) * 9 + x)] = v;
      }
  const Region r{0.5, 1.25, 5.5, 6};
  std::vector<float> a(3 * 4 * 8), b(3 * 4 * 8);
  resample(ImageView{hwc.data(), 3, 7, 9, true}, r, 4, 8, 1.f, a.data());
  resample(ImageView{chw.data(), 3, 7, 9, false}, r, 4, 8, 1.f, b.data());
  EXPECT_EQ(a, b);
  for (float v : a) {
    EXPECT_GE(v, 0.f);
    EXPECT_LE(v, 255.f);
  }
}

TEST(data_image_folder, ScaledJpegDecodeMatchesFullDecode) {
  TempDir dir;
  const auto rgb = smooth_rgb(96, 128, 3);
  write_bytes(dir / "c/a.jpg", jpeg_bytes(rgb, 96, 128));
  ImageFolderOptions fast, full;
  fast.crop = full.crop = 20;
  fast.resize = full.resize = 24;  // 96 -> 1/4 DCT scale gives exactly 24
  full.fast_jpeg_scaling = false;
  const Example a = ImageFolder(dir.path().string(), fast).example(0);
  const Example b = ImageFolder(dir.path().string(), full).example(0);
  double diff = 0;
  for (size_t k = 0; k < a.pixels.size(); ++k) diff += std::abs(int{a.pixels[k]} - int{b.pixels[k]});
  EXPECT_LE(diff / static_cast<double>(a.pixels.size()), 3.0);
}

TEST(data_image_folder, LoaderDecodesOnWorkersAndReportsABadFile) {
  TempDir dir;
  for (int i = 0; i < 6; ++i)
    write_png(dir / str_cat("c", i % 2, "/", i, ".png"), pattern_rgb(10, 12, i), 10, 12);
  write_bytes(dir / "c1/9.jpg", {0xFF, 0xD8, 0xFF, 0xDB, 1, 2, 3});
  ImageFolderOptions o;
  o.crop = 8;
  o.resize = 10;
  auto ds = std::make_shared<ImageFolder>(dir.path().string(), o);
  ASSERT_EQ(ds->size(), 7);
  LoaderConfig c;
  c.batch_size = 2;
  c.num_workers = 2;
  c.shuffle = false;
  Loader l(ds, c);
  l.start_epoch(0);
  int batches = 0, errors = 0;
  for (int k = 0; k < l.batches_per_epoch(); ++k) {
    try {
      const std::optional<Batch> b = l.next();
      ASSERT_TRUE(b.has_value());
      EXPECT_EQ(b->images.shape(), (Shape{b->images.size(0), 3, 8, 8}));
      ++batches;
    } catch (const Error& e) {  // c1/9.jpg is example 6: the last batch
      ++errors;
      EXPECT_NE(std::string(e.what()).find(dir / "c1/9.jpg" + " (example 6): undecodable JPEG"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(errors, 1);
  EXPECT_FALSE(l.next().has_value());
}

TEST(data_image_folder, Errors) {
  TempDir dir;
  EXPECT_ERROR_MENTIONS(ImageFolder(dir / "absent"), dir / "absent" + ": ImageFolder root does not exist");
  EXPECT_ERROR_MENTIONS(ImageFolder(dir.path().string()), ": ImageFolder root has no class sub-folders");
  write_bytes(dir / "file", {1});
  EXPECT_ERROR_MENTIONS(ImageFolder(dir / "file"), dir / "file" + ": ImageFolder root is not a directory");

  TempDir tree;
  write_png(tree / "a/ok.png", pattern_rgb(8, 8, 0), 8, 8);
  write_bytes(tree / "b/readme.txt", {'x'});
  EXPECT_ERROR_MENTIONS(ImageFolder(tree.path().string()), tree / "b" + ": empty class folder");

  TempDir bad;
  write_png(bad / "a/0.png", pattern_rgb(8, 8, 0), 8, 8);
  write_bytes(bad / "a/1.jpg", {'n', 'o', 't', ' ', 'a', ' ', 'j', 'p', 'e', 'g'});
  write_bytes(bad / "a/2.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 0, 0});  // a JPEG signature, then nothing
  std::vector<uint8_t> png;
  {
    TempDir t;
    write_png(t / "x.png", pattern_rgb(8, 8, 1), 8, 8);
    png = read_file(t / "x.png");
  }
  png.resize(png.size() / 2);
  write_bytes(bad / "a/3.png", png);
  write_bytes(bad / "a/4.png", {});
  const auto full = jpeg_bytes(smooth_rgb(32, 32, 0), 32, 32);
  write_bytes(bad / "a/5.jpg", std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(full.size() * 2 / 3)));
  ImageFolderOptions o;
  o.crop = o.resize = 8;
  ImageFolder ds(bad.path().string(), o);
  ASSERT_EQ(ds.size(), 6);
  EXPECT_NO_THROW(ds.example(0));
  EXPECT_ERROR_MENTIONS(ds.example(1), bad / "a/1.jpg" + " (example 1): undecodable image: not a JPEG or PNG file");
  EXPECT_ERROR_MENTIONS(ds.example(2), bad / "a/2.jpg" + " (example 2): undecodable JPEG");
  EXPECT_ERROR_MENTIONS(ds.example(3), bad / "a/3.png" + " (example 3): undecodable PNG");
  EXPECT_ERROR_MENTIONS(ds.example(4), bad / "a/4.png" + " (example 4): undecodable image: the file is empty");
  // A truncated JPEG scan is only a libjpeg warning: kept by default (as PIL does), an error when strict.
  EXPECT_NO_THROW(ds.example(5));
  o.strict = true;
  EXPECT_ERROR_MENTIONS(ImageFolder(bad.path().string(), o).example(5), bad / "a/5.jpg" + " (example 5): undecodable JPEG");
  std::filesystem::remove(bad / "a/0.png");
  EXPECT_ERROR_MENTIONS(ds.example(0), bad / "a/0.png" + ": no such file");
  EXPECT_ERROR_MENTIONS(ds.example(6), "index 6 out of range [0, 6)");
  o.resize = 4;
  EXPECT_ERROR_MENTIONS(ImageFolder(bad.path().string(), o), "resize 4 must be in [crop = 8, 65535]");
}

// Found by tests/fuzz/fuzz_image_folder: a link to a folder the walk is inside made the scan
// follow it ~40 times and then escape with std::filesystem_error ("Too many levels of symbolic
// links"). Such a link is now not followed; a link to another folder still is.
TEST(data_image_folder, LinksIntoTheWalkedFoldersAreNotFollowed) {
  namespace fs = std::filesystem;
  TempDir dir;
  write_png(dir / "cat/a.png", pattern_rgb(4, 4, 0), 4, 4);
  fs::create_directory_symlink(".", dir / "cat/loop");     // its own folder
  fs::create_directories(dir.path() / "cat/sub");
  fs::create_directory_symlink("..", dir / "cat/sub/up");  // a parent
  write_png(dir / "dog/b.png", pattern_rgb(4, 4, 1), 4, 4);
  fs::create_directory_symlink("../cat", dir / "dog/mirror");  // another folder: followed, once
  ImageFolderOptions o;
  o.crop = o.resize = 4;
  const ImageFolder ds(dir.path().string(), o);
  EXPECT_EQ(ds.classes(), (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.path(0), dir / "cat/a.png");
  EXPECT_EQ(ds.path(1), dir / "dog/b.png");
  EXPECT_EQ(ds.path(2), dir / "dog/mirror/a.png");
  EXPECT_EQ(ds.label(2), 1);
}

}  // namespace
}  // namespace figs::data

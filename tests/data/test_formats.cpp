// Readers of the in-memory formats: gzip, IDX (+ Fashion-MNIST itself), CIFAR-10/100.
#include <zlib.h>

#include <cmath>
#include <numeric>

#include "data/data.h"
#include "data_test_util.h"
#include "test_util.h"

namespace figs::data {
namespace {

using test::gzip_bytes;
using test::idx_bytes;
using test::TempDir;
using test::write_bytes;

std::vector<uint8_t> iota_bytes(size_t n, int mul = 37, int add = 11) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * mul + add) & 0xFF);
  return v;
}

// --- gzip ---------------------------------------------------------------------------------------

TEST(data_gzip, RoundTripsAndConcatenatedMembers) {
  const std::vector<uint8_t> a = iota_bytes(100000), b = iota_bytes(777, 5, 1);
  const std::vector<uint8_t> ga = gzip_bytes(a);
  EXPECT_EQ(gunzip(ga.data(), ga.size(), "a.gz"), a);
  std::vector<uint8_t> both = ga;
  const std::vector<uint8_t> gb = gzip_bytes(b);
  both.insert(both.end(), gb.begin(), gb.end());
  std::vector<uint8_t> ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  EXPECT_EQ(gunzip(both.data(), both.size(), "ab.gz"), ab);
  const std::vector<uint8_t> empty = gzip_bytes({});
  EXPECT_TRUE(gunzip(empty.data(), empty.size(), "e.gz").empty());
}

TEST(data_gzip, Errors) {
  const std::vector<uint8_t> g = gzip_bytes(iota_bytes(5000));
  EXPECT_ERROR_MENTIONS(gunzip(g.data(), g.size() / 2, "half.gz"), "half.gz: truncated gzip stream");
  std::vector<uint8_t> bad = g;
  bad[20] ^= 0xFF;
  bad[21] ^= 0x55;
  EXPECT_ERROR_MENTIONS(gunzip(bad.data(), bad.size(), "bad.gz"), "bad.gz: corrupt gzip data near offset");
  std::vector<uint8_t> trail = g;
  trail.push_back(7);
  EXPECT_ERROR_MENTIONS(gunzip(trail.data(), trail.size(), "t.gz"),
                        "1 bytes of trailing data after the gzip stream, at offset " + std::to_string(g.size()));
  const uint8_t plain[4] = {0, 0, 8, 1};
  EXPECT_ERROR_MENTIONS(gunzip(plain, 4, "p.gz"), "p.gz: not gzip data");
  EXPECT_ERROR_MENTIONS(gunzip(g.data(), g.size(), "big.gz", 1000), "exceeds the limit of 1000 bytes");
}

// --- IDX ----------------------------------------------------------------------------------------

struct IdxFiles {
  std::string images, labels;
  std::vector<uint8_t> pixels;  // N x H x W as written
  std::vector<uint8_t> y;
};

IdxFiles write_idx_pair(const TempDir& dir, bool gz, uint32_t n = 3, uint32_t h = 4, uint32_t w = 5,
                        std::vector<uint8_t> y = {3, 0, 9}) {
  IdxFiles f;
  f.pixels = iota_bytes(size_t{n} * h * w);
  f.y = std::move(y);
  std::vector<uint8_t> im = idx_bytes({n, h, w}, f.pixels), lb = idx_bytes({n}, f.y);
  const std::string sfx = gz ? ".gz" : "";
  f.images = dir / ("images-idx3-ubyte" + sfx);
  f.labels = dir / ("labels-idx1-ubyte" + sfx);
  write_bytes(f.images, gz ? gzip_bytes(im) : im);
  write_bytes(f.labels, gz ? gzip_bytes(lb) : lb);
  return f;
}

TEST(data_idx, ReadsPlainAndGzipPixelByPixel) {
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gz" : "plain");
    TempDir dir;
    const IdxFiles f = write_idx_pair(dir, gz);
    const auto ds = load_idx(f.images, f.labels);
    ASSERT_EQ(ds->size(), 3);
    EXPECT_EQ(ds->num_classes(), 10);
    EXPECT_EQ(ds->image_shape(), (ImageShape{1, 4, 5}));
    for (int64_t i = 0; i < 3; ++i) {
      const Example e = ds->example(i);
      EXPECT_EQ(e.label, f.y[static_cast<size_t>(i)]);
      EXPECT_EQ(ds->label(i), f.y[static_cast<size_t>(i)]);
      for (int64_t k = 0; k < 20; ++k)
        ASSERT_EQ(e.pixels[static_cast<size_t>(k)], f.pixels[static_cast<size_t>(i * 20 + k)])
            << "example " << i << " pixel " << k;
    }
  }
}

TEST(data_idx, EmnistOptionsTransposeAndLabelOffset) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, false, 2, 3, 4, {1, 26});  // letters 1..26
  IdxOptions o;
  o.num_classes = 26;
  o.label_offset = 1;
  o.transpose = true;
  const auto ds = load_idx(f.images, f.labels, o);
  EXPECT_EQ(ds->label(0), 0);
  EXPECT_EQ(ds->label(1), 25);
  // The header says 3 x 4; EMNIST stores each image column by column, so pixel (r, c) of the
  // upright image is byte c * H + r of the stored block.
  const Example e = ds->example(1);
  const int64_t h = 3, w = 4;
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c)
      EXPECT_EQ(e.pixels[static_cast<size_t>(r * w + c)], f.pixels[static_cast<size_t>(12 + c * h + r)]);
}

TEST(data_idx, MnistDirFindsPlainOrGz) {
  TempDir dir;
  std::vector<uint8_t> px = iota_bytes(2 * 28 * 28);
  write_bytes(dir / "t10k-images-idx3-ubyte.gz", gzip_bytes(idx_bytes({2, 28, 28}, px)));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_bytes({2}, {4, 5}));
  const auto ds = load_mnist_dir(dir.path().string(), /*train=*/false);
  EXPECT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->label(1), 5);
  EXPECT_EQ(ds->example(1).pixels[5], px[784 + 5]);
  EXPECT_ERROR_MENTIONS(load_mnist_dir(dir.path().string(), /*train=*/true),
                        "train-images-idx3-ubyte: no such file (nor ");
}

TEST(data_idx, HeaderParserEdgeCases) {
  // Four dims of 2^32 - 1: the product overflows 64 bits; must be a clean "truncated" error.
  std::vector<uint8_t> b = {0, 0, 8, 4};
  for (int k = 0; k < 16; ++k) b.push_back(0xFF);
  EXPECT_ERROR_MENTIONS(parse_idx_header(b.data(), b.size(), "huge"),
                        "huge: truncated IDX file: the header declares 4294967295x4294967295x4294967295x4294967295 elements");
  // A zero dim makes an empty array.
  const std::vector<uint8_t> z = idx_bytes({0, 28, 28}, {});
  const IdxHeader h = parse_idx_header(z.data(), z.size(), "z");
  EXPECT_EQ(h.num_elements, 0u);
  EXPECT_EQ(h.data_offset, 16u);
}

TEST(data_idx, Errors) {
  TempDir dir;
  const IdxFiles f = write_idx_pair(dir, false);
  const std::string missing = dir / "nope-idx3-ubyte";
  EXPECT_ERROR_MENTIONS(load_idx(missing, f.labels), missing + ": no such file");

  // Wrong magic number.
  std::vector<uint8_t> im = idx_bytes({3, 4, 5}, f.pixels);
  im[1] = 0x42;
  write_bytes(dir / "magic", im);
  EXPECT_ERROR_MENTIONS(load_idx(dir / "magic", f.labels),
                        dir / "magic" + ": wrong magic number 0x00420803 at offset 0");
  // Gzip data under a plain name: the hint says so.
  write_bytes(dir / "zipped", gzip_bytes(idx_bytes({3, 4, 5}, f.pixels)));
  EXPECT_ERROR_MENTIONS(load_idx(dir / "zipped", f.labels), "give the file a .gz name");
  // Unsupported element type (0x0D = float).
  im = idx_bytes({3, 4, 5}, f.pixels);
  im[2] = 0x0D;
  write_bytes(dir / "float", im);
  EXPECT_ERROR_MENTIONS(load_idx(dir / "float", f.labels), "unsupported IDX element type 0x0D at offset 2");
  // Truncated data, plain and gzipped.
  im = idx_bytes({3, 4, 5}, f.pixels);
  im.resize(im.size() - 7);
  write_bytes(dir / "short", im);
  EXPECT_ERROR_MENTIONS(load_idx(dir / "short", f.labels),
                        dir / "short" + ": truncated IDX file: the header declares 3x4x5 elements (60 bytes) from offset 16, but the file ends at offset 69");
  write_bytes(dir / "short.gz", gzip_bytes(im));
  EXPECT_ERROR_MENTIONS(load_idx(dir / "short.gz", f.labels), dir / "short.gz" + ": truncated IDX file");
  std::vector<uint8_t> gz = gzip_bytes(idx_bytes({3, 4, 5}, f.pixels));
  gz.resize(gz.size() - 10);
  write_bytes(dir / "cut.gz", gz);
  EXPECT_ERROR_MENTIONS(load_idx(dir / "cut.gz", f.labels), dir / "cut.gz" + ": truncated gzip stream");
  // Truncated header.
  write_bytes(dir / "tiny", {0, 0, 8, 3, 0, 0});
  EXPECT_ERROR_MENTIONS(load_idx(dir / "tiny", f.labels), dir / "tiny" + ": truncated IDX header");
  write_bytes(dir / "empty", {});
  EXPECT_ERROR_MENTIONS(load_idx(dir / "empty", f.labels), dir / "empty" + ": truncated IDX file: 0 bytes");
  // Bytes after the data.
  im = idx_bytes({3, 4, 5}, f.pixels);
  im.push_back(1);
  write_bytes(dir / "long", im);
  EXPECT_ERROR_MENTIONS(load_idx(dir / "long", f.labels), "1 unexpected bytes after the IDX data (3x4x5), from offset 76");
  // Wrong rank for images / labels.
  EXPECT_ERROR_MENTIONS(load_idx(f.labels, f.labels), "an IDX image file has rank 3");
  EXPECT_ERROR_MENTIONS(load_idx(f.images, f.images), "an IDX label file has rank 1");
  // Count mismatch.
  write_bytes(dir / "labels4", idx_bytes({4}, {1, 2, 3, 4}));
  EXPECT_ERROR_MENTIONS(load_idx(f.images, dir / "labels4"), "4 labels for the 3 images of " + f.images);
  // Label out of range, named with its index and offset.
  write_bytes(dir / "labels_bad", idx_bytes({3}, {1, 2, 12}));
  EXPECT_ERROR_MENTIONS(load_idx(f.images, dir / "labels_bad"),
                        dir / "labels_bad" + ": label 12 of example 2 (offset 10) out of range [0, 10)");
}

// --- Fashion-MNIST (Debian's dataset-fashion-mnist) ------------------------------------------------

uint32_t crc_of(const std::vector<uint8_t>& v) {
  return static_cast<uint32_t>(crc32(0L, v.data(), static_cast<uInt>(v.size())));
}

TEST(data_fashion_mnist, CountsHistogramAndFirstImage) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (" << kFashionMnistDir << ")";
  const auto train = load_mnist_dir(kFashionMnistDir, true);
  const auto test = load_mnist_dir(kFashionMnistDir, false);
  ASSERT_EQ(train->size(), 60000);
  ASSERT_EQ(test->size(), 10000);
  EXPECT_EQ(train->image_shape(), (ImageShape{1, 28, 28}));
  EXPECT_EQ(label_histogram(*train), std::vector<int64_t>(10, 6000));
  EXPECT_EQ(label_histogram(*test), std::vector<int64_t>(10, 1000));
  // First images: label 9 (ankle boot); byte sum and CRC-32 computed with Python's gzip + zlib.
  const Example a = train->example(0), b = test->example(0);
  EXPECT_EQ(a.label, 9);
  EXPECT_EQ(std::accumulate(a.pixels.begin(), a.pixels.end(), int64_t{0}), 76247);
  EXPECT_EQ(crc_of(a.pixels), 4067475125u);
  EXPECT_EQ(b.label, 9);
  EXPECT_EQ(std::accumulate(b.pixels.begin(), b.pixels.end(), int64_t{0}), 33456);
  EXPECT_EQ(crc_of(b.pixels), 1384319072u);
  const ChannelStats st = channel_stats(*train);
  EXPECT_NEAR(st.mean[0], 0.2860406, 1e-6);  // the well-known Fashion-MNIST mean
  EXPECT_NEAR(st.std[0], 0.3530, 1e-3);
}

// --- CIFAR --------------------------------------------------------------------------------------

std::vector<uint8_t> cifar_records(int n, bool c100, int seed) {
  std::vector<uint8_t> b;
  for (int r = 0; r < n; ++r) {
    if (c100) b.push_back(static_cast<uint8_t>((r + seed) % 20));
    b.push_back(static_cast<uint8_t>((r * 3 + seed) % (c100 ? 100 : 10)));
    for (int k = 0; k < 3072; ++k) b.push_back(static_cast<uint8_t>((k * 7 + r * 13 + seed) & 0xFF));
  }
  return b;
}

TEST(data_cifar, Cifar10PixelByPixelAcrossFiles) {
  TempDir dir;
  write_bytes(dir / "a.bin", cifar_records(3, false, 1));
  write_bytes(dir / "b.bin.gz", gzip_bytes(cifar_records(2, false, 2)));
  const auto ds = load_cifar({dir / "a.bin", dir / "b.bin.gz"}, CifarKind::Cifar10);
  ASSERT_EQ(ds->size(), 5);
  EXPECT_EQ(ds->num_classes(), 10);
  EXPECT_EQ(ds->image_shape(), (ImageShape{3, 32, 32}));
  for (int i = 0; i < 5; ++i) {
    const int r = i < 3 ? i : i - 3, seed = i < 3 ? 1 : 2;
    const Example e = ds->example(i);
    EXPECT_EQ(e.label, (r * 3 + seed) % 10);
    for (int k = 0; k < 3072; ++k)
      ASSERT_EQ(e.pixels[static_cast<size_t>(k)], (k * 7 + r * 13 + seed) & 0xFF) << i << " " << k;
  }
}

TEST(data_cifar, Cifar100FineAndCoarseAndDirLayouts) {
  TempDir dir;
  write_bytes(dir / "train.bin", cifar_records(4, true, 5));
  write_bytes(dir / "test.bin", cifar_records(1, true, 0));
  const auto fine = load_cifar100_dir(dir.path().string(), true);
  const auto coarse = load_cifar100_dir(dir.path().string(), true, /*coarse=*/true);
  EXPECT_EQ(fine->num_classes(), 100);
  EXPECT_EQ(coarse->num_classes(), 20);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(fine->label(r), (r * 3 + 5) % 100);
    EXPECT_EQ(coarse->label(r), (r + 5) % 20);
    EXPECT_EQ(fine->example(r).pixels[3071], (3071 * 7 + r * 13 + 5) & 0xFF);
  }
  EXPECT_EQ(load_cifar100_dir(dir.path().string(), false)->size(), 1);

  TempDir c10;
  for (int b = 1; b <= 5; ++b) write_bytes(c10 / ("data_batch_" + std::to_string(b) + ".bin"), cifar_records(2, false, b));
  write_bytes(c10 / "test_batch.bin", cifar_records(3, false, 0));
  const auto train = load_cifar10_dir(c10.path().string(), true);
  EXPECT_EQ(train->size(), 10);
  EXPECT_EQ(train->label(9), (1 * 3 + 5) % 10);  // record 1 of data_batch_5
  EXPECT_EQ(load_cifar10_dir(c10.path().string(), false)->size(), 3);
}

TEST(data_cifar, Errors) {
  TempDir dir;
  EXPECT_ERROR_MENTIONS(load_cifar({dir / "missing.bin"}, CifarKind::Cifar10), dir / "missing.bin" + ": no such file");
  std::vector<uint8_t> b = cifar_records(3, false, 0);
  b.resize(b.size() - 100);
  write_bytes(dir / "short.bin", b);
  EXPECT_ERROR_MENTIONS(load_cifar({dir / "short.bin"}, CifarKind::Cifar10),
                        dir / "short.bin" + ": truncated CIFAR-10 file: 9119 bytes are 2 whole 3073-byte records and 2973 bytes of an incomplete record at offset 6146");
  write_bytes(dir / "c100.bin", cifar_records(3, true, 0));
  EXPECT_ERROR_MENTIONS(load_cifar({dir / "c100.bin"}, CifarKind::Cifar10), "is it a CIFAR-100 file?");
  b = cifar_records(3, false, 0);
  b[2 * 3073] = 10;
  write_bytes(dir / "label.bin", b);
  EXPECT_ERROR_MENTIONS(load_cifar({dir / "label.bin"}, CifarKind::Cifar10),
                        dir / "label.bin" + ": label 10 out of range [0, 10) in record 2 (offset 6146)");
  b = cifar_records(2, true, 0);
  b[3074 + 1] = 100;
  write_bytes(dir / "fine.bin", b);
  EXPECT_ERROR_MENTIONS(load_cifar({dir / "fine.bin"}, CifarKind::Cifar100),
                        "fine label 100 out of range [0, 100) in record 1 (offset 3075)");
  write_bytes(dir / "empty.bin", {});
  EXPECT_ERROR_MENTIONS(load_cifar({dir / "empty.bin"}, CifarKind::Cifar10), dir / "empty.bin" + ": empty CIFAR file");
  EXPECT_ERROR_MENTIONS(load_cifar({dir.path().string()}, CifarKind::Cifar10), ": not a regular file");
  EXPECT_ERROR_MENTIONS(load_cifar10_dir(dir.path().string(), true), "data_batch_1.bin: no such file");
}

// --- in-memory datasets -------------------------------------------------------------------------

TEST(data_memory, ChecksSizesAndLabels) {
  EXPECT_ERROR_MENTIONS(MemoryDataset("m", {1, 2, 2}, 3, std::vector<uint8_t>(7), {0, 1}),
                        "m: 7 pixel bytes do not hold 2 images of 1x2x2");
  EXPECT_ERROR_MENTIONS(MemoryDataset("m", {1, 2, 2}, 3, std::vector<uint8_t>(8), {0, 3}),
                        "m: label 3 of example 1 out of range [0, 3)");
  MemoryDataset ok("m", {1, 2, 2}, 3, std::vector<uint8_t>(8), {0, 2});
  EXPECT_ERROR_MENTIONS(ok.example(2), "index 2 out of range [0, 2)");
}

TEST(data_memory, ChannelStatsByHand) {
  // Two 2-channel 1x2 images: channel 0 values {0, 255, 255, 255}, channel 1 all 51.
  MemoryDataset ds("m", {2, 1, 2}, 1, {0, 255, 51, 51, 255, 255, 51, 51}, {0, 0});
  const ChannelStats st = channel_stats(ds);
  EXPECT_NEAR(st.mean[0], 0.75, 1e-6);
  EXPECT_NEAR(st.std[0], std::sqrt(0.75 - 0.75 * 0.75), 1e-6);
  EXPECT_NEAR(st.mean[1], 0.2, 1e-6);
  EXPECT_NEAR(st.std[1], 0.0, 1e-4);
}

}  // namespace
}  // namespace figs::data

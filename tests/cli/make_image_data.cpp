// Writes image datasets in the formats figs reads, for the CLI tests and for converted real data
// (docs/results.md): Fashion-MNIST (or synthetic images) as an ImageFolder of JPEGs or as
// CIFAR-10 / CIFAR-100 binaries.
//
//   make_image_data --format imagefolder|cifar10|cifar100 --out DIR [--source fashion-mnist|synthetic]
//                   [--size 32] [--train N] [--test M] [--classes K] [--mixed] [--fashion-dir D]
//
// imagefolder: DIR/train/<class>/<i>.jpg and (with --test > 0) DIR/val/<class>/<i>.jpg, size x size
// RGB (grayscale Fashion-MNIST replicated into three channels, resized with figs's antialiased
// filter); --mixed makes every other image size*5/4 x size*3/2 (shorter side first) to exercise
// the resize. cifar10: DIR/data_batch_{1..5}.bin + test_batch.bin; cifar100: DIR/train.bin +
// test.bin (coarse label = fine label / 5). Both 32x32, whatever --size says.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/image_codec.h"
#include "data/image_folder.h"
#include "data/readers.h"
#include "data/synthetic.h"

namespace fs = std::filesystem;
using namespace figs;

namespace {

struct Options {
  std::string format, out, source = "fashion-mnist", fashion_dir = data::kFashionMnistDir;
  int64_t size = 32, train = 1000, test = 200, classes = 10;
  bool mixed = false;
};

// Example i of `set` as an HxW RGB image, CHW.
std::vector<uint8_t> chw_rgb(const data::Dataset& set, int64_t i, int64_t h, int64_t w, int64_t* label) {
  const data::ImageShape s = set.image_shape();
  std::vector<uint8_t> src(static_cast<size_t>(s.numel()));
  *label = set.get(i, src.data());
  // To interleaved RGB at the source size, then resize the shorter side and centre-crop.
  std::vector<uint8_t> hwc(static_cast<size_t>(s.h * s.w * 3));
  for (int64_t y = 0; y < s.h; ++y)
    for (int64_t x = 0; x < s.w; ++x)
      for (int64_t c = 0; c < 3; ++c) hwc[(y * s.w + x) * 3 + c] = src[((s.c == 3 ? c : 0) * s.h + y) * s.w + x];
  const int64_t side = std::min(h, w);
  std::vector<uint8_t> square(static_cast<size_t>(3 * side * side));
  data::resize_center_crop(hwc.data(), s.h, s.w, side, side, square.data());
  if (h == w) return square;
  // A non-square image: the square stretched along its longer side (nearest neighbour).
  std::vector<uint8_t> out(static_cast<size_t>(3 * h * w));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) out[(c * h + y) * w + x] = square[(c * side + y * side / h) * side + x * side / w];
  return out;
}

std::vector<uint8_t> to_hwc(const std::vector<uint8_t>& chw, int64_t h, int64_t w) {
  std::vector<uint8_t> hwc(chw.size());
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t k = 0; k < h * w; ++k) hwc[k * 3 + c] = chw[c * h * w + k];
  return hwc;
}

std::shared_ptr<const data::Dataset> source(const Options& o, bool train) {
  if (o.source == "fashion-mnist") return data::load_mnist_dir(o.fashion_dir, train);
  FIGS_CHECK(o.source == "synthetic", "--source must be fashion-mnist or synthetic");
  return std::make_shared<data::SyntheticDataset>(
      data::SyntheticOptions{4 * (train ? o.train : o.test) + 100, {3, o.size, o.size}, o.classes, train ? 11u : 12u});
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  FIGS_CHECK(f.good(), "cannot write ", path);
}

// `n` examples of the source's first --classes classes, in source order, balanced: class k gets
// n / classes of them (one more for the first n % classes), so every class folder has images.
template <typename Fn>
void each_example(const Options& o, bool train, int64_t n, Fn fn) {
  const auto set = source(o, train);
  std::vector<int64_t> left(static_cast<size_t>(o.classes));
  for (int64_t k = 0; k < o.classes; ++k) left[static_cast<size_t>(k)] = n / o.classes + (k < n % o.classes);
  int64_t written = 0;
  for (int64_t i = 0; i < set->size() && written < n; ++i) {
    const int64_t label = set->label(i);
    if (label >= o.classes || left[static_cast<size_t>(label)] == 0) continue;
    --left[static_cast<size_t>(label)];
    fn(*set, i, written++);
  }
  FIGS_CHECK(written == n, "the source has only ", written, " examples of the first ", o.classes, " classes");
}

void write_imagefolder(const Options& o) {
  for (const auto& [split, n] : {std::pair<std::string, int64_t>{"train", o.train}, {"val", o.test}}) {
    if (n == 0) continue;
    for (int64_t k = 0; k < o.classes; ++k) fs::create_directories(o.out + "/" + split + "/class" + std::to_string(k));
    each_example(o, split == "train", n, [&](const data::Dataset& set, int64_t i, int64_t j) {
      const bool odd = o.mixed && j % 2 == 1;
      const int64_t h = odd ? o.size * 5 / 4 : o.size, w = odd ? o.size * 3 / 2 : o.size;
      int64_t label = 0;
      const std::vector<uint8_t> chw = chw_rgb(set, i, h, w, &label);
      const std::vector<uint8_t> hwc = to_hwc(chw, h, w);
      char name[32];
      std::snprintf(name, sizeof name, "%06lld.jpg", static_cast<long long>(j));
      write_file(o.out + "/" + split + "/class" + std::to_string(label) + "/" + name,
                 data::encode_jpeg(hwc.data(), h, w, 95));
    });
  }
}

void write_cifar(const Options& o, bool hundred) {
  fs::create_directories(o.out);
  for (const bool train : {true, false}) {
    const int64_t n = train ? o.train : o.test;
    const int64_t files = train && !hundred ? 5 : 1;
    std::vector<std::vector<uint8_t>> bytes(static_cast<size_t>(files));
    each_example(o, train, n, [&](const data::Dataset& set, int64_t i, int64_t j) {
      int64_t label = 0;
      const std::vector<uint8_t> chw = chw_rgb(set, i, 32, 32, &label);
      std::vector<uint8_t>& out = bytes[static_cast<size_t>(j * files / n)];
      if (hundred) out.push_back(static_cast<uint8_t>(label / 5));  // coarse
      out.push_back(static_cast<uint8_t>(label));
      out.insert(out.end(), chw.begin(), chw.end());
    });
    for (int64_t f = 0; f < files; ++f) {
      const std::string name = hundred ? (train ? "train.bin" : "test.bin")
                               : train ? "data_batch_" + std::to_string(f + 1) + ".bin"
                                       : "test_batch.bin";
      write_file(o.out + "/" + name, bytes[static_cast<size_t>(f)]);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        FIGS_CHECK(i + 1 < argc, a, " needs a value");
        return argv[++i];
      };
      if (a == "--format") o.format = value();
      else if (a == "--out") o.out = value();
      else if (a == "--source") o.source = value();
      else if (a == "--fashion-dir") o.fashion_dir = value();
      else if (a == "--size") o.size = std::stoll(value());
      else if (a == "--train") o.train = std::stoll(value());
      else if (a == "--test") o.test = std::stoll(value());
      else if (a == "--classes") o.classes = std::stoll(value());
      else if (a == "--mixed") o.mixed = true;
      else fail("unknown argument '", a, "'");
    }
    FIGS_CHECK(!o.out.empty(), "--out is required");
    FIGS_CHECK(o.classes >= 1 && o.classes <= 10 && o.train >= 1 && o.test >= 0 && o.size >= 8,
               "--classes in [1, 10], --train >= 1, --test >= 0, --size >= 8");
    if (o.format == "imagefolder") write_imagefolder(o);
    else if (o.format == "cifar10" || o.format == "cifar100") write_cifar(o, o.format == "cifar100");
    else fail("--format must be imagefolder, cifar10 or cifar100");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_image_data: %s\n", e.what());
    return 1;
  }
  return 0;
}

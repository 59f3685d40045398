// Loader throughput in images/s: how fast data/ can feed a trainer.
//   ./build/benchmarks/data/bench_loader --benchmark_counters_tabular=true
//
//   BM_fashion_mnist   Fashion-MNIST train (Debian dataset-fashion-mnist), random crop 28 with
//                      padding 2 + horizontal flip, batch 128; skipped when the package is absent
//   BM_synthetic_28    the same pipeline on synthetic 1x28x28 data (always available)
//   BM_jpeg_folder     a generated ImageFolder of 256 JPEGs, decoded and centre-cropped to 224
//                      (224x224 files: resize 224 / crop 224, no augmentation; 500x375 files:
//                      resize 256 / crop 224 + random-resized crop 224 + flip, ImageNet-style)
// Args: workers (0 = on the calling thread), and for the folders the file side (224 or 500).
// A benchmark iteration is one batch; items_per_second is images/s.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "data/data.h"

namespace {

using namespace figs;
using namespace figs::data;
namespace fs = std::filesystem;

void run_loader(benchmark::State& state, std::shared_ptr<const Dataset> ds, LoaderConfig c) {
  Loader loader(std::move(ds), c);
  int64_t epoch = 0, images = 0;
  loader.start_epoch(epoch);
  for (auto _ : state) {
    std::optional<Batch> b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      b = loader.next();
    }
    images += b->images.size(0);
    benchmark::DoNotOptimize(b->images.raw_data());
  }
  state.SetItemsProcessed(images);
  state.counters["workers"] = c.num_workers;
}

LoaderConfig mnist_config(int workers) {
  LoaderConfig c;
  c.batch_size = 128;
  c.num_workers = workers;
  c.prefetch = std::max(2 * workers, 1);
  c.augment.random_crop = 28;
  c.augment.crop_padding = 2;
  c.augment.horizontal_flip = true;
  c.augment.mean = {0.2860f};
  c.augment.std = {0.3530f};
  return c;
}

std::shared_ptr<const Dataset> fashion_mnist() {
  static std::shared_ptr<const Dataset> ds = [] () -> std::shared_ptr<const Dataset> {
    if (!fs::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) return nullptr;
    return load_mnist_dir(kFashionMnistDir, true);
  }();
  return ds;
}

void BM_fashion_mnist(benchmark::State& state) {
  const auto ds = fashion_mnist();
  if (!ds) {
    state.SkipWithError("dataset-fashion-mnist is not installed");
    return;
  }
  run_loader(state, ds, mnist_config(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_fashion_mnist)->ArgName("workers")->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_synthetic_28(benchmark::State& state) {
  SyntheticOptions o;
  o.size = 60000;
  o.shape = {1, 28, 28};
  run_loader(state, std::make_shared<SyntheticDataset>(o), mnist_config(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_synthetic_28)->ArgName("workers")->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// 256 JPEGs of side x side*3/4 (or 224 x 224) in 8 class folders, written once per process.
class JpegFolder {
 public:
  explicit JpegFolder(int side) {
    std::string tmpl = (fs::temp_directory_path() / "figs-bench-jpeg-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = tmpl;
    const int w = side, h = side == 224 ? 224 : side * 3 / 4;
    std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
    for (int i = 0; i < 256; ++i) {
      // Smooth gradients plus texture: photo-like entropy, not noise.
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          uint8_t* p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
          const int t = ((x * 7 + y * 13 + i * 31) % 64) - 32;
          p[0] = static_cast<uint8_t>(std::clamp(x * 255 / w + t, 0, 255));
          p[1] = static_cast<uint8_t>(std::clamp(y * 255 / h - t, 0, 255));
          p[2] = static_cast<uint8_t>(std::clamp(((x + y + i) % 128) * 2, 0, 255));
        }
      const std::vector<uint8_t> jpg = encode_jpeg(rgb.data(), h, w, 90);
      const fs::path dir = root_ / ("class" + std::to_string(i % 8));
      fs::create_directories(dir);
      FILE* f = std::fopen((dir / (std::to_string(i) + ".jpg")).c_str(), "wb");
      std::fwrite(jpg.data(), 1, jpg.size(), f);
      std::fclose(f);
    }
  }
  ~JpegFolder() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root() const { return root_.string(); }

 private:
  fs::path root_;
};

void BM_jpeg_folder(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0)), side = static_cast<int>(state.range(1));
  static JpegFolder small(224), large(500);
  ImageFolderOptions o;
  o.crop = 224;
  o.resize = side == 224 ? 224 : 256;
  auto ds = std::make_shared<ImageFolder>(side == 224 ? small.root() : large.root(), o);
  LoaderConfig c;
  c.batch_size = 64;
  c.num_workers = workers;
  c.prefetch = std::max(2 * workers, 1);
  if (side != 224) {
    c.augment.resized_crop = 224;
    c.augment.horizontal_flip = true;
  }
  c.augment.mean = {0.485f, 0.456f, 0.406f};
  c.augment.std = {0.229f, 0.224f, 0.225f};
  run_loader(state, ds, c);
}
BENCHMARK(BM_jpeg_folder)
    ->ArgNames({"workers", "side"})
    ->Args({0, 224})
    ->Args({2, 224})
    ->Args({0, 500})
    ->Args({2, 500})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

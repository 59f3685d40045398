#include "data/readers.h"

#include <filesystem>

#include "core/error.h"
#include "data/file.h"
#include "data/idx_format.h"

namespace figs::data {

std::shared_ptr<MemoryDataset> load_idx(const std::string& images_path,
                                        const std::string& labels_path, const IdxOptions& options) {
  FIGS_CHECK(options.num_classes >= 1, "load_idx: num_classes ", options.num_classes,
             " must be >= 1");
  std::vector<uint8_t> images = read_file_maybe_gz(images_path);
  const IdxHeader ih = parse_idx_header(images.data(), images.size(), images_path);
  FIGS_CHECK(ih.dims.size() == 3, images_path, ": an IDX image file has rank 3 (N x H x W), this one has rank ",
             ih.dims.size());
  const std::vector<uint8_t> labels = read_file_maybe_gz(labels_path);
  const IdxHeader lh = parse_idx_header(labels.data(), labels.size(), labels_path);
  FIGS_CHECK(lh.dims.size() == 1, labels_path, ": an IDX label file has rank 1 (N), this one has rank ",
             lh.dims.size());
  const int64_t n = ih.dims[0], h = ih.dims[1], w = ih.dims[2];
  FIGS_CHECK(lh.dims[0] == n, labels_path, ": ", lh.dims[0], " labels for the ", n, " images of ",
             images_path);
  FIGS_CHECK(n > 0 && h > 0 && w > 0, images_path, ": empty IDX image array (", n, "x", h, "x", w,
             ")");

  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t stored = labels[lh.data_offset + static_cast<size_t>(i)];
    const int64_t l = stored - options.label_offset;
    FIGS_CHECK(l >= 0 && l < options.num_classes, labels_path, ": label ", stored, " of example ",
               i, " (offset ", lh.data_offset + static_cast<size_t>(i), ") out of range [",
               options.label_offset, ", ", options.label_offset + options.num_classes, ")");
    y[static_cast<size_t>(i)] = l;
  }

  std::vector<uint8_t> px;
  if (options.transpose) {
    px.resize(ih.num_elements);
    const uint8_t* src = images.data() + ih.data_offset;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* s = src + i * h * w;  // stored as W x H
      uint8_t* d = px.data() + i * h * w;
      for (int64_t r = 0; r < h; ++r)
        for (int64_t c = 0; c < w; ++c) d[r * w + c] = s[c * h + r];
    }
  } else {
    images.erase(images.begin(), images.begin() + static_cast<std::ptrdiff_t>(ih.data_offset));
    px = std::move(images);
  }
  return std::make_shared<MemoryDataset>(images_path, ImageShape{1, h, w}, options.num_classes,
                                         std::move(px), std::move(y));
}

namespace {
// dir/name if it exists, else dir/name.gz if that exists, else an error naming both.
std::string plain_or_gz(const std::string& dir, const std::string& name) {
  const std::filesystem::path plain = std::filesystem::path(dir) / name;
  if (std::filesystem::exists(plain)) return plain.string();
  const std::string gz = plain.string() + ".gz";
  FIGS_CHECK(std::filesystem::exists(gz), plain.string(), ": no such file (nor ", gz, ")");
  return gz;
}
}  // namespace

std::shared_ptr<MemoryDataset> load_mnist_dir(const std::string& dir, bool train,
                                              const IdxOptions& options) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images = plain_or_gz(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = plain_or_gz(dir, prefix + "-labels-idx1-ubyte");
  return load_idx(images, labels, options);
}

std::shared_ptr<MemoryDataset> load_cifar(const std::vector<std::string>& files, CifarKind kind,
                                          bool coarse) {
  FIGS_CHECK(!files.empty(), "load_cifar: no files given");
  FIGS_CHECK(!coarse || kind == CifarKind::Cifar100, "load_cifar: coarse labels exist in CIFAR-100 only");
  CifarArrays a;
  for (const std::string& f : files) {
    const std::vector<uint8_t> bytes = read_file_maybe_gz(f);
    append_cifar(bytes.data(), bytes.size(), kind, f, a);
  }
  const std::vector<uint8_t>& src = coarse ? a.coarse : a.fine;
  std::vector<int64_t> y(src.begin(), src.end());
  const int64_t classes = kind == CifarKind::Cifar10 ? 10 : (coarse ? 20 : 100);
  std::string name = files.front();
  if (files.size() > 1) name += str_cat(" and ", files.size() - 1, " more");
  return std::make_shared<MemoryDataset>(name, ImageShape{3, kCifarSide, kCifarSide}, classes,
                                         std::move(a.pixels), std::move(y));
}

std::shared_ptr<MemoryDataset> load_cifar10_dir(const std::string& dir, bool train) {
  std::vector<std::string> files;
  if (train) {
    for (int b = 1; b <= 5; ++b) files.push_back(plain_or_gz(dir, str_cat("data_batch_", b, ".bin")));
  } else {
    files.push_back(plain_or_gz(dir, "test_batch.bin"));
  }
  return load_cifar(files, CifarKind::Cifar10);
}

std::shared_ptr<MemoryDataset> load_cifar100_dir(const std::string& dir, bool train, bool coarse) {
  return load_cifar({plain_or_gz(dir, train ? "train.bin" : "test.bin")}, CifarKind::Cifar100,
                    coarse);
}

}  // namespace figs::data

// Readers for the in-memory dataset formats: IDX (MNIST, Fashion-MNIST, EMNIST) and the CIFAR
// binaries. Files whose name ends in ".gz" are gunzipped first. Every error names the file and
// the byte offset or example index.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/cifar_format.h"
#include "data/dataset.h"

namespace figs::data {

struct IdxOptions {
  int64_t num_classes = 10;  // labels must lie in [label_offset, label_offset + num_classes)
  int64_t label_offset = 0;  // subtracted from each stored label (EMNIST letters: 1)
  bool transpose = false;    // EMNIST stores images transposed; true turns them upright
};

// An images file (IDX rank 3: N x H x W, unsigned byte) and a labels file (rank 1: N) as one
// 1-channel dataset. Throws naming the file for: missing file, wrong magic, truncated data,
// mismatched counts, a label out of range (with its index).
std::shared_ptr<MemoryDataset> load_idx(const std::string& images_path,
                                        const std::string& labels_path,
                                        const IdxOptions& options = {});

// The MNIST file layout in `dir`: {train,t10k}-{images-idx3,labels-idx1}-ubyte, plain or .gz
// (Fashion-MNIST and MNIST both use it). Debian's dataset-fashion-mnist installs it in
// kFashionMnistDir.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
std::shared_ptr<MemoryDataset> load_mnist_dir(const std::string& dir, bool train,
                                              const IdxOptions& options = {});

// CIFAR binaries: each file is a whole number of records (data/cifar_format.h). CIFAR-100
// uses the fine labels (100 classes) unless `coarse` (20 superclasses).
std::shared_ptr<MemoryDataset> load_cifar(const std::vector<std::string>& files, CifarKind kind,
                                          bool coarse = false);

// The layout of the official archives once unpacked:
//   CIFAR-10:  dir/data_batch_{1..5}.bin (train), dir/test_batch.bin   (cifar-10-batches-bin)
//   CIFAR-100: dir/train.bin, dir/test.bin                              (cifar-100-binary)
std::shared_ptr<MemoryDataset> load_cifar10_dir(const std::string& dir, bool train);
std::shared_ptr<MemoryDataset> load_cifar100_dir(const std::string& dir, bool train,
                                                 bool coarse = false);

}  // namespace figs::data

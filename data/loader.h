// The loader: batches of augmented examples, prepared by worker threads ahead of the trainer.
//
//   Loader loader(train_set, config);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (std::optional<Batch> b = loader.next()) train_step(b->images, b->labels);
//   }
//
// Order and augmentation are functions of (seed, epoch) (Note [Data randomness],
// data/sampler.h): the batches of an epoch are the same for any num_workers and prefetch, and a
// run resumed at (epoch, batch) with start_epoch(epoch, batch) continues with exactly the
// batches it would have seen. Workers build whole batches (batch b of the epoch is a pure
// function of b), a bounded window of `prefetch` batches ahead of the consumer; next() hands
// them out in order. An exception in a worker (an undecodable image, ...) is rethrown by the
// next() that reaches its batch; the loader stays usable. start_epoch() and next() are meant
// for one consumer thread (the trainer's).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"
#include "data/sampler.h"
#include "data/transforms.h"

namespace figs::data {

struct LoaderConfig {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // drop the last, smaller batch of an epoch
  uint64_t seed = 0;
  int num_workers = 2;     // 0: next() prepares each batch on the calling thread
  int prefetch = 4;        // batches prepared or in preparation ahead of the consumer, >= 1
  // Data-parallel sharding (data/sampler.h): rank takes every world_size-th example of the
  // epoch's global order.
  int rank = 0;
  int world_size = 1;
  ShardRemainder remainder = ShardRemainder::Pad;
  AugmentConfig augment;
  // Where a batch's images and labels live: null is the CPU caching allocator. A CUDA run passes
  // cuda::allocate_pinned, so both copies to the GPU are DMAs from page-locked memory (a pageable
  // copy would wait for the GPU).
  std::function<std::shared_ptr<Storage>(size_t nbytes)> batch_allocator;
};

struct Batch {
  Tensor images;  // (N, C, H, W) float32, contiguous
  Tensor labels;  // (N) int64
  std::vector<int64_t> indices;  // the dataset index of each example
  int64_t epoch = 0;
  int64_t index = 0;  // which batch of the epoch
};

class Loader {
 public:
  // Checks the config (errors name the field) and starts the workers, idle until start_epoch.
  Loader(std::shared_ptr<const Dataset> dataset, const LoaderConfig& config);
  ~Loader();  // stops and joins the workers; batches already handed out stay valid
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Begins epoch `epoch` at batch `first_batch` (to resume a run), discarding whatever was
  // prepared for the previous epoch. 0 <= epoch < 2^32.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch, or nullopt once the epoch is exhausted.
  std::optional<Batch> next();

  int64_t batches_per_epoch() const;
  int64_t examples_per_epoch() const;  // on this rank, after drop_last
  ImageShape output_shape() const;
  const Dataset& dataset() const;
  const LoaderConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace figs::data

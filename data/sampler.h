// Which examples an epoch visits, in which order, on which rank.
//
// Note [Data randomness]
// Every random choice of the data layer is a Philox draw (core/rng.h) at a key made of the
// run's seed, a stream naming the consumer, and a counter naming the item:
//   shuffling        stream ('SHUF' << 32 | epoch), counter = example index      (one draw each)
//   validation split stream ('VSPL' << 32),         counter = example index      (one draw each)
//   augmentation     stream ('AUGM' << 32 | epoch), counter = index * 16 + k    (k < 16 blocks)
//   synthetic data   stream ('SYNL' << 32) for labels, ('SYNP' << 32) for pixels
// So the order of an epoch depends on (seed, epoch) only, and the augmentation of an example on
// (seed, epoch, dataset index) only: not on the worker count, the batch size, the rank or the
// world size, nor on what happened earlier in the run. A resumed run (start_epoch(e, batch))
// sees exactly the batches it would have seen. Epochs are below 2^32.
//
// A permutation is "sort by random key": example i gets the 64-bit key of its draw and the
// examples are sorted by (key, i). That is uniform up to ties (probability ~ n^2 / 2^65) and
// needs no sequential state, unlike Fisher-Yates.
#pragma once

#include <cstdint>
#include <vector>

namespace figs::data {

inline constexpr uint64_t kShuffleStreamTag = 0x53485546;    // 'SHUF'
inline constexpr uint64_t kSplitStreamTag = 0x5653504C;      // 'VSPL'
inline constexpr uint64_t kAugmentStreamTag = 0x4155474D;    // 'AUGM'
inline constexpr uint64_t kSyntheticLabelTag = 0x53594E4C;   // 'SYNL'
inline constexpr uint64_t kSyntheticPixelTag = 0x53594E50;   // 'SYNP'

// The stream of a consumer (tag) in an epoch: tag << 32 | epoch. Throws unless 0 <= epoch < 2^32.
uint64_t data_stream(uint64_t tag, int64_t epoch);

// A permutation of 0..n-1 drawn from (seed, stream), per Note [Data randomness].
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream);

// How a shard handles n % world_size leftover examples.
enum class ShardRemainder {
  Pad,   // wrap around: every shard gets ceil(n / world) examples; a few are seen twice
  Drop,  // every shard gets floor(n / world); the last n % world of the order are skipped
};

struct ShardSpec {
  int rank = 0;
  int world_size = 1;
  ShardRemainder remainder = ShardRemainder::Pad;
};

// Examples per shard.
int64_t shard_size(int64_t n, const ShardSpec& shard);

// The dataset indices rank `shard.rank` visits in epoch `epoch`, in order: the global order
// (a permutation from (seed, epoch) when `shuffle`, else 0..n-1, identical on every rank), of
// which this rank takes positions rank, rank + world, rank + 2 world, ...
std::vector<int64_t> epoch_indices(int64_t n, bool shuffle, uint64_t seed, int64_t epoch,
                                   const ShardSpec& shard);

}  // namespace figs::data

#include "data/sampler.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "core/rng.h"

namespace figs::data {

uint64_t data_stream(uint64_t tag, int64_t epoch) {
  FIGS_CHECK(epoch >= 0 && epoch < (int64_t{1} << 32), "data: epoch ", epoch,
             " out of range [0, 2^32)");
  return tag << 32 | static_cast<uint64_t>(epoch);
}

std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  FIGS_CHECK(n >= 0, "random_permutation: negative size ", n);
  std::vector<std::pair<uint64_t, int64_t>> keyed(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const PhiloxBlock b = philox_draw(seed, stream, static_cast<uint64_t>(i));
    keyed[static_cast<size_t>(i)] = {static_cast<uint64_t>(b.w[0]) << 32 | b.w[1], i};
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = keyed[static_cast<size_t>(i)].second;
  return perm;
}

namespace {
void check_shard(const ShardSpec& s) {
  FIGS_CHECK(s.world_size >= 1, "data shard: world_size ", s.world_size, " must be >= 1");
  FIGS_CHECK(s.rank >= 0 && s.rank < s.world_size, "data shard: rank ", s.rank,
             " out of range [0, ", s.world_size, ")");
}
}  // namespace

int64_t shard_size(int64_t n, const ShardSpec& shard) {
  check_shard(shard);
  const int64_t w = shard.world_size;
  return shard.remainder == ShardRemainder::Pad ? (n + w - 1) / w : n / w;
}

std::vector<int64_t> epoch_indices(int64_t n, bool shuffle, uint64_t seed, int64_t epoch,
                                   const ShardSpec& shard) {
  const int64_t per_shard = shard_size(n, shard);
  std::vector<int64_t> order;
  if (shuffle) {
    order = random_permutation(n, seed, data_stream(kShuffleStreamTag, epoch));
  } else {
    data_stream(kShuffleStreamTag, epoch);  // same epoch range check either way
    order.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  }
  std::vector<int64_t> mine(static_cast<size_t>(per_shard));
  for (int64_t k = 0; k < per_shard; ++k) {
    const int64_t pos = shard.rank + k * shard.world_size;  // < n, or wraps for Pad
    mine[static_cast<size_t>(k)] = order[static_cast<size_t>(pos % n)];
  }
  return mine;
}

}  // namespace figs::data

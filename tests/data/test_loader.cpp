// The loader: every example once per epoch, reproducible order, shards, resume, workers'
// errors; the validation split.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <numeric>
#include <set>

#include "data/data.h"
#include "test_util.h"

namespace figs::data {
namespace {

std::shared_ptr<const Dataset> synthetic(int64_t n, ImageShape shape = {3, 8, 8}, uint64_t seed = 1) {
  SyntheticOptions o;
  o.size = n;
  o.shape = shape;
  o.seed = seed;
  return std::make_shared<SyntheticDataset>(o);
}

LoaderConfig config(int64_t batch, int workers, uint64_t seed = 5) {
  LoaderConfig c;
  c.batch_size = batch;
  c.num_workers = workers;
  c.seed = seed;
  c.augment.random_crop = 6;
  c.augment.crop_padding = 1;
  c.augment.horizontal_flip = true;
  c.augment.brightness = 0.3;
  return c;
}

// All batches of one epoch.
std::vector<Batch> epoch(Loader& l, int64_t e, int64_t first = 0) {
  l.start_epoch(e, first);
  std::vector<Batch> out;
  while (std::optional<Batch> b = l.next()) out.push_back(std::move(*b));
  return out;
}

std::vector<int64_t> order(const std::vector<Batch>& bs) {
  std::vector<int64_t> o;
  for (const Batch& b : bs) o.insert(o.end(), b.indices.begin(), b.indices.end());
  return o;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(data_loader, EveryExampleOncePerEpochWithCorrectContents) {
  const auto ds = synthetic(103);
  for (int workers : {0, 1, 3}) {
    SCOPED_TRACE(workers);
    const LoaderConfig c = config(10, workers);
    Loader l(ds, c);
    EXPECT_EQ(l.batches_per_epoch(), 11);
    EXPECT_EQ(l.examples_per_epoch(), 103);
    const std::vector<Batch> bs = epoch(l, 0);
    ASSERT_EQ(bs.size(), 11u);
    std::vector<int64_t> seen = order(bs);
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, iota(103));
    EXPECT_EQ(bs.back().images.shape(), (Shape{3, 3, 6, 6}));
    // Each example: its label, and the augmentation of (seed, epoch, dataset index).
    Augmenter aug(c.augment, ds->image_shape());
    const Batch& b = bs[4];
    EXPECT_EQ(b.index, 4);
    EXPECT_EQ(b.images.dtype(), DType::Float32);
    EXPECT_TRUE(b.images.is_contiguous());
    EXPECT_EQ(b.labels.dtype(), DType::Int64);
    const std::vector<float> imgs = b.images.to_vector<float>();
    const std::vector<int64_t> labels = b.labels.to_vector<int64_t>();
    std::vector<float> want(3 * 6 * 6);
    for (size_t k = 0; k < b.indices.size(); ++k) {
      const Example e = ds->example(b.indices[k]);
      EXPECT_EQ(labels[k], e.label);
      aug.apply(e.pixels.data(), want.data(), c.seed, 0, b.indices[k]);
      for (size_t j = 0; j < want.size(); ++j) ASSERT_EQ(imgs[k * want.size() + j], want[j]);
    }
  }
}

// LoaderConfig::batch_allocator (a CUDA run passes pinned memory): every batch's images and
// labels live in blocks it gave, from every worker, with the same contents as the default
// allocator's.
TEST(data_loader, BatchesUseTheGivenAllocator) {
  const auto ds = synthetic(37);
  for (int workers : {0, 2}) {
    SCOPED_TRACE(workers);
    std::atomic<int> calls{0};
    std::mutex mutex;
    std::set<const void*> given;
    LoaderConfig c = config(8, workers);
    c.batch_allocator = [&](size_t nbytes) {
      ++calls;
      const Tensor block = empty({static_cast<int64_t>(nbytes / sizeof(float)) + 1});  // one float of slack
      std::lock_guard<std::mutex> lock(mutex);
      given.insert(block.storage()->data());
      return block.storage();
    };
    Loader with(ds, c), without(ds, config(8, workers));
    const std::vector<Batch> a = epoch(with, 0), b = epoch(without, 0);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(calls.load(), 2 * static_cast<int>(a.size()));  // images and labels
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(given.count(a[i].images.storage()->data()), 1u);
      EXPECT_EQ(given.count(a[i].labels.storage()->data()), 1u);
      EXPECT_EQ(a[i].images.to_vector<float>(), b[i].images.to_vector<float>());
      EXPECT_EQ(a[i].labels.to_vector<int64_t>(), b[i].labels.to_vector<int64_t>());
    }
  }
}

TEST(data_loader, OrderDependsOnSeedAndEpochOnly) {
  const auto ds = synthetic(200);
  Loader a(ds, config(16, 0)), b(ds, config(16, 3)), other_seed(ds, config(16, 2, 6));
  LoaderConfig pc = config(16, 2);
  pc.prefetch = 1;
  Loader c(ds, pc);
  const auto a0 = epoch(a, 0), b0 = epoch(b, 0), c0 = epoch(c, 0);
  EXPECT_EQ(order(a0), order(b0));
  EXPECT_EQ(order(a0), order(c0));
  for (size_t k = 0; k < a0.size(); ++k) {  // bit-identical images, whatever the worker count
    EXPECT_EQ(a0[k].images.to_vector<float>(), b0[k].images.to_vector<float>());
    EXPECT_EQ(a0[k].labels.to_vector<int64_t>(), c0[k].labels.to_vector<int64_t>());
  }
  const auto a1 = order(epoch(a, 1));
  EXPECT_NE(order(a0), a1);
  EXPECT_EQ(order(epoch(b, 1)), a1);
  EXPECT_EQ(order(epoch(a, 0)), order(a0));  // epoch 0 again, after epoch 1
  EXPECT_NE(order(epoch(other_seed, 0)), order(a0));

  LoaderConfig nc = config(16, 2);
  nc.shuffle = false;
  Loader plain(ds, nc);
  EXPECT_EQ(order(epoch(plain, 3)), iota(200));
}

TEST(data_loader, ResumeMidEpochAndRestart) {
  const auto ds = synthetic(95);
  Loader l(ds, config(10, 2));
  const auto full = epoch(l, 7);
  const auto resumed = epoch(l, 7, 4);
  ASSERT_EQ(resumed.size(), full.size() - 4);
  for (size_t k = 0; k < resumed.size(); ++k) {
    EXPECT_EQ(resumed[k].index, full[k + 4].index);
    EXPECT_EQ(resumed[k].indices, full[k + 4].indices);
    EXPECT_EQ(resumed[k].images.to_vector<float>(), full[k + 4].images.to_vector<float>());
  }
  // Abandon an epoch half way; the next start_epoch starts clean.
  l.start_epoch(2);
  ASSERT_TRUE(l.next().has_value());
  EXPECT_EQ(order(epoch(l, 7)), order(full));
  EXPECT_TRUE(epoch(l, 7, l.batches_per_epoch()).empty());
  EXPECT_ERROR_MENTIONS(l.start_epoch(7, 11), "first_batch 11 out of range [0, 10]");
}

TEST(data_loader, DropLast) {
  const auto ds = synthetic(103);
  LoaderConfig c = config(10, 2);
  c.drop_last = true;
  Loader l(ds, c);
  EXPECT_EQ(l.batches_per_epoch(), 10);
  EXPECT_EQ(l.examples_per_epoch(), 100);
  const auto bs = epoch(l, 0);
  ASSERT_EQ(bs.size(), 10u);
  for (const Batch& b : bs) EXPECT_EQ(b.images.size(0), 10);
  std::set<int64_t> seen;
  for (int64_t i : order(bs)) EXPECT_TRUE(seen.insert(i).second) << "duplicate " << i;
}

TEST(data_loader, ShardsPartitionTheData) {
  for (int64_t n : {100, 103}) {
    for (ShardRemainder rem : {ShardRemainder::Pad, ShardRemainder::Drop}) {
      SCOPED_TRACE(n);
      const auto ds = synthetic(n);
      const int world = 4;
      std::vector<int64_t> all;
      for (int r = 0; r < world; ++r) {
        LoaderConfig c = config(7, 1);
        c.rank = r;
        c.world_size = world;
        c.remainder = rem;
        Loader l(ds, c);
        const std::vector<int64_t> mine = order(epoch(l, 2));
        EXPECT_EQ(static_cast<int64_t>(mine.size()), rem == ShardRemainder::Pad ? (n + 3) / 4 : n / 4);
        EXPECT_EQ(static_cast<int64_t>(mine.size()), l.examples_per_epoch());
        all.insert(all.end(), mine.begin(), mine.end());
      }
      std::vector<int64_t> uniq = all;
      std::sort(uniq.begin(), uniq.end());
      uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
      if (n % world == 0 || rem == ShardRemainder::Drop) {
        EXPECT_EQ(uniq.size(), all.size()) << "shards overlap";  // disjoint
        EXPECT_EQ(static_cast<int64_t>(uniq.size()), n / world * world);
      } else {
        EXPECT_EQ(uniq, iota(n));  // padded shards cover everything ...
        EXPECT_EQ(static_cast<int64_t>(all.size()), (n + world - 1) / world * world);  // ... repeating n % world
      }
      if (n % world == 0) {
        EXPECT_EQ(uniq, iota(n));
      }
    }
  }
  // The shards are the rank-strided slices of the one-process order.
  const auto ds = synthetic(40);
  Loader one(ds, config(40, 0));
  const std::vector<int64_t> global = order(epoch(one, 1));
  LoaderConfig c = config(40, 0);
  c.rank = 1;
  c.world_size = 4;
  Loader r1(ds, c);
  const auto shard = epoch(r1, 1);
  std::vector<int64_t> want;
  for (size_t k = 1; k < global.size(); k += 4) want.push_back(global[k]);
  EXPECT_EQ(order(shard), want);
  // An example is augmented identically on any rank: the key is its dataset index.
  const auto whole = epoch(one, 1);
  const std::vector<float> g = whole[0].images.to_vector<float>(), s = shard[0].images.to_vector<float>();
  const size_t per = 3 * 6 * 6;
  EXPECT_TRUE(std::equal(s.begin(), s.begin() + per, g.begin() + per));  // global position 1 = shard position 0
}

// A dataset that fails on chosen indices, to see worker errors reach next().
class Faulty : public Dataset {
 public:
  explicit Faulty(std::set<int64_t> bad) : bad_(std::move(bad)) {}
  int64_t size() const override { return 64; }
  int64_t num_classes() const override { return 2; }
  ImageShape image_shape() const override { return {1, 2, 2}; }
  int64_t label(int64_t i) const override { return i % 2; }
  int64_t get(int64_t i, uint8_t* px) const override {
    if (bad_.count(i)) fail("faulty.bin: cannot read example ", i);
    std::fill(px, px + 4, static_cast<uint8_t>(i));
    return i == 63 && bad_.count(-1) ? 5 : i % 2;  // -1: example 63 has a bad label
  }
  std::string describe() const override { return "faulty"; }

 private:
  std::set<int64_t> bad_;
};

TEST(data_loader, WorkerErrorsReachNextAndTheLoaderGoesOn) {
  for (int workers : {0, 2}) {
    SCOPED_TRACE(workers);
    LoaderConfig c;
    c.batch_size = 8;
    c.num_workers = workers;
    c.shuffle = false;
    Loader l(std::make_shared<Faulty>(std::set<int64_t>{13}), c);
    l.start_epoch(0);
    int ok = 0, errors = 0;
    for (int k = 0; k < 8; ++k) {
      try {
        ASSERT_TRUE(l.next().has_value());
        ++ok;
      } catch (const Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find("faulty.bin: cannot read example 13"), std::string::npos);
      }
    }
    EXPECT_EQ(ok, 7);
    EXPECT_EQ(errors, 1);
    EXPECT_FALSE(l.next().has_value());

    Loader bad_label(std::make_shared<Faulty>(std::set<int64_t>{-1}), c);
    bad_label.start_epoch(0);
    for (int k = 0; k < 7; ++k) ASSERT_TRUE(bad_label.next().has_value());
    EXPECT_ERROR_MENTIONS(bad_label.next(), "faulty: example 63 has label 5, out of range [0, 2)");
  }
}

TEST(data_loader, ShutsDownWhileWorkersAreBusy) {
  const auto ds = synthetic(5000, {3, 32, 32});
  for (int k = 0; k < 3; ++k) {
    LoaderConfig c = config(64, 3);
    c.augment = {};
    c.prefetch = 8;
    Loader l(ds, c);
    l.start_epoch(0);
    if (k == 1) (void)l.next();
    if (k == 2) l.start_epoch(1);
  }  // destructors join with batches in flight
  SUCCEED();
}

TEST(data_loader, ConfigErrors) {
  const auto ds = synthetic(10);
  LoaderConfig c;
  c.batch_size = 0;
  EXPECT_ERROR_MENTIONS(Loader(ds, c), "batch_size 0 must be >= 1");
  c = {};
  c.prefetch = 0;
  EXPECT_ERROR_MENTIONS(Loader(ds, c), "prefetch 0 must be >= 1");
  c = {};
  c.rank = 2;
  c.world_size = 2;
  EXPECT_ERROR_MENTIONS(Loader(ds, c), "rank 2 out of range [0, 2)");
  c = {};
  c.drop_last = true;
  c.batch_size = 11;
  EXPECT_ERROR_MENTIONS(Loader(ds, c), "no batch (10 examples, batch_size 11, drop_last)");
  EXPECT_ERROR_MENTIONS(Loader(synthetic(0), LoaderConfig{}), "is empty");
  c = {};
  c.augment.random_crop = 9;
  EXPECT_ERROR_MENTIONS(Loader(ds, c), "random_crop 9 is larger than the padded 8x8 image");
  Loader l(ds, LoaderConfig{});
  EXPECT_ERROR_MENTIONS(l.next(), "call start_epoch(epoch) first");
  EXPECT_ERROR_MENTIONS(l.start_epoch(-1), "epoch -1 out of range");
}

// --- validation split ---------------------------------------------------------------------------

TEST(data_split, DeterministicDisjointByFraction) {
  const auto ds = synthetic(1000);
  const Split s = split_validation(ds, 0.1, 42);
  ASSERT_EQ(s.val->size(), 100);
  ASSERT_EQ(s.train->size(), 900);
  std::vector<int64_t> all = s.train->indices();
  all.insert(all.end(), s.val->indices().begin(), s.val->indices().end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(1000));
  EXPECT_TRUE(std::is_sorted(s.val->indices().begin(), s.val->indices().end()));
  EXPECT_EQ(split_validation(ds, 0.1, 42).val->indices(), s.val->indices());
  EXPECT_NE(split_validation(ds, 0.1, 43).val->indices(), s.val->indices());
  // A view: labels and pixels are the base's.
  const int64_t b = s.val->base_index(3);
  EXPECT_EQ(s.val->label(3), ds->label(b));
  EXPECT_EQ(s.val->example(3).pixels, ds->example(b).pixels);
  EXPECT_EQ(split_validation(ds, 0.0, 1).val->size(), 0);
  EXPECT_ERROR_MENTIONS(split_validation(ds, 1.0, 1), "val_fraction 1 must be in [0, 1)");
  EXPECT_ERROR_MENTIONS(split_validation(synthetic(1), 0.6, 1), "leaves no training example");
  // The split trains like any dataset.
  Loader l(s.train, config(100, 2));
  EXPECT_EQ(order(epoch(l, 0)).size(), 900u);
  // Histogram sums to the size.
  const std::vector<int64_t> h = label_histogram(*s.val);
  EXPECT_EQ(std::accumulate(h.begin(), h.end(), int64_t{0}), 100);
}

TEST(data_sampler, PermutationIsAPermutation) {
  const std::vector<int64_t> p = random_permutation(1000, 3, 9);
  std::vector<int64_t> s = p;
  std::sort(s.begin(), s.end());
  EXPECT_EQ(s, iota(1000));
  EXPECT_NE(p, iota(1000));
  EXPECT_EQ(random_permutation(1000, 3, 9), p);
  EXPECT_TRUE(random_permutation(0, 3, 9).empty());
}

}  // namespace
}  // namespace figs::data

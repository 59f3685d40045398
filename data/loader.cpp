#include "data/loader.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace figs::data {

namespace {

// One epoch's worth of work on this rank: the examples in order, cut into batches.
struct Plan {
  int64_t epoch = 0;
  uint64_t generation = 0;  // which start_epoch made it
  std::vector<int64_t> indices;
  int64_t num_batches = 0;
};

struct Slot {
  std::optional<Batch> batch;
  std::exception_ptr error;
};

// Thrown inside a worker when its batch belongs to an epoch that was replaced or the loader
// is shutting down; never leaves the loader.
struct Cancelled {};

}  // namespace

struct Loader::Impl {
  std::shared_ptr<const Dataset> dataset;
  LoaderConfig cfg;
  Augmenter augmenter;
  int64_t examples = 0;  // per epoch on this rank, after drop_last
  int64_t batches = 0;

  std::mutex mutex;
  std::condition_variable work_cv;   // workers wait for a batch to claim
  std::condition_variable ready_cv;  // the consumer waits for its batch
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> generation{0};
  std::shared_ptr<const Plan> plan;   // null until the first start_epoch
  int64_t next_claim = 0;             // the next batch a worker will prepare
  int64_t next_deliver = 0;           // the next batch next() returns
  std::map<int64_t, Slot> ready;      // prepared batches not yet delivered
  std::vector<std::thread> workers;

  Impl(std::shared_ptr<const Dataset> d, const LoaderConfig& c)
      : dataset(std::move(d)), cfg(c), augmenter(cfg.augment, dataset->image_shape()) {}

  Batch build(const Plan& p, int64_t b) const {
    const int64_t begin = b * cfg.batch_size;
    const int64_t end = std::min<int64_t>(begin + cfg.batch_size, static_cast<int64_t>(p.indices.size()));
    const int64_t count = end - begin;
    const ImageShape os = augmenter.output_shape();
    const int64_t classes = dataset->num_classes();
    Batch out;
    out.epoch = p.epoch;
    out.index = b;
    const Shape image_batch{count, os.c, os.h, os.w};
    out.images = cfg.batch_allocator
                     ? tensor_on_storage(cfg.batch_allocator(static_cast<size_t>(image_batch.numel()) * sizeof(float)),
                                         image_batch)
                     : empty(image_batch);
    out.labels = cfg.batch_allocator
                     ? tensor_on_storage(cfg.batch_allocator(static_cast<size_t>(count) * sizeof(int64_t)), {count},
                                         DType::Int64)
                     : empty({count}, TensorOptions{DType::Int64});
    out.indices.assign(p.indices.begin() + begin, p.indices.begin() + end);
    float* images = out.images.data<float>();
    int64_t* labels = out.labels.data<int64_t>();
    thread_local std::vector<uint8_t> raw;
    raw.resize(static_cast<size_t>(dataset->image_shape().numel()));
    for (int64_t k = 0; k < count; ++k) {
      if (stop.load(std::memory_order_relaxed) ||
          generation.load(std::memory_order_relaxed) != p.generation)
        throw Cancelled{};
      const int64_t idx = out.indices[static_cast<size_t>(k)];
      const int64_t label = dataset->get(idx, raw.data());
      FIGS_CHECK(label >= 0 && label < classes, dataset->describe(), ": example ", idx, " has label ",
                 label, ", out of range [0, ", classes, ")");
      labels[k] = label;
      augmenter.apply(raw.data(), images + k * os.numel(), cfg.seed, p.epoch, idx);
    }
    return out;
  }

  void worker_loop() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      work_cv.wait(lock, [&] {
        return stop.load() || (plan && next_claim < plan->num_batches &&
                               next_claim < next_deliver + cfg.prefetch);
      });
      if (stop.load()) return;
      const std::shared_ptr<const Plan> p = plan;
      const int64_t b = next_claim++;
      lock.unlock();
      Slot slot;
      bool cancelled = false;
      try {
        slot.batch = build(*p, b);
      } catch (const Cancelled&) {
        cancelled = true;
      } catch (...) {
        slot.error = std::current_exception();
      }
      lock.lock();
      if (!cancelled && plan == p) {
        ready.emplace(b, std::move(slot));
        ready_cv.notify_all();
      }
    }
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop.store(true);
    }
    work_cv.notify_all();
    for (std::thread& t : workers)
      if (t.joinable()) t.join();
    workers.clear();
  }
};

Loader::Loader(std::shared_ptr<const Dataset> dataset, const LoaderConfig& config) {
  FIGS_CHECK(dataset != nullptr, "Loader: no dataset");
  const LoaderConfig& c = config;
  FIGS_CHECK(c.batch_size >= 1, "Loader: batch_size ", c.batch_size, " must be >= 1");
  FIGS_CHECK(c.num_workers >= 0 && c.num_workers <= 256, "Loader: num_workers ", c.num_workers,
             " must be in 0..256");
  FIGS_CHECK(c.prefetch >= 1, "Loader: prefetch ", c.prefetch, " must be >= 1");
  const int64_t n = dataset->size();
  FIGS_CHECK(n > 0, "Loader: ", dataset->describe(), " is empty");
  impl_ = std::make_unique<Impl>(std::move(dataset), config);  // checks the augmentation
  Impl& s = *impl_;
  s.examples = shard_size(n, ShardSpec{c.rank, c.world_size, c.remainder});
  s.batches = c.drop_last ? s.examples / c.batch_size : (s.examples + c.batch_size - 1) / c.batch_size;
  if (c.drop_last) s.examples = s.batches * c.batch_size;
  FIGS_CHECK(s.batches > 0, "Loader: ", s.dataset->describe(), " gives rank ", c.rank, " of ",
             c.world_size, " no batch (", shard_size(n, ShardSpec{c.rank, c.world_size, c.remainder}),
             " examples, batch_size ", c.batch_size, c.drop_last ? ", drop_last)" : ")");
  try {
    for (int w = 0; w < c.num_workers; ++w) s.workers.emplace_back([&s] { s.worker_loop(); });
  } catch (...) {
    s.shutdown();
    throw;
  }
}

Loader::~Loader() {
  if (impl_) impl_->shutdown();
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  Impl& s = *impl_;
  const LoaderConfig& c = s.cfg;
  data_stream(kShuffleStreamTag, epoch);  // range check
  FIGS_CHECK(first_batch >= 0 && first_batch <= s.batches, "Loader::start_epoch: first_batch ",
             first_batch, " out of range [0, ", s.batches, "]");
  auto p = std::make_shared<Plan>();
  p->epoch = epoch;
  p->indices = epoch_indices(s.dataset->size(), c.shuffle, c.seed, epoch,
                             ShardSpec{c.rank, c.world_size, c.remainder});
  p->indices.resize(static_cast<size_t>(s.examples));  // drop_last trims the tail
  p->num_batches = s.batches;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    p->generation = s.generation.load() + 1;
    s.generation.store(p->generation);
    s.plan = std::move(p);
    s.next_claim = s.next_deliver = first_batch;
    s.ready.clear();
  }
  s.work_cv.notify_all();
}

std::optional<Batch> Loader::next() {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mutex);
  FIGS_CHECK(s.plan != nullptr, "Loader::next: call start_epoch(epoch) first");
  if (s.workers.empty()) {  // synchronous: build on this thread
    if (s.next_deliver >= s.plan->num_batches) return std::nullopt;
    const std::shared_ptr<const Plan> p = s.plan;
    const int64_t b = s.next_deliver++;
    lock.unlock();
    try {
      return s.build(*p, b);
    } catch (const Cancelled&) {  // start_epoch ran on another thread meanwhile
      if (s.stop.load()) return std::nullopt;
      return next();
    }
  }
  for (;;) {
    if (s.next_deliver >= s.plan->num_batches) return std::nullopt;
    auto it = s.ready.find(s.next_deliver);
    if (it != s.ready.end()) {
      Slot slot = std::move(it->second);
      s.ready.erase(it);
      ++s.next_deliver;
      lock.unlock();
      s.work_cv.notify_all();  // the window moved: a worker may claim another batch
      if (slot.error) std::rethrow_exception(slot.error);
      return std::move(slot.batch);
    }
    s.ready_cv.wait(lock);
  }
}

int64_t Loader::batches_per_epoch() const { return impl_->batches; }
int64_t Loader::examples_per_epoch() const { return impl_->examples; }
ImageShape Loader::output_shape() const { return impl_->augmenter.output_shape(); }
const Dataset& Loader::dataset() const { return *impl_->dataset; }
const LoaderConfig& Loader::config() const { return impl_->cfg; }

}  // namespace figs::data

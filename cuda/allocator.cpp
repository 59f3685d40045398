#include "cuda/allocator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "cuda/check.h"

namespace figs::cuda {

size_t device_size_class(size_t nbytes) {
  if (nbytes <= 8192) return (nbytes + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
  size_t pow2 = 8192;
  while (pow2 * 2 < nbytes) pow2 *= 2;
  const size_t quarter = pow2 / 4;  // classes pow2 + k * pow2/4, k = 1..4
  return (nbytes + quarter - 1) / quarter * quarter;
}

namespace {

class DeviceCache {
 public:
  // may_release: on cudaMalloc's out-of-memory, free the cached blocks and retry once. Not while
  // a graph is captured: cudaFree synchronises the device, which a capture forbids.
  void* acquire(int device, size_t cls, bool may_release = true) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<void*>& list = free_[{device, cls}];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      stats_.bytes_cached -= cls;
      ++stats_.cache_hits;
      note_in_use(cls);
      return p;
    }
    FIGS_CUDA_CHECK(cudaSetDevice(device));
    void* p = nullptr;
    cudaError_t status = cudaMalloc(&p, cls);
    if (status == cudaErrorMemoryAllocation && may_release) {  // the cache may hold the memory: free it, retry once
      cudaGetLastError();
      release_locked();
      FIGS_CUDA_CHECK(cudaSetDevice(device));
      status = cudaMalloc(&p, cls);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      fail("cuda allocate: cudaMalloc of ", cls, " bytes on cuda:", device, " failed: ", cudaGetErrorName(status),
           " (", stats_.bytes_in_use, " bytes in use by figs)");
    }
    ++stats_.device_allocations;
    note_in_use(cls);
    return p;
  }

  void give_back(int device, void* p, size_t cls) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[{device, cls}].push_back(p);
    stats_.bytes_in_use -= cls;
    stats_.bytes_cached += cls;
  }

  DeviceAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_locked();
  }

 private:
  void note_in_use(size_t cls) {
    stats_.bytes_in_use += cls;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  }

  // cudaFree synchronises the device, so pending work on a cached block finishes first.
  void release_locked() {
    for (auto& [key, list] : free_) {
      if (list.empty()) continue;
      FIGS_CUDA_CHECK(cudaSetDevice(key.first));
      for (void* p : list) FIGS_CUDA_CHECK(cudaFree(p));
      stats_.bytes_cached -= key.second * list.size();
      list.clear();
    }
  }

  std::mutex mutex_;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_;  // (device, size class) -> blocks
  DeviceAllocatorStats stats_;
};

// Never destroyed: storages released during static destruction still find it, and freeing device
// memory after the CUDA runtime shut down would fail anyway (the driver reclaims it at exit).
DeviceCache& the_cache() {
  static DeviceCache* cache = new DeviceCache;
  return *cache;
}

// The pool of the graph being captured, if any (GraphPoolScope), and the capturing thread.
std::mutex g_active_mutex;
std::shared_ptr<GraphMemoryPool> g_active_pool;
std::thread::id g_active_thread;

// The active pool of `device`: for a block freed on any thread, or (for_allocation) only for the
// capturing thread's allocations, so that another thread's tensor never shares a block with the
// graph's later nodes.
std::shared_ptr<GraphMemoryPool> active_pool(int device, bool for_allocation);

}  // namespace

class GraphMemoryPool {
 public:
  explicit GraphMemoryPool(int device) : device_(device) {}
  int device() const { return device_; }

  // A free block of the pool, or the cache's (cudaMalloc where it has none: allowed during the
  // capture, as the block stays the graph's).
  void* acquire(size_t cls) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<void*>& list = free_[cls];
      if (!list.empty()) {
        void* p = list.back();
        list.pop_back();
        return p;
      }
    }
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    FIGS_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
    void* p = nullptr;
    try {
      p = the_cache().acquire(device_, cls, /*may_release=*/false);
    } catch (...) {
      cudaThreadExchangeStreamCaptureMode(&mode);
      throw;
    }
    FIGS_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
    return p;
  }

  void give_back(void* p, size_t cls) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_)
      free_[cls].push_back(p);
    else
      the_cache().give_back(device_, p, cls);
  }

  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = false;
    for (auto& [cls, list] : free_)
      for (void* p : list) the_cache().give_back(device_, p, cls);
    free_.clear();
  }

 private:
  int device_;
  std::mutex mutex_;
  bool open_ = true;
  std::map<size_t, std::vector<void*>> free_;  // size class -> blocks
};

namespace {

std::shared_ptr<GraphMemoryPool> active_pool(int device, bool for_allocation) {
  std::lock_guard<std::mutex> lock(g_active_mutex);
  if (!g_active_pool || g_active_pool->device() != device) return nullptr;
  if (for_allocation && std::this_thread::get_id() != g_active_thread) return nullptr;
  return g_active_pool;
}

// A block's way back: into the pool of a graph being captured (it may be read by the graph's
// nodes), else into the cache.
void release_block(int device, void* p, size_t cls) {
  if (const auto pool = active_pool(device, /*for_allocation=*/false))
    pool->give_back(p, cls);
  else
    the_cache().give_back(device, p, cls);
}

}  // namespace

std::shared_ptr<Storage> allocate_device(size_t nbytes, int device_index) {
  const Device device{DeviceType::CUDA, device_index};
  if (nbytes == 0) return std::make_shared<Storage>(nullptr, 0, device, nullptr);
  const size_t cls = device_size_class(nbytes);
  if (std::shared_ptr<GraphMemoryPool> pool = active_pool(device_index, /*for_allocation=*/true)) {
    void* p = pool->acquire(cls);
    return std::make_shared<Storage>(p, nbytes, device, [pool, cls](void* q) { pool->give_back(q, cls); });
  }
  void* p = the_cache().acquire(device_index, cls);
  return std::make_shared<Storage>(p, nbytes, device,
                                   [device_index, cls](void* q) { release_block(device_index, q, cls); });
}

std::shared_ptr<GraphMemoryPool> make_graph_memory_pool(int device_index) {
  return std::make_shared<GraphMemoryPool>(device_index);
}

void close_graph_memory_pool(GraphMemoryPool& pool) { pool.close(); }

GraphPoolScope::GraphPoolScope(std::shared_ptr<GraphMemoryPool> pool) {
  FIGS_CHECK(pool != nullptr, "GraphPoolScope: no pool");
  std::lock_guard<std::mutex> lock(g_active_mutex);
  FIGS_CHECK(g_active_pool == nullptr, "cuda graphs: another graph is being captured (one capture at a time)");
  g_active_pool = std::move(pool);
  g_active_thread = std::this_thread::get_id();
}

GraphPoolScope::~GraphPoolScope() {
  std::lock_guard<std::mutex> lock(g_active_mutex);
  g_active_pool.reset();
}

DeviceAllocatorStats device_allocator_stats() { return the_cache().stats(); }
void empty_device_cache() { the_cache().release(); }

}  // namespace figs::cuda

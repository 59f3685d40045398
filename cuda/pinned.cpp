#include "cuda/pinned.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/check.h"
#include "cuda/runtime.h"

namespace figs::cuda {

namespace {

struct Block {
  size_t size_class = 0;
  bool in_use = false;
  cudaEvent_t last_use = nullptr;  // recorded after the last copy that reads the block; null: none
};

class PinnedCache {
 public:
  void* acquire(size_t cls) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<void*>& list = free_[cls];
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
      Block& b = blocks_.at(*it);
      if (b.last_use != nullptr && cudaEventQuery(b.last_use) == cudaErrorNotReady) {
        cudaGetLastError();  // cudaErrorNotReady is a status, not an error
        ++stats_.busy_skips;
        continue;
      }
      void* p = *it;
      list.erase(std::next(it).base());
      b.in_use = true;
      stats_.bytes_cached -= cls;
      stats_.bytes_in_use += cls;
      ++stats_.cache_hits;
      return p;
    }
    void* p = nullptr;
    const cudaError_t status = cudaHostAlloc(&p, cls, cudaHostAllocPortable);
    if (status != cudaSuccess) {
      cudaGetLastError();
      fail("cuda allocate_pinned: cudaHostAlloc of ", cls, " bytes failed: ", cudaGetErrorName(status), " (",
           stats_.bytes_in_use, " pinned bytes in use by figs)");
    }
    blocks_[p] = Block{cls, true, nullptr};
    ++stats_.host_allocations;
    stats_.bytes_in_use += cls;
    return p;
  }

  void give_back(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    Block& b = blocks_.at(p);
    b.in_use = false;
    free_[b.size_class].push_back(p);
    stats_.bytes_in_use -= b.size_class;
    stats_.bytes_cached += b.size_class;
  }

  // The live block containing p, or nullptr.
  Block* find_locked(const void* p, void** base) {
    auto it = blocks_.upper_bound(const_cast<void*>(p));
    if (it == blocks_.begin()) return nullptr;
    --it;
    const char* start = static_cast<const char*>(it->first);
    if (!it->second.in_use || static_cast<const char*>(p) >= start + it->second.size_class) return nullptr;
    if (base) *base = it->first;
    return &it->second;
  }

  bool contains(const void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    return find_locked(p, nullptr) != nullptr;
  }

  void record_use(const void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    Block* b = find_locked(p, nullptr);
    if (b == nullptr) return;
    if (b->last_use == nullptr) FIGS_CUDA_CHECK(cudaEventCreateWithFlags(&b->last_use, cudaEventDisableTiming));
    FIGS_CUDA_CHECK(cudaEventRecord(b->last_use, current_stream()));
  }

  PinnedAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [cls, list] : free_) {
      std::vector<void*> busy;
      for (void* p : list) {
        Block& b = blocks_.at(p);
        if (b.last_use != nullptr && cudaEventQuery(b.last_use) == cudaErrorNotReady) {
          cudaGetLastError();
          busy.push_back(p);
          continue;
        }
        if (b.last_use != nullptr) FIGS_CUDA_CHECK(cudaEventDestroy(b.last_use));
        FIGS_CUDA_CHECK(cudaFreeHost(p));
        blocks_.erase(p);
        stats_.bytes_cached -= cls;
      }
      list = std::move(busy);
    }
  }

 private:
  std::mutex mutex_;
  std::map<void*, Block> blocks_;                  // every block, by start address
  std::map<size_t, std::vector<void*>> free_;      // size class -> free blocks
  PinnedAllocatorStats stats_;
};

// Never destroyed, as the device cache (cuda/allocator.cpp).
PinnedCache& the_cache() {
  static PinnedCache* cache = new PinnedCache;
  return *cache;
}

}  // namespace

std::shared_ptr<Storage> allocate_pinned(size_t nbytes) {
  if (nbytes == 0) return std::make_shared<Storage>(nullptr, 0, Device::cpu(), nullptr);
  // The device allocator's size classes: at most 25% slack, and batches of one shape share one.
  void* p = the_cache().acquire(device_size_class(nbytes));
  return std::make_shared<Storage>(p, nbytes, Device::cpu(), [](void* q) { the_cache().give_back(q); });
}

bool is_pinned(const void* p) { return p != nullptr && the_cache().contains(p); }
void record_pinned_use(const void* p) { the_cache().record_use(p); }
PinnedAllocatorStats pinned_allocator_stats() { return the_cache().stats(); }
void empty_pinned_cache() { the_cache().release(); }

}  // namespace figs::cuda

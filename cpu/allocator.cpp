#include "cpu/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace figs::cpu {

size_t size_class(size_t nbytes) {
  if (nbytes <= 4096) return (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  size_t pow2 = 4096;
  while (pow2 * 2 < nbytes) pow2 *= 2;
  const size_t quarter = pow2 / 4;  // classes pow2 + k * pow2/4, k = 1..4
  return (nbytes + quarter - 1) / quarter * quarter;
}

namespace {

class CachingAllocator {
 public:
  void* acquire(size_t cls) {
    std::lock_guard<std::mutex> lock(mutex_);
    void* p = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= cls;
      ++stats_.cache_hits;
    } else {
      p = std::aligned_alloc(kAlignment, cls);
      if (p == nullptr) {  // memory may be sitting in the cache: release it and retry once
        release_cached_locked();
        p = std::aligned_alloc(kAlignment, cls);
      }
      FIGS_CHECK(p != nullptr, "cpu allocate: out of memory asking for ", cls, " bytes (",
                 stats_.bytes_in_use, " bytes in use)");
      ++stats_.system_allocations;
    }
    stats_.bytes_in_use += cls;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    return p;
  }

  void give_back(void* p, size_t cls) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[cls].push_back(p);
    stats_.bytes_in_use -= cls;
    stats_.bytes_cached += cls;
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

 private:
  void release_cached_locked() {
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    stats_.bytes_cached = 0;
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

// Never destroyed: storages released during static destruction still find it alive.
CachingAllocator& the_allocator() {
  static CachingAllocator* instance = new CachingAllocator();
  return *instance;
}

}  // namespace

std::shared_ptr<Storage> allocate(size_t nbytes) {
  if (nbytes == 0) return std::make_shared<Storage>(nullptr, 0, Device::cpu(), nullptr);
  const size_t cls = size_class(nbytes);
  void* p = the_allocator().acquire(cls);
  return std::make_shared<Storage>(p, nbytes, Device::cpu(),
                                   [cls](void* q) { the_allocator().give_back(q, cls); });
}

AllocatorStats allocator_stats() { return the_allocator().stats(); }
void empty_cache() { the_allocator().release_cached(); }

}  // namespace figs::cpu

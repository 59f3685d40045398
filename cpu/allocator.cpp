#include "cpu/allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
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

// Guard mode: every block gets its own mapping, placed so that it ends (rounded up to kAlignment)
// exactly where an inaccessible page begins, and is unmapped when freed. A kernel that writes or
// reads past the end of a tensor then faults at the offending instruction; ASan cannot see into
// oneDNN's JIT code, this can. Overruns inside the last 64-byte granule go unnoticed.
std::shared_ptr<Storage> allocate_guarded(size_t nbytes) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t used = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  const size_t data_pages = (used + page - 1) / page;
  const size_t total = (data_pages + 1) * page;
  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FIGS_CHECK(base != MAP_FAILED, "cpu allocate (guard mode): mmap of ", total, " bytes failed");
  char* guard = static_cast<char*>(base) + data_pages * page;
  FIGS_CHECK(mprotect(guard, page, PROT_NONE) == 0, "cpu allocate (guard mode): mprotect failed");
  char* p = guard - used;
  std::memset(p, 0xff, used);  // NaN-filled, so reads of unwritten memory show up in results too
  return std::make_shared<Storage>(p, nbytes, Device::cpu(), [base, total](void*) { munmap(base, total); });
}

bool guard_mode() {
  static const bool on = [] {
    const char* v = std::getenv("FIGS_CPU_ALLOCATOR");
    if (v == nullptr || std::strcmp(v, "caching") == 0) return false;
    FIGS_CHECK(std::strcmp(v, "guard") == 0, "FIGS_CPU_ALLOCATOR must be 'caching' or 'guard', got '", v, "'");
    return true;
  }();
  return on;
}

}  // namespace

std::shared_ptr<Storage> allocate(size_t nbytes) {
  if (nbytes == 0) return std::make_shared<Storage>(nullptr, 0, Device::cpu(), nullptr);
  if (guard_mode()) return allocate_guarded(nbytes);
  const size_t cls = size_class(nbytes);
  void* p = the_allocator().acquire(cls);
  return std::make_shared<Storage>(p, nbytes, Device::cpu(),
                                   [cls](void* q) { the_allocator().give_back(q, cls); });
}

AllocatorStats allocator_stats() { return the_allocator().stats(); }
void empty_cache() { the_allocator().release_cached(); }

}  // namespace figs::cpu

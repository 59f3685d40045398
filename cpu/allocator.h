// CPU memory: a caching allocator of 64-byte aligned blocks.
//
// Freshly mapped pages cost about 3 us each on first touch here (guide/performance.md), and glibc
// returns large freed blocks to the OS, so a training step that allocated its activations anew
// every time would spend more time faulting pages than computing. Blocks are therefore kept on
// free lists by size class when their last tensor dies and handed out again; after the first
// step of a static-shape training loop nothing reaches the system allocator.
//
// FIGS_CPU_ALLOCATOR=guard (a debugging mode, slow) maps every block separately with an
// inaccessible page right after its end, so an out-of-bounds access by any kernel, JIT code
// included, faults where it happens.
#pragma once

#include <cstddef>
#include <memory>

#include "core/storage.h"

namespace figs::cpu {

inline constexpr size_t kAlignment = 64;

std::shared_ptr<Storage> allocate(size_t nbytes);

struct AllocatorStats {
  size_t bytes_in_use = 0;      // held by live tensors (rounded to size classes)
  size_t bytes_cached = 0;      // freed blocks kept for reuse
  size_t peak_bytes_in_use = 0;
  size_t system_allocations = 0;  // times the system allocator was called
  size_t cache_hits = 0;          // allocations served from the cache
};

AllocatorStats allocator_stats();
// Returns every cached block to the system (memory in use is untouched).
void empty_cache();

// The size class a request is served from: multiples of 64 B up to 4 KiB, then four classes
// per power of two (at most 25% slack).
size_t size_class(size_t nbytes);

}  // namespace figs::cpu

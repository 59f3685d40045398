// Page-locked ("pinned") host memory for batches on their way to a GPU.
//
// cudaMemcpy from pageable memory stages the data through a driver buffer and blocks the host;
// from pinned memory the copy is a DMA at full PCIe/NVLink rate and can be asynchronous. The
// loader builds its batches in these blocks when the run's device is CUDA
// (data::LoaderConfig::batch_allocator), and copy_from_host then enqueues cudaMemcpyAsync on the
// current stream (cuda/runtime.h), so the host goes on to the next step's work while the batch is copied.
//
// cudaHostAlloc is slow (it maps and locks pages), so freed blocks are cached by size class, like
// device memory (cuda/allocator.h). A block whose last asynchronous copy may still be reading it
// is not handed out again: copy_from_host records an event per block (record_pinned_use) and a
// block is reused only when that event has completed.
//
// This header has no CUDA includes. The storages it gives are CPU storages (Device::cpu()): the
// CPU reads and writes them as any other host memory.
#pragma once

#include <cstddef>
#include <memory>

#include "core/storage.h"

namespace figs::cuda {

// A pinned host block of at least nbytes (nbytes == 0: a null block). Throws figs::Error when
// CUDA cannot pin the memory (no driver, or the lock limit reached).
std::shared_ptr<Storage> allocate_pinned(size_t nbytes);

// True when p points into a live pinned block from allocate_pinned.
bool is_pinned(const void* p);

// Records, on the current stream of the current device, that the pinned block holding p
// is read by work enqueued so far; the block is not reused before that work is done.
void record_pinned_use(const void* p);

struct PinnedAllocatorStats {
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;
  size_t host_allocations = 0;  // cudaHostAlloc calls
  size_t cache_hits = 0;
  size_t busy_skips = 0;        // cached blocks passed over because a copy was still reading them
};

PinnedAllocatorStats pinned_allocator_stats();
// Frees every cached block that no copy is reading any more.
void empty_pinned_cache();

}  // namespace figs::cuda

// CUDA device memory: a caching allocator.
//
// cudaMalloc and cudaFree synchronise the device and cost tens of microseconds, so a training
// step that allocated its activations anew would stall on every op. Freed blocks are therefore
// kept on per-device free lists by size class and handed out again; after the first step of a
// static-shape training loop nothing reaches cudaMalloc (stats().device_allocations stops
// growing, which tests check).
//
// Invariant that makes reuse safe without events: every figs kernel and copy runs on the legacy
// default stream of its device, or on a blocking stream that is ordered with it (a CUDA graph's,
// cuda/runtime.h), so a block freed by the host is only reused by work enqueued after all work
// that used it. A backend that adds concurrent streams must record an event per block.
//
// CUDA graphs (cuda/graph.h) bake addresses into their nodes, so while one is captured its blocks
// come from a pool of its own (GraphPoolScope): a block the captured code frees goes back to that
// pool, is reused only by the captured code that follows it, and is handed to nobody else while
// the graph lives. A block allocated before the capture and freed during it joins the pool too
// (the captured nodes may still read it at every replay). When the graph is destroyed its pool's
// blocks return to the cache.
//
// This header has no CUDA includes: tests and host code use it without the CUDA toolkit.
#pragma once

#include <cstddef>
#include <memory>

#include "core/storage.h"

namespace figs::cuda {

// Alignment of every block: cudaMalloc gives 256 B, and size classes keep it.
inline constexpr size_t kDeviceAlignment = 512;

// The size class a request is served from: multiples of 512 B up to 8 KiB, then four classes
// per power of two (at most 25% slack). Pure arithmetic, usable without a GPU.
size_t device_size_class(size_t nbytes);

// A block of at least nbytes on CUDA device `device_index`, returned to the cache when the last
// Storage handle dies. nbytes == 0 gives a null block. Throws figs::Error when the device is
// out of memory even after the cache was emptied.
std::shared_ptr<Storage> allocate_device(size_t nbytes, int device_index);

struct DeviceAllocatorStats {
  size_t bytes_in_use = 0;        // held by live storages (rounded to size classes)
  size_t bytes_cached = 0;        // freed blocks kept for reuse
  size_t peak_bytes_in_use = 0;
  size_t device_allocations = 0;  // cudaMalloc calls
  size_t cache_hits = 0;          // requests served from the cache
};

// Totals over all devices. Blocks held by a graph's pool count as in use.
DeviceAllocatorStats device_allocator_stats();

// The memory of one CUDA graph (above); opaque.
class GraphMemoryPool;
std::shared_ptr<GraphMemoryPool> make_graph_memory_pool(int device_index);
// Releases the pool's free blocks to the cache and sends blocks freed later there too (the
// graph is gone). Called by the graph's destructor.
void close_graph_memory_pool(GraphMemoryPool& pool);
// While alive, the calling thread's allocations on the pool's device come from the pool, and
// blocks of that device freed on any thread go to it (above). One at a time per process.
class GraphPoolScope {
 public:
  explicit GraphPoolScope(std::shared_ptr<GraphMemoryPool> pool);
  ~GraphPoolScope();
  GraphPoolScope(const GraphPoolScope&) = delete;
  GraphPoolScope& operator=(const GraphPoolScope&) = delete;
};
// Frees every cached block (cudaFree); memory in use is untouched.
void empty_device_cache();

}  // namespace figs::cuda

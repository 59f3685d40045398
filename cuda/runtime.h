// Host-side helpers of the CUDA kernel files that plain C++ files (cudnn_conv.cpp,
// cublas_matmul.cpp) share with the .cu files: device selection, size checks, temporary device
// buffers, device properties.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "cuda/allocator.h"
#include "cuda/check.h"
#include "cuda/launch.h"

namespace figs::cuda {

inline void check_index_range(const char* kernel, const Tensor& t) {
  FIGS_CHECK(t.numel() < (int64_t{1} << 31), kernel, ": the cuda kernels index with 32-bit integers; ",
             t.describe(), " has 2^31 elements or more");
}

// Counts a place where the host waits for the GPU (cuda::host_syncs, cuda/cuda.h).
void note_host_sync();

// The stream every figs kernel, device copy and cuDNN / cuBLAS call of this thread is enqueued on:
// the legacy default stream (0) unless a StreamScope says otherwise. A CUDA graph's capture and
// replays (cuda/graph.h) run on a stream of their own, created blocking (not
// cudaStreamNonBlocking), so that the legacy stream and it are ordered with each other: work on
// one waits for the work enqueued before it on the other. That keeps the allocator's reuse rule
// (cuda/allocator.h) true across both.
cudaStream_t current_stream();

class StreamScope {
 public:
  explicit StreamScope(cudaStream_t stream);
  ~StreamScope();
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

 private:
  cudaStream_t previous_;
};

// Makes the tensor's GPU the current device, so launches and allocations go there.
inline void use_device_of(const Tensor& t) { FIGS_CUDA_CHECK(cudaSetDevice(t.device().index)); }

// Whether consecutive channels are adjacent in memory (channels-last), i.e. kernels should map
// consecutive threads to consecutive channels to coalesce.
inline bool channels_fastest(const Tensor& t) { return t.size(1) > 1 && t.stride(1) == 1; }

// A device buffer of n elements of T from the caching allocator, alive until the end of the
// scope. Safe to drop right after the launches that use it (single-stream invariant,
// cuda/allocator.h).
template <class T>
struct DeviceBuffer {
  std::shared_ptr<Storage> storage;
  T* data() const { return static_cast<T*>(storage->data()); }
  DeviceBuffer(int64_t n, int device) : storage(allocate_device(static_cast<size_t>(n) * sizeof(T), device)) {}
};

// Multiprocessor count of the current device (cached per device).
int sm_count();

}  // namespace figs::cuda

// CUDA graph capture and replay (cuda/graph.h).
#include "cuda/graph.h"

#include <cuda_runtime.h>

#include <utility>

#include "cuda/allocator.h"
#include "cuda/check.h"
#include "cuda/runtime.h"

namespace figs::cuda {

struct CapturedGraph::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  std::shared_ptr<GraphMemoryPool> pool;
  int64_t nodes = 0;

  // Waits for the pending replays first: the pool's blocks go back to the cache, and the
  // ordering of a destroyed stream with the legacy one is not something to rely on. Once per graph.
  ~Impl() {
    cudaSetDevice(device);
    if (stream) cudaStreamSynchronize(stream);
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    if (stream) cudaStreamDestroy(stream);
    if (pool) close_graph_memory_pool(*pool);
  }
};

CapturedGraph::CapturedGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CapturedGraph::~CapturedGraph() = default;

std::unique_ptr<CapturedGraph> CapturedGraph::capture(int device, const std::function<void()>& fn) {
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  FIGS_CUDA_CHECK(cudaSetDevice(device));
  // Blocking (default flags): ordered with the legacy default stream, cuda/runtime.h.
  FIGS_CUDA_CHECK(cudaStreamCreate(&impl->stream));
  impl->pool = make_graph_memory_pool(device);
  {
    GraphPoolScope pool_scope(impl->pool);
    StreamScope stream_scope(impl->stream);
    // Thread-local mode: a call of this thread that cannot be captured (a synchronising copy)
    // fails instead of silently running outside the graph.
    FIGS_CUDA_CHECK(cudaStreamBeginCapture(impl->stream, cudaStreamCaptureModeThreadLocal));
    try {
      fn();
    } catch (...) {
      cudaGraph_t partial = nullptr;
      cudaStreamEndCapture(impl->stream, &partial);
      if (partial) cudaGraphDestroy(partial);
      cudaGetLastError();  // the capture's own error, reported by what fn threw
      throw;
    }
    const cudaError_t status = cudaStreamEndCapture(impl->stream, &impl->graph);
    if (status != cudaSuccess) {
      cudaGetLastError();
      fail("cuda graph: the capture failed (", cudaGetErrorName(status), ": ", cudaGetErrorString(status),
           "): the captured code made a call that cannot be captured, such as a copy to the host or work on "
           "another stream");
    }
  }
  size_t count = 0;
  FIGS_CUDA_CHECK(cudaGraphGetNodes(impl->graph, nullptr, &count));
  impl->nodes = static_cast<int64_t>(count);
  FIGS_CUDA_CHECK(cudaGraphInstantiate(&impl->exec, impl->graph, 0));
  FIGS_CUDA_CHECK(cudaGraphUpload(impl->exec, impl->stream));
  return std::unique_ptr<CapturedGraph>(new CapturedGraph(std::move(impl)));
}

void CapturedGraph::replay() {
  FIGS_CUDA_CHECK(cudaSetDevice(impl_->device));
  FIGS_CUDA_CHECK(cudaGraphLaunch(impl_->exec, impl_->stream));
}

int CapturedGraph::device() const { return impl_->device; }
int64_t CapturedGraph::nodes() const { return impl_->nodes; }

}  // namespace figs::cuda

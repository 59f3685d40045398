// CUDA graphs: the GPU work of a piece of host code, captured once and replayed in one launch.
//
// Note [Capturing a step]
// A small network's training step is a few thousand short kernels; launched one by one, the GPU
// waits on the host between them (the 28x28 search ran at 1,189 images/s on an H200, far below
// what its kernels need). CapturedGraph::capture(device, fn) runs fn with the calling thread's
// launches going to a stream of the graph's own that is being captured: nothing executes, and
// every kernel, device copy and cuDNN / cuBLAS call fn enqueues becomes a node of a graph, in
// the order enqueued (one stream: a chain). replay() then runs the whole chain again, with the
// same arguments and the same addresses, for the cost of one launch. What that asks of fn:
//   - memory: every block fn allocates comes from a pool private to the graph
//     (cuda/allocator.h), reused only by fn's later work and by nobody else while the graph
//     lives, including the blocks of tensors that outlive the capture (each replay rewrites them:
//     they are how a caller reads a replay's results);
//   - tensors allocated before the capture that fn reads or writes (parameters, gradients,
//     optimizer state, the input the caller copies each batch into) must live as long as the
//     graph;
//   - numbers that change between replays must be read from device memory (Note [Step values
//     on the device], core/params.h), written before each replay;
//   - no host synchronisation (a copy to the host, a reduction read on the host): the capture
//     fails with an error naming the call;
//   - no host randomness (a Generator): its draws would be replayed unchanged.
// nas::ArchitectureSearch captures its search step this way (SearchOptions::cuda_graph).
//
// This header has no CUDA includes; a build without CUDA throws from capture().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace figs::cuda {

class CapturedGraph {
 public:
  // Captures fn's GPU work on CUDA device `device` (fn runs once, on the host, during the
  // capture; its GPU work does not run until replay()). Errors from fn, or a call fn made that
  // cannot be captured, end the capture and are rethrown.
  static std::unique_ptr<CapturedGraph> capture(int device, const std::function<void()>& fn);
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Enqueues one run of the graph. It runs after all work enqueued before on the device's legacy
  // default stream, and work enqueued there afterwards runs after it (its stream is blocking).
  void replay();
  int device() const;
  int64_t nodes() const;  // kernels, copies and fills in the graph

 private:
  struct Impl;
  explicit CapturedGraph(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace figs::cuda

// Data parallelism: the process group every rank of a distributed run belongs to.
//
//   dist::world().rank(), world_size()    // 0 and 1 in a plain process
//   dist::world().all_reduce_sum(grads)   // in place, on the tensor's device
//
// The group is process-wide: figs main installs an MPI group when it runs under mpirun
// (dist/mpi_group.cpp: MPI is the CPU all-reduce and the rendezvous), an NCCL group over it for
// CUDA runs (dist/nccl_group.cpp), and otherwise leaves the single-process group, whose
// collectives do nothing, so every code path is the same with one process.
//
// Collectives are blocking and must be called by every rank in the same order with the same
// sizes (the usual MPI contract). A rank that fails must call abort(), which stops every rank of
// the job with its exit code; returning from main on one rank would leave the others waiting in
// their next collective.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace figs::dist {

// Time spent in tensor all-reduces (the gradient and buffer averaging), for the share of a step
// that communication takes.
struct CollectiveStats {
  int64_t tensor_all_reduces = 0;
  int64_t bytes = 0;
  double seconds = 0;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend_name() const = 0;  // "single", "mpi", "nccl"

  // Sums t elementwise over the ranks, in place (float32, contiguous). CPU tensors for MPI;
  // NCCL takes CUDA tensors; MPI stages CUDA tensors through the host.
  virtual void all_reduce_sum(const Tensor& t) = 0;
  // Host doubles, summed in place over the ranks.
  virtual void all_reduce_sum(double* values, size_t count) = 0;
  // root's bytes to every rank.
  virtual void broadcast(void* data, size_t nbytes, int root) = 0;
  virtual void barrier() = 0;
  // Stops every rank of the job (MPI_Abort); a single process exits with `code`.
  [[noreturn]] virtual void abort(int code) = 0;

  bool is_root() const { return rank() == 0; }
  virtual CollectiveStats stats() const { return {}; }
};

// A new single-process group (rank 0 of 1; the collectives do nothing).
std::shared_ptr<ProcessGroup> single_process_group();

// The group this process belongs to (the single-process group unless one was installed).
ProcessGroup& world();
// Installs `group` as world() (nullptr: back to the single-process group). Not thread-safe:
// call it at start-up, before any collective.
void set_world(std::shared_ptr<ProcessGroup> group);

// The elementwise mean over world()'s ranks of t, in place (a no-op with one process): the
// gradient and BatchNorm-buffer averaging of data-parallel training.
void average_over_ranks(const Tensor& t);

// Convenience over world(): the mean over ranks of a host value; whether every rank holds the
// same 64-bit value (e.g. a configuration hash).
double all_reduce_mean(double value);
bool all_ranks_agree(uint64_t value);

// Synchronised BatchNorm (nn::BatchNorm2d in training mode with more than one rank): statistics
// over the global batch instead of each rank's share. Off by default, as in PyTorch's DDP.
void set_sync_batch_norm(bool on);
bool sync_batch_norm();

}  // namespace figs::dist

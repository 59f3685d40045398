#include "dist/nccl_group.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>

#include "core/error.h"
#include "core/view.h"

namespace figs::dist {

namespace {

void check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail("NCCL ", what, " failed: ", ncclGetErrorString(r));
}

class NcclGroup : public ProcessGroup {
 public:
  NcclGroup(std::shared_ptr<ProcessGroup> host, int device) : host_(std::move(host)), device_(device) {
    ncclUniqueId id{};
    if (host_->is_root()) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    host_->broadcast(&id, sizeof id, 0);
    const cudaError_t set = cudaSetDevice(device_);
    FIGS_CHECK(set == cudaSuccess, "NCCL: rank ", host_->rank(), " cannot use cuda:", device_, ": ",
               cudaGetErrorString(set));
    check(ncclCommInitRank(&comm_, host_->world_size(), id, host_->rank()), "ncclCommInitRank");
  }
  ~NcclGroup() override {
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  std::string backend_name() const override { return "nccl"; }

  // On the legacy default stream, where every figs kernel runs outside a CUDA graph (cuda/runtime.h;
  // a data-parallel search is never captured: nas/search.h), so it is ordered after the backward
  // that wrote the gradients and before the update that reads them.
  void all_reduce_sum(const Tensor& t) override {
    FIGS_CHECK(t.dtype() == DType::Float32 && t.is_contiguous(), "all_reduce_sum: needs a contiguous float32 tensor, got ",
               t.describe());
    if (t.device().is_cpu()) return host_->all_reduce_sum(t);
    if (t.numel() == 0) return;
    const auto start = std::chrono::steady_clock::now();
    check(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), ncclFloat, ncclSum, comm_,
                        cudaStreamLegacy),
          "ncclAllReduce");
    // Enqueue time only (the reduction runs asynchronously, overlapping the host's next work), so
    // the share report_communication prints for NCCL is a lower bound.
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++stats_.tensor_all_reduces;
    stats_.bytes += t.numel() * static_cast<int64_t>(sizeof(float));
  }
  void all_reduce_sum(double* values, size_t count) override { host_->all_reduce_sum(values, count); }
  void broadcast(void* data, size_t nbytes, int root) override { host_->broadcast(data, nbytes, root); }
  void barrier() override { host_->barrier(); }
  [[noreturn]] void abort(int code) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    host_->abort(code);
    std::exit(code);  // not reached: the host group's abort does not return
  }
  CollectiveStats stats() const override { return stats_; }

 private:
  std::shared_ptr<ProcessGroup> host_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  CollectiveStats stats_;
};

}  // namespace

bool nccl_available() { return true; }

std::shared_ptr<ProcessGroup> make_nccl_group(std::shared_ptr<ProcessGroup> host, int device) {
  return std::make_shared<NcclGroup>(std::move(host), device);
}

}  // namespace figs::dist

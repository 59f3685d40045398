#include "dist/mpi_group.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "core/error.h"
#include "core/view.h"

namespace figs::dist {

namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("MPI ", what, " failed: ", std::string(text, static_cast<size_t>(length)));
}

class MpiGroup : public ProcessGroup {
 public:
  MpiGroup() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_init_ = true;
      FIGS_CHECK(provided >= MPI_THREAD_FUNNELED, "MPI: this MPI provides thread level ", provided,
                 ", figs needs MPI_THREAD_FUNNELED (its worker threads never call MPI)");
    }
    // Errors come back as codes (and become figs::Error) instead of aborting inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiGroup() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owns_init_ && !finalised) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend_name() const override { return "mpi"; }

  void all_reduce_sum(const Tensor& t) override {
    FIGS_CHECK(t.dtype() == DType::Float32 && t.is_contiguous(), "all_reduce_sum: needs a contiguous float32 tensor, got ",
               t.describe());
    if (size_ == 1 || t.numel() == 0) return;
    if (!t.device().is_cpu()) {  // no CUDA-aware MPI assumed: through the host
      const Tensor host = raw::to(t, Device::cpu());
      all_reduce_sum(host);
      raw::copy_(t, host);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    float* data = t.data<float>();
    // MPI counts are int: large buffers go in chunks.
    constexpr int64_t kChunk = int64_t{1} << 30;
    for (int64_t begin = 0; begin < t.numel(); begin += kChunk) {
      const int count = static_cast<int>(std::min<int64_t>(kChunk, t.numel() - begin));
      check(MPI_Allreduce(MPI_IN_PLACE, data + begin, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    }
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++stats_.tensor_all_reduces;
    stats_.bytes += t.numel() * static_cast<int64_t>(sizeof(float));
  }
  CollectiveStats stats() const override { return stats_; }

  void all_reduce_sum(double* values, size_t count) override {
    if (size_ == 1 || count == 0) return;
    check(MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(count), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }

  void broadcast(void* data, size_t nbytes, int root) override {
    FIGS_CHECK(root >= 0 && root < size_, "broadcast: no rank ", root, " in a world of ", size_);
    if (size_ == 1 || nbytes == 0) return;
    check(MPI_Bcast(data, static_cast<int>(nbytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }

  void barrier() override {
    if (size_ > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest
  }

 private:
  int rank_ = 0, size_ = 1;
  bool owns_init_ = false;
  CollectiveStats stats_;
};

}  // namespace

std::shared_ptr<ProcessGroup> make_mpi_group() { return std::make_shared<MpiGroup>(); }

}  // namespace figs::dist

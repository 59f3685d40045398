// The CUDA entry points of a build configured with FIGS_WITH_CUDA=OFF. No backend is
// registered for DeviceType::CUDA, so core's backend_for() reports "built without CUDA".
#include <utility>

#include "core/error.h"
#include "cuda/allocator.h"
#include "cuda/cuda.h"
#include "cuda/graph.h"
#include "cuda/noise.h"
#include "cuda/pinned.h"

namespace figs::cuda {

bool is_available() { return false; }
int64_t host_syncs() { return 0; }
// Kept so that a configuration can say it; nothing computes on a GPU here.
namespace {
bool g_tf32 = true;
}  // namespace
void set_tf32(bool allow) { g_tf32 = allow; }
bool tf32() { return g_tf32; }
int device_count() { return 0; }
std::string device_name(int index) {
  fail("cuda::device_name(", index, "): figs was built without CUDA (configure with -DFIGS_WITH_CUDA=ON)");
}

// No device memory exists: the allocator's statistics stay zero and allocating throws.
std::shared_ptr<Storage> allocate_device(size_t nbytes, int device_index) {
  fail("cuda::allocate_device(", nbytes, " bytes, cuda:", device_index, "): figs was built without CUDA");
}
DeviceAllocatorStats device_allocator_stats() { return {}; }
void empty_device_cache() {}

// Pinned host memory needs the CUDA driver.
std::shared_ptr<Storage> allocate_pinned(size_t nbytes) {
  fail("cuda::allocate_pinned(", nbytes, " bytes): figs was built without CUDA");
}
bool is_pinned(const void*) { return false; }
void record_pinned_use(const void*) {}
PinnedAllocatorStats pinned_allocator_stats() { return {}; }
void empty_pinned_cache() {}

// Graphs need a GPU; nothing can be captured.
struct CapturedGraph::Impl {};
CapturedGraph::CapturedGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CapturedGraph::~CapturedGraph() = default;
std::unique_ptr<CapturedGraph> CapturedGraph::capture(int device, const std::function<void()>&) {
  fail("cuda graph capture on cuda:", device, ": figs was built without CUDA");
}
void CapturedGraph::replay() { fail("cuda graph replay: figs was built without CUDA"); }
int CapturedGraph::device() const { return 0; }
int64_t CapturedGraph::nodes() const { return 0; }

Tensor logistic_noise_device(int64_t channels, const RngDraw&, Device device) {
  fail("cuda::logistic_noise_device(", channels, ", ", device, "): figs was built without CUDA");
}

}  // namespace figs::cuda

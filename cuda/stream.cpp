// The calling thread's current stream (cuda/runtime.h).
#include "cuda/runtime.h"

namespace figs::cuda {

namespace {
thread_local cudaStream_t t_stream = nullptr;  // null: the legacy default stream
}  // namespace

cudaStream_t current_stream() { return t_stream; }

StreamScope::StreamScope(cudaStream_t stream) : previous_(t_stream) { t_stream = stream; }
StreamScope::~StreamScope() { t_stream = previous_; }

}  // namespace figs::cuda

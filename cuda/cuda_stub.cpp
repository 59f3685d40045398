// The CUDA entry points of a build configured with FIGS_WITH_CUDA=OFF. No backend is
// registered for DeviceType::CUDA, so core's backend_for() reports "built without CUDA".
#include "core/error.h"
#include "cuda/cuda.h"

namespace figs::cuda {

bool is_available() { return false; }
int device_count() { return 0; }
std::string device_name(int index) {
  fail("cuda::device_name(", index, "): figs was built without CUDA (configure with -DFIGS_WITH_CUDA=ON)");
}

}  // namespace figs::cuda

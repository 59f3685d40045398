// make_nccl_group of a build without NCCL (no CUDA, or nccl.h / libnccl not found).
#include "core/error.h"
#include "dist/nccl_group.h"

namespace figs::dist {

bool nccl_available() { return false; }

std::shared_ptr<ProcessGroup> make_nccl_group(std::shared_ptr<ProcessGroup>, int device) {
  fail("this figs was built without NCCL (a CUDA build finds it next to the toolkit: nccl.h and libnccl.so); "
       "cannot all-reduce on cuda:", device);
}

}  // namespace figs::dist

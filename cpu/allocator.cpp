#include "cpu/allocator.h"

#include <cstdlib>

#include "core/error.h"

namespace figs::cpu {

std::shared_ptr<Storage> allocate(size_t nbytes) {
  const size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = rounded ? std::aligned_alloc(kAlignment, rounded) : nullptr;
  FIGS_CHECK(p != nullptr || rounded == 0, "cpu allocate: out of memory asking for ", nbytes, " bytes");
  return std::make_shared<Storage>(p, nbytes, Device::cpu(), [](void* q) { std::free(q); });
}

}  // namespace figs::cpu

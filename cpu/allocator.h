// CPU memory: 64-byte aligned blocks (a cache line; enough for AVX-512 loads).
#pragma once

#include <cstddef>
#include <memory>

#include "core/storage.h"

namespace figs::cpu {

inline constexpr size_t kAlignment = 64;

std::shared_ptr<Storage> allocate(size_t nbytes);

}  // namespace figs::cpu

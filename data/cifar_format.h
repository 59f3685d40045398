// The CIFAR-10 / CIFAR-100 binary format, parsed from memory.
//
// A file is a run of fixed-size records, no header:
//   CIFAR-10:  <label 0..9> <3072 pixel bytes>                       3073 bytes
//   CIFAR-100: <coarse 0..19> <fine 0..99> <3072 pixel bytes>        3074 bytes
// The pixels are 32x32 planes, red then green then blue: CHW already.
//
// Depends on core/error.h only, so the fuzz target (tests/data/fuzz) compiles it on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace figs::data {

enum class CifarKind { Cifar10, Cifar100 };

inline constexpr int64_t kCifarSide = 32;
inline constexpr int64_t kCifarPixels = 3 * kCifarSide * kCifarSide;  // 3072

inline int64_t cifar_record_bytes(CifarKind kind) {
  return (kind == CifarKind::Cifar10 ? 1 : 2) + kCifarPixels;
}

// Decoded records. `coarse` stays empty for CIFAR-10.
struct CifarArrays {
  std::vector<uint8_t> pixels;  // count x 3072, CHW per image
  std::vector<uint8_t> fine;    // the label (CIFAR-10) or the fine label (CIFAR-100)
  std::vector<uint8_t> coarse;  // CIFAR-100 superclass label
  int64_t count() const { return static_cast<int64_t>(fine.size()); }
};

// Checks the `size` bytes of a CIFAR binary and appends its records to `out`. Throws
// figs::Error naming `name`, and the offset or record index, for an empty file, a size that is
// not a whole number of records (truncated, or the other CIFAR variant), or a label out of range;
// `out` is unchanged when it throws.
void append_cifar(const uint8_t* data, size_t size, CifarKind kind, const std::string& name,
                  CifarArrays& out);

}  // namespace figs::data

// libFuzzer target for the byte-level parsers of data/: IDX headers, CIFAR records, gzip.
// The first input byte picks the parser, the rest is the file. A parser may throw figs::Error
// (bad input) but must never crash, hang, read out of bounds or break its postconditions.
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -I. data/{idx_format,cifar_format,gzip}.cpp \
//     tests/fuzz/fuzz_data_parsers.cpp -lz
// (tests/fuzz/CMakeLists.txt builds it, alone or in a FIGS_BUILD_FUZZERS build; CTest runs it
// for a bounded time.)
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "data/cifar_format.h"
#include "data/gzip.h"
#include "data/idx_format.h"

namespace {

using namespace figs::data;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

void check_idx(const uint8_t* data, size_t size) {
  const IdxHeader h = parse_idx_header(data, size, "fuzz.idx");
  size_t product = 1;
  for (int64_t d : h.dims) product *= static_cast<size_t>(d);
  require(product == h.num_elements);
  require(h.data_offset + h.num_elements == size);
  if (h.num_elements > 0) {
    volatile uint8_t last = data[h.data_offset + h.num_elements - 1];  // in bounds
    (void)last;
  }
}

void check_cifar(const uint8_t* data, size_t size, CifarKind kind) {
  CifarArrays a;
  append_cifar(data, size, kind, "fuzz.bin", a);
  const size_t n = static_cast<size_t>(a.count());
  require(n * static_cast<size_t>(cifar_record_bytes(kind)) == size);
  require(a.pixels.size() == n * kCifarPixels);
  require(a.coarse.size() == (kind == CifarKind::Cifar100 ? n : 0));
  for (size_t i = 0; i < n; ++i) require(a.fine[i] < (kind == CifarKind::Cifar10 ? 10 : 100));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int which = data[0] % 4;
  ++data;
  --size;
  try {
    switch (which) {
      case 0: check_idx(data, size); break;
      case 1: check_cifar(data, size, CifarKind::Cifar10); break;
      case 2: check_cifar(data, size, CifarKind::Cifar100); break;
      default: {
        const std::vector<uint8_t> out = gunzip(data, size, "fuzz.gz", size_t{1} << 22);
        require(out.size() <= (size_t{1} << 22));
        try {
          check_idx(out.data(), out.size());  // what a .gz IDX file goes through next
        } catch (const figs::Error&) {
        }
      }
    }
  } catch (const figs::Error&) {
  }
  return 0;
}

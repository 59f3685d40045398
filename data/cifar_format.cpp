#include "data/cifar_format.h"

#include <cstring>

#include "core/error.h"

namespace figs::data {

void append_cifar(const uint8_t* data, size_t size, CifarKind kind, const std::string& name,
                  CifarArrays& out) {
  const bool c100 = kind == CifarKind::Cifar100;
  const size_t record = static_cast<size_t>(cifar_record_bytes(kind));
  FIGS_CHECK(size > 0, name, ": empty CIFAR file");
  if (size % record != 0) {
    const size_t whole = size / record;
    const size_t other = static_cast<size_t>(
        cifar_record_bytes(c100 ? CifarKind::Cifar10 : CifarKind::Cifar100));
    fail(name, ": truncated ", c100 ? "CIFAR-100" : "CIFAR-10", " file: ", size, " bytes are ",
         whole, " whole ", record, "-byte records and ", size % record,
         " bytes of an incomplete record at offset ", whole * record,
         size % other == 0 ? (c100 ? " (the size fits CIFAR-10 records: is it a CIFAR-10 file?)"
                                   : " (the size fits CIFAR-100 records: is it a CIFAR-100 file?)")
                           : "");
  }
  const size_t count = size / record;
  // Check every label before touching `out`, so a bad file leaves it unchanged.
  for (size_t r = 0; r < count; ++r) {
    const uint8_t* rec = data + r * record;
    if (c100) {
      FIGS_CHECK(rec[0] < 20, name, ": coarse label ", int{rec[0]}, " out of range [0, 20) in record ",
                 r, " (offset ", r * record, ")");
      FIGS_CHECK(rec[1] < 100, name, ": fine label ", int{rec[1]}, " out of range [0, 100) in record ",
                 r, " (offset ", r * record + 1, ")");
    } else {
      FIGS_CHECK(rec[0] < 10, name, ": label ", int{rec[0]}, " out of range [0, 10) in record ", r,
                 " (offset ", r * record, ")");
    }
  }
  const size_t first = out.fine.size();
  out.pixels.resize((first + count) * kCifarPixels);
  out.fine.resize(first + count);
  if (c100) out.coarse.resize(first + count);
  for (size_t r = 0; r < count; ++r) {
    const uint8_t* rec = data + r * record;
    if (c100) {
      out.coarse[first + r] = rec[0];
      out.fine[first + r] = rec[1];
    } else {
      out.fine[first + r] = rec[0];
    }
    std::memcpy(out.pixels.data() + (first + r) * kCifarPixels, rec + (c100 ? 2 : 1),
                kCifarPixels);
  }
}

}  // namespace figs::data

#include "data/idx_format.h"

#include <cstdio>

#include "core/error.h"

namespace figs::data {

namespace {

constexpr int kMaxRank = 4;
constexpr uint8_t kUnsignedByte = 0x08;

std::string hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*X", digits, static_cast<unsigned>(v));
  return buf;
}

uint32_t read_be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | static_cast<uint32_t>(p[3]);
}

}  // namespace

IdxHeader parse_idx_header(const uint8_t* data, size_t size, const std::string& name) {
  FIGS_CHECK(size >= 4, name, ": truncated IDX file: ", size,
             " bytes, the magic number alone needs 4 (offset 0)");
  const uint32_t magic = read_be32(data);
  if (data[0] != 0 || data[1] != 0) {
    const bool gz = data[0] == 0x1f && data[1] == 0x8b;
    fail(name, ": wrong magic number ", hex(magic, 8),
         " at offset 0 (an IDX file starts 00 00 <type> <rank>)",
         gz ? "; the data is gzip-compressed: give the file a .gz name" : "");
  }
  FIGS_CHECK(data[2] == kUnsignedByte, name, ": unsupported IDX element type ", hex(data[2], 2),
             " at offset 2 (magic ", hex(magic, 8), "); only unsigned byte (0x08) is supported");
  const int rank = data[3];
  FIGS_CHECK(rank >= 1 && rank <= kMaxRank, name, ": IDX rank ", rank,
             " at offset 3 is not supported (1 to ", kMaxRank, ")");

  IdxHeader h;
  h.data_offset = 4 + 4 * static_cast<size_t>(rank);
  FIGS_CHECK(size >= h.data_offset, name, ": truncated IDX header: rank ", rank, " needs ",
             h.data_offset, " bytes, the file ends at offset ", size);
  const size_t available = size - h.data_offset;
  // The product of up to four 32-bit sizes can overflow 64 bits: compare against what the
  // file holds at every step instead of forming a product that could wrap.
  bool any_zero = false;
  for (int d = 0; d < rank; ++d) {
    h.dims.push_back(read_be32(data + 4 + 4 * d));
    any_zero = any_zero || h.dims.back() == 0;
  }
  bool overflow = false;  // the element count does not even fit in size_t
  size_t count = any_zero ? 0 : 1;
  for (int d = 0; d < rank && count != 0 && !overflow; ++d)
    overflow = __builtin_mul_overflow(count, static_cast<size_t>(h.dims[d]), &count);
  std::string dims;
  for (size_t d = 0; d < h.dims.size(); ++d) {
    if (d > 0) dims += 'x';
    dims += std::to_string(h.dims[d]);
  }
  if (overflow || count > available) {
    fail(name, ": truncated IDX file: the header declares ", dims, " elements",
         overflow ? "" : str_cat(" (", count, " bytes)"), " from offset ", h.data_offset,
         ", but the file ends at offset ", size);
  }
  FIGS_CHECK(count == available, name, ": ", available - count,
             " unexpected bytes after the IDX data (", dims, "), from offset ",
             h.data_offset + count);
  h.num_elements = count;
  return h;
}

}  // namespace figs::data

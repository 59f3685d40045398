#include "data/gzip.h"

#include <zlib.h>

#include <algorithm>

#include "core/error.h"

namespace figs::data {

bool looks_gzipped(const uint8_t* data, size_t size) {
  return size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

namespace {

struct InflateGuard {
  z_stream* zs;
  ~InflateGuard() { inflateEnd(zs); }
};

// zlib counts in uInt (32 bits): feed and drain at most this much per call.
constexpr size_t kMaxChunk = size_t{1} << 30;

}  // namespace

std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& name,
                            size_t max_output) {
  FIGS_CHECK(looks_gzipped(data, size), name,
             ": not gzip data (expected the bytes 1f 8b at offset 0)");
  std::vector<uint8_t> out;
  // The last 4 bytes of a member hold its size mod 2^32: a good first guess for the buffer,
  // trusted only up to deflate's largest ratio (1032:1), since truncated or corrupt data puts
  // anything there.
  if (size >= 18) {
    const uint8_t* t = data + size - 4;
    const size_t hint = static_cast<size_t>(t[0]) | static_cast<size_t>(t[1]) << 8 |
                        static_cast<size_t>(t[2]) << 16 | static_cast<size_t>(t[3]) << 24;
    const size_t ceiling = size > max_output / 1032 ? max_output : size * 1032;
    out.resize(std::min(std::max<size_t>(hint, 1), ceiling));
  }

  z_stream zs{};
  FIGS_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK, name, ": zlib could not start inflating");
  InflateGuard guard{&zs};

  size_t fed = 0;       // input bytes handed to zlib so far
  size_t produced = 0;  // output bytes written so far
  for (;;) {
    if (zs.avail_in == 0 && fed < size) {
      const size_t n = std::min(size - fed, kMaxChunk);
      zs.next_in = const_cast<Bytef*>(data + fed);
      zs.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    if (produced == out.size()) {
      FIGS_CHECK(out.size() < max_output, name, ": decompressed data exceeds the limit of ",
                 max_output, " bytes (at compressed offset ", fed - zs.avail_in, ")");
      const size_t grow = std::max<size_t>(out.size(), size_t{1} << 16);
      out.resize(max_output - out.size() < grow ? max_output : out.size() + grow);
    }
    const size_t room = std::min(out.size() - produced, kMaxChunk);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(room);
    const int ret = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    const size_t pos = fed - zs.avail_in;  // compressed offset reached
    if (ret == Z_STREAM_END) {
      if (pos == size) break;
      if (looks_gzipped(data + pos, size - pos)) {  // another member follows
        FIGS_CHECK(inflateReset(&zs) == Z_OK, name, ": zlib could not restart at offset ", pos);
        continue;
      }
      fail(name, ": ", size - pos, " bytes of trailing data after the gzip stream, at offset ",
           pos);
    }
    if (ret == Z_BUF_ERROR) {  // no progress: either out of input or out of output room
      if (zs.avail_in == 0 && fed == size)
        fail(name, ": truncated gzip stream (the data ends at offset ", size,
             " before the end of the compressed stream)");
      continue;
    }
    if (ret != Z_OK)
      fail(name, ": corrupt gzip data near offset ", pos, " (zlib: ",
           zs.msg != nullptr ? zs.msg : zError(ret), ")");
  }
  out.resize(produced);
  return out;
}

}  // namespace figs::data

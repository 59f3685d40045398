// Gzip decompression from memory (zlib), for the .gz dataset files.
//
// Depends on core/error.h only, so the fuzz target (tests/data/fuzz) compiles it on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace figs::data {

// Default ceiling on a decompressed file: far above any dataset file, low enough that a
// corrupt or malicious header cannot make the reader ask for all of memory.
inline constexpr size_t kDefaultMaxGunzipBytes = size_t{16} << 30;  // 16 GiB

// True when the bytes start with the gzip signature 1f 8b.
bool looks_gzipped(const uint8_t* data, size_t size);

// Decompresses a gzip stream of one or more concatenated members. Throws figs::Error naming
// `name` and the compressed byte offset when the data is not gzip, is corrupt, is truncated,
// is followed by bytes that are not another member, or would exceed `max_output` bytes.
std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& name,
                            size_t max_output = kDefaultMaxGunzipBytes);

}  // namespace figs::data

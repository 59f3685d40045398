// The IDX file format (MNIST, Fashion-MNIST, EMNIST), parsed from memory.
//
//   offset 0   00 00 <type> <rank>          magic number; type 0x08 = unsigned byte
//   offset 4   rank x uint32, big-endian    dimension sizes
//   offset 4 + 4 * rank                     the elements, row-major
//
// Depends on core/error.h only, so the fuzz target (tests/data/fuzz) compiles it on its own.
// Every size is checked before it is used: any byte string either parses or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace figs::data {

struct IdxHeader {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28} for an image file, {60000} for labels
  size_t data_offset = 0;     // byte offset of the first element
  size_t num_elements = 0;    // product of dims; equals the bytes after the header
};

// Parses and checks the header of an unsigned-byte IDX array of `size` bytes. Throws
// figs::Error naming `name` and the byte offset for a wrong magic number, an element type other
// than unsigned byte, a rank outside 1..4, a truncated file or bytes after the data.
IdxHeader parse_idx_header(const uint8_t* data, size_t size, const std::string& name);

}  // namespace figs::data

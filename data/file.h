// Whole-file reads for the dataset readers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace figs::data {

// The bytes of the file at `path`. Throws figs::Error naming the path when it does not exist,
// is not a regular file, or cannot be read completely.
std::vector<uint8_t> read_file(const std::string& path);

// As read_file; a path ending in ".gz" is gunzipped (errors name the path and the offset).
std::vector<uint8_t> read_file_maybe_gz(const std::string& path);

bool ends_with(const std::string& s, const std::string& suffix);

}  // namespace figs::data

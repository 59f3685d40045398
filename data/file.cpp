#include "data/file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "data/gzip.h"

namespace figs::data {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<uint8_t> read_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  FIGS_CHECK(!ec || ec == std::errc::no_such_file_or_directory, path, ": cannot access (",
             ec.message(), ")");
  FIGS_CHECK(fs::exists(st), path, ": no such file");
  FIGS_CHECK(fs::is_regular_file(st), path, ": not a regular file");
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  FIGS_CHECK(f != nullptr, path, ": cannot open (", std::strerror(errno), ")");
  const uintmax_t expected = fs::file_size(path, ec);
  FIGS_CHECK(!ec, path, ": cannot get its size (", ec.message(), ")");
  std::vector<uint8_t> bytes(static_cast<size_t>(expected));
  const size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f.get());
  FIGS_CHECK(got == bytes.size(), path, ": read error at offset ", got, " of ", bytes.size(),
             " (", std::ferror(f.get()) ? std::strerror(errno) : "file shrank while reading", ")");
  return bytes;
}

std::vector<uint8_t> read_file_maybe_gz(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  if (!ends_with(path, ".gz")) return bytes;
  return gunzip(bytes.data(), bytes.size(), path);
}

}  // namespace figs::data

// libFuzzer target for ImageFolder (data/image_folder.cpp): the index built from a folder tree
// (class folders, hidden entries, extensions, nesting, symbolic links) and the decoding of its
// files through the project's code path (read_file, TurboJPEG / libpng in data/image_codec.cpp,
// resize + centre crop).
//
// Input, in order:
//   byte 0      crop = 1 + (b & 15); fast JPEG scaling when bit 4 is set; strict when bit 5 is
//   byte 1      resize = crop + (b & 15)
//   a listing   up to the first NUL byte: lines "d PATH" (a folder), "f PATH" (a file holding the
//               payload), "l PATH TARGET" (a symbolic link to TARGET, relative to its folder).
//               PATH is relative to the dataset root; TARGET has no ".." (links stay inside the
//               tree, so the scan cannot walk the rest of the file system). Missing parents are
//               created; a line that cannot be made is skipped.
//   the payload the bytes after the NUL, written to every "f" file.
// The tree is made afresh in /dev/shm for each input. A rejected tree or image must end in
// figs::Error; an accepted one must satisfy ImageFolder's documented invariants (sorted classes,
// none hidden, every image under its class folder with an image extension, labels in order).
//
// FIGS_FUZZ_WRITE_SEEDS=<dir> in the environment: write the seed corpus (images made by
// data/image_codec's encoders) to <dir> and exit.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "data/image_codec.h"
#include "data/image_folder.h"
#include "fuzz_util.h"

namespace {

namespace fs = std::filesystem;
using figs::fuzz::require;

constexpr size_t kMaxLines = 24;
constexpr size_t kMaxDepth = 6;

const fs::path& root_dir() {
  static const fs::path base = fs::path(fs::exists("/dev/shm") ? "/dev/shm" : "/tmp") /
                               ("figs-fuzz-image-folder-" + std::to_string(::getpid()));
  return base;
}

void remove_root() {
  std::error_code ec;
  fs::remove_all(root_dir(), ec);
}

// A relative path of 1..kMaxDepth plain components (no "", ".", ".." or NUL): it stays inside the
// root. TARGETs may be "." (a link to its own folder: a cycle the scan must survive).
bool safe_relative(std::string_view p, bool allow_dot) {
  if (p.empty() || p.front() == '/' || p.size() > 200) return false;
  size_t depth = 0;
  size_t start = 0;
  while (start <= p.size()) {
    const size_t end = std::min(p.find('/', start), p.size());
    const std::string_view c = p.substr(start, end - start);
    if (c.empty() || c == ".." || (c == "." && !allow_dot)) return false;
    if (++depth > kMaxDepth) return false;
    start = end + 1;
  }
  return p.find('\0') == std::string_view::npos;
}

bool lower_ends_with(std::string s, std::string_view suffix) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void build_tree(std::string_view listing, std::string_view payload) {
  const fs::path& root = root_dir();
  size_t lines = 0;
  for (size_t start = 0; start < listing.size() && lines < kMaxLines; ++lines) {
    const size_t end = std::min(listing.find('\n', start), listing.size());
    const std::string_view line = listing.substr(start, end - start);
    start = end + 1;
    if (line.size() < 3 || line[1] != ' ') continue;
    std::string_view path = line.substr(2), target;
    if (line[0] == 'l') {
      const size_t sp = path.find(' ');
      if (sp == std::string_view::npos) continue;
      target = path.substr(sp + 1);
      path = path.substr(0, sp);
      if (!safe_relative(target, true)) continue;
    }
    if (!safe_relative(path, false)) continue;
    const fs::path p = root / std::string(path);
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) continue;
    switch (line[0]) {
      case 'd': fs::create_directory(p, ec); break;
      case 'f': {
        if (fs::exists(p, ec)) break;
        std::ofstream out(p, std::ios::binary);
        out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
        break;
      }
      case 'l': fs::create_symlink(std::string(target), p, ec); break;
      default: break;
    }
  }
}

void check_index(const figs::data::ImageFolder& folder, const std::string& root) {
  const auto& classes = folder.classes();
  require(folder.num_classes() == static_cast<int64_t>(classes.size()) && !classes.empty(), "class count");
  require(std::is_sorted(classes.begin(), classes.end()) &&
              std::adjacent_find(classes.begin(), classes.end()) == classes.end(),
          "classes not strictly sorted");
  for (const std::string& c : classes) require(!c.empty() && c[0] != '.', "a hidden or empty class name");
  std::vector<bool> seen(classes.size(), false);
  int64_t previous = 0;
  for (int64_t i = 0; i < folder.size(); ++i) {
    const int64_t label = folder.label(i);
    require(label >= 0 && label < folder.num_classes(), "label out of range");
    require(label >= previous, "labels not in class order");
    previous = label;
    seen[static_cast<size_t>(label)] = true;
    const std::string& path = folder.path(i);
    const std::string prefix = root + "/" + classes[static_cast<size_t>(label)] + "/";
    require(path.compare(0, prefix.size(), prefix) == 0, "an image outside its class folder");
    const std::string name = fs::path(path).filename().string();
    require(!name.empty() && name[0] != '.', "a hidden image");
    require(lower_ends_with(name, ".jpg") || lower_ends_with(name, ".jpeg") || lower_ends_with(name, ".png"),
            "an image without an image extension");
    if (i > 0 && folder.label(i - 1) == label) require(folder.path(i - 1) < path, "files not sorted in a class");
  }
  for (bool s : seen) require(s, "a class without images");
}

void write_seed(const std::string& path, uint8_t b0, uint8_t b1, const std::string& listing,
                const std::vector<uint8_t>& payload) {
  std::ofstream out(path, std::ios::binary);
  const char head[2] = {static_cast<char>(b0), static_cast<char>(b1)};
  out.write(head, 2);
  out << listing << '\0';
  out.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
}

void write_seeds(const std::string& dir) {
  fs::create_directories(dir);
  std::vector<uint8_t> rgb(6 * 8 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 37);
  const std::vector<uint8_t> png = figs::data::encode_png(rgb.data(), 6, 8);
  const std::vector<uint8_t> jpeg = figs::data::encode_jpeg(rgb.data(), 6, 8, 75);
  // crop 4, resize 6: a resize and a crop; hidden and foreign files are skipped.
  write_seed(dir + "/png_two_classes", 0x03, 0x02,
             "d cat\nf cat/a.png\nf dog/b.PNG\nf dog/.hidden.png\nf dog/notes.txt\nd .git\n", png);
  // crop 6, resize 6 (JPEG at its own size: the crop-only path), nested folders and a link cycle.
  write_seed(dir + "/jpeg_nested_link", 0x15, 0x00, "f a/x.jpg\nf b/sub/y.jpeg\nl b/loop .\nl c a\n", jpeg);
  // A class folder without images: an error.
  write_seed(dir + "/empty_class", 0x02, 0x01, "f a/x.png\nd b\n", png);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("FIGS_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  std::atexit(remove_root);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  figs::data::ImageFolderOptions options;
  options.crop = 1 + (data[0] & 15);
  options.resize = options.crop + (data[1] & 15);
  options.fast_jpeg_scaling = (data[0] & 16) != 0;
  options.strict = (data[0] & 32) != 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const size_t nul = rest.find('\0');
  const std::string_view listing = rest.substr(0, nul);
  const std::string_view payload = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);

  remove_root();
  std::error_code ec;
  fs::create_directories(root_dir(), ec);
  if (ec) std::abort();
  build_tree(listing, payload);

  const std::string root = root_dir().string();
  try {
    const figs::data::ImageFolder folder(root, options);
    check_index(folder, root);
    std::vector<uint8_t> pixels(static_cast<size_t>(3 * options.crop * options.crop));
    const int64_t n = std::min<int64_t>(folder.size(), 2);  // every file holds the same payload
    for (int64_t i = 0; i < n; ++i) {
      try {
        require(folder.get(i, pixels.data()) == folder.label(i), "get() returned another label");
      } catch (const figs::Error&) {
      }
    }
  } catch (const figs::Error&) {
  }
  return 0;
}

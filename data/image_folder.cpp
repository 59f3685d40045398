#include "data/image_folder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/file.h"
#include "data/image_codec.h"
#include "data/resample.h"

namespace figs::data {

namespace fs = std::filesystem;

namespace {

bool is_image_name(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ends_with(lower, ".jpg") || ends_with(lower, ".jpeg") || ends_with(lower, ".png");
}

bool is_hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

}  // namespace

ImageFolder::ImageFolder(const std::string& root, const ImageFolderOptions& options)
    : root_(root), options_(options) {
  if (options_.resize == 0) options_.resize = options_.crop;
  FIGS_CHECK(options_.crop > 0 && options_.crop <= 65535, "ImageFolder ", root_, ": crop ",
             options_.crop, " must be in 1..65535");
  FIGS_CHECK(options_.resize >= options_.crop && options_.resize <= 65535, "ImageFolder ", root_,
             ": resize ", options_.resize, " must be in [crop = ", options_.crop, ", 65535]");
  std::error_code ec;
  FIGS_CHECK(fs::exists(root_, ec), root_, ": ImageFolder root does not exist");
  FIGS_CHECK(fs::is_directory(root_, ec), root_, ": ImageFolder root is not a directory");

  // std::filesystem reports what it cannot list (a permission, a link chain too deep) with its
  // own exception type: the scan turns it into the documented figs::Error naming the folder.
  try {
    scan();
  } catch (const fs::filesystem_error& e) {
    fail(root_, ": cannot index the ImageFolder: ", e.what());
  }
}

void ImageFolder::scan() {
  std::vector<fs::path> class_dirs;
  for (const fs::directory_entry& e : fs::directory_iterator(root_)) {
    if (is_hidden(e.path())) continue;
    if (e.is_directory()) class_dirs.push_back(e.path());
    else ++ignored_;
  }
  FIGS_CHECK(!class_dirs.empty(), root_,
             ": ImageFolder root has no class sub-folders (expected root/<class>/<image>)");
  std::sort(class_dirs.begin(), class_dirs.end());
  for (const fs::path& dir : class_dirs) {
    std::vector<std::string> images;
    // Nested folders count as the class's (torchvision walks them too); hidden ones do not.
    // Linked folders are followed, except into a folder the walk is already inside (a link to
    // its own folder or to a parent): that cycle would repeat until the OS refuses the path.
    // `inside[d]` is the real path of the folder holding the entries at depth d; it depends on
    // the tree only, not on the order the entries are listed in, so the index stays the same.
    std::vector<fs::path> inside{fs::canonical(dir)};
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink);
         it != fs::recursive_directory_iterator(); ++it) {
      if (is_hidden(it->path())) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_directory()) {
        inside.resize(static_cast<size_t>(it.depth()) + 1);
        const fs::path real = fs::canonical(it->path());
        if (std::find(inside.begin(), inside.end(), real) != inside.end()) it.disable_recursion_pending();
        else inside.push_back(real);
        continue;
      }
      if (!it->is_regular_file()) continue;
      if (is_image_name(it->path().filename().string())) images.push_back(it->path().string());
      else ++ignored_;
    }
    FIGS_CHECK(!images.empty(), dir.string(), ": empty class folder (no .jpg, .jpeg or .png file)");
    std::sort(images.begin(), images.end());
    for (std::string& f : images) {
      files_.push_back(std::move(f));
      labels_.push_back(static_cast<int32_t>(classes_.size()));
    }
    classes_.push_back(dir.filename().string());
  }
}

int64_t ImageFolder::label(int64_t i) const {
  check_index(i);
  return labels_[static_cast<size_t>(i)];
}

const std::string& ImageFolder::path(int64_t i) const {
  check_index(i);
  return files_[static_cast<size_t>(i)];
}

std::string ImageFolder::describe() const {
  return str_cat("ImageFolder ", root_, " (", size(), " images, ", num_classes(), " classes, ",
                 image_shape(), ")");
}

int64_t ImageFolder::get(int64_t i, uint8_t* pixels) const {
  const std::string& file = path(i);
  const std::string name = str_cat(file, " (example ", i, ")");
  const std::vector<uint8_t> bytes = read_file(file);
  DecodeOptions d;
  d.strict = options_.strict;
  d.min_side = options_.fast_jpeg_scaling ? options_.resize : 0;
  const RgbImage img = decode_image(bytes.data(), bytes.size(), name, d);
  resize_center_crop(img.pixels.data(), img.h, img.w, options_.resize, options_.crop, pixels);
  return labels_[static_cast<size_t>(i)];
}

void resize_center_crop(const uint8_t* rgb, int64_t h, int64_t w, int64_t resize, int64_t crop,
                        uint8_t* chw) {
  FIGS_CHECK(h > 0 && w > 0 && resize >= crop && crop > 0, "resize_center_crop: image ", h, "x",
             w, ", resize ", resize, ", crop ", crop);
  // The resized size (torchvision: the shorter side becomes `resize`, the longer one scales and
  // truncates), then the centre crop's offset in it; the crop maps back to a source region.
  int64_t rh, rw;
  if (h <= w) {
    rh = resize;
    rw = std::max<int64_t>(static_cast<int64_t>(static_cast<double>(resize) * w / h), crop);
  } else {
    rw = resize;
    rh = std::max<int64_t>(static_cast<int64_t>(static_cast<double>(resize) * h / w), crop);
  }
  // Python's round() (torchvision's centre crop) rounds halves to even, as nearbyint does.
  const double oy = std::nearbyint((rh - crop) / 2.0), ox = std::nearbyint((rw - crop) / 2.0);
  if (rh == h && rw == w) {  // no resizing (e.g. 224 x 224 files, resize = crop = 224): crop
    const auto y0 = static_cast<int64_t>(oy), x0 = static_cast<int64_t>(ox);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < crop; ++y) {
        const uint8_t* s = rgb + ((y0 + y) * w + x0) * 3 + c;
        uint8_t* o = chw + (c * crop + y) * crop;
        for (int64_t x = 0; x < crop; ++x) o[x] = s[3 * x];
      }
    return;
  }
  const double sy = static_cast<double>(h) / rh, sx = static_cast<double>(w) / rw;
  const Region region{oy * sy, ox * sx, crop * sy, crop * sx};
  thread_local std::vector<float> planes_local;
  std::vector<float>& planes = planes_local;
  planes.resize(static_cast<size_t>(3 * crop * crop));
  resample(ImageView{rgb, 3, h, w, /*interleaved=*/true}, region, crop, crop, 1.f, planes.data());
  const float* p = planes.data();
  const int64_t n = 3 * crop * crop;
  for (int64_t k = 0; k < n; ++k)  // round to nearest; the filter stays in [0, 255]
    chw[k] = static_cast<uint8_t>(std::min(std::max(p[k], 0.f), 255.f) + 0.5f);
}

}  // namespace figs::data

// ImageFolder: ImageNet-style data, one sub-folder per class.
//
//   root/<class name>/<image>.{jpg,jpeg,png}     (extensions matched case-insensitively)
//
// Classes are the sub-folders in sorted (byte-wise) order, labels 0..K-1; files within a class
// are sorted too, so indices are the same on every machine. Hidden entries (".name") and files
// with other extensions are skipped (counted in ignored_files()); an empty class folder is an
// error. Images are decoded lazily in get() (on the loader's worker threads): the shorter side
// is resized to `resize` (antialiased, data/resample.h) and the centre crop x crop is kept,
// as torchvision's Resize(resize) + CenterCrop(crop) do.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace figs::data {

struct ImageFolderOptions {
  int64_t crop = 224;    // output side: images are crop x crop, 3 channels
  int64_t resize = 256;  // the shorter side before the centre crop; 0 means `crop`; >= crop
  bool strict = false;   // JPEG warnings (truncated scan, ...) are errors (data/image_codec.h)
  bool fast_jpeg_scaling = true;  // decode large JPEGs at a reduced DCT scale first
};

class ImageFolder : public Dataset {
 public:
  // Scans root. Throws naming the folder when it is missing, has no class folders, or a class
  // folder holds no image.
  explicit ImageFolder(const std::string& root, const ImageFolderOptions& options = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  ImageShape image_shape() const override { return {3, options_.crop, options_.crop}; }
  int64_t label(int64_t i) const override;
  // Reads and decodes the file; errors name the file and the example index.
  int64_t get(int64_t i, uint8_t* pixels) const override;
  std::string describe() const override;

  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& path(int64_t i) const;
  int64_t ignored_files() const { return ignored_; }

 private:
  void scan();  // fills classes_, files_, labels_, ignored_ from root_

  std::string root_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;
  std::vector<int32_t> labels_;
  int64_t ignored_ = 0;
};

// Resize-shorter-side + centre crop of an RGB image to CHW uint8 (what ImageFolder::get does
// after decoding). Exposed for tests.
void resize_center_crop(const uint8_t* rgb, int64_t h, int64_t w, int64_t resize, int64_t crop,
                        uint8_t* chw);

}  // namespace figs::data

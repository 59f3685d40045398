// JPEG (TurboJPEG) and PNG (libpng) decoding to 8-bit RGB, and encoding for tools and tests.
// The codec libraries are private to libfigs: this header includes none of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace figs::data {

// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC, 3 channels).
struct RgbImage {
  int64_t h = 0, w = 0;
  std::vector<uint8_t> pixels;
};

// Images above this many pixels are refused (a corrupt header must not allocate all of memory).
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

struct DecodeOptions {
  // > 0: a JPEG may be decoded at a reduced DCT scale (1/2, 1/4, 1/8, ...) as long as its
  // shorter side stays >= min_side. Much faster for large photos that get shrunk anyway.
  int64_t min_side = 0;
  // JPEG data libjpeg only warns about (a truncated scan, extraneous bytes) is an error when
  // strict; otherwise the decoded image is kept, as PIL does.
  bool strict = false;
};

// Decodes a JPEG or PNG held in memory (format from its signature) to RGB. Grayscale becomes
// three equal channels, CMYK is converted, a PNG's alpha channel is dropped (as PIL's
// convert("RGB") does). Throws figs::Error naming `name` for data that is neither format or
// that the codec cannot decode.
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name,
                      const DecodeOptions& options = {});

// Encoders (RGB, HWC): baseline JPEG with 4:2:0 chroma at `quality` 1..100, and 8-bit PNG.
std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int64_t h, int64_t w, int quality = 90);
std::vector<uint8_t> encode_png(const uint8_t* rgb, int64_t h, int64_t w);

}  // namespace figs::data

#include "data/image_codec.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace figs::data {

namespace {

bool is_jpeg(const uint8_t* d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }
bool is_png(const uint8_t* d, size_t n) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return n >= 8 && std::memcmp(d, sig, 8) == 0;
}

// One TurboJPEG handle per thread and direction: creating one per image costs a few KiB of
// allocations, and a handle must not be shared between threads.
struct TjHandle {
  tjhandle h = nullptr;
  ~TjHandle() {
    if (h != nullptr) tjDestroy(h);
  }
};
tjhandle decompressor() {
  thread_local TjHandle t;
  if (t.h == nullptr) t.h = tjInitDecompress();
  FIGS_CHECK(t.h != nullptr, "TurboJPEG: cannot create a decompressor (", tjGetErrorStr2(nullptr), ")");
  return t.h;
}
tjhandle compressor() {
  thread_local TjHandle t;
  if (t.h == nullptr) t.h = tjInitCompress();
  FIGS_CHECK(t.h != nullptr, "TurboJPEG: cannot create a compressor (", tjGetErrorStr2(nullptr), ")");
  return t.h;
}

void check_dims(int64_t w, int64_t h, const std::string& name, const char* what) {
  FIGS_CHECK(w > 0 && h > 0, name, ": undecodable ", what, ": image size ", w, "x", h);
  FIGS_CHECK(w <= kMaxImagePixels / h, name, ": ", what, " of ", w, "x", h,
             " pixels is larger than the limit of ", kMaxImagePixels, " pixels");
}

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                     const DecodeOptions& options) {
  tjhandle tj = decompressor();
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, static_cast<unsigned long>(size), &w, &h, &subsamp,
                          &colorspace) != 0)
    fail(name, ": undecodable JPEG (", tjGetErrorStr2(tj), ")");
  check_dims(w, h, name, "JPEG");

  // The smallest DCT scale that keeps the shorter side >= min_side. Only 1/2, 1/4 and 1/8:
  // libjpeg-turbo has fast (SIMD or trivial) reduced IDCTs for those; 3/4, 5/8, ... decode
  // slower than the full size (measured: 500x375 at 3/4 took 6x as long as 224x224 at 1/1).
  int sw = w, sh = h;
  if (options.min_side > 0) {
    for (const int denom : {2, 4, 8}) {
      const tjscalingfactor f{1, denom};
      const int cw = TJSCALED(w, f), ch = TJSCALED(h, f);
      if (std::min(cw, ch) < options.min_side) break;
      sw = cw;
      sh = ch;
    }
  }

  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const int channels = cmyk ? 4 : 3;
  std::vector<uint8_t> buf(static_cast<size_t>(sw) * sh * channels);
  const int flags = options.strict ? TJFLAG_STOPONWARNING : 0;
  if (tjDecompress2(tj, data, static_cast<unsigned long>(size), buf.data(), sw, 0, sh,
                    cmyk ? TJPF_CMYK : TJPF_RGB, flags) != 0) {
    const bool warning = tjGetErrorCode(tj) == TJERR_WARNING;
    if (!warning || options.strict)
      fail(name, ": undecodable JPEG (", tjGetErrorStr2(tj), ")");
  }
  RgbImage img;
  img.h = sh;
  img.w = sw;
  if (!cmyk) {
    img.pixels = std::move(buf);
    return img;
  }
  // CMYK JPEGs (Adobe) store inverted ink: 255 is no ink, so RGB = C * K / 255.
  img.pixels.resize(static_cast<size_t>(sw) * sh * 3);
  for (size_t p = 0; p < static_cast<size_t>(sw) * sh; ++p) {
    const unsigned k = buf[4 * p + 3];
    for (int c = 0; c < 3; ++c) img.pixels[3 * p + c] = static_cast<uint8_t>(buf[4 * p + c] * k / 255);
  }
  return img;
}

struct PngGuard {
  png_image* img;
  ~PngGuard() { png_image_free(img); }
};

RgbImage decode_png(const uint8_t* data, size_t size, const std::string& name) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  PngGuard guard{&png};
  if (!png_image_begin_read_from_memory(&png, data, size))
    fail(name, ": undecodable PNG (libpng: ", png.message, ")");
  check_dims(png.width, png.height, name, "PNG");
  // Keep the alpha channel through decoding and drop it after: PIL's convert("RGB") ignores
  // alpha rather than compositing.
  const bool alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  png.format = alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
  std::vector<uint8_t> buf(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, buf.data(), 0, nullptr))
    fail(name, ": undecodable PNG (libpng: ", png.message, ")");
  RgbImage img;
  img.h = png.height;
  img.w = png.width;
  if (!alpha) {
    img.pixels = std::move(buf);
    return img;
  }
  const size_t n = static_cast<size_t>(img.h) * static_cast<size_t>(img.w);
  img.pixels.resize(n * 3);
  for (size_t p = 0; p < n; ++p)
    for (int c = 0; c < 3; ++c) img.pixels[3 * p + c] = buf[4 * p + c];
  return img;
}

}  // namespace

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name,
                      const DecodeOptions& options) {
  if (is_jpeg(data, size)) return decode_jpeg(data, size, name, options);
  if (is_png(data, size)) return decode_png(data, size, name);
  fail(name, ": undecodable image: ", size == 0 ? "the file is empty" : "not a JPEG or PNG file",
       " (no JPEG or PNG signature at offset 0)");
}

std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int64_t h, int64_t w, int quality) {
  FIGS_CHECK(h > 0 && w > 0 && h <= 65535 && w <= 65535, "encode_jpeg: bad size ", w, "x", h);
  FIGS_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality ", quality, " not in 1..100");
  tjhandle tj = compressor();
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  if (tjCompress2(tj, rgb, static_cast<int>(w), 0, static_cast<int>(h), TJPF_RGB, &out, &out_size,
                  TJSAMP_420, quality, 0) != 0) {
    tjFree(out);
    fail("encode_jpeg: ", tjGetErrorStr2(tj));
  }
  std::vector<uint8_t> bytes(out, out + out_size);
  tjFree(out);
  return bytes;
}

std::vector<uint8_t> encode_png(const uint8_t* rgb, int64_t h, int64_t w) {
  FIGS_CHECK(h > 0 && w > 0 && h <= kMaxImagePixels / w, "encode_png: bad size ", w, "x", h);
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(w);
  png.height = static_cast<png_uint_32>(h);
  png.format = PNG_FORMAT_RGB;
  PngGuard guard{&png};
  png_alloc_size_t size = 0;
  FIGS_CHECK(png_image_write_to_memory(&png, nullptr, &size, 0, rgb, 0, nullptr),
             "encode_png: libpng: ", png.message);
  std::vector<uint8_t> bytes(size);
  FIGS_CHECK(png_image_write_to_memory(&png, bytes.data(), &size, 0, rgb, 0, nullptr),
             "encode_png: libpng: ", png.message);
  bytes.resize(size);
  return bytes;
}

}  // namespace figs::data

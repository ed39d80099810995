// Images as the vision path consumes them: 8-bit, 3 or 4 interleaved channels, any row
// stride. Caller buffers are wrapped without copying (the first copy is the resize inside
// preprocessing); encoded files/bytes are decoded with OpenCV into an owned RGB buffer.
//
// Decoding accepts PNG, JPEG, BMP and WebP only. The dimensions are read from the header
// and checked against a pixel limit BEFORE anything is decompressed (decompression bombs),
// and truncated or corrupt data is refused: every bad input raises viscpm::InvalidArgument
// with a message naming the problem. Decoding matches what the reference does with
// PIL.Image.open(...).convert("RGB"): alpha dropped (not composited), grey replicated,
// 16-bit colour samples reduced to their high byte, 16-bit grey clamped to 255 (PIL's "I"
// mode), EXIF orientation NOT applied. Checked equal to Pillow 9.4 for baseline and
// progressive JPEG, lossy/lossless WebP, RGB/RGBA/grey/palette PNG and BMP; CMYK JPEGs
// differ by up to 1 per channel (OpenCV's CMYK->RGB rounding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace viscpm::vision {

// Interleaved 8-bit layouts accepted from callers (Java BufferedImage / Android Bitmap
// buffers are one of these).
enum class PixelFormat { kRGB, kRGBA, kBGR, kBGRA };

int channel_count(PixelFormat format);
const char* pixel_format_name(PixelFormat format);

// A non-owning, validated view of interleaved pixels. Row y starts at data + y*row_stride.
struct ImageView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int64_t row_stride = 0;  // bytes from one row to the next (>= width * channels)
  PixelFormat format = PixelFormat::kRGB;

  int channels() const { return channel_count(format); }
  // Byte offsets of the red/green/blue samples inside one pixel.
  int red_offset() const;
  int green_offset() const { return 1; }
  int blue_offset() const;
};

// Image dimensions above this many pixels are refused before decoding (64 megapixels).
constexpr int64_t kDefaultMaxPixels = int64_t{64} * 1000 * 1000;

struct DecodeOptions {
  int64_t max_pixels = kDefaultMaxPixels;
};

enum class ImageFormat { kPng, kJpeg, kBmp, kWebp };
const char* image_format_name(ImageFormat format);

// What the header says, read without decoding the pixels.
struct ImageInfo {
  ImageFormat format = ImageFormat::kPng;
  int64_t width = 0;
  int64_t height = 0;
};

// Reads format and dimensions from the first bytes. InvalidArgument for empty input, an
// unrecognised or unsupported format, or a header too short to hold the dimensions.
ImageInfo probe_image(const uint8_t* bytes, size_t size);

// An image together with whatever keeps its pixels alive: a decoded buffer it owns, or
// nothing when it wraps caller memory (the caller keeps that memory alive and unchanged
// while the Image is in use). Copying an Image shares the pixels.
class Image {
 public:
  Image() = default;

  // Wraps caller pixels without copying. `size_bytes` is the size of the caller's buffer
  // and must cover (height-1)*row_stride + width*channels bytes. InvalidArgument for a
  // null buffer, 0-sized or negative dimensions, a stride shorter than a row, a buffer
  // too small, or more than `max_pixels` pixels.
  static Image wrap(const void* data, size_t size_bytes, int width, int height, int64_t row_stride,
                    PixelFormat format, int64_t max_pixels = kDefaultMaxPixels);
  // Same, tightly packed rows (row_stride = width * channels).
  static Image wrap_packed(const void* data, size_t size_bytes, int width, int height, PixelFormat format);

  // Decodes PNG / JPEG / BMP / WebP bytes into an owned RGB image.
  static Image decode(const uint8_t* bytes, size_t size, const DecodeOptions& options = {});
  static Image decode(const std::vector<uint8_t>& bytes, const DecodeOptions& options = {}) {
    return decode(bytes.data(), bytes.size(), options);
  }
  // Reads and decodes a file. NotFound when it does not exist, IoError when it cannot be
  // read, InvalidArgument when it is not a supported, intact image.
  static Image read_file(const std::filesystem::path& path, const DecodeOptions& options = {});

  bool empty() const { return view_.data == nullptr; }
  const ImageView& view() const { return view_; }
  int width() const { return view_.width; }
  int height() const { return view_.height; }
  PixelFormat format() const { return view_.format; }
  bool owns_pixels() const { return owner_ != nullptr; }

  // A tightly packed RGB copy (width*height*3 bytes).
  std::vector<uint8_t> to_packed_rgb() const;

 private:
  ImageView view_;
  std::shared_ptr<const void> owner_;
};

// Encodes pixels with OpenCV (for tests and for writing generated images). `quality`
// applies to JPEG (1..100) and WebP (1..100 lossy, above 100 lossless); PNG and WebP keep
// an alpha channel, JPEG and BMP drop it. InvalidArgument on bad views.
std::vector<uint8_t> encode_image(const ImageView& image, ImageFormat format, int quality = 95);

}  // namespace viscpm::vision

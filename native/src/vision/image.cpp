#include "vision/image.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstring>
#include <fstream>
#include <limits>
#include <system_error>

#include "common/error.h"

namespace viscpm::vision {
namespace {

uint32_t be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }
uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }
uint32_t le24(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16); }
uint32_t le32(const uint8_t* p) { return le24(p) | (uint32_t{p[3]} << 24); }

[[noreturn]] void invalid(const std::string& message) { throw InvalidArgument(message); }

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

bool starts_with(const uint8_t* bytes, size_t size, const void* prefix, size_t n) {
  return size >= n && std::memcmp(bytes, prefix, n) == 0;
}

// ---- PNG: signature, then chunks (length, type, data, crc) up to IEND ----------------------

ImageInfo probe_png(const uint8_t* b, size_t size) {
  if (size < 26 || std::memcmp(b + 12, "IHDR", 4) != 0) invalid("PNG data is truncated or corrupt: no IHDR header");
  return {ImageFormat::kPng, int64_t{be32(b + 16)}, int64_t{be32(b + 20)}};
}

// libpng stops at the first missing byte but OpenCV may still hand back a partial image;
// walking the chunk list makes "truncated" a property of the bytes, checked up front.
// IHDR bit depth 16, colour type 0 (grey without alpha).
bool is_png_gray16(const uint8_t* b, const ImageInfo& info) {
  return info.format == ImageFormat::kPng && b[24] == 16 && b[25] == 0;
}

void check_png_complete(const uint8_t* b, size_t size) {
  size_t pos = 8;
  while (true) {
    if (size - pos < 12) invalid("PNG data is truncated (no IEND chunk)");
    const uint64_t length = be32(b + pos);
    if (length > size - pos - 12) invalid("PNG data is truncated (a chunk runs past the end of the data)");
    const bool end = std::memcmp(b + pos + 4, "IEND", 4) == 0;
    pos += 12 + length;
    if (end) return;
  }
}

// ---- JPEG: marker segments; entropy-coded data after each SOS ----------------------------

bool is_sof_marker(uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

struct JpegScan {
  int64_t width = -1, height = -1;
  bool complete = false;  // reached EOI
};

// Walks the marker structure. With `to_end` false it stops at the frame header (enough for
// the dimensions); otherwise it continues to EOI so truncated files are detected (libjpeg
// would pad them with grey and only warn).
JpegScan scan_jpeg(const uint8_t* b, size_t size, bool to_end) {
  JpegScan scan;
  size_t pos = 2;  // after SOI
  while (true) {
    while (pos < size && b[pos] != 0xFF) ++pos;  // libjpeg skips stray bytes with a warning
    while (pos < size && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= size) return scan;
    const uint8_t marker = b[pos++];
    if (marker == 0xD9) {
      scan.complete = true;
      return scan;
    }
    // FF 00 is no marker (a stuffed zero): libjpeg skips it as garbage, and so must this walk,
    // or a length read after it could jump over the frame header libjpeg will use.
    if (marker == 0x00) continue;
    if (marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no payload
    if (size - pos < 2) return scan;
    const size_t length = be16(b + pos);
    if (length < 2) invalid("JPEG data is corrupt (segment length " + std::to_string(length) + ")");
    if (is_sof_marker(marker)) {
      if (size - pos < 7) return scan;
      scan.height = be16(b + pos + 3);
      scan.width = be16(b + pos + 5);
      if (!to_end) return scan;
    }
    if (length > size - pos) return scan;
    pos += length;
    if (marker == 0xDA) {  // start of scan: entropy-coded bytes up to the next real marker
      if (scan.width < 0) invalid("JPEG data is corrupt (scan before the frame header)");
      while (true) {
        if (size - pos < 2) return scan;
        if (b[pos] != 0xFF) { ++pos; continue; }
        const uint8_t next = b[pos + 1];
        if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) { pos += 2; continue; }  // stuffing / restart
        if (next == 0xFF) { ++pos; continue; }
        break;  // a marker: back to the segment loop
      }
    }
  }
}

ImageInfo probe_jpeg(const uint8_t* b, size_t size) {
  const JpegScan scan = scan_jpeg(b, size, /*to_end=*/false);
  if (scan.width < 0) invalid("JPEG data is truncated or corrupt: no frame header with the image size");
  if (scan.height == 0) invalid("JPEG images whose height is defined after the first scan (DNL) are not supported");
  return {ImageFormat::kJpeg, scan.width, scan.height};
}

// ---- BMP: file header (14 bytes) + DIB header ---------------------------------------------

ImageInfo probe_bmp(const uint8_t* b, size_t size) {
  if (size < 26) invalid("BMP data is truncated: no complete header");
  const uint32_t dib_size = le32(b + 14);
  if (dib_size == 12) return {ImageFormat::kBmp, int64_t{le16(b + 18)}, int64_t{le16(b + 20)}};  // OS/2 1.x core header
  if (dib_size < 16 || size < 26) invalid("BMP data is corrupt: unknown header size " + std::to_string(dib_size));
  const int32_t width = static_cast<int32_t>(le32(b + 18));
  const int32_t height = static_cast<int32_t>(le32(b + 22));  // negative: rows stored top-down
  if (width < 0) invalid("BMP data is corrupt: negative width");
  return {ImageFormat::kBmp, int64_t{width}, height < 0 ? -int64_t{height} : int64_t{height}};
}

void check_bmp_complete(const uint8_t* b, size_t size, const ImageInfo& info) {
  const uint32_t dib_size = le32(b + 14);
  if (dib_size < 40) return;  // old headers: leave it to the decoder
  if (size < 34) invalid("BMP data is truncated: no complete header");
  const uint32_t bits_per_pixel = le16(b + 28);
  const uint32_t compression = le32(b + 30);
  if (compression != 0 && compression != 3 && compression != 6) return;  // RLE/embedded: variable size
  const uint64_t row_bytes = ((static_cast<uint64_t>(info.width) * bits_per_pixel + 31) / 32) * 4;
  const uint64_t needed = uint64_t{le32(b + 10)} + row_bytes * uint64_t(info.height);
  if (needed > size) {
    invalid("BMP data is truncated: pixel data needs " + std::to_string(needed) + " bytes, got " +
            std::to_string(size));
  }
}

// ---- WebP: RIFF container, first chunk VP8 / VP8L / VP8X -----------------------------------

ImageInfo probe_webp(const uint8_t* b, size_t size) {
  if (size < 30) invalid("WebP data is truncated: no complete header");
  if (std::memcmp(b + 12, "VP8 ", 4) == 0) {
    if (b[23] != 0x9D || b[24] != 0x01 || b[25] != 0x2A) invalid("WebP data is corrupt: bad VP8 frame header");
    return {ImageFormat::kWebp, int64_t{le16(b + 26) & 0x3FFF}, int64_t{le16(b + 28) & 0x3FFF}};
  }
  if (std::memcmp(b + 12, "VP8L", 4) == 0) {
    if (b[20] != 0x2F) invalid("WebP data is corrupt: bad VP8L signature");
    const uint32_t bits = le32(b + 21);
    return {ImageFormat::kWebp, int64_t{bits & 0x3FFF} + 1, int64_t{(bits >> 14) & 0x3FFF} + 1};
  }
  if (std::memcmp(b + 12, "VP8X", 4) == 0) {
    return {ImageFormat::kWebp, int64_t{le24(b + 24)} + 1, int64_t{le24(b + 27)} + 1};
  }
  invalid("WebP data is corrupt: unknown first chunk");
}

void check_webp_complete(const uint8_t* b, size_t size) {
  const uint64_t riff_end = uint64_t{le32(b + 4)} + 8;
  if (riff_end > size) {
    invalid("WebP data is truncated: the RIFF container declares " + std::to_string(riff_end) + " bytes, got " +
            std::to_string(size));
  }
}

void check_complete(const uint8_t* b, size_t size, const ImageInfo& info) {
  switch (info.format) {
    case ImageFormat::kPng: check_png_complete(b, size); break;
    case ImageFormat::kJpeg:
      if (!scan_jpeg(b, size, /*to_end=*/true).complete) invalid("JPEG data is truncated (no end-of-image marker)");
      break;
    case ImageFormat::kBmp: check_bmp_complete(b, size, info); break;
    case ImageFormat::kWebp: check_webp_complete(b, size); break;
  }
}

void check_dimensions(int64_t width, int64_t height, int64_t max_pixels, const char* what) {
  if (width <= 0 || height <= 0) {
    invalid(std::string(what) + " has zero width or height (" + std::to_string(width) + "x" + std::to_string(height) + ")");
  }
  if (max_pixels <= 0) invalid("the pixel limit must be positive, got " + std::to_string(max_pixels));
  // Dimensions up to 2^32 - 1 each (PNG): their product can overflow int64, so compare by
  // division (width > max / height  <=>  width * height > max, for positive integers).
  if (width > max_pixels / height) {
    invalid(std::string(what) + " is " + std::to_string(width) + "x" + std::to_string(height) + " = " +
            std::to_string(width * height) + " pixels, over the limit of " + std::to_string(max_pixels) +
            " pixels (DecodeOptions::max_pixels)");
  }
}

int cv_type(PixelFormat format) { return channel_count(format) == 4 ? CV_8UC4 : CV_8UC3; }

}  // namespace

int channel_count(PixelFormat format) {
  return format == PixelFormat::kRGBA || format == PixelFormat::kBGRA ? 4 : 3;
}

const char* pixel_format_name(PixelFormat format) {
  switch (format) {
    case PixelFormat::kRGB: return "RGB";
    case PixelFormat::kRGBA: return "RGBA";
    case PixelFormat::kBGR: return "BGR";
    case PixelFormat::kBGRA: return "BGRA";
  }
  return "?";
}

int ImageView::red_offset() const { return format == PixelFormat::kRGB || format == PixelFormat::kRGBA ? 0 : 2; }
int ImageView::blue_offset() const { return 2 - red_offset(); }

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kWebp: return "WebP";
  }
  return "?";
}

ImageInfo probe_image(const uint8_t* bytes, size_t size) {
  if (bytes == nullptr || size == 0) invalid("image data is empty");
  if (starts_with(bytes, size, kPngSignature, 8)) return probe_png(bytes, size);
  if (size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return probe_jpeg(bytes, size);
  if (starts_with(bytes, size, "BM", 2)) return probe_bmp(bytes, size);
  if (size >= 12 && std::memcmp(bytes, "RIFF", 4) == 0 && std::memcmp(bytes + 8, "WEBP", 4) == 0) {
    return probe_webp(bytes, size);
  }
  invalid("image data is not a PNG, JPEG, BMP or WebP file (" + std::to_string(size) + " bytes; unrecognised header)");
}

Image Image::wrap(const void* data, size_t size_bytes, int width, int height, int64_t row_stride, PixelFormat format,
                  int64_t max_pixels) {
  if (data == nullptr) invalid("pixel buffer is null");
  check_dimensions(width, height, max_pixels, "pixel buffer");
  const int64_t row_bytes = int64_t{width} * channel_count(format);
  if (row_stride < row_bytes) {
    invalid("row stride " + std::to_string(row_stride) + " is shorter than one row of " + std::to_string(width) + " " +
            pixel_format_name(format) + " pixels (" + std::to_string(row_bytes) + " bytes)");
  }
  const int64_t needed = (int64_t{height} - 1) * row_stride + row_bytes;
  if (static_cast<uint64_t>(needed) > size_bytes) {
    invalid("pixel buffer holds " + std::to_string(size_bytes) + " bytes but " + std::to_string(width) + "x" +
            std::to_string(height) + " " + pixel_format_name(format) + " pixels with row stride " +
            std::to_string(row_stride) + " need " + std::to_string(needed));
  }
  Image image;
  image.view_ = {static_cast<const uint8_t*>(data), width, height, row_stride, format};
  return image;
}

Image Image::wrap_packed(const void* data, size_t size_bytes, int width, int height, PixelFormat format) {
  return wrap(data, size_bytes, width, height, int64_t{width} * channel_count(format), format);
}

Image Image::decode(const uint8_t* bytes, size_t size, const DecodeOptions& options) {
  const ImageInfo info = probe_image(bytes, size);
  const std::string what = std::string(image_format_name(info.format)) + " image";
  check_dimensions(info.width, info.height, options.max_pixels, what.c_str());
  check_complete(bytes, size, info);

  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) invalid(what + " data is larger than 2 GiB");
  auto decoded = std::make_shared<cv::Mat>();
  try {
    const cv::Mat buffer(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(bytes));
    if (is_png_gray16(bytes, info)) {
      // PIL opens 16-bit grey PNGs as 32-bit integers ("I") and convert("RGB") clamps them
      // to 255; OpenCV would keep the high byte instead.
      cv::Mat gray16 = cv::imdecode(buffer, cv::IMREAD_ANYDEPTH | cv::IMREAD_GRAYSCALE);
      if (!gray16.empty() && gray16.depth() == CV_16U) {
        cv::Mat gray8;
        cv::min(gray16, 255.0, gray16);
        gray16.convertTo(gray8, CV_8U);
        cv::cvtColor(gray8, *decoded, cv::COLOR_GRAY2RGB);
      }
    } else {
      // RGB like PIL's convert("RGB"); the reference never applies EXIF orientation.
      *decoded = cv::imdecode(buffer, cv::IMREAD_COLOR_RGB | cv::IMREAD_IGNORE_ORIENTATION);
    }
  } catch (const cv::Exception& e) {
    invalid("could not decode " + what + ": " + e.what());
  }
  if (decoded->empty()) invalid("could not decode " + what + " (corrupt or truncated data)");
  if (decoded->type() != CV_8UC3 || decoded->cols != info.width || decoded->rows != info.height) {
    invalid("could not decode " + what + ": decoded " + std::to_string(decoded->cols) + "x" +
            std::to_string(decoded->rows) + " but the header declares " + std::to_string(info.width) + "x" +
            std::to_string(info.height));
  }
  Image image;
  image.view_ = {decoded->ptr<uint8_t>(0), decoded->cols, decoded->rows, static_cast<int64_t>(decoded->step[0]),
                 PixelFormat::kRGB};
  image.owner_ = std::shared_ptr<const void>(decoded, decoded.get());
  return image;
}

Image Image::read_file(const std::filesystem::path& path, const DecodeOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw NotFound("image file not found: " + path.string());
  if (std::filesystem::is_directory(path, ec)) invalid("image path is a directory: " + path.string());
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError("cannot read image file " + path.string() + ": " + ec.message());
  constexpr uintmax_t kMaxFileBytes = uintmax_t{1} << 30;
  if (file_size > kMaxFileBytes) {
    invalid("image file " + path.string() + " is " + std::to_string(file_size) + " bytes, over the 1 GiB limit");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(file_size));
  std::ifstream in(path, std::ios::binary);
  if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw IoError("cannot read image file " + path.string());
  }
  try {
    return decode(bytes, options);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(path.string() + ": " + e.what());
  }
}

std::vector<uint8_t> Image::to_packed_rgb() const {
  std::vector<uint8_t> out(static_cast<size_t>(view_.width) * view_.height * 3);
  const int channels = view_.channels(), r = view_.red_offset(), b = view_.blue_offset();
  for (int y = 0; y < view_.height; ++y) {
    const uint8_t* row = view_.data + y * view_.row_stride;
    uint8_t* dst = out.data() + static_cast<size_t>(y) * view_.width * 3;
    for (int x = 0; x < view_.width; ++x, row += channels, dst += 3) {
      dst[0] = row[r];
      dst[1] = row[1];
      dst[2] = row[b];
    }
  }
  return out;
}

std::vector<uint8_t> encode_image(const ImageView& image, ImageFormat format, int quality) {
  if (image.data == nullptr || image.width <= 0 || image.height <= 0) invalid("cannot encode an empty image");
  if (image.row_stride < int64_t{image.width} * image.channels()) invalid("cannot encode: row stride shorter than a row");
  if (quality < 1) invalid("encoding quality must be at least 1, got " + std::to_string(quality));
  const cv::Mat pixels(image.height, image.width, cv_type(image.format), const_cast<uint8_t*>(image.data),
                       static_cast<size_t>(image.row_stride));
  const bool keep_alpha = image.channels() == 4 && (format == ImageFormat::kPng || format == ImageFormat::kWebp);
  cv::Mat bgr;  // OpenCV's encoders take BGR(A)
  switch (image.format) {
    case PixelFormat::kRGB: cv::cvtColor(pixels, bgr, cv::COLOR_RGB2BGR); break;
    case PixelFormat::kBGR: bgr = pixels; break;
    case PixelFormat::kRGBA: cv::cvtColor(pixels, bgr, keep_alpha ? cv::COLOR_RGBA2BGRA : cv::COLOR_RGBA2BGR); break;
    case PixelFormat::kBGRA:
      if (keep_alpha) bgr = pixels; else cv::cvtColor(pixels, bgr, cv::COLOR_BGRA2BGR);
      break;
  }
  std::vector<int> params;
  const char* extension = ".png";
  switch (format) {
    case ImageFormat::kPng: extension = ".png"; break;
    case ImageFormat::kBmp: extension = ".bmp"; break;
    case ImageFormat::kJpeg:
      extension = ".jpg";
      params = {cv::IMWRITE_JPEG_QUALITY, std::min(quality, 100)};
      break;
    case ImageFormat::kWebp:
      extension = ".webp";
      params = {cv::IMWRITE_WEBP_QUALITY, quality};  // above 100: lossless
      break;
  }
  std::vector<uint8_t> out;
  try {
    if (!cv::imencode(extension, bgr, out, params)) invalid(std::string("OpenCV could not encode ") + image_format_name(format));
  } catch (const cv::Exception& e) {
    invalid(std::string("OpenCV could not encode ") + image_format_name(format) + ": " + e.what());
  }
  return out;
}

}  // namespace viscpm::vision

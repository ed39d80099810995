// Image decoding (PNG, JPEG, BMP, WebP through OpenCV), header probing, refusal of bad
// input, and wrapping of caller buffers.
#include <ATen/core/Tensor.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/error.h"
#include "test_support.h"
#include "vision/image.h"

namespace viscpm::vision {
namespace {

// Smooth gradients plus a few hard edges: JPEG keeps it close, lossless formats exactly.
std::vector<uint8_t> test_rgb(int width, int height) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / std::max(width - 1, 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max(height - 1, 1));
      p[2] = static_cast<uint8_t>(((x / 8 + y / 8) % 2) ? 200 : 40);
    }
  return rgb;
}

ImageView packed_view(const std::vector<uint8_t>& rgb, int w, int h) {
  return Image::wrap_packed(rgb.data(), rgb.size(), w, h, PixelFormat::kRGB).view();
}

double mean_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double total = 0;
  for (size_t i = 0; i < a.size(); ++i) total += std::abs(int(a[i]) - int(b[i]));
  return total / static_cast<double>(a.size());
}

uint32_t crc32(const uint8_t* data, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= data[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void put_chunk(std::vector<uint8_t>& png, const char* type, const std::vector<uint8_t>& data) {
  put_be32(png, static_cast<uint32_t>(data.size()));
  const size_t start = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data.begin(), data.end());
  put_be32(png, crc32(&png[start], png.size() - start));
}

// A well-formed PNG header declaring width x height RGB, with a token IDAT and IEND.
std::vector<uint8_t> png_with_header(uint32_t width, uint32_t height) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", {0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  put_chunk(png, "IEND", {});
  return png;
}

void expect_invalid(const std::vector<uint8_t>& bytes, const std::string& needle, const DecodeOptions& options = {}) {
  try {
    Image::decode(bytes, options);
    ADD_FAILURE() << "expected InvalidArgument mentioning '" << needle << "'";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(VisionImage, LosslessFormatsRoundTripExactly) {
  const int w = 61, h = 37;
  const auto rgb = test_rgb(w, h);
  for (ImageFormat format : {ImageFormat::kPng, ImageFormat::kBmp, ImageFormat::kWebp}) {
    const auto bytes = encode_image(packed_view(rgb, w, h), format, /*quality=*/101);  // WebP > 100: lossless
    const auto info = probe_image(bytes.data(), bytes.size());
    EXPECT_EQ(info.format, format);
    EXPECT_EQ(info.width, w);
    EXPECT_EQ(info.height, h);
    const auto image = Image::decode(bytes);
    EXPECT_TRUE(image.owns_pixels());
    EXPECT_EQ(image.format(), PixelFormat::kRGB);
    ASSERT_EQ(image.width(), w);
    ASSERT_EQ(image.height(), h);
    EXPECT_EQ(image.to_packed_rgb(), rgb) << image_format_name(format) << " decoded with swapped channels or changed pixels";
  }
}

TEST(VisionImage, LossyFormatsDecodeCloseToTheOriginal) {
  const int w = 64, h = 48;
  const auto rgb = test_rgb(w, h);
  for (ImageFormat format : {ImageFormat::kJpeg, ImageFormat::kWebp}) {
    const auto bytes = encode_image(packed_view(rgb, w, h), format, 95);
    const auto image = Image::decode(bytes);
    ASSERT_EQ(image.width(), w);
    ASSERT_EQ(image.height(), h);
    // A channel swap puts the mean error near 80; JPEG/WebP noise on the 8-pixel checker
    // (chroma subsampling) stays under ~7.
    EXPECT_LT(mean_abs_diff(image.to_packed_rgb(), rgb), 12.0) << image_format_name(format);
  }
}

TEST(VisionImage, AlphaIsDroppedNotComposited) {
  const int w = 20, h = 10;
  const auto rgb = test_rgb(w, h);
  std::vector<uint8_t> rgba(static_cast<size_t>(w) * h * 4);
  for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {
    for (int c = 0; c < 3; ++c) rgba[i * 4 + c] = rgb[i * 3 + c];
    rgba[i * 4 + 3] = static_cast<uint8_t>(i % 256);  // PIL convert("RGB") ignores alpha
  }
  const auto view = Image::wrap_packed(rgba.data(), rgba.size(), w, h, PixelFormat::kRGBA).view();
  EXPECT_EQ(Image::decode(encode_image(view, ImageFormat::kPng)).to_packed_rgb(), rgb);
}

TEST(VisionImage, ReadsFilesAndReportsMissingOnes) {
  const int w = 33, h = 21;
  const auto rgb = test_rgb(w, h);
  const auto dir = std::filesystem::temp_directory_path() / ("viscpm_vision_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "card.png";
  const auto bytes = encode_image(packed_view(rgb, w, h), ImageFormat::kPng);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  EXPECT_EQ(Image::read_file(path).to_packed_rgb(), rgb);
  EXPECT_THROW(Image::read_file(dir / "missing.png"), NotFound);
  EXPECT_THROW(Image::read_file(dir), InvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(VisionImage, DecodesTheFixtureImage) {
  const auto image = Image::read_file(viscpm::testing::fixtures_dir() / "cases/image_preprocess/image.png");
  EXPECT_EQ(image.width(), 97);
  EXPECT_EQ(image.height(), 61);
}

TEST(VisionImage, RefusesEmptyRandomAndUnsupportedData) {
  expect_invalid({}, "empty");
  std::mt19937 rng(7);
  std::vector<uint8_t> noise(4096);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  noise[0] = 0x12;  // make sure it does not start with a known signature
  expect_invalid(noise, "not a PNG, JPEG, BMP or WebP");
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  expect_invalid(std::vector<uint8_t>(gif.begin(), gif.end()), "not a PNG, JPEG, BMP or WebP");
  // Right signature, nothing after it.
  expect_invalid({0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, "PNG");
  expect_invalid({0xFF, 0xD8, 0xFF}, "JPEG");
}

TEST(VisionImage, RefusesTruncatedData) {
  const int w = 64, h = 48;
  const auto rgb = test_rgb(w, h);
  for (ImageFormat format : {ImageFormat::kPng, ImageFormat::kJpeg, ImageFormat::kBmp, ImageFormat::kWebp}) {
    auto bytes = encode_image(packed_view(rgb, w, h), format, 90);
    bytes.resize(bytes.size() / 2);
    expect_invalid(bytes, "truncated");
  }
}

TEST(VisionImage, RefusesCorruptCompressedData) {
  const int w = 64, h = 48;
  const auto rgb = test_rgb(w, h);
  // PNG checks CRCs and filter bytes; lossy codecs (JPEG, WebP) decode damaged payloads into
  // damaged pixels without an error, as PIL does.
  auto bytes = encode_image(packed_view(rgb, w, h), ImageFormat::kPng);
  for (size_t i = bytes.size() / 3; i < bytes.size() * 2 / 3; ++i) bytes[i] ^= 0x5A;  // same length, bad payload
  expect_invalid(bytes, "could not decode");
}

// 16-bit grey PNG written by hand (stored deflate block): PIL reads it as mode "I" and
// convert("RGB") clamps to 255, so 256 and 65535 both become 255 (not their high byte).
TEST(VisionImage, SixteenBitGreyPngIsClampedLikePil) {
  const std::vector<uint16_t> samples = {0, 100, 255, 256, 1000, 65535};
  std::vector<uint8_t> raw = {0};  // one row, filter type 0
  for (uint16_t v : samples) raw.insert(raw.end(), {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v & 255)});
  std::vector<uint8_t> zlib = {0x78, 0x01, 0x01, static_cast<uint8_t>(raw.size()), 0,
                               static_cast<uint8_t>(~raw.size()), 0xFF};
  zlib.insert(zlib.end(), raw.begin(), raw.end());
  uint32_t a = 1, b = 0;
  for (uint8_t v : raw) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(zlib, (b << 16) | a);
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, static_cast<uint32_t>(samples.size()));
  put_be32(ihdr, 1);
  ihdr.insert(ihdr.end(), {16, 0, 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", zlib);
  put_chunk(png, "IEND", {});
  const auto rgb = Image::decode(png).to_packed_rgb();
  const std::vector<uint8_t> expected = {0, 0, 0, 100, 100, 100, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
  EXPECT_EQ(rgb, expected);
}

TEST(VisionImage, RefusesZeroSizedImages) {
  expect_invalid(png_with_header(0, 0), "zero width or height");
  expect_invalid(png_with_header(10, 0), "zero width or height");
}

TEST(VisionImage, RefusesDecompressionBombsFromTheHeader) {
  // 100k x 100k = 10 gigapixels declared in a 60-byte file: refused before decoding.
  const auto bomb = png_with_header(100000, 100000);
  EXPECT_LT(bomb.size(), 100u);
  expect_invalid(bomb, "over the limit");
  // Found by the fuzzer: sides near 2^32 whose product overflows int64 (to a negative
  // number) must not slip past the limit into the decoder.
  for (auto [w, h] : {std::pair<uint32_t, uint32_t>{0xFFFFFFFFu, 0xFFFFFFFFu}, {3758063615u, 3640590336u},
                      {0x80000000u, 0x80000000u}, {0xFFFFFFFFu, 3u}})
    expect_invalid(png_with_header(w, h), "over the limit");
  // The limit is configurable: a small real image against a smaller limit.
  const auto rgb = test_rgb(100, 100);
  const auto png = encode_image(packed_view(rgb, 100, 100), ImageFormat::kPng);
  DecodeOptions tight;
  tight.max_pixels = 5000;
  expect_invalid(png, "over the limit", tight);
  EXPECT_NO_THROW(Image::decode(png));
}

// Found by the fuzz harness: the header probe must read the frame the decoder reads. A
// stuffed "FF 00" between segments is garbage to libjpeg (skipped with a warning); read as
// a marker with a length it made the probe jump over the real frame header to a decoy, so
// a 1 KB file declaring 14412x22096 made OpenCV allocate 955 MB.
TEST(VisionImage, JpegProbeReadsTheFrameTheDecoderReads) {
  const auto rgb = test_rgb(17, 11);
  std::vector<uint8_t> real = encode_image(packed_view(rgb, 17, 11), ImageFormat::kJpeg, 90);
  size_t sof = 0;
  for (size_t i = 2; i + 9 < real.size(); ++i)
    if (real[i] == 0xFF && real[i + 1] == 0xC0) {
      sof = i;
      break;
    }
  ASSERT_GT(sof, 0u);
  real[sof + 5] = 0;  // the real frame: 100x100 = 10000 pixels, over the limit below
  real[sof + 6] = 100;
  real[sof + 7] = 0;
  real[sof + 8] = 100;
  const std::vector<uint8_t> decoy = {0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x0B, 0x00, 0x11, 0x03, 0x01, 0x22,
                                      0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xFF, 0xD9};  // 17x11
  std::vector<uint8_t> bytes = {0xFF, 0xD8, 0xFF, 0x00};
  const size_t skip = 2 + (real.size() - 2) + 1;  // from the "length" bytes to the decoy
  ASSERT_LT(skip, 0xFF00u);
  ASSERT_NE(skip & 0xFF, 0xFFu);
  bytes.push_back(static_cast<uint8_t>(skip >> 8));
  bytes.push_back(static_cast<uint8_t>(skip & 0xFF));
  bytes.insert(bytes.end(), real.begin() + 2, real.end());
  bytes.push_back(0x00);
  bytes.insert(bytes.end(), decoy.begin(), decoy.end());
  const ImageInfo info = probe_image(bytes.data(), bytes.size());
  EXPECT_EQ(info.width, 100);
  EXPECT_EQ(info.height, 100);
  DecodeOptions tight;
  tight.max_pixels = 1000;
  expect_invalid(bytes, "over the limit", tight);
}

TEST(VisionImage, WrapValidatesTheBuffer) {
  std::vector<uint8_t> buffer(10 * 4 * 3);
  EXPECT_THROW(Image::wrap(nullptr, 100, 2, 2, 6, PixelFormat::kRGB), InvalidArgument);
  EXPECT_THROW(Image::wrap(buffer.data(), buffer.size(), 0, 3, 40, PixelFormat::kRGBA), InvalidArgument);
  EXPECT_THROW(Image::wrap(buffer.data(), buffer.size(), 10, 3, 39, PixelFormat::kRGBA), InvalidArgument);
  EXPECT_THROW(Image::wrap(buffer.data(), buffer.size() - 1, 10, 3, 40, PixelFormat::kRGBA), InvalidArgument);
  EXPECT_THROW(Image::wrap(buffer.data(), buffer.size(), 10, 3, 40, PixelFormat::kRGBA, /*max_pixels=*/29),
               InvalidArgument);
  const auto ok = Image::wrap(buffer.data(), buffer.size(), 10, 3, 40, PixelFormat::kBGRA);
  EXPECT_EQ(ok.view().data, buffer.data());
  EXPECT_EQ(ok.view().red_offset(), 2);
  EXPECT_EQ(ok.view().blue_offset(), 0);
}

}  // namespace
}  // namespace viscpm::vision

// Image target: vision::probe_image / Image::decode (PNG, JPEG, BMP, WebP through OpenCV)
// and the preprocessing of what decodes, plus Image::wrap over caller-described buffers.
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstring>

#include "mutator.h"
#include "targets.h"
#include "vision/image.h"
#include "vision/preprocess.h"

namespace viscpm::fuzz {
namespace {

using namespace std::string_literals;

using viscpm::vision::Image;

// Decoding limit of the target. The check against the limit is the same code whatever the
// limit; 4 MP keeps a mutated header from making each input a 64 MP decode.
constexpr int64_t kMaxPixels = 4'000'000;
// Decoded images up to this size also go through the (Pillow-exact) preprocessing.
constexpr int64_t kPreprocessPixels = 1'000'000;

uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

void init_image(const Context&) {
  cv::setNumThreads(0);
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);  // one line per refused input
}

// The fixture PNG, and the same picture re-encoded by OpenCV in every format and layout the
// decoder accepts: RGB / RGBA / grey / 16-bit PNG, baseline / progressive / grey JPEG,
// 24 / 32-bit and palette BMP, lossy / lossless / alpha WebP, at two sizes.
std::vector<Bytes> image_seeds(const Context& context) {
  std::vector<Bytes> out;
  Bytes png = read_bytes(fixture(context, "cases/image_preprocess/image.png"));
  out.push_back(png);
  cv::Mat bgr = cv::imdecode(cv::Mat(1, static_cast<int>(png.size()), CV_8UC1, png.data()), cv::IMREAD_COLOR);
  if (bgr.empty()) throw HarnessError("OpenCV cannot decode the fixture image");
  for (cv::Size size : {cv::Size(bgr.cols, bgr.rows), cv::Size(17, 11)}) {
    cv::Mat colour, bgra, grey, grey16, colour16;
    cv::resize(bgr, colour, size, 0, 0, cv::INTER_AREA);
    cv::cvtColor(colour, bgra, cv::COLOR_BGR2BGRA);
    for (int y = 0; y < bgra.rows; ++y)
      for (int x = 0; x < bgra.cols; ++x) bgra.at<cv::Vec4b>(y, x)[3] = static_cast<uint8_t>((x * 37 + y * 11) & 0xff);
    cv::cvtColor(colour, grey, cv::COLOR_BGR2GRAY);
    grey.convertTo(grey16, CV_16U, 257.0);
    colour.convertTo(colour16, CV_16U, 257.0);
    auto encode = [&](const char* ext, const cv::Mat& m, std::vector<int> params = {}) {
      std::vector<uint8_t> buf;
      if (!cv::imencode(ext, m, buf, params)) throw HarnessError(std::string("OpenCV cannot encode ") + ext);
      out.emplace_back(buf.begin(), buf.end());
    };
    encode(".png", colour);
    encode(".png", bgra);
    encode(".png", grey);
    encode(".png", grey16);
    encode(".png", colour16, {cv::IMWRITE_PNG_COMPRESSION, 0});
    encode(".jpg", colour, {cv::IMWRITE_JPEG_QUALITY, 90});
    encode(".jpg", colour, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
    encode(".jpg", grey, {cv::IMWRITE_JPEG_QUALITY, 50});
    encode(".jpg", colour, {cv::IMWRITE_JPEG_RST_INTERVAL, 2, cv::IMWRITE_JPEG_OPTIMIZE, 1});
    encode(".bmp", colour);
    encode(".bmp", bgra);
    encode(".bmp", grey);
    encode(".webp", colour, {cv::IMWRITE_WEBP_QUALITY, 80});
    encode(".webp", colour, {cv::IMWRITE_WEBP_QUALITY, 101});
    encode(".webp", bgra, {cv::IMWRITE_WEBP_QUALITY, 101});
  }
  return out;
}

std::vector<Bytes> image_dictionary() {
  return {"\x89PNG\r\n\x1a\n"s, "IHDR"s, "IDAT"s, "IEND"s, "PLTE"s, "tRNS"s, "acTL"s, "fcTL"s, "\xff\xd8\xff"s, "\xff\xd9"s,
          "\xff\xc0"s, "\xff\xc2"s, "\xff\xc4"s, "\xff\xda"s, "\xff\xdb"s, "\xff\xdd"s, "\xff\xe1"s, "Exif\0\0"s, "BM"s,
          "\x28\0\0\0"s, "\x0c\0\0\0"s, "RIFF"s, "WEBP"s, "VP8 "s, "VP8L"s, "VP8X"s, "ALPH"s, "ANIM"s, "ANMF"s,
          "\x9d\x01\x2a"s, "\xff\xff\xff\xff"s, "\x00\x00\x00\x00"s, "\x7f\xff\xff\xff"s};
}

void check_decoded(const uint8_t* data, size_t size, const Image& image) {
  const auto info = viscpm::vision::probe_image(data, size);
  if (image.width() != info.width || image.height() != info.height)
    oracle_failed("decoded " + std::to_string(image.width()) + "x" + std::to_string(image.height()) +
                  " but the header says " + std::to_string(info.width) + "x" + std::to_string(info.height));
  if (int64_t(image.width()) * image.height() > kMaxPixels) oracle_failed("decoded an image over the pixel limit");
  const auto& view = image.view();
  if (image.format() != viscpm::vision::PixelFormat::kRGB || view.row_stride < int64_t(view.width) * 3)
    oracle_failed("decoded image is not packed RGB rows");
  if (int64_t(image.width()) * image.height() <= kPreprocessPixels) {
    at::Tensor t = viscpm::vision::preprocess_image(view);
    if (t.dim() != 3 || t.size(0) != 3 || t.size(1) != 224 || t.size(2) != 224)
      oracle_failed("preprocess_image returned the wrong shape");
  }
}

}  // namespace

int fuzz_image(const uint8_t* data, size_t size) {
  // The header's dimensions, when the header parses: over the limit, decode must refuse
  // them before anything is decompressed (and say so).
  std::optional<viscpm::vision::ImageInfo> info;
  step([&] { info = viscpm::vision::probe_image(data, size); });
  const bool over_limit = info && info->width > 0 && info->height > 0 &&
                          static_cast<unsigned __int128>(info->width) * static_cast<unsigned __int128>(info->height) >
                              static_cast<unsigned __int128>(kMaxPixels);
  viscpm::vision::DecodeOptions options;
  options.max_pixels = kMaxPixels;
  step([&] {
    try {
      Image image = Image::decode(data, size, options);
      if (over_limit) oracle_failed("decoded an image whose header is over the pixel limit");
      check_decoded(data, size, image);
    } catch (const viscpm::InvalidArgument& e) {
      if (over_limit && std::strstr(e.what(), "over the limit") == nullptr)
        oracle_failed(std::to_string(info->width) + "x" + std::to_string(info->height) +
                      " header over the pixel limit was not refused for its size, but: " + e.what());
      throw;
    }
  });
  // Caller pixels: the first 12 bytes describe a buffer made of the rest.
  if (size >= 12) {
    step([&] {
      const int width = static_cast<int>(le32(data) % 600) - 50, height = static_cast<int>(le32(data + 4) % 600) - 50;
      const int64_t stride = static_cast<int64_t>(le32(data + 8) % 4096) - 64;
      const auto format = static_cast<viscpm::vision::PixelFormat>(data[11] % 4);
      Image image = Image::wrap(data + 12, size - 12, width, height, stride, format);
      viscpm::vision::PreprocessConfig config;
      config.width = 1 + data[0] % 40;
      config.height = 1 + data[4] % 40;
      (void)viscpm::vision::preprocess_image(image.view(), config);
      if (image.to_packed_rgb().size() != size_t(width) * height * 3) oracle_failed("to_packed_rgb size");
    });
  }
  return 0;
}

void add_image_targets(std::vector<Target>& out) {
  out.push_back({"image", "image decoders (PNG, JPEG, BMP, WebP), preprocessing, and Image::wrap of caller buffers",
                 init_image, fuzz_image, image_seeds, nullptr, 256u << 10, image_dictionary});
}

}  // namespace viscpm::fuzz

#include "vision/preprocess.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "vision/beit3_config.h"

namespace viscpm::vision {
namespace {

// Pillow's fixed-point precision for 8-bit images: 32 bits minus 8 for the sample minus 2
// for the overshoot of negative lobes.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Three 8-bit samples per pixel somewhere in memory: a caller view (any layout) or one of
// our packed RGB intermediates.
struct Plane {
  const uint8_t* data;
  int width, height;
  int64_t row_stride;
  int pixel_stride;
  int offset[3];  // of R, G, B inside a pixel

  static Plane of(const ImageView& v) {
    return {v.data, v.width, v.height, v.row_stride, v.channels(), {v.red_offset(), v.green_offset(), v.blue_offset()}};
  }
  static Plane packed(const std::vector<uint8_t>& rgb, int width, int height) {
    return {rgb.data(), width, height, int64_t{width} * 3, 3, {0, 1, 2}};
  }
  const uint8_t* pixel(int x, int y) const { return data + y * row_stride + int64_t{x} * pixel_stride; }
};

double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output index: the first input index and the fixed-point weights of the inputs it
// reads. Same arithmetic as Pillow's precompute_coeffs + normalize_coeffs_8bpc (double
// precision, note the multiplication by 1/filterscale rather than a division).
struct Coefficients {
  int taps = 0;                  // row length of `weights`
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // [out][taps]
};

Coefficients compute_coefficients(int in_size, int out_size) {
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;  // bicubic support 2
  Coefficients c;
  c.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.taps, 0);
  std::vector<double> w(c.taps);
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const double inverse = 1.0 / filterscale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);  // C casts truncate toward 0
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = hi - lo;
    double total = 0.0;
    for (int j = 0; j < n; ++j) {
      w[j] = bicubic_kernel((j + lo - center + 0.5) * inverse);
      total += w[j];
    }
    int32_t* k = &c.weights[static_cast<size_t>(o) * c.taps];
    for (int j = 0; j < n; ++j) {
      const double v = total != 0.0 ? w[j] / total : w[j];
      k[j] = static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    c.first[o] = lo;
    c.count[o] = n;
  }
  return c;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift: floor division
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

std::vector<uint8_t> resample_horizontal(const Plane& in, int out_width) {
  const Coefficients c = compute_coefficients(in.width, out_width);
  std::vector<uint8_t> out(static_cast<size_t>(in.height) * out_width * 3);
  at::parallel_for(0, in.height, 16, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y) {
      uint8_t* dst = out.data() + y * out_width * 3;
      for (int o = 0; o < out_width; ++o, dst += 3) {
        const int32_t* k = &c.weights[static_cast<size_t>(o) * c.taps];
        int32_t acc[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
        const uint8_t* px = in.pixel(c.first[o], static_cast<int>(y));
        for (int j = 0; j < c.count[o]; ++j, px += in.pixel_stride) {
          acc[0] += px[in.offset[0]] * k[j];
          acc[1] += px[in.offset[1]] * k[j];
          acc[2] += px[in.offset[2]] * k[j];
        }
        dst[0] = clip8(acc[0]);
        dst[1] = clip8(acc[1]);
        dst[2] = clip8(acc[2]);
      }
    }
  });
  return out;
}

std::vector<uint8_t> resample_vertical(const Plane& in, int out_height) {
  const Coefficients c = compute_coefficients(in.height, out_height);
  std::vector<uint8_t> out(static_cast<size_t>(out_height) * in.width * 3);
  at::parallel_for(0, out_height, 16, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const int32_t* k = &c.weights[static_cast<size_t>(o) * c.taps];
      uint8_t* dst = out.data() + o * in.width * 3;
      for (int x = 0; x < in.width; ++x, dst += 3) {
        int32_t acc[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
        for (int j = 0; j < c.count[o]; ++j) {
          const uint8_t* px = in.pixel(x, c.first[o] + j);
          acc[0] += px[in.offset[0]] * k[j];
          acc[1] += px[in.offset[1]] * k[j];
          acc[2] += px[in.offset[2]] * k[j];
        }
        dst[0] = clip8(acc[0]);
        dst[1] = clip8(acc[1]);
        dst[2] = clip8(acc[2]);
      }
    }
  });
  return out;
}

void check_view(const ImageView& image) {
  if (image.data == nullptr || image.width <= 0 || image.height <= 0) {
    throw InvalidArgument("cannot preprocess an empty image (" + std::to_string(image.width) + "x" +
                          std::to_string(image.height) + ")");
  }
  if (image.row_stride < int64_t{image.width} * image.channels()) {
    throw InvalidArgument("image row stride " + std::to_string(image.row_stride) + " is shorter than a row");
  }
}

// Writes normalised [3, H, W] float32 values of `rgb` (packed, config size) into `out`.
void normalise_into(const std::vector<uint8_t>& rgb, const PreprocessConfig& config, float* out) {
  // ToTensor then Normalize, in float32 as torchvision does: (k / 255 - mean) / std.
  float table[3][256];
  for (int ch = 0; ch < 3; ++ch) {
    for (int k = 0; k < 256; ++k) table[ch][k] = (static_cast<float>(k) / 255.0f - config.mean[ch]) / config.std[ch];
  }
  const int64_t plane = int64_t{config.width} * config.height;
  for (int64_t i = 0; i < plane; ++i) {
    out[i] = table[0][rgb[3 * i]];
    out[plane + i] = table[1][rgb[3 * i + 1]];
    out[2 * plane + i] = table[2][rgb[3 * i + 2]];
  }
}

}  // namespace

PreprocessConfig PreprocessConfig::from(const Beit3Config& config) {
  PreprocessConfig p;
  p.width = p.height = static_cast<int>(config.img_size);
  p.mean = config.image_mean;
  p.std = config.image_std;
  return p;
}

void PreprocessConfig::validate() const {
  if (width <= 0 || height <= 0) {
    throw InvalidArgument("preprocess size must be positive, got " + std::to_string(width) + "x" + std::to_string(height));
  }
  for (float s : std) {
    if (!(s > 0.0f) && !(s < 0.0f)) throw InvalidArgument("preprocess std must be non-zero");
  }
}

std::vector<uint8_t> resize_bicubic_pillow(const ImageView& image, int out_width, int out_height) {
  check_view(image);
  if (out_width <= 0 || out_height <= 0) {
    throw InvalidArgument("resize target must be positive, got " + std::to_string(out_width) + "x" +
                          std::to_string(out_height));
  }
  Plane current = Plane::of(image);
  std::vector<uint8_t> horizontal, vertical;
  // Pillow skips a pass whose axis keeps its size; each pass rounds to uint8.
  if (out_width != image.width) {
    horizontal = resample_horizontal(current, out_width);
    current = Plane::packed(horizontal, out_width, image.height);
  }
  if (out_height != image.height) {
    vertical = resample_vertical(current, out_height);
    return vertical;
  }
  if (!horizontal.empty()) return horizontal;
  std::vector<uint8_t> copy(static_cast<size_t>(out_width) * out_height * 3);
  for (int y = 0; y < out_height; ++y) {
    for (int x = 0; x < out_width; ++x) {
      const uint8_t* px = current.pixel(x, y);
      uint8_t* dst = &copy[(static_cast<size_t>(y) * out_width + x) * 3];
      dst[0] = px[current.offset[0]];
      dst[1] = px[current.offset[1]];
      dst[2] = px[current.offset[2]];
    }
  }
  return copy;
}

at::Tensor preprocess_images(const std::vector<ImageView>& images, const PreprocessConfig& config,
                             at::ScalarType dtype) {
  config.validate();
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kDouble) {
    throw InvalidArgument(std::string("preprocess output dtype must be floating point, got ") + c10::toString(dtype));
  }
  auto out = at::empty({static_cast<int64_t>(images.size()), 3, config.height, config.width}, at::kFloat);
  float* base = out.data_ptr<float>();
  const int64_t per_image = int64_t{3} * config.height * config.width;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto rgb = resize_bicubic_pillow(images[i], config.width, config.height);
    normalise_into(rgb, config, base + static_cast<int64_t>(i) * per_image);
  }
  // Reduced precision rounds the float32 value once (spec beit3.md §1: r16((2k-255)/255)).
  return dtype == at::kFloat ? out : out.to(dtype);
}

at::Tensor preprocess_image(const ImageView& image, const PreprocessConfig& config, at::ScalarType dtype) {
  return preprocess_images({image}, config, dtype).squeeze(0);
}

}  // namespace viscpm::vision

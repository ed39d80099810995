// Every enum of the C API: its names and parser, and its mapping to the library's types.
// Names are lower case; parsers also accept upper case and '-' for '_'.
#include <array>
#include <cctype>

#include "api/api_common.h"
#include "api/guard.h"
#include "diffusion/scheduler.h"

namespace viscpm::api {

namespace {

constexpr std::array<const char*, VISCPM_DTYPE_COUNT> kDtypeNames = {"auto", "float32", "bfloat16", "float16", "int8"};
constexpr std::array<const char*, VISCPM_PIXELS_COUNT> kPixelNames = {"rgb", "rgba", "bgr", "bgra"};
constexpr std::array<const char*, VISCPM_DECODE_COUNT> kDecodingNames = {"beam_search", "greedy", "sampling"};
// Same order as the enum; checked against the scheduler registry below.
constexpr std::array<const char*, VISCPM_SCHEDULER_COUNT> kSchedulerNames = {
    "ddpm", "ddim", "pndm", "euler", "euler_ancestral", "dpmsolver_multistep"};

std::string normalised(const char* name) {
  std::string key;
  for (const char* c = name; *c; ++c) key += *c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  return key;
}

template <size_t N>
const char* name_of(const std::array<const char*, N>& names, int32_t value) {
  return value >= 0 && static_cast<size_t>(value) < N ? names[value] : nullptr;
}

template <size_t N>
int32_t parse(const std::array<const char*, N>& names, const char* name, const char* what) {
  if (!name) throw InvalidArgument(std::string(what) + " name is null");
  const std::string key = normalised(name);
  for (size_t i = 0; i < N; ++i)
    if (key == names[i]) return static_cast<int32_t>(i);
  std::string known;
  for (const char* n : names) known += (known.empty() ? "" : ", ") + std::string(n);
  throw InvalidArgument("unknown " + std::string(what) + " '" + name + "'; use one of: " + known);
}

template <size_t N>
void check_range(const std::array<const char*, N>& names, int32_t value, const char* what) {
  if (!name_of(names, value))
    throw InvalidArgument(std::string(what) + " " + std::to_string(value) + " is out of range [0, " + std::to_string(N) + ")");
}

}  // namespace

std::optional<at::ScalarType> to_scalar_type(int32_t dtype) {
  check_range(kDtypeNames, dtype, "dtype");
  switch (dtype) {
    case VISCPM_DTYPE_FLOAT32: return at::kFloat;
    case VISCPM_DTYPE_BFLOAT16: return at::kBFloat16;
    case VISCPM_DTYPE_FLOAT16: return at::kHalf;
    default: return std::nullopt;
  }
}

std::optional<cpmbee::WeightFormat> to_weight_format(int32_t dtype) {
  check_range(kDtypeNames, dtype, "dtype");
  switch (dtype) {
    case VISCPM_DTYPE_AUTO: return std::nullopt;
    case VISCPM_DTYPE_INT8: return cpmbee::WeightFormat::kInt8;
    default: return cpmbee::WeightFormat::kDense;
  }
}

decoding::DecodingStrategy to_strategy(int32_t value) {
  check_range(kDecodingNames, value, "decoding");
  switch (value) {
    case VISCPM_DECODE_GREEDY: return decoding::DecodingStrategy::kGreedy;
    case VISCPM_DECODE_SAMPLING: return decoding::DecodingStrategy::kSampling;
    default: return decoding::DecodingStrategy::kBeamSearch;
  }
}

vision::PixelFormat to_pixel_format(int32_t format) {
  check_range(kPixelNames, format, "pixel format");
  switch (format) {
    case VISCPM_PIXELS_RGBA: return vision::PixelFormat::kRGBA;
    case VISCPM_PIXELS_BGR: return vision::PixelFormat::kBGR;
    case VISCPM_PIXELS_BGRA: return vision::PixelFormat::kBGRA;
    default: return vision::PixelFormat::kRGB;
  }
}

std::string to_scheduler_name(int32_t scheduler) {
  check_range(kSchedulerNames, scheduler, "scheduler");
  return kSchedulerNames[scheduler];
}

}  // namespace viscpm::api

using namespace viscpm::api;

extern "C" {

const char* viscpm_dtype_name(int32_t dtype) { return name_of(kDtypeNames, dtype); }
const char* viscpm_pixel_format_name(int32_t format) { return name_of(kPixelNames, format); }
const char* viscpm_decoding_name(int32_t decoding) { return name_of(kDecodingNames, decoding); }
const char* viscpm_scheduler_name(int32_t scheduler) { return name_of(kSchedulerNames, scheduler); }

viscpm_status viscpm_dtype_parse(const char* name, int32_t* out) {
  return guarded([&] {
    if (!out) throw viscpm::InvalidArgument("output pointer is null");
    *out = parse(kDtypeNames, name, "dtype");
  });
}

viscpm_status viscpm_pixel_format_parse(const char* name, int32_t* out) {
  return guarded([&] {
    if (!out) throw viscpm::InvalidArgument("output pointer is null");
    *out = parse(kPixelNames, name, "pixel format");
  });
}

viscpm_status viscpm_decoding_parse(const char* name, int32_t* out) {
  return guarded([&] {
    if (!out) throw viscpm::InvalidArgument("output pointer is null");
    *out = parse(kDecodingNames, name, "decoding");
  });
}

viscpm_status viscpm_scheduler_parse(const char* name, int32_t* out) {
  return guarded([&] {
    if (!out) throw viscpm::InvalidArgument("output pointer is null");
    if (!name) throw viscpm::InvalidArgument("scheduler name is null");
    // The scheduler registry knows the aliases (diffusers class names, "euler_a", ...).
    const std::string canonical = viscpm::diffusion::canonical_scheduler_name(name);
    *out = parse(kSchedulerNames, canonical.c_str(), "scheduler");
  });
}

}  // extern "C"

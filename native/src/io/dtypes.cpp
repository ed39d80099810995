#include "io/dtypes.h"

#include <array>
#include <utility>

namespace viscpm::io {

namespace {
struct DtypeNames {
  at::ScalarType dtype;
  const char* storage;      // torch.<storage> class
  const char* safetensors;  // header code
  const char* python;       // torch.<python>
};

// Types both formats can hold; safetensors-only types carry no storage class.
constexpr std::array<DtypeNames, 15> kNames{{
    {at::kDouble, "DoubleStorage", "F64", "float64"},
    {at::kFloat, "FloatStorage", "F32", "float32"},
    {at::kHalf, "HalfStorage", "F16", "float16"},
    {at::kBFloat16, "BFloat16Storage", "BF16", "bfloat16"},
    {at::kLong, "LongStorage", "I64", "int64"},
    {at::kInt, "IntStorage", "I32", "int32"},
    {at::kShort, "ShortStorage", "I16", "int16"},
    {at::kChar, "CharStorage", "I8", "int8"},
    {at::kByte, "ByteStorage", "U8", "uint8"},
    {at::kBool, "BoolStorage", "BOOL", "bool"},
    {at::kUInt16, nullptr, "U16", "uint16"},
    {at::kUInt32, nullptr, "U32", "uint32"},
    {at::kUInt64, nullptr, "U64", "uint64"},
    {at::kFloat8_e4m3fn, nullptr, "F8_E4M3", "float8_e4m3fn"},
    {at::kFloat8_e5m2, nullptr, "F8_E5M2", "float8_e5m2"},
}};
}  // namespace

std::optional<at::ScalarType> dtype_from_torch_storage(const std::string& class_name) {
  for (const auto& n : kNames)
    if (n.storage && class_name == n.storage) return n.dtype;
  return std::nullopt;
}

std::optional<std::string> torch_storage_name(at::ScalarType dtype) {
  for (const auto& n : kNames)
    if (n.dtype == dtype && n.storage) return std::string(n.storage);
  return std::nullopt;
}

std::optional<at::ScalarType> dtype_from_safetensors(const std::string& code) {
  for (const auto& n : kNames)
    if (code == n.safetensors) return n.dtype;
  return std::nullopt;
}

std::optional<std::string> safetensors_name(at::ScalarType dtype) {
  for (const auto& n : kNames)
    if (n.dtype == dtype) return std::string(n.safetensors);
  return std::nullopt;
}

std::string python_dtype_name(at::ScalarType dtype) {
  for (const auto& n : kNames)
    if (n.dtype == dtype) return n.python;
  return c10::toString(dtype);
}

}  // namespace viscpm::io

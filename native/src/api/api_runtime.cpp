#include <ATen/core/Tensor.h>
#include <ATen/Context.h>
#include <ATen/ops/from_blob.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>

#include "api/guard.h"
#include "common/runtime.h"

namespace viscpm::api {

std::string& last_error() {
  thread_local std::string message;
  return message;
}

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

}  // namespace viscpm::api

using namespace viscpm::api;

extern "C" {

const char* viscpm_status_name(int status) {
  if (status < 0 || status >= VISCPM_STATUS_COUNT) return "UNKNOWN";
  return viscpm::error_code_name(static_cast<viscpm::ErrorCode>(status));
}

const char* viscpm_last_error(void) { return viscpm::api::last_error().c_str(); }

const char* viscpm_version(void) { return "0.1.0"; }

const char* viscpm_torch_version(void) { return TORCH_VERSION; }

viscpm_status viscpm_set_num_threads(int num_threads) {
  return guarded([&] { viscpm::runtime::set_num_threads(num_threads); });
}

int viscpm_get_num_threads(void) { return viscpm::runtime::num_threads(); }

int viscpm_hardware_threads(void) { return viscpm::runtime::hardware_threads(); }

int viscpm_cuda_available(void) {
  try {
    return at::hasCUDA() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

viscpm_status viscpm_buffer_probe(const void* data, int64_t size, uint64_t* address_out, int64_t* byte_sum_out) {
  return guarded([&] {
    if (!data && size > 0) throw viscpm::InvalidArgument("buffer is null");
    if (size < 0) throw viscpm::InvalidArgument("negative buffer size");
    if (address_out) *address_out = reinterpret_cast<uint64_t>(data);
    if (byte_sum_out) {
      // A LibTorch view over the caller's bytes, no copy: the sum reads them where they are.
      auto view = at::from_blob(const_cast<void*>(data), {size}, at::TensorOptions().dtype(at::kByte));
      *byte_sum_out = size ? view.sum(at::kLong).item<int64_t>() : 0;
    }
  });
}

void viscpm_string_free(char* s) { std::free(s); }

}  // extern "C"

// Every C entry point runs its body inside VISCPM_API_GUARD so that no exception crosses
// the C boundary (and from there JNI): viscpm::Error keeps its code, LibTorch's c10::Error
// and std::bad_alloc are mapped, anything else is INTERNAL. The message is kept per thread
// for viscpm_last_error().
#pragma once

#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <new>
#include <string>

#include "common/error.h"
#include "viscpm.h"

namespace viscpm::api {

void set_last_error(viscpm_status status, const std::string& message);
void clear_last_error();
// Allocates a C string the caller frees with viscpm_string_free.
char* copy_string(const std::string& s);

template <class Body>
viscpm_status guarded(Body&& body) {
  clear_last_error();
  try {
    c10::InferenceMode inference;
    body();
    return VISCPM_OK;
  } catch (const viscpm::Error& e) {
    auto status = static_cast<viscpm_status>(static_cast<int>(e.code()));
    set_last_error(status, e.what());
    return status;
  } catch (const c10::OutOfMemoryError& e) {
    set_last_error(VISCPM_OUT_OF_MEMORY, e.what_without_backtrace());
    return VISCPM_OUT_OF_MEMORY;
  } catch (const c10::Error& e) {
    // Shape/dtype checks inside LibTorch ops surface here; they come from the caller's data.
    set_last_error(VISCPM_INVALID_ARGUMENT, e.what_without_backtrace());
    return VISCPM_INVALID_ARGUMENT;
  } catch (const std::bad_alloc&) {
    set_last_error(VISCPM_OUT_OF_MEMORY, "out of memory");
    return VISCPM_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error(VISCPM_INTERNAL, e.what());
    return VISCPM_INTERNAL;
  } catch (...) {
    set_last_error(VISCPM_INTERNAL, "unknown native exception");
    return VISCPM_INTERNAL;
  }
}

template <class T>
T& require(T* handle, const char* what) {
  if (!handle) throw viscpm::InvalidArgument(std::string(what) + " is null (closed or never opened)");
  return *handle;
}

}  // namespace viscpm::api

// The one place where any exception becomes an error code and a message: the C API of the
// library and the test kit's C API both run every entry point through catch_all, so no C++
// exception reaches a C caller (and from there JNI).
#pragma once

#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <new>
#include <optional>
#include <string>
#include <utility>

#include "common/error.h"

namespace viscpm {

struct CaughtError {
  ErrorCode code;
  std::string message;
};

// Runs `body` in inference mode; nullopt when it returned, else what it threw.
template <class Body>
std::optional<CaughtError> catch_all(Body&& body) noexcept {
  try {
    c10::InferenceMode inference;
    std::forward<Body>(body)();
    return std::nullopt;
  } catch (const Error& e) {
    return CaughtError{e.code(), e.what()};
  } catch (const c10::OutOfMemoryError& e) {
    return CaughtError{ErrorCode::kOutOfMemory, e.what_without_backtrace()};
  } catch (const c10::Error& e) {
    // The CPU allocator reports failure as a plain c10::Error: still out of memory.
    std::string text = e.what_without_backtrace();
    if (text.find("can't allocate memory") != std::string::npos || text.find("not enough memory") != std::string::npos)
      return CaughtError{ErrorCode::kOutOfMemory, "out of memory: " + text};
    // Shape/dtype checks inside LibTorch ops surface here; they come from the caller's data.
    return CaughtError{ErrorCode::kInvalidArgument, std::move(text)};
  } catch (const std::bad_alloc&) {
    return CaughtError{ErrorCode::kOutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    return CaughtError{ErrorCode::kInternal, e.what()};
  } catch (...) {
    return CaughtError{ErrorCode::kInternal, "unknown native exception"};
  }
}

// A C entry point's body: 0 on return, else the error code, with the message kept in
// `last_error` (the caller's per-thread slot, cleared first).
template <class Body>
int run_guarded(std::string& last_error, Body&& body) noexcept {
  last_error.clear();
  auto error = catch_all(std::forward<Body>(body));
  if (!error) return 0;
  last_error = std::move(error->message);
  return static_cast<int>(error->code);
}

// A C handle argument: InvalidArgument naming `what` when it is null.
template <class T>
T& require(T* handle, const char* what) {
  if (!handle) throw InvalidArgument(std::string(what) + " is null (closed or never opened)");
  return *handle;
}

}  // namespace viscpm

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
    // Shape/dtype checks inside LibTorch ops surface here; they come from the caller's data.
    return CaughtError{ErrorCode::kInvalidArgument, e.what_without_backtrace()};
  } catch (const std::bad_alloc&) {
    return CaughtError{ErrorCode::kOutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    return CaughtError{ErrorCode::kInternal, e.what()};
  } catch (...) {
    return CaughtError{ErrorCode::kInternal, "unknown native exception"};
  }
}

}  // namespace viscpm

// Error model of the native runtime. Every failure a user can cause or fix is one of
// these codes; the C API turns them into a status + per-thread message, Java into a
// typed exception. Anything else (c10::Error, std::bad_alloc, ...) is mapped at the API
// boundary.
#pragma once

#include <stdexcept>
#include <string>

namespace viscpm {

// Mirrors viscpm_status in include/viscpm.h (same numeric values).
enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // bad user input: text, image, shape, option value
  kFormat = 2,           // a file is not what it claims: corrupt, truncated, wrong keys/shapes
  kNotFound = 3,         // a file or directory the caller named does not exist
  kOutOfMemory = 4,
  kCancelled = 5,        // a listener asked to stop
  kUnsupported = 6,      // valid but not implemented (dtype on this device, legacy format, ...)
  kIo = 7,               // the OS refused a read or write
  kInternal = 8,         // a bug: please report
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

struct InvalidArgument : Error {
  explicit InvalidArgument(const std::string& m) : Error(ErrorCode::kInvalidArgument, m) {}
};
struct FormatError : Error {
  explicit FormatError(const std::string& m) : Error(ErrorCode::kFormat, m) {}
};
struct NotFound : Error {
  explicit NotFound(const std::string& m) : Error(ErrorCode::kNotFound, m) {}
};
struct OutOfMemory : Error {
  explicit OutOfMemory(const std::string& m) : Error(ErrorCode::kOutOfMemory, m) {}
};
struct Cancelled : Error {
  explicit Cancelled(const std::string& m = "cancelled") : Error(ErrorCode::kCancelled, m) {}
};
struct Unsupported : Error {
  explicit Unsupported(const std::string& m) : Error(ErrorCode::kUnsupported, m) {}
};
struct IoError : Error {
  explicit IoError(const std::string& m) : Error(ErrorCode::kIo, m) {}
};

}  // namespace viscpm

#include "common/error.h"

namespace viscpm {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode::kFormat: return "FORMAT_ERROR";
    case ErrorCode::kNotFound: return "NOT_FOUND";
    case ErrorCode::kOutOfMemory: return "OUT_OF_MEMORY";
    case ErrorCode::kCancelled: return "CANCELLED";
    case ErrorCode::kUnsupported: return "UNSUPPORTED";
    case ErrorCode::kIo: return "IO_ERROR";
    case ErrorCode::kInternal: return "INTERNAL";
  }
  return "UNKNOWN";
}

}  // namespace viscpm

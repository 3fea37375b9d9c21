#include "sparse24/status.h"

namespace s24 {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kShapeMismatch: return "shape mismatch";
    case ErrorCode::kDTypeMismatch: return "dtype mismatch";
    case ErrorCode::kAlignment: return "alignment";
    case ErrorCode::kNotTwoFour: return "not 2:4 sparse";
    case ErrorCode::kNonFinite: return "non-finite value";
    case ErrorCode::kIo: return "I/O error";
    case ErrorCode::kCorruptFile: return "corrupt file";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kCuda: return "CUDA error";
    case ErrorCode::kOutOfMemory: return "out of memory";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown error";
}

Error::Error(ErrorCode code, const std::string& message)
    : std::runtime_error(std::string("sparse24: ") + error_code_name(code) + ": " + message),
      code_(code) {}

}  // namespace s24

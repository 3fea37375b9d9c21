// sparse24 — errors. Library code reports every failure by throwing s24::Error;
// it never calls exit() and never ignores a CUDA status.
#pragma once

#include <stdexcept>
#include <string>

namespace s24 {

enum class ErrorCode {
  kInvalidArgument,  // a value the caller passed is out of its documented range
  kShapeMismatch,    // shapes that must agree do not
  kDTypeMismatch,    // a dtype the operation does not take, or two that must agree do not
  kAlignment,        // a size or pointer breaks an alignment rule of a kernel or format
  kNotTwoFour,       // data that must be 2:4 sparse is not
  kNonFinite,        // NaN or Inf where finite values are required
  kIo,               // the operating system refused a file operation
  kCorruptFile,      // a file's bytes contradict its own header or the format
  kUnsupported,      // a valid request this build or device cannot serve (e.g. CUDA off)
  kCuda,             // a CUDA runtime / library call failed
  kOutOfMemory,      // an allocation failed
  kInternal,         // an invariant of sparse24 itself was broken: a bug
};

const char* error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace s24

#pragma once
#include <string>

#include "sparse24/status.h"

namespace s24 {

template <class Fn>
decltype(auto) dispatch_value_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kF32: return fn(float{});
    case DType::kF16: return fn(float16{});
    case DType::kBF16: return fn(bfloat16{});
    case DType::kF8E4M3: return fn(float8_e4m3{});
    case DType::kF8E5M2: return fn(float8_e5m2{});
    case DType::kI8: return fn(int8_t{});
    default:
      throw Error(ErrorCode::kDTypeMismatch,
                  std::string("dtype ") + dtype_name(dtype) +
                      " is not a value dtype (expected F32, F16, BF16, F8_E4M3, F8_E5M2 or I8)");
  }
}

}  // namespace s24

// Internal: the CUDA libraries' element type (cudaDataType, used by cuBLASLt and cuSPARSELt
// descriptors) of a DType. One mapping for every backend; each backend narrows it to what its
// calls accept and reports the rest with its own error.
#pragma once

#include <library_types.h>

#include <optional>

#include "sparse24/dtype.h"

namespace s24::detail {

inline std::optional<cudaDataType> cuda_data_type(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return CUDA_R_16F;
    case DType::kBF16:
      return CUDA_R_16BF;
    case DType::kF32:
      return CUDA_R_32F;
    case DType::kF8E4M3:
      return CUDA_R_8F_E4M3;
    case DType::kF8E5M2:
      return CUDA_R_8F_E5M2;
    case DType::kI8:
      return CUDA_R_8I;
    case DType::kI32:
      return CUDA_R_32I;
    default:
      return std::nullopt;
  }
}

}  // namespace s24::detail

// Internal: cuTensorMapEncodeTiled, the driver call that describes a global tensor to the TMA
// copy engine (the sm_90a GEMM's operands, the wgmma attention's Q / K / V). CUDA builds only.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "core/check.h"
#include "cuda/check_cuda.h"

namespace s24::detail {

using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                 const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                 const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled is a driver entry point; fetching it through the runtime keeps libcuda
// out of the link line (the CPU-only machines that build this have no driver). Looked up once.
inline EncodeTiled encode_tiled() {
  static const EncodeTiled fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult status{};
    S24_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000,
                                                    cudaEnableDefault, &status));
    S24_CHECK(status == cudaDriverEntryPointSuccess && p != nullptr, ErrorCode::kCuda,
              "the CUDA driver does not provide cuTensorMapEncodeTiled (needs a CUDA 12+ driver)");
    return reinterpret_cast<EncodeTiled>(p);
  }();
  return fn;
}

}  // namespace s24::detail

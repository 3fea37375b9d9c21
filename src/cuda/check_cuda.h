// Internal: every CUDA runtime call and every kernel launch goes through these checks.
#pragma once

#include <cuda_runtime.h>

#include "core/check.h"

#define S24_CUDA_CHECK(expr)                                                                 \
  do {                                                                                       \
    const cudaError_t s24_status_ = (expr);                                                  \
    if (s24_status_ != cudaSuccess)                                                          \
      S24_THROW(::s24::ErrorCode::kCuda, #expr, " failed: ", cudaGetErrorName(s24_status_),  \
                " (", cudaGetErrorString(s24_status_), ") at ", __FILE__, ":", __LINE__);    \
  } while (0)

// After a <<<...>>> launch: catches bad launch configurations (the launch itself is async).
#define S24_CUDA_CHECK_LAUNCH() S24_CUDA_CHECK(cudaGetLastError())

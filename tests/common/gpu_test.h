// Test helpers of the GPU suites (label gpu, CUDA builds only): the device's compute capability
// and the guards that make a GPU test fail, never pass or skip, on a machine that lacks the GPU
// it needs.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "sparse24/tensor.h"

namespace s24::test {

// major * 10 + minor of device 0; 0 without a CUDA device.
inline int compute_capability() {
  if (!cuda_available()) return 0;
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
  return major * 10 + minor;
}

}  // namespace s24::test

#define S24_REQUIRE_GPU()                                                                   \
  do {                                                                                      \
    if (::s24::test::compute_capability() < 80)                                             \
      GTEST_FAIL() << "no sm_80+ CUDA device: the gpu suite must run on one";               \
  } while (0)

#define S24_REQUIRE_SM90()                                                                  \
  do {                                                                                      \
    if (::s24::test::compute_capability() != 90)                                            \
      GTEST_FAIL() << "this suite needs an sm_90 GPU (the wgmma kernel), found cc "          \
                   << ::s24::test::compute_capability();                                    \
  } while (0)

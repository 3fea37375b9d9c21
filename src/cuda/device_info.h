// Internal: per-device properties read once (cudaGetDeviceProperties costs milliseconds; a linear
// call must cost microseconds), and helpers that keep host overhead small.
#pragma once

#include <cstddef>
#include <string>

#include "sparse24/tensor.h"

namespace s24::detail {

struct DeviceInfo {
  int index = 0;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  size_t l2_bytes = 0;
  size_t smem_optin_bytes = 0;  // per-block opt-in shared memory limit
  std::string name;
};

// Cached; throws kCuda / kInvalidArgument for a bad index. CUDA builds only (CPU builds throw
// kUnsupported).
const DeviceInfo& device_info(int index);
// Throws kUnsupported unless the device is sm_80 or newer (mma.sp, cp.async, ldmatrix).
void require_sm80(const Device& device);
// Makes `device` current if it is not (cudaGetDevice is cheap, cudaSetDevice is not free).
void ensure_current_device(const Device& device);
// Whether kernels that call arch::grid_dependency_wait are launched with programmatic stream
// serialization (programmatic dependent launch, cuda/launch.cuh) on `device`: sm_90 or newer,
// unless the environment sets S24_PDL=0 (read once; for A/B measurements and for ruling it out
// when debugging).
bool programmatic_launch(int device);
// True while `stream` is being captured into a CUDA graph.
bool stream_is_capturing(Stream stream);

}  // namespace s24::detail

#include "cuda/device_info.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/check.h"
#if S24_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/check_cuda.h"
#endif

namespace s24::detail {

#if S24_WITH_CUDA
namespace {
constexpr int kMaxDevices = 64;
std::array<std::once_flag, kMaxDevices> g_once;
std::array<DeviceInfo, kMaxDevices> g_info;
}  // namespace

const DeviceInfo& device_info(int index) {
  S24_CHECK(index >= 0 && index < kMaxDevices, ErrorCode::kInvalidArgument, "CUDA device index ",
            index, " out of range");
  std::call_once(g_once[index], [index] {
    // No device (or no driver) is a clear kUnsupported, as for an allocation on one.
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
      (void)cudaGetLastError();
      S24_THROW(ErrorCode::kUnsupported, "no CUDA device is available (cuda:", index,
                " requested)");
    }
    S24_CHECK(index < count, ErrorCode::kInvalidArgument, "cuda:", index, " requested but only ",
              count, " CUDA device(s) exist");
    cudaDeviceProp prop{};
    S24_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
    DeviceInfo& d = g_info[index];
    d.index = index;
    d.sm_count = prop.multiProcessorCount;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.l2_bytes = static_cast<size_t>(prop.l2CacheSize);
    d.smem_optin_bytes = prop.sharedMemPerBlockOptin;
    d.name = prop.name;
  });
  return g_info[index];
}

void require_sm80(const Device& device) {
  const DeviceInfo& d = device_info(device.index);
  S24_CHECK(d.cc_major >= 8, ErrorCode::kUnsupported, "the sparse tensor-core kernels need sm_80 ",
            "or newer; ", device.str(), " (", d.name, ") is sm_", d.cc_major, d.cc_minor);
}

void ensure_current_device(const Device& device) {
  int current = -1;
  S24_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device.index) S24_CUDA_CHECK(cudaSetDevice(device.index));
}

bool programmatic_launch(int device) {
  static const bool enabled = [] {
    const char* env = std::getenv("S24_PDL");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return enabled && device_info(device).cc_major >= 9;
}

bool stream_is_capturing(Stream stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  S24_CUDA_CHECK(cudaStreamIsCapturing(static_cast<cudaStream_t>(stream), &status));
  return status != cudaStreamCaptureStatusNone;
}

#else

const DeviceInfo& device_info(int) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
void require_sm80(const Device&) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
void ensure_current_device(const Device&) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
bool programmatic_launch(int) { return false; }
bool stream_is_capturing(Stream) { return false; }

#endif

}  // namespace s24::detail

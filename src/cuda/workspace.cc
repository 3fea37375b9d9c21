#include "cuda/workspace.h"

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "core/check.h"
#include "cuda/device_info.h"
#if S24_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/check_cuda.h"
#endif

namespace s24::detail {

#if S24_WITH_CUDA
namespace {

struct Buffer {
  void* ptr = nullptr;
  size_t bytes = 0;
};

struct Registry {
  std::mutex mutex;
  std::map<std::tuple<int, Stream, int>, Buffer> live;
  // Retired buffers stay allocated for the life of the process (see workspace.h). The registry is
  // deliberately leaked: freeing device memory during static destruction races the CUDA runtime's
  // own teardown.
  std::vector<void*> retired;
};

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace

void* stream_workspace(const Device& device, Stream stream, WorkspaceSlot slot, size_t bytes,
                       bool zero_fill) {
  S24_CHECK(device.is_cuda(), ErrorCode::kInternal, "stream_workspace on ", device.str());
  if (bytes == 0) bytes = 256;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Buffer& b = r.live[{device.index, stream, static_cast<int>(slot)}];
  if (b.bytes >= bytes) return b.ptr;
  S24_CHECK(!stream_is_capturing(stream), ErrorCode::kUnsupported,
            "sparse24 needs a larger workspace (", bytes, " bytes) while the stream is being ",
            "captured into a CUDA graph; run the same call once before capturing");
  ensure_current_device(device);
  auto s = static_cast<cudaStream_t>(stream);
  // Grow geometrically so a slowly increasing shape does not reallocate every call.
  size_t want = b.bytes * 2 > bytes ? b.bytes * 2 : bytes;
  want = (want + 255) / 256 * 256;
  S24_CUDA_CHECK(cudaStreamSynchronize(s));
  void* p = nullptr;
  const cudaError_t st = cudaMalloc(&p, want);
  if (st == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    S24_THROW(ErrorCode::kOutOfMemory, "cannot allocate a ", want, "-byte workspace on ",
              device.str());
  }
  S24_CUDA_CHECK(st);
  if (zero_fill) {
    S24_CUDA_CHECK(cudaMemsetAsync(p, 0, want, s));
    S24_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  if (b.ptr != nullptr) r.retired.push_back(b.ptr);
  b.ptr = p;
  b.bytes = want;
  return p;
}

#else

void* stream_workspace(const Device&, Stream, WorkspaceSlot, size_t, bool) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}

#endif

}  // namespace s24::detail

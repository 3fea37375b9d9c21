// Internal: device scratch memory owned by sparse24, one buffer per (device, stream, purpose).
// Kernels queued on one stream run in order, so a buffer keyed by the stream is never used by two
// launches at once; launches on different streams get different buffers.
//
// A buffer only grows. Growing synchronizes the stream and allocates (so the first call with a new
// largest shape pays an allocation, later calls none); the old buffer is retired, not freed,
// because a CUDA graph captured earlier may still point at it. Growth while the stream is being
// captured throws kUnsupported: run the same call once before capturing.
#pragma once

#include <cstddef>

#include "sparse24/tensor.h"

namespace s24::detail {

enum class WorkspaceSlot : int {
  kGemmPartials,  // split-K f32 partial tiles
  kGemmCounters,  // split-K arrival counters (must be zero between launches)
  kHwScratch,     // hardware-layout copy of a logical weight (linear on a Compressed24)
  kCublasLt,      // cuBLASLt's workspace
  kCuSparseLt,    // cuSPARSELt's workspace
  kCsltPadX,      // cuSPARSELt: X padded to a multiple of 16 rows
  kCsltPadY,      // cuSPARSELt: Y padded likewise
  kDenseProduct,  // linear_dense: the f32 product X W^T before an epilogue cuBLASLt cannot fuse
  kCount
};

// At least `bytes` of device memory for (device, stream, slot), 256-byte aligned. New memory is
// zero-filled when `zero_fill` (counters rely on it).
void* stream_workspace(const Device& device, Stream stream, WorkspaceSlot slot, size_t bytes,
                       bool zero_fill = false);

}  // namespace s24::detail

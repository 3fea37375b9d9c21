// Internal: raw device memory and copies. The only place in src/core that talks to the CUDA
// runtime; in a CPU-only build every CUDA request throws kUnsupported.
#pragma once

#include <cstddef>

#include "sparse24/tensor.h"

namespace s24::detail {

void* device_alloc(size_t bytes, const Device& device);
void device_free(void* ptr, const Device& device) noexcept;
// Copies `bytes` between any two devices; asynchronous on `stream` when both sides are CUDA,
// synchronous otherwise.
void copy_bytes(void* dst, const Device& dst_device, const void* src, const Device& src_device,
                size_t bytes, Stream stream);
// 2-D strided copy: `rows` rows of `row_bytes`, with pitches in bytes.
void copy_2d(void* dst, size_t dst_pitch, const Device& dst_device, const void* src,
             size_t src_pitch, const Device& src_device, size_t row_bytes, size_t rows,
             Stream stream);
void fill_zero(void* ptr, const Device& device, size_t bytes, Stream stream);

}  // namespace s24::detail

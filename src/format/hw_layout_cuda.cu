// CUDA conversion logical Compressed24 -> hardware layout (docs/FORMAT.md, "Hardware layout").
// One thread per lane piece: threads [0, value_threads) write one 16-byte value fragment each,
// the rest one 32-bit metadata word each; consecutive threads write consecutive addresses, so the
// stores are fully coalesced (the gathers from the logical layout are 4-byte and 1-byte reads).
#include <cuda_runtime.h>

#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/gemm/sparse_layout.cuh"
#include "format/hw_layout.h"

namespace s24::detail {
namespace {

__global__ void to_hw_layout_kernel(const uint16_t* __restrict__ values,
                                    const uint8_t* __restrict__ meta, int64_t rows, int64_t cols,
                                    uint4* __restrict__ hw_values, uint32_t* __restrict__ hw_meta,
                                    int64_t value_threads, int64_t meta_threads) {
  const int64_t nsteps = hw::ksteps(cols);
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (tid < value_threads) {
    const int lane = static_cast<int>(tid % 32);
    const int64_t block = tid / 32;  // rt * nsteps + kt
    hw_values[tid] =
        hw::lane_values_from_logical(values, rows, cols, block / nsteps, block % nsteps, lane);
  } else if (tid < value_threads + meta_threads) {
    const int64_t m = tid - value_threads;
    const int lane = static_cast<int>(m % 32);
    const int64_t block = m / 32;  // p * nsteps + kt
    hw_meta[m] = hw::lane_meta_from_logical(meta, rows, cols, block / nsteps, block % nsteps, lane);
  }
}

// The 8-bit layout's metadata (format/hw_layout.h): one thread per 32-bit word, coalesced stores.
__global__ void to_meta8_kernel(const uint8_t* __restrict__ meta, int64_t rows, int64_t cols,
                                uint32_t* __restrict__ hw_meta, int64_t words) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= words) return;
  const int64_t nsteps8 = hw::ksteps8(cols), mcols = (cols + 7) / 8, groups = cols / 4;
  const int64_t block = i / 64;  // pair * nsteps8 + k64-step
  const int w = static_cast<int>(i % 64);
  const int64_t row = hw::meta8_word_row(block / nsteps8, w);
  uint32_t word = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int64_t group = hw::meta8_word_group(block % nsteps8, w, j);
    uint32_t nibble = hw::kPadNibble;
    if (row < rows && group < groups) {
      const uint8_t byte = meta[row * mcols + group / 2];
      nibble = (group & 1) ? (byte >> 4) : (byte & 0xF);
    }
    word |= nibble << (4 * j);
  }
  hw_meta[i] = word;
}

}  // namespace

void to_hw_layout_cuda(const Compressed24& c, HwLayout& out, Stream stream) {
  check_hw_convertible(c);
  S24_CHECK(c.device().is_cuda(), ErrorCode::kInvalidArgument,
            "to_hw_layout_cuda needs a CUDA matrix, got ", c.device().str());
  S24_CHECK(c.values.is_contiguous() && c.meta.is_contiguous(), ErrorCode::kInvalidArgument,
            "the compressed matrix must be contiguous");
  if (is_8bit_layout_dtype(c.dtype())) {
    // Only the metadata moves; the kernel reads the logical values in place.
    S24_CHECK(out.rows == c.rows && out.cols == c.cols && out.meta.device() == c.device() &&
                  out.meta.numel() == hw::meta_word_count(c.rows, c.cols),
              ErrorCode::kShapeMismatch, "hardware layout metadata does not match the [", c.rows,
              ", ", c.cols, "] ", dtype_name(c.dtype()), " matrix on ", c.device().str());
    const int64_t words = out.meta.numel();
    if (words > 0) {
      constexpr int kThreads = 256;
      const int64_t blocks = (words + kThreads - 1) / kThreads;
      S24_CHECK(blocks <= 0x7FFFFFFF, ErrorCode::kInvalidArgument, "matrix too large");
      ensure_current_device(c.device());
      to_meta8_kernel<<<static_cast<unsigned>(blocks), kThreads, 0,
                        static_cast<cudaStream_t>(stream)>>>(
          static_cast<const uint8_t*>(c.meta.raw_data()), c.rows, c.cols,
          static_cast<uint32_t*>(out.meta.raw_data()), words);
      S24_CUDA_CHECK_LAUNCH();
    }
    out.values = c.values;
    out.row_values = c.values;
    return;
  }
  S24_CHECK(out.rows == c.rows && out.cols == c.cols && out.dtype() == c.dtype() &&
                out.device() == c.device() && out.meta.device() == c.device() &&
                out.values.numel() == hw::value_count(c.rows, c.cols) &&
                out.meta.numel() == hw::meta_word_count(c.rows, c.cols),
            ErrorCode::kShapeMismatch, "hardware layout buffers do not match the [", c.rows, ", ",
            c.cols, "] ", dtype_name(c.dtype()), " matrix on ", c.device().str());
  const int64_t value_threads = out.values.numel() / hw::kLaneValues;
  const int64_t meta_threads = out.meta.numel();
  const int64_t total = value_threads + meta_threads;
  if (total == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  S24_CHECK(blocks <= 0x7FFFFFFF, ErrorCode::kInvalidArgument, "matrix too large");
  ensure_current_device(c.device());
  to_hw_layout_kernel<<<static_cast<unsigned>(blocks), kThreads, 0,
                        static_cast<cudaStream_t>(stream)>>>(
      static_cast<const uint16_t*>(c.values.raw_data()),
      static_cast<const uint8_t*>(c.meta.raw_data()), c.rows, c.cols,
      static_cast<uint4*>(out.values.raw_data()), static_cast<uint32_t*>(out.meta.raw_data()),
      value_threads, meta_threads);
  S24_CUDA_CHECK_LAUNCH();
  out.row_values = c.values;
}

}  // namespace s24::detail

// Internal: the device side of sparse24's hardware layout for mma.sp m16n8k32 (f16/bf16).
// The index math lives in src/format/hw_layout.h (shared with the CPU conversion, one
// implementation); this header adds what kernels need: byte offsets of a lane's pieces, and
// builders of a lane's fragment / metadata word from a logical Compressed24, which the layout
// conversion uses and a fused prune+compress kernel can use to write the hardware layout directly.
//
// Writers: a warp that owns (row tile rt, k-step kt) writes 512 contiguous bytes of values, lane L
// at byte 16 L; a warp that owns (row pair p, k-step kt) writes 128 contiguous bytes of metadata,
// lane L at byte 4 L. See docs/FORMAT.md, "Hardware layout (sm80 mma.sp)".
#pragma once

#include <cstdint>

#include "format/hw_layout.h"

namespace s24::detail::hw {

// Byte offset of lane `lane`'s 16-byte value fragment of (row tile, k-step).
__host__ __device__ __forceinline__ int64_t lane_values_byte_offset(int64_t rtile, int64_t kstep,
                                                                    int64_t nsteps, int lane) {
  return ((rtile * nsteps + kstep) * 32 + lane) * 16;
}
// Byte offset of lane `lane`'s 32-bit metadata word of (row pair, k-step).
__host__ __device__ __forceinline__ int64_t lane_meta_byte_offset(int64_t pair, int64_t kstep,
                                                                  int64_t nsteps, int lane) {
  return ((pair * nsteps + kstep) * 32 + lane) * 4;
}

// Lane `lane`'s fragment of (row tile, k-step) from logical values (2-byte elements, row-major
// [rows, cols/2]): four 32-bit registers, each the two kept values of one group (zero padding
// outside [rows, cols)).
__device__ __forceinline__ uint4 lane_values_from_logical(const uint16_t* values, int64_t rows,
                                                          int64_t cols, int64_t rtile,
                                                          int64_t kstep, int lane) {
  uint32_t r[4];
#pragma unroll
  for (int reg = 0; reg < 4; ++reg) {
    const int64_t row = value_lane_row(rtile, lane, reg);
    const int64_t group = value_lane_group(kstep, lane, reg);
    r[reg] = 0;
    if (row < rows && group < cols / 4) {
      // Both kept values of a group are adjacent and 4-byte aligned (cols % 4 == 0).
      r[reg] = *reinterpret_cast<const uint32_t*>(values + row * (cols / 2) + 2 * group);
    }
  }
  return make_uint4(r[0], r[1], r[2], r[3]);
}

// Lane `lane`'s metadata word of (row pair, k-step) from logical metadata (U8 [rows, ceil(cols/8)],
// nibble of group g = low nibble of byte g/2 when g is even, high when odd).
__device__ __forceinline__ uint32_t lane_meta_from_logical(const uint8_t* meta, int64_t rows,
                                                           int64_t cols, int64_t pair,
                                                           int64_t kstep, int lane) {
  const int64_t mcols = (cols + 7) / 8, groups = cols / 4;
  uint32_t word = 0;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t row = meta_lane_row(pair, lane, h);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t group = meta_lane_group(kstep, lane, j);
      uint32_t nibble = kPadNibble;
      if (row < rows && group < groups) {
        const uint8_t byte = meta[row * mcols + group / 2];
        nibble = (group & 1) ? (byte >> 4) : (byte & 0xF);
      }
      word |= nibble << (16 * h + 4 * j);
    }
  }
  return word;
}

}  // namespace s24::detail::hw

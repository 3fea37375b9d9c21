// sparse24 — the logical 2:4 compressed layout (docs/FORMAT.md is the specification).
//
// A dense matrix D[rows, cols] (cols % 4 == 0) is 2:4 sparse when every group of 4 consecutive
// elements along a row, D[r, 4g .. 4g+3], holds at most two nonzeros (-0.0 counts as zero).
// Its compressed form holds
//   values[rows, cols/2]        the two kept elements of each group, in increasing column order;
//   meta  [rows, ceil(cols/8)]  U8; one 4-bit nibble per group: bits 0-1 = index of the first kept
//                               element, bits 2-3 = index of the second, first < second. Group g's
//                               nibble is the low nibble of byte g/2 when g is even, the high nibble
//                               when g is odd; an unused high nibble (cols % 8 == 4) is 0.
// Only six nibbles are legal: 0x4 (0,1), 0x8 (0,2), 0xC (0,3), 0x9 (1,2), 0xD (1,3), 0xE (2,3).
// A group with fewer than two nonzeros still names two distinct increasing indices: its nonzero
// positions, completed with its lowest-index zero positions.
#pragma once

#include <cstdint>

#include "sparse24/tensor.h"

namespace s24 {

struct Compressed24 {
  Tensor values;  // [rows, cols/2], the matrix's value dtype
  Tensor meta;    // [rows, ceil(cols/8)], U8
  int64_t rows = 0;
  int64_t cols = 0;  // logical (dense) column count

  DType dtype() const { return values.dtype(); }
  const Device& device() const { return values.device(); }
  Shape logical_shape() const { return {rows, cols}; }
  Compressed24 to(Device device, Stream stream = nullptr) const;
};

constexpr bool is_legal_nibble(uint8_t nibble) {
  return nibble == 0x4 || nibble == 0x8 || nibble == 0xC || nibble == 0x9 || nibble == 0xD ||
         nibble == 0xE;
}
int64_t meta_cols(int64_t cols);  // ceil(cols / 8)

// True when `dense` (2-D, any value dtype, cols % 4 == 0) is 2:4 sparse.
bool is_24(const Tensor& dense);
// Compresses a 2:4 dense matrix. Throws kNotTwoFour naming the first offending group when a group
// has more than two nonzeros, kAlignment when cols % 4 != 0, kShapeMismatch when not 2-D.
// CPU tensors are compressed on the CPU; CUDA tensors by the CUDA kernel (same bytes).
Compressed24 compress(const Tensor& dense);
// The dense matrix back: kept values at their positions, +0.0 (or 0) elsewhere.
Tensor decompress(const Compressed24& c);
// Checks the shapes, dtypes and that every nibble is legal. Throws kCorruptFile (from load) or
// kInvalidArgument with the first problem found.
void validate(const Compressed24& c);
// sum |kept| / sum |dense| of the matrix that was pruned (1.0 when dense is all zero).
double kept_magnitude_fraction(const Tensor& dense, const Tensor& pruned);
// The compressed form of the transpose. Requires the matrix to be 2:4 along columns too (a
// transposable mask); throws kNotTwoFour otherwise.
Compressed24 transpose(const Compressed24& c);

}  // namespace s24

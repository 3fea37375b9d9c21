// Internal: sparse24's hardware layout of a 2:4 matrix for sm_80+ mma.sp (m16n8k32, f16/bf16)
// and, for 8-bit dtypes, the metadata of sm_90a wgmma.mma_async.sp m64nNk64,
// derived from the logical layout of include/sparse24/format.h. docs/FORMAT.md, section
// "Hardware layout (sm80 mma.sp)", is the specification; this header is its one implementation
// (index math usable from host and device code, plus the CPU and CUDA conversions).
//
// Geometry. The matrix [rows, cols] is padded to rows_padded = round_up(rows, 128) and
// cols_padded = round_up(cols, 128); padding holds +0 values and the nibble 0x4 (kept indices
// 0,1), so every mma sees legal metadata. A "k-step" is 32 logical columns (8 groups of 4), a
// "row tile" 16 rows, a "row pair" 32 rows. ksteps = cols_padded / 32.
//
//  values: one 512-byte block per (row tile rt, k-step kt), blocks ordered rt-major
//          (block index rt * ksteps + kt), so a row tile's whole k range is contiguous. Inside a
//          block, lane L (g = L/4, t = L%4) owns 16 bytes = 8 elements at offset 16 L: the
//          mma.sp A fragment of that lane, element e = 2 * reg + slot with
//            reg 0: row g,   group t      reg 1: row g+8, group t
//            reg 2: row g,   group t+4    reg 3: row g+8, group t+4
//          (rows relative to the tile, groups relative to the k-step; slot 0/1 = first/second
//          kept value of the group, i.e. the logical values in the same order).
//  meta:   one 128-byte block (32 lanes x one 32-bit word) per (row pair p, k-step kt), ordered
//          p-major (block p * ksteps + kt). Lane L = 4 g + t serves tile (t / 2) of the pair (used
//          with sparsity selector t / 2) and groups 4 (t % 2) .. 4 (t % 2) + 3 of the k-step;
//          bits 4 j .. 4 j + 3 hold row g's nibble of its j-th group, bits 16 + 4 j .. row g+8's.
//
// A warp therefore reads every byte of the weight with fully coalesced 16-byte (values) and
// 4-byte (metadata) accesses and needs no shuffle before the mma.
#pragma once

#include <cstdint>

#include "sparse24/format.h"

#if defined(__CUDACC__)
#define S24_HD __host__ __device__ __forceinline__
#else
#define S24_HD inline
#endif

namespace s24::detail::hw {

constexpr int kTileRows = 16;  // rows of one mma.sp A tile
constexpr int kPairRows = 32;  // rows whose metadata shares one word per lane
constexpr int kStepCols = 32;  // logical columns of one mma.sp (k32)
constexpr int kGroupsPerStep = 8;
constexpr int kRowAlign = 128;  // rows_padded multiple: every CTA tile height divides it
constexpr int kColAlign = 128;  // cols_padded multiple: one pipeline stage of the GEMM
constexpr int kLaneValues = 8;  // elements per lane per (tile, k-step)
constexpr int kBlockValues = 32 * kLaneValues;  // 256 elements = 512 bytes
constexpr uint32_t kPadNibble = 0x4;
constexpr uint32_t kPadMetaWord = 0x44444444u;

S24_HD int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
S24_HD int64_t padded_rows(int64_t rows) { return round_up(rows, kRowAlign); }
S24_HD int64_t padded_cols(int64_t cols) { return round_up(cols, kColAlign); }
S24_HD int64_t ksteps(int64_t cols) { return padded_cols(cols) / kStepCols; }
S24_HD int64_t value_count(int64_t rows, int64_t cols) {
  return padded_rows(rows) * padded_cols(cols) / 2;
}
S24_HD int64_t meta_word_count(int64_t rows, int64_t cols) {
  return padded_rows(rows) / kPairRows * ksteps(cols) * 32;
}

// Element index in `values` of the kept value `slot` (0/1) of group `group` (of the whole row) in
// row `row`; nsteps = ksteps(cols).
S24_HD int64_t value_index(int64_t row, int64_t group, int slot, int64_t nsteps) {
  const int64_t rt = row / kTileRows, kt = group / kGroupsPerStep;
  const int r = static_cast<int>(row % kTileRows), j = static_cast<int>(group % kGroupsPerStep);
  const int lane = (r % 8) * 4 + (j % 4);
  const int reg = (r / 8) + 2 * (j / 4);
  return ((rt * nsteps + kt) * 32 + lane) * kLaneValues + reg * 2 + slot;
}

// Word index in `meta` and bit shift of the nibble of (row, group).
S24_HD int64_t meta_word_index(int64_t row, int64_t group, int64_t nsteps, int* shift) {
  const int64_t p = row / kPairRows, kt = group / kGroupsPerStep;
  const int r32 = static_cast<int>(row % kPairRows);
  const int tile = r32 / kTileRows, r = r32 % kTileRows;
  const int j = static_cast<int>(group % kGroupsPerStep);
  const int lane = (r % 8) * 4 + tile * 2 + j / 4;
  *shift = (r / 8) * 16 + (j % 4) * 4;
  return (p * nsteps + kt) * 32 + lane;
}

// The inverse view used by writers that produce a whole lane word at once (the GPU conversion, a
// fused prune+compress kernel): lane L's word of pair p, k-step kt gathers the nibbles of
//   row   = 32 p + 16 (t / 2) + g + 8 h      (h = 0 for bits 0-15, 1 for bits 16-31)
//   group = 8 kt + 4 (t % 2) + j             (j = nibble index within the half word)
S24_HD int64_t meta_lane_row(int64_t pair, int lane, int h) {
  return pair * kPairRows + ((lane % 4) / 2) * kTileRows + lane / 4 + 8 * h;
}
S24_HD int64_t meta_lane_group(int64_t kstep, int lane, int j) {
  return kstep * kGroupsPerStep + ((lane % 4) % 2) * 4 + j;
}
// Lane L's values of row tile rt, k-step kt: element e = 2 reg + slot comes from
//   row = 16 rt + L/4 + 8 (reg % 2), group = 8 kt + L%4 + 4 (reg / 2), kept value `slot`.
S24_HD int64_t value_lane_row(int64_t rtile, int lane, int reg) {
  return rtile * kTileRows + lane / 4 + 8 * (reg % 2);
}
S24_HD int64_t value_lane_group(int64_t kstep, int lane, int reg) {
  return kstep * kGroupsPerStep + lane % 4 + 4 * (reg / 2);
}

// ---- 8-bit matrices (F8_E4M3, F8_E5M2, I8): the metadata of wgmma.mma_async.sp m64nNk64 ----
// An 8-bit layout has no fragment-ordered values: the sm_90a kernel reads the row-major kept
// values (the logical values tensor) through TMA, so HwLayout::values and ::row_values both
// reference it. Only the metadata is rearranged, into the per-thread words of the k64
// instruction (sparsity selector 0: every lane of a quad holds one): a "k64-step" is 64 logical
// columns (16 groups); one 256-byte block per (row pair p, k64-step kt), ordered p-major, holds
// the 32 words of the pair's first 16-row tile, then the 32 of its second; in a tile's words,
// lane L = 4 g + t holds row g + 8 (t % 2) of the tile and groups 8 (t / 2) .. 8 (t / 2) + 7 of
// the step, group j of them in bits 4 j .. 4 j + 3. The word count equals meta_word_count (one
// nibble per group either way); padding as above (nibble 0x4).
constexpr int kStep8Cols = 64;
constexpr int kGroupsPerStep8 = 16;
S24_HD int64_t ksteps8(int64_t cols) { return padded_cols(cols) / kStep8Cols; }

// Word index in `meta` and bit shift of the nibble of (row, group) of an 8-bit layout;
// nsteps8 = ksteps8(cols).
S24_HD int64_t meta8_word_index(int64_t row, int64_t group, int64_t nsteps8, int* shift) {
  const int64_t p = row / kPairRows, kt = group / kGroupsPerStep8;
  const int r32 = static_cast<int>(row % kPairRows);
  const int tile = r32 / kTileRows, r = r32 % kTileRows;
  const int j = static_cast<int>(group % kGroupsPerStep8);
  const int lane = (r % 8) * 4 + (j / 8) * 2 + r / 8;
  *shift = (j % 8) * 4;
  return (p * nsteps8 + kt) * 64 + tile * 32 + lane;
}
// The inverse view for writers of whole words: word w of block (pair p, k64-step kt) gathers the
// nibbles of row meta8_word_row(p, w), groups meta8_word_group(kt, w, j) for j = 0..7.
S24_HD int64_t meta8_word_row(int64_t pair, int w) {
  const int tile = w / 32, lane = w % 32;
  return pair * kPairRows + tile * kTileRows + lane / 4 + 8 * ((lane % 4) % 2);
}
S24_HD int64_t meta8_word_group(int64_t kstep8, int w, int j) {
  return kstep8 * kGroupsPerStep8 + ((w % 32) % 4 / 2) * 8 + j;
}

}  // namespace s24::detail::hw

namespace s24::detail {

// A matrix in the hardware layout. values: [value_count] elements of the matrix dtype (f16 or
// bf16; for 8-bit dtypes the row-major values, see above); meta: [meta_word_count] I32 (bit
// patterns of the 32-bit words). Same device for both.
// row_values: the same kept values in row-major order, [rows, cols / 2] -- the logical layout's
// values tensor, referenced (not copied) by the conversions from a Compressed24. The sm_90a
// kernel's shared-memory-A configurations read the values from it through TMA (they need a
// fragment-free order); undefined for layouts written straight from a dense matrix
// (prune_compress_hw), which then run on the configurations that read `values`.
struct HwLayout {
  Tensor values;
  Tensor meta;
  Tensor row_values;
  int64_t rows = 0;
  int64_t cols = 0;
  DType dtype() const { return values.dtype(); }
  const Device& device() const { return values.device(); }
};

// True for the 8-bit value dtypes, whose layout keeps only rearranged metadata.
inline bool is_8bit_layout_dtype(DType d) {
  return d == DType::kF8E4M3 || d == DType::kF8E5M2 || d == DType::kI8;
}

// Throws kDTypeMismatch unless f16/bf16/e4m3/e5m2/int8, kAlignment unless cols % 4 == 0 (the logical format's
// rule; the GEMM adds its own), kShapeMismatch on inconsistent tensors.
void check_hw_convertible(const Compressed24& c);

// CPU conversions (CPU tensors in and out). The round trip is exact: every value bit and nibble.
HwLayout to_hw_layout_cpu(const Compressed24& c);
Compressed24 from_hw_layout_cpu(const HwLayout& h);

// CUDA conversion of a device Compressed24 into `out`, whose tensors must already have the right
// sizes, dtype and device (no allocation: capturable in a CUDA graph). Defined in
// hw_layout_cuda.cu; a CPU-only build throws kUnsupported.
void to_hw_layout_cuda(const Compressed24& c, HwLayout& out, Stream stream);
// Allocating form for either device (CPU tensors: the CPU conversion).
HwLayout to_hw_layout(const Compressed24& c, Stream stream = nullptr);
// Allocates tensors of the right sizes on `device` (8-bit: the metadata only; the conversion
// sets values / row_values to the logical values).
HwLayout empty_hw_layout(int64_t rows, int64_t cols, DType dtype, Device device);

}  // namespace s24::detail

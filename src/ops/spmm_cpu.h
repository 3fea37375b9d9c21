// Internal: the CPU sparse-times-dense core, C[R, Cc] = A[R, K] B[K, Cc] with A 2:4 compressed.
// spmm uses it as it stands; linear uses it for Y^T = W X^T (B = X^T) and transposes the tiles
// on their way out.
//
// The core vectorizes along the columns of C: for every kept A[r, k] it adds A[r, k] * B[k, c..]
// to a row of accumulators, an axpy over contiguous columns of a packed B panel. No lane is ever
// spent on a pruned weight (half the multiply-adds of dense); the price is one load of B per
// multiply-add (the dense kernel reuses each load many times), so the B panel is blocked along K
// to stay in L1 (see spmm_cpu.cc).
#pragma once

#include <cstdint>
#include <functional>

#include "sparse24/format.h"
#include "sparse24/tensor.h"

namespace s24::detail {

// c = a b, all three of one dtype (F32, F16, BF16); c [a.rows, b.cols] with unit column stride;
// b [a.cols, Cc] with unit column stride. Arguments already checked by the dispatcher.
void spmm_cpu(const Compressed24& a, const Tensor& b, Tensor& c);

namespace cpu {

// A packed for the core, in panels of panel_rows rows; a panel is a run of chunks of 32 kept
// values (16 groups) holding the rows' metadata words and their values as f32 (spmm_cpu.cc).
// Rows past the end of A are zero. panel_rows and block follow from the B it multiplies.
struct SparsePanels {
  const unsigned char* data = nullptr;
  int64_t rows = 0;
  int64_t k = 0;  // logical column count (a multiple of 4)
  int64_t panel_rows = 0;
  int64_t block = 0;
  int64_t bytes_per_panel = 0;
  int64_t panels() const { return (rows + panel_rows - 1) / panel_rows; }
};
// Repacks A (converting f16/bf16 values) into per-thread scratch, in parallel. Valid until the
// next call on this thread.
SparsePanels pack_sparse_panels(const Compressed24& a, int64_t block);

// B in column blocks of `block` columns: block b is [k][block] f32, contiguous, zero padded past
// `cols`. `block` comes from panel_block(cols).
struct Panels {
  const float* data = nullptr;
  int64_t k = 0;
  int64_t cols = 0;
  int64_t block = 0;
  int64_t blocks() const { return (cols + block - 1) / block; }
  const float* block_data(int64_t b) const { return data + b * k * block; }
};
int64_t panel_block(int64_t cols);
// Packs a row-major B [k, cols] (row stride ldb) into per-thread scratch.
template <class T>
Panels pack_panels(const T* b, int64_t k, int64_t cols, int64_t ldb);
// Packs the transpose of a row-major X [cols, k] (row stride ldx): the B of linear.
template <class T>
Panels pack_panels_transposed(const T* x, int64_t cols, int64_t k, int64_t ldx);
// The transposing packer behind it, also used by the dense kernels: panel p of dst is
// [k][width] with dst[p][kk][i] = src[(p * width + i) * ld + kk] as f32, zero for rows past
// `rows`. Runs in parallel.
template <class T>
void pack_transposed(const T* src, int64_t rows, int64_t k, int64_t ld, int64_t width, float* dst);

// Receives the f32 sums C[r0 .. r0+rows, c0 .. c0+cols), tile[(r - r0) * ld + (c - c0)]. Called
// from worker threads on disjoint tiles; each tile once, with its full K sum.
using TileSink = std::function<void(int64_t r0, int64_t rows, int64_t c0, int64_t cols,
                                    const float* tile, int64_t ld)>;
void sparse_times_panels(const SparsePanels& a, const Panels& b, const TileSink& sink);

}  // namespace cpu
}  // namespace s24::detail

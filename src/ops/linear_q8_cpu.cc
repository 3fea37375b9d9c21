#include "ops/linear_q8_cpu.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/linear_cpu.h"

namespace s24::detail {
namespace {

using namespace cpu;

// Every 8-bit code decoded to f32 (exact): one table per dtype, so that the packers and the
// weight decoder are a single load per element whatever the mix of dtypes.
struct DecodeTables {
  float e4m3[256], e5m2[256], i8[256];
  DecodeTables() {
    for (int b = 0; b < 256; ++b) {
      e4m3[b] = e4m3_to_float(static_cast<uint8_t>(b));
      e5m2[b] = e5m2_to_float(static_cast<uint8_t>(b));
      i8[b] = static_cast<float>(static_cast<int8_t>(static_cast<uint8_t>(b)));
    }
  }
};
const float* decode_table(DType dtype) {
  static const DecodeTables tables;
  switch (dtype) {
    case DType::kF8E4M3:
      return tables.e4m3;
    case DType::kF8E5M2:
      return tables.e5m2;
    case DType::kI8:
      return tables.i8;
    default:
      break;
  }
  S24_THROW(ErrorCode::kInternal, "8-bit linear kernel called with ", dtype_name(dtype));
}

// Columns of K per accumulation step. An int8 step adds at most kChunk products of at most 2^14
// in f32 registers: every partial sum is an integer below 2^24, so f32 is exact there and the
// step's sum moves into the int32 tile without loss (the int32 contract at f32 FMA speed).
// It also keeps a step's slice of the X panel (kChunk x 64 floats, 64 KiB) near L1.
constexpr int64_t kChunk = 256;
static_assert(kChunk * 128 * 128 <= (int64_t{1} << 24), "int8 steps must stay exact in f32");
constexpr int64_t kRowsPerTask = 16;   // W rows (outputs n) of one task
constexpr int64_t kPanelsPerTask = 4;  // X panels (outputs m) of one task

// The W operand, read one step at a time as (column, value) pairs in storage order: a compressed
// row gives its kept values (two per group, columns from the metadata), a dense row all K.
struct WeightRows {
  const uint8_t* values = nullptr;
  const uint8_t* meta = nullptr;
  bool compressed = false;
  int64_t k = 0;
  int64_t ld = 0;  // elements per stored row
  const float* table = nullptr;

  int64_t pairs_per_step() const { return compressed ? kChunk / 2 : kChunk; }
  // Columns [k0, k1) of row n (multiples of 4 when compressed); returns the pair count.
  int64_t read(int64_t n, int64_t k0, int64_t k1, int32_t* cols, float* vals) const {
    const uint8_t* row = values + n * ld;
    if (!compressed) {
      for (int64_t c = k0; c < k1; ++c) {
        cols[c - k0] = static_cast<int32_t>(c);
        vals[c - k0] = table[row[c]];
      }
      return k1 - k0;
    }
    const uint8_t* mrow = meta + n * meta_cols(k);
    const int64_t j0 = k0 / 2, j1 = k1 / 2;
    for (int64_t j = j0; j < j1; ++j) {
      cols[j - j0] = static_cast<int32_t>(4 * (j >> 1) + ((mrow[j >> 2] >> ((j & 3) * 2)) & 3));
      vals[j - j0] = table[row[j]];
    }
    return j1 - j0;
  }
};

// X^T in panels of B = NV * kLanes rows of X: panel p is [K][B] f32, element [kk][i] =
// X[p * B + i, kk], zero past M.
float* pack_x_panels(const uint8_t* x, int64_t m_rows, int64_t k, int64_t ldx, const float* table,
                     int64_t width) {
  const int64_t panels = (m_rows + width - 1) / width;
  float* dst = scratch_of<float>(Scratch::kPackedB, std::max<int64_t>(1, panels * k * width));
  parallel_for(0, panels, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* panel = dst + p * k * width;
      for (int64_t i = 0; i < width; ++i) {
        const int64_t m = p * width + i;
        if (m >= m_rows) {
          for (int64_t kk = 0; kk < k; ++kk) panel[kk * width + i] = 0.0f;
          continue;
        }
        const uint8_t* row = x + m * ldx;
        for (int64_t kk = 0; kk < k; ++kk) panel[kk * width + i] = table[row[kk]];
      }
    }
  });
  return dst;
}


// One task: outputs n in [n0, n1) x the rows of panels [q0, q1). Accumulators live in a tile
// [n][row] (int32 for int8, f32 for fp8), each output's sum visited chunk after chunk in
// increasing k, so an fp8 sum is the plain left-to-right sum of its products.
template <int NV, bool kInt, class Ty>
void run_task(const WeightRows& w, const float* xpanels, int64_t m_rows, int64_t n0, int64_t n1,
              int64_t q0, int64_t q1, const CallEpilogue<Ty>& e, Ty* y, int64_t ldy) {
  constexpr int64_t B = NV * kLanes;
  using Acc = std::conditional_t<kInt, int32_t, float>;
  const int64_t k = w.k, rows = n1 - n0, width = (q1 - q0) * B;
  Acc* tile = scratch_of<Acc>(Scratch::kTile, rows * width);
  std::memset(tile, 0, sizeof(Acc) * static_cast<size_t>(rows * width));
  const int64_t per_step = w.pairs_per_step();
  int32_t* cols = scratch_of<int32_t>(Scratch::kOperand, 2 * kRowsPerTask * per_step);
  float* vals = reinterpret_cast<float*>(cols + kRowsPerTask * per_step);

  for (int64_t k0 = 0; k0 < k; k0 += kChunk) {
    const int64_t k1 = std::min(k, k0 + kChunk);
    int64_t pairs = 0;
    for (int64_t r = 0; r < rows; ++r)
      pairs = w.read(n0 + r, k0, k1, cols + r * per_step, vals + r * per_step);
    for (int64_t q = q0; q < q1; ++q) {
      const float* panel = xpanels + q * k * B;
      for (int64_t r = 0; r < rows; ++r) {
        const int32_t* c = cols + r * per_step;
        const float* v = vals + r * per_step;
        Acc* acc_out = tile + r * width + (q - q0) * B;
        VecF acc[NV];
        for (int i = 0; i < NV; ++i) {
          if constexpr (kInt)
            acc[i] = VecF{};
          else
            acc[i] = vload(acc_out + i * kLanes);
        }
        for (int64_t j = 0; j < pairs; ++j) {
          const float* xr = panel + int64_t{c[j]} * B;
          const VecF wv = vsplat(v[j]);
#pragma GCC unroll 4
          for (int i = 0; i < NV; ++i) acc[i] += wv * vload(xr + i * kLanes);
        }
        for (int i = 0; i < NV; ++i) {
          if constexpr (kInt) {
            VecI sum;
            std::memcpy(&sum, acc_out + i * kLanes, sizeof sum);
            sum += __builtin_convertvector(acc[i], VecI);
            std::memcpy(acc_out + i * kLanes, &sum, sizeof sum);
          } else {
            vstore(acc_out + i * kLanes, acc[i]);
          }
        }
      }
    }
  }

  float* t = scratch_of<float>(Scratch::kRows, rows);
  const int64_t m0 = q0 * B, m1 = std::min(m_rows, q1 * B);
  for (int64_t m = m0; m < m1; ++m) {
    // int8: the exact int32 sum, rounded to f32 here (ops.h's contract).
    for (int64_t r = 0; r < rows; ++r) t[r] = static_cast<float>(tile[r * width + (m - m0)]);
    finish_row(t, e.row(m, n0), rows, y + m * ldy + n0);
  }
}

template <int NV, bool kInt, class Ty>
void run_all(const WeightRows& w, int64_t n_cols, const Tensor& x, const float* x_table,
             const CallEpilogue<Ty>& e, Tensor& y) {
  constexpr int64_t B = NV * kLanes;
  const int64_t m_rows = x.size(0);
  const float* xpanels = pack_x_panels(static_cast<const uint8_t*>(x.raw_data()), m_rows, w.k,
                                       x.stride(0), x_table, B);
  const int64_t panels = (m_rows + B - 1) / B;
  const int64_t row_blocks = (n_cols + kRowsPerTask - 1) / kRowsPerTask;
  const int64_t panel_groups = (panels + kPanelsPerTask - 1) / kPanelsPerTask;
  Ty* yd = y.data<Ty>();
  const int64_t ldy = y.stride(0);
  parallel_for(0, row_blocks * panel_groups, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t rb = t % row_blocks, pg = t / row_blocks;
      const int64_t n0 = rb * kRowsPerTask, n1 = std::min(n_cols, n0 + kRowsPerTask);
      const int64_t q0 = pg * kPanelsPerTask, q1 = std::min(panels, q0 + kPanelsPerTask);
      run_task<NV, kInt, Ty>(w, xpanels, m_rows, n0, n1, q0, q1, e, yd, ldy);
    }
  });
}

void run(const WeightRows& w, int64_t n_cols, const Tensor& x, const Tensor* bias, Tensor& y,
         const LinearOptions& options) {
  const int64_t m_rows = x.size(0);
  if (m_rows == 0 || n_cols == 0) return;
  const float* x_table = decode_table(x.dtype());
  const bool integer = x.dtype() == DType::kI8;
  // Narrow panels for a few rows of X: every panel lane past M is wasted work.
  const int64_t vectors = (m_rows + kLanes - 1) / kLanes;
  auto go = [&](auto ty_tag) {
    using Ty = decltype(ty_tag);
    CallEpilogue<Ty> e;
    e.activation = options.activation;
    e.alpha = options.alpha;
    e.x_scale = options.x_scale ? options.x_scale->data<float>() : nullptr;
    e.w_scale = options.w_scale ? options.w_scale->data<float>() : nullptr;
    if (options.residual) {
      e.residual = options.residual->data<Ty>();
      e.ld_residual = options.residual->stride(0);
    }
    if (bias) {
      float* b = scratch_of<float>(Scratch::kBias, n_cols);
      convert_to_f32(bias->data<Ty>(), b, n_cols);
      e.bias = b;
    }
    auto width = [&](auto int_tag) {
      constexpr bool kInt = decltype(int_tag)::value;
      if (vectors >= 4)
        run_all<4, kInt, Ty>(w, n_cols, x, x_table, e, y);
      else if (vectors >= 2)
        run_all<2, kInt, Ty>(w, n_cols, x, x_table, e, y);
      else
        run_all<1, kInt, Ty>(w, n_cols, x, x_table, e, y);
    };
    if (integer)
      width(std::true_type{});
    else
      width(std::false_type{});
  };
  switch (y.dtype()) {
    case DType::kF32:
      return go(float{});
    case DType::kF16:
      return go(float16{});
    case DType::kBF16:
      return go(bfloat16{});
    default:
      break;
  }
  S24_THROW(ErrorCode::kInternal, "8-bit linear kernel called with output ", dtype_name(y.dtype()));
}

}  // namespace

void linear_q8_cpu(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                   const LinearOptions& options) {
  WeightRows rows;
  rows.values = static_cast<const uint8_t*>(w.values.raw_data());
  rows.meta = w.meta.data<uint8_t>();
  rows.compressed = true;
  rows.k = w.cols;
  rows.ld = w.cols / 2;
  rows.table = decode_table(w.dtype());
  run(rows, w.rows, x, bias, y, options);
}

void linear_dense_q8_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                         const LinearOptions& options) {
  WeightRows rows;
  rows.values = static_cast<const uint8_t*>(w.raw_data());
  rows.k = w.size(1);
  rows.ld = w.stride(0);
  rows.table = decode_table(w.dtype());
  run(rows, w.size(0), x, bias, y, options);
}

}  // namespace s24::detail

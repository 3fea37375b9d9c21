#include "ops/spmm_cpu.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/linear_cpu.h"

namespace s24::detail {
namespace cpu {
namespace {

// The K slab of a B panel that one pass of the micro-kernels streams over. Every kept A element
// costs one vector load of a B row, so the slab (kc rows of `block` floats) must sit in L1; 32 KiB
// leaves room in a 48 KiB L1 for the A chunks and the tile.
constexpr int64_t kSlabBytes = 32 * 1024;
// Row panels per task: large enough that a task amortizes its tile, small enough that the
// tasks outnumber the threads.
constexpr int64_t kPanelsPerTask = 16;

// Rows per A panel for a B block of MV vectors: as many accumulator rows as the registers hold,
// but at most 8, because each row also keeps a 64-bit metadata word in a general register.
constexpr int rows_for(int mv) { return std::min(kAccRegs / mv, 8); }

// 32 kept values (16 groups, 64 columns of K) of the NR rows of a panel. The metadata words are
// the rows' own metadata bytes 8c .. 8c+7 (kept value jj's 2-bit index at bits 2jj), so the
// micro-kernel derives every B address with a shift and a mask. (Loading precomputed offsets
// instead puts a load in front of every B load: about 20% slower in micro-benchmarks on Zen 5.)
template <int NR>
struct Chunk {
  uint64_t meta[NR];
  float value[32][NR];
};
constexpr int64_t kChunkValues = 32;
constexpr int64_t kChunkCols = 64;

// C tile rows [NR] x columns [MV vectors] += A panel (kept values j0 .. j1) x the B block. Each
// row's kept value is broadcast and multiplied into the B row its index names: NR independent
// axpys over contiguous columns, one broadcast and MV vector loads per MV FMAs.
template <int NR, int MV>
void sparse_micro(const Chunk<NR>* chunks, int64_t j0, int64_t j1, const float* block_data,
                  float* tile, int64_t ldt, bool accumulate) {
  constexpr int64_t kBlock = int64_t{MV} * kLanes;
  VecF acc[NR][MV];
#pragma GCC unroll 8
  for (int n = 0; n < NR; ++n)
#pragma GCC unroll 8
    for (int v = 0; v < MV; ++v)
      acc[n][v] = accumulate ? vload(tile + n * ldt + v * kLanes) : VecF{};
  for (int64_t c = j0 / kChunkValues; c * kChunkValues < j1; ++c) {
    const Chunk<NR>& ch = chunks[c];
    uint64_t meta[NR];
#pragma GCC unroll 8
    for (int n = 0; n < NR; ++n) meta[n] = ch.meta[n];
    const float* chunk_b = block_data + c * kChunkCols * kBlock;
    const int jn = static_cast<int>(std::min(kChunkValues, j1 - c * kChunkValues));
#pragma GCC unroll 2
    for (int jj = 0; jj < jn; ++jj) {
      const float* group_b = chunk_b + 4 * (jj >> 1) * kBlock;
#pragma GCC unroll 8
      for (int n = 0; n < NR; ++n) {
        const VecF w = vsplat(ch.value[jj][n]);
        const float* b = group_b + static_cast<int64_t>((meta[n] >> (2 * jj)) & 3) * kBlock;
#pragma GCC unroll 8
        for (int v = 0; v < MV; ++v) acc[n][v] += w * vload(b + v * kLanes);
      }
    }
  }
#pragma GCC unroll 8
  for (int n = 0; n < NR; ++n)
#pragma GCC unroll 8
    for (int v = 0; v < MV; ++v) vstore(tile + n * ldt + v * kLanes, acc[n][v]);
}

template <int MV>
void run_core(const SparsePanels& a, const Panels& b, const TileSink& sink) {
  constexpr int NR = rows_for(MV);
  constexpr int64_t kBlock = int64_t{MV} * kLanes;
  S24_CHECK(b.block == kBlock && a.block == kBlock && a.panel_rows == NR, ErrorCode::kInternal,
            "sparse core: panel shapes disagree (", a.block, ", ", b.block, ", ", a.panel_rows,
            ")");
  // K slabs hold whole chunks so that a slab starts a chunk.
  const int64_t kc =
      std::max<int64_t>(kChunkCols, kSlabBytes / (kBlock * 4) / kChunkCols * kChunkCols);
  const int64_t panels = a.panels();
  const int64_t blocks = b.blocks();
  int64_t per_task = kPanelsPerTask;
  const int64_t want_tasks = int64_t{num_threads()} * 4;
  while (per_task > 1 && blocks * ((panels + per_task - 1) / per_task) < want_tasks) per_task /= 2;
  const int64_t chunks = (panels + per_task - 1) / per_task;

  parallel_for(0, blocks * chunks, 1, [&](int64_t t0, int64_t t1) {
    float* tile = scratch_of<float>(Scratch::kTile, per_task * NR * kBlock);
    for (int64_t t = t0; t < t1; ++t) {
      // Consecutive tasks (one thread's share) walk the B blocks of one run of A panels, so
      // those A chunks stay in L2 while the B blocks stream past.
      const int64_t chunk = t / blocks, block = t % blocks;
      const int64_t p0 = chunk * per_task, p1 = std::min(panels, p0 + per_task);
      const int64_t r0 = p0 * NR, r1 = std::min(a.rows, p1 * NR);
      const float* block_data = b.block_data(block);
      if (a.k == 0) std::memset(tile, 0, sizeof(float) * (p1 - p0) * NR * kBlock);
      for (int64_t k0 = 0; k0 < a.k; k0 += kc) {
        const int64_t j0 = k0 / 2, j1 = std::min(a.k, k0 + kc) / 2;
        for (int64_t p = p0; p < p1; ++p)
          sparse_micro<NR, MV>(reinterpret_cast<const Chunk<NR>*>(a.data + p * a.bytes_per_panel),
                               j0, j1, block_data, tile + (p - p0) * NR * kBlock, kBlock, k0 > 0);
      }
      sink(r0, r1 - r0, block * kBlock, std::min(kBlock, b.cols - block * kBlock), tile, kBlock);
    }
  });
}

template <int NR, class T>
void pack_rows(const Compressed24& a, unsigned char* out, int64_t panel_bytes) {
  const int64_t half = a.cols / 2, mcols = meta_cols(a.cols), rows = a.rows;
  const int64_t panels = (rows + NR - 1) / NR;
  const int64_t nchunks = (half + kChunkValues - 1) / kChunkValues;
  const T* values = a.values.data<T>();
  const uint8_t* meta = a.meta.data<uint8_t>();
  auto pack_row = [&](Chunk<NR>* chunks, int n, int64_t r) {
    float row[kChunkValues];
    for (int64_t c = 0; c < nchunks; ++c) {
      Chunk<NR>& ch = chunks[c];
      const int64_t jn = r < rows ? std::min(kChunkValues, half - c * kChunkValues) : 0;
      uint64_t word = 0;  // padding rows: zero weights, index 0
      if (r < rows) {
        const int64_t bytes = std::min<int64_t>(8, mcols - 8 * c);
        std::memcpy(&word, meta + r * mcols + 8 * c, static_cast<size_t>(bytes));  // LE
        convert_to_f32(values + r * half + c * kChunkValues, row, jn);
      }
      ch.meta[n] = word;
      for (int64_t jj = 0; jj < jn; ++jj) ch.value[jj][n] = row[jj];
      for (int64_t jj = jn; jj < kChunkValues; ++jj) ch.value[jj][n] = 0.0f;
    }
  };
  auto pack_panels_range = [&](int64_t q0, int64_t q1) {
    for (int64_t p = q0; p < q1; ++p)
      for (int n = 0; n < NR; ++n)
        pack_row(reinterpret_cast<Chunk<NR>*>(out + p * panel_bytes), n, p * NR + n);
  };
  parallel_for(0, panels, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, half * NR)),
               pack_panels_range);
}

template <int MV>
SparsePanels pack_for(const Compressed24& a) {
  constexpr int NR = rows_for(MV);
  SparsePanels s;
  s.rows = a.rows;
  s.k = a.cols;
  s.block = int64_t{MV} * kLanes;
  s.panel_rows = NR;
  const int64_t nchunks = (a.cols / 2 + kChunkValues - 1) / kChunkValues;
  s.bytes_per_panel = nchunks * static_cast<int64_t>(sizeof(Chunk<NR>));
  unsigned char* out = static_cast<unsigned char*>(
      scratch(Scratch::kPackedA,
              static_cast<size_t>(std::max<int64_t>(1, s.panels() * s.bytes_per_panel))));
  s.data = out;
  dispatch_value_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, float16> ||
                  std::is_same_v<T, bfloat16>)
      pack_rows<NR, T>(a, out, s.bytes_per_panel);
    else
      S24_THROW(ErrorCode::kInternal, "unexpected dtype in the CPU sparse core");
  });
  return s;
}

}  // namespace

int64_t panel_block(int64_t cols) {
  // Wider blocks amortize the broadcast and the index of each kept value over more lanes;
  // narrower ones waste fewer padded lanes when cols is small. The weights are the relative
  // cost per useful lane of MV = 1, 2 against MV = 4 (micro-benchmarks on Zen 5).
  const double cost[3] = {1.6, 1.15, 1.0};
  int best = 2;
  double best_cost = 1e300;
  for (int i = 2; i >= 0; --i) {
    const int64_t block = int64_t{kLanes} << i;
    const double c = double((cols + block - 1) / block * block) * cost[i];
    if (c < best_cost) {
      best_cost = c;
      best = i;
    }
  }
  return int64_t{kLanes} << best;
}

SparsePanels pack_sparse_panels(const Compressed24& a, int64_t block) {
  switch (block / kLanes) {
    case 1:
      return pack_for<1>(a);
    case 2:
      return pack_for<2>(a);
    case 4:
      return pack_for<4>(a);
  }
  S24_THROW(ErrorCode::kInternal, "unsupported panel block ", block);
}

// Shapes p as panels of `cols` columns over k rows stored in this thread's packing scratch, and
// returns that storage for the packing to fill.
float* scratch_panels(Panels& p, int64_t k, int64_t cols) {
  p.k = k;
  p.cols = cols;
  p.block = panel_block(cols);
  float* data =
      scratch_of<float>(Scratch::kPackedB, std::max<int64_t>(1, p.blocks() * k * p.block));
  p.data = data;
  return data;
}

template <class T>
Panels pack_panels(const T* b, int64_t k, int64_t cols, int64_t ldb) {
  Panels p;
  float* data = scratch_panels(p, k, cols);
  const int64_t blocks = p.blocks(), block = p.block;
  parallel_for(0, blocks * k, std::max<int64_t>(1, 8192 / block), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t bl = i / k, row = i % k, c0 = bl * block;
      const int64_t w = std::min(block, cols - c0);
      float* dst = data + bl * k * block + row * block;
      convert_to_f32(b + row * ldb + c0, dst, w);
      for (int64_t c = w; c < block; ++c) dst[c] = 0.0f;
    }
  });
  return p;
}

template <class T>
void pack_transposed(const T* src, int64_t rows, int64_t k, int64_t ld, int64_t width, float* dst) {
  // Tiles of kTk source columns: the source rows are read contiguously, the destination written
  // with stride `width`; one destination tile (kTk * width floats) stays in L1.
  constexpr int64_t kTk = 64;
  const int64_t panels = (rows + width - 1) / width, ktiles = (k + kTk - 1) / kTk;
  parallel_for(0, panels * ktiles, 1, [&](int64_t i0, int64_t i1) {
    float row[kTk];
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t p = i / ktiles, k0 = (i % ktiles) * kTk, kn = std::min(kTk, k - k0);
      const int64_t r0 = p * width, w = std::min(width, rows - r0);
      float* d = dst + p * k * width + k0 * width;
      for (int64_t c = 0; c < w; ++c) {
        convert_to_f32(src + (r0 + c) * ld + k0, row, kn);
        for (int64_t kk = 0; kk < kn; ++kk) d[kk * width + c] = row[kk];
      }
      for (int64_t kk = 0; kk < kn; ++kk)
        for (int64_t c = w; c < width; ++c) d[kk * width + c] = 0.0f;
    }
  });
}

template <class T>
Panels pack_panels_transposed(const T* x, int64_t cols, int64_t k, int64_t ldx) {
  Panels p;
  float* data = scratch_panels(p, k, cols);
  pack_transposed(x, cols, k, ldx, p.block, data);
  return p;
}

#define S24_INSTANTIATE_PACK(T)                                                   \
  template Panels pack_panels<T>(const T*, int64_t, int64_t, int64_t);            \
  template Panels pack_panels_transposed<T>(const T*, int64_t, int64_t, int64_t); \
  template void pack_transposed<T>(const T*, int64_t, int64_t, int64_t, int64_t, float*);
S24_INSTANTIATE_PACK(float)
S24_INSTANTIATE_PACK(float16)
S24_INSTANTIATE_PACK(bfloat16)
#undef S24_INSTANTIATE_PACK

void sparse_times_panels(const SparsePanels& a, const Panels& b, const TileSink& sink) {
  if (a.rows == 0 || b.cols == 0) return;
  switch (b.block / kLanes) {
    case 1:
      return run_core<1>(a, b, sink);
    case 2:
      return run_core<2>(a, b, sink);
    case 4:
      return run_core<4>(a, b, sink);
  }
  S24_THROW(ErrorCode::kInternal, "unsupported panel block ", b.block);
}

}  // namespace cpu

void spmm_cpu(const Compressed24& a, const Tensor& b, Tensor& c) {
  const int64_t rows = a.rows, cols = b.size(1);
  if (rows == 0 || cols == 0) return;
  dispatch_value_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, float16> ||
                  std::is_same_v<T, bfloat16>) {
      T* out = c.data<T>();
      const int64_t ldc = c.stride(0);
      if (a.cols == 0) {
        std::vector<float> zeros(static_cast<size_t>(cols), 0.0f);
        for (int64_t r = 0; r < rows; ++r) cpu::store_from_f32(zeros.data(), out + r * ldc, cols);
        return;
      }
      const cpu::Panels pb = cpu::pack_panels(b.data<T>(), a.cols, cols, b.stride(0));
      const cpu::SparsePanels sa = cpu::pack_sparse_panels(a, pb.block);
      cpu::sparse_times_panels(
          sa, pb,
          [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc, const float* tile, int64_t ld) {
            for (int64_t r = 0; r < nr; ++r)
              cpu::store_from_f32(tile + r * ld, out + (r0 + r) * ldc + c0, nc);
          });
    } else {
      S24_THROW(ErrorCode::kInternal, "spmm_cpu called with ", dtype_name(a.dtype()));
    }
  });
}

}  // namespace s24::detail

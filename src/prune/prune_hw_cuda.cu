// Prune + compress straight into the hardware layout that the mma.sp GEMM reads (docs/FORMAT.md,
// "Hardware layout (sm80 mma.sp)"; index math in src/format/hw_layout.h and
// src/cuda/gemm/sparse_layout.cuh). One CTA owns one row pair (32 rows) x 128 columns (4 k-steps),
// i.e. whole value blocks and metadata blocks of the layout: it reads its dense tile with coalesced
// loads, prunes each group with the same code as the logical-layout kernels (prune_group.h), stages
// kept values and nibbles in shared memory, and writes 4 KB of fragments (16 bytes per lane) and
// 512 bytes of metadata words (4 bytes per lane), fully coalesced. Padding rows and columns get +0
// values and the pad nibble 0x4, exactly like to_hw_layout_cpu.
#include "cuda/gemm/sparse_layout.cuh"
#include "format/hw_layout.h"
#include "prune/group_pruners_cuda.cuh"
#include "prune/prune_cuda.h"
#include "prune/prune_cuda_common.cuh"

namespace s24::detail {
namespace {

constexpr int kCtaRows = hw::kPairRows;                     // 32
constexpr int kCtaSteps = 4;                                // k-steps per CTA
constexpr int kCtaGroups = kCtaSteps * hw::kGroupsPerStep;  // 32 groups = 128 columns
constexpr int kValueStride = kCtaGroups + 4;  // words; makes the lane gathers bank-conflict free
static_assert(hw::kColAlign % (kCtaSteps * hw::kStepCols) == 0, "CTAs tile the padded columns");
static_assert(hw::kRowAlign % kCtaRows == 0, "CTAs tile the padded rows");

template <class T>
__device__ __forceinline__ uint32_t pack_pair(const T (&kept)[2]) {
  return static_cast<uint32_t>(kept[0].bits) | (static_cast<uint32_t>(kept[1].bits) << 16);
}

// kTransposable: a thread handles one 4x4 block (8 block rows x 32 block columns = 256 threads);
// otherwise a thread handles 4 groups of one row (32 rows x 8 = 256 threads).
template <class T, bool kTransposable, class Pruner>
__global__ void __launch_bounds__(256)
    prune_hw_kernel(const T* __restrict__ w, int64_t rows, int64_t cols, Pruner prune,
                    uint4* __restrict__ hw_values, uint32_t* __restrict__ hw_meta,
                    unsigned long long* fault) {
  __shared__ __align__(16) uint32_t s_values[kCtaRows][kValueStride];
  __shared__ uint8_t s_nibbles[kCtaRows][kCtaGroups + 4];
  const int64_t pair = blockIdx.x, chunk = blockIdx.y;
  const int64_t groups = cols / 4, nsteps = hw::ksteps(cols);
  const int t = threadIdx.x;

  if constexpr (kTransposable) {
    const int block_row = t / kCtaGroups, lg = t % kCtaGroups;
    const int64_t row0 = pair * kCtaRows + 4 * block_row, g = chunk * kCtaGroups + lg;
    if (row0 < rows && g < groups) {  // rows % 4 == 0: a block is all in or all out
      T in[4][4];
      float magnitude[4][4];
      load_block(w, row0, cols, g, in, magnitude, fault);
      const uint32_t pattern = best_transposable_pattern(magnitude);
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const uint32_t keep = pattern_row_bits(pattern, r);
        T pruned[4], kept[2];
#pragma unroll
        for (int c = 0; c < 4; ++c) pruned[c] = (keep >> c) & 1u ? in[r][c] : Elem<T>::zero();
        s_nibbles[4 * block_row + r][lg] = static_cast<uint8_t>(compress_group(pruned, kept));
        s_values[4 * block_row + r][lg] = pack_pair(kept);
      }
    } else {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        s_nibbles[4 * block_row + r][lg] = hw::kPadNibble;
        s_values[4 * block_row + r][lg] = 0;
      }
    }
  } else {
    // Thread t: row t / 8 of the pair, groups t % 8 + 8 q: for each q the 8 threads of a row read
    // 8 neighbouring groups, so a warp-wide load covers 4 rows x 64 contiguous bytes (f16).
    const int lr = t / 8, lg0 = t % 8;
    const int64_t row = pair * kCtaRows + lr;
    if constexpr (Pruner::kPacked16) {
      // Magnitude on f16/bf16: the packed-word rule of magnitude16_group.
      uint2 in[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) {  // all loads first: four in flight per thread
        const int64_t g = chunk * kCtaGroups + lg0 + 8 * q;
        if (row < rows && g < groups)
          in[q] = __ldcs(reinterpret_cast<const uint2*>(w + 4 * (row * groups + g)));
      }
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int lg = lg0 + 8 * q;
        const int64_t g = chunk * kCtaGroups + lg;
        uint32_t nib = hw::kPadNibble, packed = 0;
        if (row < rows && g < groups)
          magnitude16_group<Pruner::kNanKey>(in[q].x, in[q].y, row * groups + g, fault, &packed,
                                             &nib);
        s_nibbles[lr][lg] = static_cast<uint8_t>(nib);
        s_values[lr][lg] = packed;
      }
    } else {
      T in[4][4];
#pragma unroll
      for (int q = 0; q < 4; ++q) {  // all loads first: four in flight per thread
        const int64_t g = chunk * kCtaGroups + lg0 + 8 * q;
        if (row < rows && g < groups) load_elems<T, 4>(w + 4 * (row * groups + g), in[q]);
      }
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int lg = lg0 + 8 * q;
        const int64_t g = chunk * kCtaGroups + lg;
        uint32_t nib = hw::kPadNibble, packed = 0;
        if (row < rows && g < groups) {
          T pruned[4], kept[2];
          (void)prune(row * groups + g, in[q], pruned, fault);
          nib = compress_group(pruned, kept);
          packed = pack_pair(kept);
        }
        s_nibbles[lr][lg] = static_cast<uint8_t>(nib);
        s_values[lr][lg] = packed;
      }
    }
  }
  __syncthreads();

  // Values: warp = (row tile, k-step) of this CTA; lane L writes its 16-byte fragment.
  {
    const int warp = t / 32, lane = t % 32;
    const int tile = warp / kCtaSteps, step = warp % kCtaSteps;
    uint32_t reg[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      reg[i] = s_values[hw::value_lane_row(tile, lane, i)][hw::value_lane_group(step, lane, i)];
    const int64_t offset =
        hw::lane_values_byte_offset(2 * pair + tile, chunk * kCtaSteps + step, nsteps, lane);
    __stcs(hw_values + offset / 16, make_uint4(reg[0], reg[1], reg[2], reg[3]));
  }
  // Metadata: threads 0..127 = (k-step, lane): one word each.
  if (t < kCtaSteps * 32) {
    const int step = t / 32, lane = t % 32;
    uint32_t word = 0;
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int j = 0; j < 4; ++j)
        word |= static_cast<uint32_t>(
                    s_nibbles[hw::meta_lane_row(0, lane, h)][hw::meta_lane_group(step, lane, j)])
                << (16 * h + 4 * j);
    const int64_t offset = hw::lane_meta_byte_offset(pair, chunk * kCtaSteps + step, nsteps, lane);
    __stcs(hw_meta + offset / 4, word);
  }
}

// Group-wise pruners for the fused kernel (the same rules as the logical-layout kernels).
// Transposable blocks use no group pruner.
struct HwTransposableTag {};
// Magnitude on 16-bit values: handled on packed words inside the kernel (magnitude16_group).
template <uint32_t kNan>
struct HwMagnitude16 {
  static constexpr bool kPacked16 = true;
  static constexpr uint32_t kNanKey = kNan;
};

template <class T, bool kTransposable, class Pruner>
void launch_hw(const Tensor& w, const Pruner& prune, HwLayout& out, Stream stream,
               unsigned long long* fault) {
  const int64_t rows = w.size(0), cols = w.size(1);
  const int64_t pairs = hw::padded_rows(rows) / kCtaRows;
  const int64_t chunks = hw::padded_cols(cols) / (kCtaSteps * hw::kStepCols);
  if (pairs == 0 || chunks == 0) return;
  S24_CHECK(pairs < (int64_t{1} << 31) && chunks <= 65535, ErrorCode::kInvalidArgument,
            "matrix too large for the fused hardware-layout kernel: ", w.describe());
  prune_hw_kernel<T, kTransposable, Pruner>
      <<<dim3(static_cast<unsigned>(pairs), static_cast<unsigned>(chunks)), 256, 0,
         static_cast<cudaStream_t>(stream)>>>(static_cast<const T*>(w.raw_data()), rows, cols,
                                              prune, static_cast<uint4*>(out.values.raw_data()),
                                              static_cast<uint32_t*>(out.meta.raw_data()), fault);
  S24_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_hw_method(const Tensor& w, const PruneOptions& options, HwLayout& out, Stream stream,
                      unsigned long long* fault) {
  switch (options.method) {
    case PruneMethod::kMagnitude:
      launch_hw<T, false>(w, HwMagnitude16<Elem<T>::kNanKey>{}, out, stream, fault);
      return;
    case PruneMethod::kMVUE24:
      launch_hw<T, false>(w, Mvue24Pruner<T>{options.seed, options.offset}, out, stream, fault);
      return;
    case PruneMethod::kSoftThreshold:
      launch_hw<T, false>(w, SoftThresholdPruner<T>{}, out, stream, fault);
      return;
    case PruneMethod::kTransposable:
      launch_hw<T, true>(w, HwTransposableTag{}, out, stream, fault);
      return;
  }
  S24_THROW(ErrorCode::kInvalidArgument, "unknown pruning method ",
            static_cast<int>(options.method));
}

}  // namespace

void launch_prune_hw_cuda(const Tensor& w, const PruneOptions& options, HwLayout& out,
                          unsigned long long* fault, Stream stream) {
  S24_CHECK(out.rows == w.size(0) && out.cols == w.size(1) && out.dtype() == w.dtype() &&
                out.device() == w.device() && out.meta.device() == w.device() &&
                out.values.numel() == hw::value_count(w.size(0), w.size(1)) &&
                out.meta.numel() == hw::meta_word_count(w.size(0), w.size(1)) &&
                out.values.is_contiguous() && out.meta.is_contiguous(),
            ErrorCode::kShapeMismatch, "hardware layout buffers do not match ", w.describe());
  S24_CHECK(w.is_contiguous() && reinterpret_cast<uintptr_t>(w.raw_data()) % 16 == 0,
            ErrorCode::kInvalidArgument,
            "launch_prune_hw_cuda needs a contiguous, 16-byte aligned weight, got ", w.describe());
  if (w.dtype() == DType::kF16) {
    launch_hw_method<float16>(w, options, out, stream, fault);
  } else if (w.dtype() == DType::kBF16) {
    launch_hw_method<bfloat16>(w, options, out, stream, fault);
  } else {
    S24_THROW(ErrorCode::kDTypeMismatch, "the hardware layout holds F16 or BF16, got ",
              dtype_name(w.dtype()));
  }
}

void prune_compress_hw_cuda(const Tensor& w_in, const PruneOptions& options, HwLayout& out,
                            Stream stream) {
  const Tensor w = contiguous_cuda(w_in);
  DeviceFault fault(w.device(), stream);
  launch_prune_hw_cuda(w, options, out, fault.ptr(), stream);
  fault.throw_if_any(w.size(1), "prune_compress (hardware layout)");
}

}  // namespace s24::detail

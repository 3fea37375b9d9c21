// Internal: what the pruning kernels share: vector loads and stores, the fault word, launch sizes,
// and the group-wise kernel that magnitude, explicit masks, MVUE24 and the soft threshold plug a
// per-group functor into (the per-group arithmetic itself is prune_group.h, shared with the CPU).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/vec.cuh"
#include "prune/prune_group.h"
#include "prune/prune_internal.h"

namespace s24::detail {

// ---- vector memory access ----------------------------------------------------------------------

// N consecutive elements with the widest aligned accesses (at most 16 bytes each); `p` must be
// aligned to min(16, N * sizeof(T)) bytes, which the callers guarantee (see group_kernel).
template <class T, int N>
__device__ __forceinline__ void load_elems(const T* p, T (&out)[N]) {
  constexpr int kBytes = static_cast<int>(sizeof(T)) * N;
  constexpr int kChunk = kBytes < 16 ? kBytes : 16;
  using V = typename VecOf<kChunk>::type;
#pragma unroll
  for (int c = 0; c < kBytes / kChunk; ++c) {
    const V v = __ldg(reinterpret_cast<const V*>(reinterpret_cast<const char*>(p) + c * kChunk));
    memcpy(reinterpret_cast<char*>(out) + c * kChunk, &v, kChunk);
  }
}
template <class T, int N>
__device__ __forceinline__ void store_elems(T* p, const T (&in)[N]) {
  constexpr int kBytes = static_cast<int>(sizeof(T)) * N;
  constexpr int kChunk = kBytes < 16 ? kBytes : 16;
  using V = typename VecOf<kChunk>::type;
#pragma unroll
  for (int c = 0; c < kBytes / kChunk; ++c) {
    V v;
    memcpy(&v, reinterpret_cast<const char*>(in) + c * kChunk, kChunk);
    *reinterpret_cast<V*>(reinterpret_cast<char*>(p) + c * kChunk) = v;
  }
}

// ---- faults ------------------------------------------------------------------------------------

__device__ __forceinline__ void report_fault(unsigned long long* fault, uint64_t packed) {
  atomicMin(fault, static_cast<unsigned long long>(packed));
}

// A device word that kernels lower to the first fault (prune_group.h's packing), read back once
// after the kernels of a call. Reading it synchronises: errors surface in the call that caused
// them.
class DeviceFault {
 public:
  explicit DeviceFault(const Device& device, Stream stream = nullptr)
      : word_(Tensor::empty({1}, DType::kI64, device)), stream_(static_cast<cudaStream_t>(stream)) {
    S24_CUDA_CHECK(cudaMemsetAsync(word_.raw_data(), 0xFF, sizeof(uint64_t), stream_));  // kNoFault
  }
  unsigned long long* ptr() { return static_cast<unsigned long long*>(word_.raw_data()); }
  uint64_t read() {
    uint64_t v = kNoFault;
    S24_CUDA_CHECK(
        cudaMemcpyAsync(&v, word_.raw_data(), sizeof v, cudaMemcpyDeviceToHost, stream_));
    S24_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return v;
  }
  void throw_if_any(int64_t cols, const char* op) {
    const uint64_t v = read();
    if (v != kNoFault) throw_prune_fault(v, cols, op);
  }

 private:
  Tensor word_;
  cudaStream_t stream_;
};

// ---- launch helpers ----------------------------------------------------------------------------

constexpr int kThreadsPerBlock = 256;

// Blocks for `work` items at one item per thread, capped (the kernels loop over the rest).
inline unsigned blocks_for(int64_t work, int threads = kThreadsPerBlock) {
  const int64_t b = (work + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > (1 << 30) ? (1 << 30) : b));
}

// A contiguous view of a CUDA matrix: itself, or a copy (pitched copy for unit inner strides, a
// tiled transpose kernel for transposed views, a gather for anything else). prune_cuda_util.cu.
Tensor contiguous_cuda(const Tensor& m);

// ---- magnitude pruning of 16-bit values on packed words --------------------------------------

// The magnitude rule for one f16/bf16 group held as two 32-bit words (lo = elements 0, 1; hi =
// elements 2, 3), in integer operations only: the generic path (MagnitudePruner + compress_group)
// costs several times the instructions, which made the bandwidth-bound kernel issue-bound.
// Element j beats element i < j exactly when key_j > key_i (ties go to the lower index), so six
// comparisons rank the group. For magnitude pruning the compress nibble always equals the kept
// pair (two nonzeros: both are kept; one nonzero j: kept = {j, lowest zero}, which is also the
// completion rule's choice; none: {0, 1}), so the kept values are the input's elements at the
// nibble's positions, gathered with one byte permute. Returns the kept bits.
template <uint32_t kNanKey>
__device__ __forceinline__ uint32_t magnitude16_group(uint32_t lo, uint32_t hi, int64_t gf,
                                                      unsigned long long* fault,
                                                      uint32_t* kept_pair, uint32_t* nibble) {
  const uint32_t k0 = lo & 0x7FFFu, k1 = (lo >> 16) & 0x7FFFu;
  const uint32_t k2 = hi & 0x7FFFu, k3 = (hi >> 16) & 0x7FFFu;
  if (max(max(k0, k1), max(k2, k3)) >= kNanKey) {  // rare: name every NaN, the minimum wins
    const uint32_t k[4] = {k0, k1, k2, k3};
#pragma unroll
    for (int i = 0; i < 4; ++i)
      if (k[i] >= kNanKey) report_fault(fault, pack_fault(4 * gf + i, 0, kFaultNaN));
  }
  const uint32_t c01 = k1 > k0, c02 = k2 > k0, c03 = k3 > k0;
  const uint32_t c12 = k2 > k1, c13 = k3 > k1, c23 = k3 > k2;
  const uint32_t beaten0 = c01 + c02 + c03;
  const uint32_t beaten1 = (1 - c01) + c12 + c13;
  const uint32_t beaten2 = (1 - c02) + (1 - c12) + c23;
  const uint32_t beaten3 = (1 - c03) + (1 - c13) + (1 - c23);
  const uint32_t keep =
      static_cast<uint32_t>(beaten0 < 2) | static_cast<uint32_t>(beaten1 < 2) << 1 |
      static_cast<uint32_t>(beaten2 < 2) << 2 | static_cast<uint32_t>(beaten3 < 2) << 3;
  const uint32_t nib = nibble_of_nonzeros(keep);
  const uint32_t first = nib & 3u, second = nib >> 2;
  // Result bytes 0-1 = element `first` (input bytes 2 first, 2 first + 1), bytes 2-3 = `second`.
  *kept_pair = __byte_perm(lo, hi, 0x1010u + first * 0x22u + second * 0x2200u);
  *nibble = nib;
  return keep;
}

// The pruned words of a group (dropped elements +0) and its U8 mask word.
__device__ __forceinline__ uint2 pruned_words16(uint32_t lo, uint32_t hi, uint32_t keep) {
  const uint32_t mlo = ((keep & 1u) ? 0x0000FFFFu : 0u) | ((keep & 2u) ? 0xFFFF0000u : 0u);
  const uint32_t mhi = ((keep & 4u) ? 0x0000FFFFu : 0u) | ((keep & 8u) ? 0xFFFF0000u : 0u);
  return make_uint2(lo & mlo, hi & mhi);
}
__device__ __forceinline__ uint32_t mask_word(uint32_t keep) {
  return (keep & 1u) | ((keep >> 1) & 1u) << 8 | ((keep >> 2) & 1u) << 16 |
         ((keep >> 3) & 1u) << 24;
}

// ---- the group-wise kernel
// -----------------------------------------------------------------------

// Outputs of group_kernel (null = not wanted); every tensor contiguous.
template <class T>
struct GroupOutputs {
  T* dense = nullptr;
  uint8_t* mask = nullptr;
  T* values = nullptr;
  uint8_t* meta = nullptr;
};

template <class T>
GroupOutputs<T> group_outputs(const PruneOutputs& out) {
  GroupOutputs<T> o;
  if (out.dense) o.dense = static_cast<T*>(out.dense->raw_data());
  if (out.mask) o.mask = static_cast<uint8_t*>(out.mask->raw_data());
  if (out.compressed) {
    o.values = static_cast<T*>(out.compressed->values.raw_data());
    o.meta = static_cast<uint8_t*>(out.compressed->meta.raw_data());
  }
  return o;
}

// Writes one pruned group (flat group index `gf`) to every requested output; returns its nibble
// (0 when no compressed output is wanted).
template <class T>
__device__ __forceinline__ uint32_t write_group(const GroupOutputs<T>& o, int64_t gf,
                                                const T (&pruned)[4], uint32_t keep) {
  if (o.dense) store_elems<T, 4>(o.dense + 4 * gf, pruned);
  if (o.mask) *reinterpret_cast<uint32_t*>(o.mask + 4 * gf) = mask_word(keep);
  if (!o.values) return 0;
  T kept[2];
  const uint32_t nib = compress_group(pruned, kept);
  store_elems<T, 2>(o.values + 2 * gf, kept);
  return nib;
}

// Prunes the two groups of metadata byte u (the second one only when present) and writes them.
template <class T, class Pruner>
__device__ __forceinline__ void prune_unit(const T (&in)[8], int64_t u, int64_t g0, bool has_second,
                                           const Pruner& prune, const GroupOutputs<T>& o,
                                           unsigned long long* fault) {
  uint32_t byte = 0;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (h == 1 && !has_second) break;
    T group_in[4], pruned[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) group_in[i] = in[4 * h + i];
    const uint32_t keep = prune(g0 + h, group_in, pruned, fault);
    byte |= write_group(o, g0 + h, pruned, keep) << (4 * h);
  }
  if (o.meta) o.meta[u] = static_cast<uint8_t>(byte);
}

// Work unit = one metadata byte = two groups of a row. `prune(gf, in, pruned, fault)` handles one
// group: gf = row * (cols / 4) + group is its flat index (its first element is 4 * gf); it returns
// the kept bits and writes the pruned values. Input and outputs are contiguous and
// cudaMalloc-aligned, so a group (4 * sizeof(T) bytes) is naturally aligned.
//
// Flat case (cols % 8 == 0): unit u holds flat groups 2u and 2u + 1, one aligned 8-element load
// (16 bytes for f16). A thread takes kUnroll units a block-width apart, issues all their loads
// before any compute (memory-level parallelism for a bandwidth-bound kernel), and every warp-wide
// access covers contiguous bytes (512 B of input, 256 B of values, 32 B of metadata per f16 warp
// instruction).
constexpr int kUnroll = 4;

template <class T, class Pruner>
__global__ void __launch_bounds__(kThreadsPerBlock)
    group_kernel_flat(const T* __restrict__ w, int64_t units, Pruner prune, GroupOutputs<T> o,
                      unsigned long long* fault) {
  const int64_t tile = static_cast<int64_t>(kThreadsPerBlock) * kUnroll;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * tile + threadIdx.x; base < units;
       base += static_cast<int64_t>(gridDim.x) * tile) {
    T in[kUnroll][8];
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
      const int64_t u = base + k * kThreadsPerBlock;
      if (u < units) load_elems<T, 8>(w + 8 * u, in[k]);
    }
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
      const int64_t u = base + k * kThreadsPerBlock;
      if (u < units) prune_unit(in[k], u, 2 * u, true, prune, o, fault);
    }
  }
}

// General case (cols % 8 == 4): a row's last byte holds one group.
template <class T, class Pruner>
__global__ void __launch_bounds__(kThreadsPerBlock)
    group_kernel_rows(const T* __restrict__ w, int64_t rows, int64_t cols, Pruner prune,
                      GroupOutputs<T> o, unsigned long long* fault) {
  const int64_t groups = cols / 4, mcols = (cols + 7) / 8, units = rows * mcols;
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < units;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = u / mcols, b = u - r * mcols;
    const int64_t g0 = r * groups + 2 * b;
    const bool has_second = 2 * b + 1 < groups;
    T first[4], second[4];
    load_elems<T, 4>(w + 4 * g0, first);
    if (has_second) {
      load_elems<T, 4>(w + 4 * g0 + 4, second);
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) second[i] = first[i];  // unused
    }
    T in[8];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      in[i] = first[i];
      in[4 + i] = second[i];
    }
    prune_unit(in, u, g0, has_second, prune, o, fault);
  }
}

template <class T, class Pruner>
void launch_group_kernel(const Tensor& w, const PruneOutputs& out, const Pruner& prune,
                         unsigned long long* fault, Stream stream) {
  const int64_t rows = w.size(0), cols = w.size(1), units = rows * ((cols + 7) / 8);
  if (units == 0) return;
  const GroupOutputs<T> o = group_outputs<T>(out);
  const T* in = static_cast<const T*>(w.raw_data());
  const auto s = static_cast<cudaStream_t>(stream);
  if (cols % 8 == 0) {
    group_kernel_flat<T><<<blocks_for((units + kUnroll - 1) / kUnroll), kThreadsPerBlock, 0, s>>>(
        in, units, prune, o, fault);
  } else {
    group_kernel_rows<T>
        <<<blocks_for(units), kThreadsPerBlock, 0, s>>>(in, rows, cols, prune, o, fault);
  }
  S24_CUDA_CHECK_LAUNCH();
}

// The 4x4 block of a transposable choice: rows row0..row0+3, group g (columns 4g..4g+3). Its
// |values| feed best_transposable_pattern; a NaN is reported (first in row-major order wins the
// fault word) and counts as magnitude 0, as on the CPU.
template <class T>
__device__ __forceinline__ void load_block(const T* __restrict__ w, int64_t row0, int64_t cols,
                                           int64_t g, T (&in)[4][4], float (&magnitude)[4][4],
                                           unsigned long long* fault) {
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int64_t e = (row0 + r) * cols + 4 * g;
    load_elems<T, 4>(w + e, in[r]);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      if (Elem<T>::key(in[r][c]) >= Elem<T>::kNanKey) {
        report_fault(fault, pack_fault(e + c, 0, kFaultNaN));
        magnitude[r][c] = 0.0f;
      } else {
        magnitude[r][c] = abs_f32(Elem<T>::decode(in[r][c]));
      }
    }
  }
}

}  // namespace s24::detail

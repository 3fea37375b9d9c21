// CUDA compress / decompress of the logical 2:4 layout (format.h), the same bytes as the CPU
// versions in format.cc. One thread per metadata byte (two groups of a row): for 16-bit values a
// thread reads 16 bytes and writes 8 bytes of values plus its byte of metadata, neighbouring
// threads touching neighbouring addresses, so every access is coalesced.
#include <cuda_runtime.h>

#include <cstring>

#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/vec.cuh"
#include "format/format_cpu.h"
#include "format/format_cuda.h"

namespace s24::detail {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t work) {
  const int64_t b = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > (1 << 30) ? (1 << 30) : b));
}

// A nonzero test on the bits: -0.0 is zero, NaN is nonzero (as format.cc's is_nonzero).
__device__ __forceinline__ bool nonzero(float v) { return (__float_as_uint(v) & 0x7FFFFFFFu) != 0; }
__device__ __forceinline__ bool nonzero(float16 v) { return (v.bits & 0x7FFFu) != 0; }
__device__ __forceinline__ bool nonzero(bfloat16 v) { return (v.bits & 0x7FFFu) != 0; }
__device__ __forceinline__ bool nonzero(float8_e4m3 v) { return (v.bits & 0x7Fu) != 0; }
__device__ __forceinline__ bool nonzero(float8_e5m2 v) { return (v.bits & 0x7Fu) != 0; }
__device__ __forceinline__ bool nonzero(int8_t v) { return v != 0; }

// A group of 4 values: 4 * sizeof(T) bytes, naturally aligned in a contiguous cudaMalloc'd
// matrix with cols % 4 == 0.
template <class T>
__device__ __forceinline__ void load_group(const T* p, T (&out)[4]) {
  using V = typename VecOf<4 * sizeof(T)>::type;
  const V v = *reinterpret_cast<const V*>(p);
  memcpy(out, &v, sizeof v);
}
template <class T>
__device__ __forceinline__ void store_group(T* p, const T (&in)[4]) {
  using V = typename VecOf<4 * sizeof(T)>::type;
  V v;
  memcpy(&v, in, sizeof v);
  *reinterpret_cast<V*>(p) = v;
}
template <class T>
__device__ __forceinline__ void store_pair(T* p, T a, T b) {
  T pair[2] = {a, b};
  if constexpr (sizeof(T) == 1) {
    uint16_t v;
    memcpy(&v, pair, 2);
    *reinterpret_cast<uint16_t*>(p) = v;
  } else if constexpr (sizeof(T) == 2) {
    uint32_t v;
    memcpy(&v, pair, 4);
    *reinterpret_cast<uint32_t*>(p) = v;
  } else {
    uint2 v;
    memcpy(&v, pair, 8);
    *reinterpret_cast<uint2*>(p) = v;
  }
}

// v[i] by selects: a dynamically indexed array would be placed in local memory.
template <class T>
__device__ __forceinline__ T pick(const T (&v)[4], int i) {
  return i == 0 ? v[0] : i == 1 ? v[1] : i == 2 ? v[2] : v[3];
}

// The fault: flat group index << 8 | nonzero count of the first group (row-major) with more than
// two nonzeros.
template <class T>
__global__ void compress_kernel(const T* __restrict__ dense, int64_t rows, int64_t cols,
                                T* __restrict__ values, uint8_t* __restrict__ meta,
                                unsigned long long* fault) {
  const int64_t groups = cols / 4, mcols = (cols + 7) / 8, units = rows * mcols;
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < units;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = u / mcols, b = u - r * mcols;
    uint32_t byte = 0;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t g = 2 * b + h;
      if (g >= groups) break;
      const int64_t gf = r * groups + g;
      T in[4];
      load_group(dense + 4 * gf, in);
      uint32_t nz = 0;
#pragma unroll
      for (int i = 0; i < 4; ++i) nz |= static_cast<uint32_t>(nonzero(in[i])) << i;
      const int count = __popc(nz);
      if (count > 2) {
        atomicMin(fault, static_cast<unsigned long long>((gf << 8) | count));
        nz = 0;
      }
      const uint8_t nib = nibble_for_nonzeros(nz);
      store_pair(values + 2 * gf, pick(in, nibble_first(nib)), pick(in, nibble_second(nib)));
      byte |= static_cast<uint32_t>(nib) << (4 * h);
    }
    meta[u] = static_cast<uint8_t>(byte);
  }
}

template <class T>
__global__ void decompress_kernel(const T* __restrict__ values, const uint8_t* __restrict__ meta,
                                  int64_t rows, int64_t cols, T* __restrict__ dense) {
  const int64_t groups = cols / 4, mcols = (cols + 7) / 8, units = rows * mcols;
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < units;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = u / mcols, b = u - r * mcols;
    const uint8_t byte = meta[u];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t g = 2 * b + h;
      if (g >= groups) break;
      const int64_t gf = r * groups + g;
      const uint8_t nib = (byte >> (4 * h)) & 0xF;
      const T first = values[2 * gf], second = values[2 * gf + 1];
      T zero;
      memset(&zero, 0, sizeof zero);
      T out[4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        out[i] = i == nibble_first(nib) ? first : i == nibble_second(nib) ? second : zero;
      store_group(dense + 4 * gf, out);
    }
  }
}

}  // namespace

Compressed24 compress_cuda(const Tensor& dense_in) {
  S24_CHECK(dense_in.dim() == 2 && (dense_in.is_contiguous() || dense_in.stride(1) == 1),
            ErrorCode::kUnsupported, "compress on CUDA needs a row-major matrix (unit column ",
            "stride), got ", dense_in.describe());
  Tensor dense = dense_in.contiguous();
  // The kernel's group loads are 4 * sizeof(T) wide: a borrowed view at an odd address is copied
  // to a fresh, aligned buffer first.
  if (reinterpret_cast<uintptr_t>(dense.raw_data()) % 16 != 0) dense = dense.to(dense.device());
  const int64_t rows = dense.size(0), cols = dense.size(1);
  Compressed24 c;
  c.rows = rows;
  c.cols = cols;
  c.values = Tensor::empty({rows, cols / 2}, dense.dtype(), dense.device());
  c.meta = Tensor::empty({rows, meta_cols(cols)}, DType::kU8, dense.device());
  const int64_t units = rows * meta_cols(cols);
  if (units == 0) return c;
  Tensor fault = Tensor::empty({1}, DType::kI64, dense.device());
  S24_CUDA_CHECK(cudaMemset(fault.raw_data(), 0xFF, sizeof(uint64_t)));
  auto* fault_ptr = static_cast<unsigned long long*>(fault.raw_data());
  dispatch_value_dtype(dense.dtype(), [&](auto tag) {
    using T = decltype(tag);
    compress_kernel<T><<<blocks_for(units), kThreads>>>(
        static_cast<const T*>(dense.raw_data()), rows, cols, static_cast<T*>(c.values.raw_data()),
        static_cast<uint8_t*>(c.meta.raw_data()), fault_ptr);
    S24_CUDA_CHECK_LAUNCH();
  });
  unsigned long long first = ~0ull;
  S24_CUDA_CHECK(cudaMemcpy(&first, fault_ptr, sizeof first, cudaMemcpyDeviceToHost));
  if (first != ~0ull) {
    const int64_t gf = static_cast<int64_t>(first >> 8), r = gf / (cols / 4), g = gf % (cols / 4);
    S24_THROW(ErrorCode::kNotTwoFour, "row ", r, ", columns ", 4 * g, "..", 4 * g + 3, " hold ",
              static_cast<int>(first & 0xFF), " nonzeros (2:4 allows at most 2)");
  }
  return c;
}

Tensor decompress_cuda(const Compressed24& c) {
  Tensor values = c.values.contiguous();
  const Tensor meta = c.meta.contiguous();
  if (reinterpret_cast<uintptr_t>(values.raw_data()) % 16 != 0) values = values.to(values.device());
  Tensor out = Tensor::empty({c.rows, c.cols}, c.dtype(), c.device());
  const int64_t units = c.rows * meta_cols(c.cols);
  if (units == 0) return out;
  dispatch_value_dtype(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
    decompress_kernel<T><<<blocks_for(units), kThreads>>>(
        static_cast<const T*>(values.raw_data()), static_cast<const uint8_t*>(meta.raw_data()),
        c.rows, c.cols, static_cast<T*>(out.raw_data()));
    S24_CUDA_CHECK_LAUNCH();
  });
  return out;
}

}  // namespace s24::detail

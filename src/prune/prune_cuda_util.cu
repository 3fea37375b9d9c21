// contiguous_cuda: the pruning kernels read row-major matrices; strided CUDA views (the
// transposed gradient that MVUE24 prunes in training, grad_Z^T) are made contiguous here first.
#include "prune/prune_cuda.h"
#include "prune/prune_cuda_common.cuh"

namespace s24::detail {
namespace {

constexpr int kTile = 32;

// out[r, c] = in[c * in_col_stride + r] for a view with unit row stride (a transpose): a 32x32
// tile goes through shared memory so both the reads and the writes are coalesced.
template <class U>
__global__ void transpose_view_kernel(const U* __restrict__ in, int64_t rows, int64_t cols,
                                      int64_t in_col_stride, U* __restrict__ out) {
  __shared__ U tile[kTile][kTile + 1];  // +1: no bank conflicts on the column reads
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += blockDim.y) {
    const int64_t c = c0 + j, r = r0 + threadIdx.x;
    if (c < cols && r < rows) tile[j][threadIdx.x] = in[c * in_col_stride + r];
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += blockDim.y) {
    const int64_t r = r0 + j, c = c0 + threadIdx.x;
    if (r < rows && c < cols) out[r * cols + c] = tile[threadIdx.x][j];
  }
}

template <class U>
__global__ void gather_kernel(const U* __restrict__ in, int64_t rows, int64_t cols, int64_t s0,
                              int64_t s1, U* __restrict__ out) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * cols;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, c = i - r * cols;
    out[i] = in[r * s0 + c * s1];
  }
}

template <class U>
void copy_strided(const Tensor& m, Tensor& out) {
  const int64_t rows = m.size(0), cols = m.size(1);
  const U* in = static_cast<const U*>(m.raw_data());
  U* o = static_cast<U*>(out.raw_data());
  if (m.stride(0) == 1) {
    const dim3 grid(static_cast<unsigned>((rows + kTile - 1) / kTile),
                    static_cast<unsigned>((cols + kTile - 1) / kTile));
    S24_CHECK(grid.y <= 65535u, ErrorCode::kInvalidArgument,
              "matrix too wide for the transpose kernel: ", m.describe());
    transpose_view_kernel<U><<<grid, dim3(kTile, 8)>>>(in, rows, cols, m.stride(1), o);
  } else {
    gather_kernel<U><<<blocks_for(rows * cols), kThreadsPerBlock>>>(in, rows, cols, m.stride(0),
                                                                    m.stride(1), o);
  }
  S24_CUDA_CHECK_LAUNCH();
}

}  // namespace

Tensor contiguous_cuda(const Tensor& m) {
  // Vector loads need 16-byte aligned rows; a borrowed view may start anywhere: copy it to a fresh
  // (cudaMalloc-aligned) buffer.
  const bool aligned = reinterpret_cast<uintptr_t>(m.raw_data()) % 16 == 0;
  if (m.is_contiguous()) return aligned ? m : m.to(m.device());
  if (m.dim() != 2 || m.stride(1) == 1) return m.contiguous();  // pitched copy
  Tensor out = Tensor::empty(m.shape(), m.dtype(), m.device());
  if (m.numel() == 0) return out;
  switch (m.element_size()) {
    case 1:
      copy_strided<uint8_t>(m, out);
      break;
    case 2:
      copy_strided<uint16_t>(m, out);
      break;
    case 4:
      copy_strided<uint32_t>(m, out);
      break;
    case 8:
      copy_strided<uint64_t>(m, out);
      break;
    default:
      S24_THROW(ErrorCode::kInternal, "contiguous_cuda: element size ", m.element_size());
  }
  return out;
}

void launch_prune_cuda(PruneMethod method, const Tensor& w, uint64_t seed, uint64_t offset,
                       const PruneOutputs& out, unsigned long long* fault, Stream stream) {
  S24_CHECK(w.is_contiguous() && reinterpret_cast<uintptr_t>(w.raw_data()) % 16 == 0,
            ErrorCode::kInvalidArgument,
            "launch_prune_cuda needs a contiguous, 16-byte aligned weight, got ", w.describe());
  switch (method) {
    case PruneMethod::kMagnitude:
      launch_magnitude_cuda(w, out, fault, stream);
      return;
    case PruneMethod::kMVUE24:
      launch_mvue24_cuda(w, seed, offset, out, fault, stream);
      return;
    case PruneMethod::kTransposable:
      launch_transposable_cuda(w, out, fault, stream);
      return;
    case PruneMethod::kSoftThreshold:
      launch_soft_threshold_cuda(w, out, fault, stream);
      return;
  }
  S24_THROW(ErrorCode::kInvalidArgument, "unknown pruning method ", static_cast<int>(method));
}

}  // namespace s24::detail

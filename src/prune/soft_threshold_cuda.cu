// S-STE soft threshold and its scale on the GPU, bit-identical to soft_threshold_cpu.cc.
#include <vector>

#include "prune/group_pruners_cuda.cuh"
#include "prune/prune_cuda.h"
#include "prune/prune_cuda_common.cuh"

namespace s24::detail {
namespace {

// One thread per row, columns in order: the CPU's summation order, so the per-row doubles are
// identical; the host then adds the rows in order. A one-off per layer (S-STE freezes beta), so
// the strided reads are acceptable.
template <class TW, class TS>
__global__ void scale_rows_kernel(const TW* __restrict__ w, const TS* __restrict__ s, int64_t rows,
                                  int64_t cols, double* __restrict__ row_dot,
                                  double* __restrict__ row_norm) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  double dot = 0, norm = 0;
  for (int64_t c = 0; c < cols; ++c) {
    const double a = Elem<TW>::decode(w[r * cols + c]);
    const double b = Elem<TS>::decode(s[r * cols + c]);
    dot = __dadd_rn(dot, __dmul_rn(a, b));
    norm = __dadd_rn(norm, __dmul_rn(b, b));
  }
  row_dot[r] = dot;
  row_norm[r] = norm;
}

}  // namespace

void launch_soft_threshold_cuda(const Tensor& w, const PruneOutputs& out, unsigned long long* fault,
                                Stream stream) {
  switch (w.dtype()) {
    case DType::kF32:
      launch_group_kernel<float>(w, out, SoftThresholdPruner<float>{}, fault, stream);
      break;
    case DType::kF16:
      launch_group_kernel<float16>(w, out, SoftThresholdPruner<float16>{}, fault, stream);
      break;
    case DType::kBF16:
      launch_group_kernel<bfloat16>(w, out, SoftThresholdPruner<bfloat16>{}, fault, stream);
      break;
    default:
      S24_THROW(ErrorCode::kInternal, "soft threshold kernel for dtype ", dtype_name(w.dtype()));
  }
}

void soft_threshold_cuda(const Tensor& w_in, const PruneOutputs& out) {
  const Tensor w = contiguous_cuda(w_in);
  DeviceFault fault(w.device());
  launch_soft_threshold_cuda(w, out, fault.ptr(), nullptr);
  fault.throw_if_any(w.size(1), "soft_threshold24");
}

double soft_threshold_scale_cuda(const Tensor& w_in, const Tensor& soft_in) {
  const Tensor w = contiguous_cuda(w_in), soft = contiguous_cuda(soft_in);
  const int64_t rows = w.size(0), cols = w.size(1);
  if (rows == 0) return 1.0;
  Tensor partial =
      Tensor::empty({2, rows}, DType::kI64, w.device());  // 8-byte slots holding doubles
  double* row_dot = static_cast<double*>(partial.raw_data());
  double* row_norm = row_dot + rows;
  dispatch_value_dtype(w.dtype(), [&](auto wt) {
    using TW = decltype(wt);
    dispatch_value_dtype(soft.dtype(), [&](auto st) {
      using TS = decltype(st);
      scale_rows_kernel<TW, TS><<<blocks_for(rows, 128), 128>>>(
          static_cast<const TW*>(w.raw_data()), static_cast<const TS*>(soft.raw_data()), rows, cols,
          row_dot, row_norm);
      S24_CUDA_CHECK_LAUNCH();
    });
  });
  std::vector<double> host(static_cast<size_t>(2 * rows));
  S24_CUDA_CHECK(
      cudaMemcpy(host.data(), row_dot, host.size() * sizeof(double), cudaMemcpyDeviceToHost));
  double dot = 0, norm = 0;
  for (int64_t r = 0; r < rows; ++r) {
    dot += host[r];
    norm += host[rows + r];
  }
  return norm == 0 ? 1.0 : dot / norm;
}

}  // namespace s24::detail

// S-STE soft thresholding and its least-squares scale on the CPU (group arithmetic in
// prune_group.h, shared with soft_threshold_cuda.cu).
#include <vector>

#include "core/check.h"
#include "prune/group_loop_cpu.h"

namespace s24::detail {
namespace {

template <class T>
void soft_threshold_typed(const Tensor& w, const PruneOutputs& out, FaultCollector& faults) {
  const int64_t rows = w.size(0), cols = w.size(1);
  run_group_pruner<T>(
      w.data<T>(), rows, cols, out,
      [cols](int64_t r, int64_t g, const T* in, T pruned[4], FaultCollector& f) {
        float x[4];
        for (int i = 0; i < 4; ++i) {
          const uint32_t key = Elem<T>::key(in[i]);
          if (key >= Elem<T>::kInfKey)
            f.report(pack_fault(r * cols + 4 * g + i, 0,
                                key >= Elem<T>::kNanKey ? kFaultNaN : kFaultInf));
          x[i] = Elem<T>::decode(in[i]);
        }
        float y[4];
        const uint32_t keep = soft_threshold_group(x, y);
        for (int i = 0; i < 4; ++i) pruned[i] = Elem<T>::encode(y[i]);
        return keep;
      },
      faults);
}

// Row r of a [rows, cols] matrix of any value dtype as f32 (exact).
template <class T>
void decode_row(const Tensor& m, int64_t r, float* dst) {
  const int64_t cols = m.size(1);
  const T* src = m.data<T>() + r * cols;
  for (int64_t c = 0; c < cols; ++c) dst[c] = Elem<T>::decode(src[c]);
}
void decode_row_any(const Tensor& m, int64_t r, float* dst) {
  dispatch_value_dtype(m.dtype(), [&](auto tag) { decode_row<decltype(tag)>(m, r, dst); });
}

}  // namespace

void soft_threshold_cpu(const Tensor& w, const PruneOutputs& out) {
  FaultCollector faults;
  switch (w.dtype()) {
    case DType::kF32:
      soft_threshold_typed<float>(w, out, faults);
      break;
    case DType::kF16:
      soft_threshold_typed<float16>(w, out, faults);
      break;
    case DType::kBF16:
      soft_threshold_typed<bfloat16>(w, out, faults);
      break;
    default:
      S24_THROW(ErrorCode::kInternal, "soft threshold reached the CPU loop with dtype ",
                dtype_name(w.dtype()));
  }
  faults.throw_if_any(w.size(1), "soft_threshold24");
}

// Per-row sums in double, element order; then the row sums in row order. The result does not
// depend on the thread count, and the CUDA version sums in the same order.
double soft_threshold_scale_cpu(const Tensor& w, const Tensor& soft) {
  const int64_t rows = w.size(0), cols = w.size(1);
  std::vector<double> row_dot(static_cast<size_t>(rows)), row_norm(static_cast<size_t>(rows));
  parallel_for(0, rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      decode_row_any(w, r, a.data());
      decode_row_any(soft, r, b.data());
      double dot = 0, norm = 0;
      // f32 x f32 products are exact in double, so a fused multiply-add would round the same.
      for (int64_t c = 0; c < cols; ++c) {
        dot += static_cast<double>(a[c]) * b[c];
        norm += static_cast<double>(b[c]) * b[c];
      }
      row_dot[r] = dot;
      row_norm[r] = norm;
    }
  });
  double dot = 0, norm = 0;
  for (int64_t r = 0; r < rows; ++r) {
    dot += row_dot[r];
    norm += row_norm[r];
  }
  return norm == 0 ? 1.0 : dot / norm;
}

}  // namespace s24::detail

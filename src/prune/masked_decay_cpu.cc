// Masked decay on the CPU: grad += alpha * (1 - mask) * w, computed in f32 and rounded once to
// grad's dtype (prune_group.h: masked_decay_value, shared with masked_decay_cuda.cu).
#include "core/check.h"
#include "core/parallel.h"
#include "prune/prune_internal.h"

namespace s24::detail {
namespace {

constexpr int64_t kGrain = 1 << 15;

template <class G, class W>
void masked_decay_typed(G* grad, const W* w, const uint8_t* mask, int64_t n, float alpha) {
  parallel_for(0, n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      if (mask[i] != 0) continue;  // kept weights: grad keeps its exact bits
      grad[i] = Elem<G>::encode(
          masked_decay_value(Elem<G>::decode(grad[i]), Elem<W>::decode(w[i]), alpha));
    }
  });
}

template <class G>
void masked_decay_grad(Tensor& grad, const Tensor& w, const uint8_t* mask, float alpha) {
  const int64_t n = grad.numel();
  switch (w.dtype()) {
    case DType::kF32:
      masked_decay_typed(grad.data<G>(), w.data<float>(), mask, n, alpha);
      break;
    case DType::kF16:
      masked_decay_typed(grad.data<G>(), w.data<float16>(), mask, n, alpha);
      break;
    case DType::kBF16:
      masked_decay_typed(grad.data<G>(), w.data<bfloat16>(), mask, n, alpha);
      break;
    default:
      S24_THROW(ErrorCode::kInternal, "masked decay: weight dtype ", dtype_name(w.dtype()));
  }
}

}  // namespace

void masked_decay_cpu(Tensor& grad, const Tensor& w, const Tensor& mask, float alpha) {
  const uint8_t* m = mask.data<uint8_t>();
  const int64_t n = grad.numel();
  FaultCollector faults;
  parallel_for(0, n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      if (m[i] > 1) faults.report(pack_fault(i, m[i], kFaultMaskValue));
  });
  // A bad mask leaves grad untouched: it is checked in full before the first write.
  faults.throw_if_any(grad.dim() >= 1 ? grad.size(-1) : 1, "masked_decay_");
  switch (grad.dtype()) {
    case DType::kF32:
      masked_decay_grad<float>(grad, w, m, alpha);
      break;
    case DType::kF16:
      masked_decay_grad<float16>(grad, w, m, alpha);
      break;
    case DType::kBF16:
      masked_decay_grad<bfloat16>(grad, w, m, alpha);
      break;
    default:
      S24_THROW(ErrorCode::kInternal, "masked decay: grad dtype ", dtype_name(grad.dtype()));
  }
}

}  // namespace s24::detail

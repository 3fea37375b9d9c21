// Magnitude pruning and explicit masks on the CPU (semantics: docs/FORMAT.md, "Pruning
// semantics"; the group arithmetic lives in prune_group.h, shared with magnitude_cuda.cu).
#include "prune/group_loop_cpu.h"

namespace s24::detail {

void magnitude_cpu(const Tensor& w, const PruneOutputs& out) {
  const int64_t rows = w.size(0), cols = w.size(1);
  FaultCollector faults;
  dispatch_value_dtype(w.dtype(), [&](auto tag) {
    using T = decltype(tag);
    run_group_pruner<T>(
        w.data<T>(), rows, cols, out,
        [cols](int64_t r, int64_t g, const T* in, T pruned[4], FaultCollector& f) {
          uint32_t key[4];
          for (int i = 0; i < 4; ++i) {
            key[i] = Elem<T>::key(in[i]);
            if (key[i] >= Elem<T>::kNanKey)
              f.report(pack_fault(r * cols + 4 * g + i, 0, kFaultNaN));
          }
          const uint32_t keep = top2_of_keys(key);
          for (int i = 0; i < 4; ++i) pruned[i] = (keep >> i) & 1u ? in[i] : Elem<T>::zero();
          return keep;
        },
        faults);
  });
  faults.throw_if_any(cols, "magnitude pruning");
}

void apply_mask_cpu(const Tensor& w, const Tensor& mask, const PruneOutputs& out) {
  const int64_t rows = w.size(0), cols = w.size(1);
  const uint8_t* m = mask.data<uint8_t>();
  FaultCollector faults;
  dispatch_value_dtype(w.dtype(), [&](auto tag) {
    using T = decltype(tag);
    run_group_pruner<T>(
        w.data<T>(), rows, cols, out,
        [cols, m](int64_t r, int64_t g, const T* in, T pruned[4], FaultCollector& f) {
          const int64_t base = r * cols + 4 * g;
          uint32_t keep = 0;
          for (int i = 0; i < 4; ++i) {
            const uint8_t v = m[base + i];
            if (v > 1) f.report(pack_fault(base + i, v, kFaultMaskValue));
            keep |= (v & 1u) << i;
          }
          const int ones = __builtin_popcount(keep);
          if (ones > 2) f.report(pack_fault(base, static_cast<uint32_t>(ones), kFaultMaskCount));
          for (int i = 0; i < 4; ++i) pruned[i] = (keep >> i) & 1u ? in[i] : Elem<T>::zero();
          return keep;
        },
        faults);
  });
  faults.throw_if_any(cols, "apply_mask");
}

}  // namespace s24::detail

// Transposable 2:4 masks on the CPU: for every 4x4 block, the first of the 90 patterns (in the
// order of prune_group.h) with the largest kept sum of |w|; the CUDA kernel evaluates the same
// sums in the same order.
#include "core/parallel.h"
#include "format/format_cpu.h"
#include "prune/prune_internal.h"

namespace s24::detail {
namespace {

template <class T>
void transposable_typed(const Tensor& w, const PruneOutputs& out, FaultCollector& faults) {
  const int64_t rows = w.size(0), cols = w.size(1), mcols = meta_cols(cols);
  const T* in = w.data<T>();
  T* dense = out.dense ? out.dense->data<T>() : nullptr;
  uint8_t* mask = out.mask ? out.mask->data<uint8_t>() : nullptr;
  T* values = out.compressed ? out.compressed->values.data<T>() : nullptr;
  uint8_t* meta = out.compressed ? out.compressed->meta.data<uint8_t>() : nullptr;
  parallel_for(0, rows / 4, rows_per_chunk(4 * cols), [&](int64_t b0, int64_t b1) {
    for (int64_t br = b0; br < b1; ++br) {
      if (meta && mcols > 0)
        for (int r = 0; r < 4; ++r) meta[(4 * br + r) * mcols + mcols - 1] = 0;
      for (int64_t g = 0; g < cols / 4; ++g) {
        float magnitude[4][4];
        for (int r = 0; r < 4; ++r)
          for (int c = 0; c < 4; ++c) {
            const int64_t e = (4 * br + r) * cols + 4 * g + c;
            if (Elem<T>::key(in[e]) >= Elem<T>::kNanKey) {
              faults.report(pack_fault(e, 0, kFaultNaN));
              magnitude[r][c] = 0.0f;
            } else {
              magnitude[r][c] = abs_f32(Elem<T>::decode(in[e]));
            }
          }
        const uint32_t pattern = best_transposable_pattern(magnitude);
        for (int r = 0; r < 4; ++r) {
          const int64_t row = 4 * br + r, e = row * cols + 4 * g;
          const uint32_t keep = pattern_row_bits(pattern, r);
          T pruned[4];
          for (int c = 0; c < 4; ++c) pruned[c] = (keep >> c) & 1u ? in[e + c] : Elem<T>::zero();
          if (dense)
            for (int c = 0; c < 4; ++c) dense[e + c] = pruned[c];
          if (mask)
            for (int c = 0; c < 4; ++c) mask[e + c] = (keep >> c) & 1u;
          if (values) {
            const uint32_t nib = compress_group(pruned, values + row * (cols / 2) + 2 * g);
            set_nibble(meta + row * mcols, g, static_cast<uint8_t>(nib));
          }
        }
      }
    }
  });
}

}  // namespace

void transposable_cpu(const Tensor& w, const PruneOutputs& out) {
  FaultCollector faults;
  dispatch_value_dtype(w.dtype(),
                       [&](auto tag) { transposable_typed<decltype(tag)>(w, out, faults); });
  faults.throw_if_any(w.size(1), "mask_transposable");
}

}  // namespace s24::detail

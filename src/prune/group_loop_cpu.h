// Internal: the CPU loop shared by the group-wise pruners (magnitude, explicit mask, MVUE24, soft
// threshold). One call visits every group of 4 once and writes whichever outputs are requested,
// so prune_compress never materialises a dense intermediate.
#pragma once

#include <cstdint>

#include "core/parallel.h"
#include "format/format_cpu.h"
#include "prune/prune_internal.h"

namespace s24::detail {

// prune_group(row, group, const T* in /*4 values*/, T out[4], FaultCollector&) returns the kept
// bits of the group (the mask) and writes the pruned values (+0 where dropped). Rows are split
// across the thread pool; a row's metadata bytes belong to one chunk, so nibble writes never race.
template <class T, class GroupFn>
void run_group_pruner(const T* in, int64_t rows, int64_t cols, const PruneOutputs& out,
                      GroupFn&& prune_group, FaultCollector& faults) {
  const int64_t groups = cols / 4, mcols = meta_cols(cols);
  T* dense = out.dense ? out.dense->data<T>() : nullptr;
  uint8_t* mask = out.mask ? out.mask->data<uint8_t>() : nullptr;
  T* values = out.compressed ? out.compressed->values.data<T>() : nullptr;
  uint8_t* meta = out.compressed ? out.compressed->meta.data<uint8_t>() : nullptr;
  parallel_for(0, rows, rows_per_chunk(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = in + r * cols;
      if (meta && mcols > 0) meta[r * mcols + mcols - 1] = 0;  // the unused high nibble stays 0
      for (int64_t g = 0; g < groups; ++g) {
        T pruned[4];
        const uint32_t keep = prune_group(r, g, row + 4 * g, pruned, faults);
        if (dense)
          for (int i = 0; i < 4; ++i) dense[r * cols + 4 * g + i] = pruned[i];
        if (mask)
          for (int i = 0; i < 4; ++i) mask[r * cols + 4 * g + i] = (keep >> i) & 1u;
        if (values) {
          const uint32_t nib = compress_group(pruned, values + r * (cols / 2) + 2 * g);
          set_nibble(meta + r * mcols, g, static_cast<uint8_t>(nib));
        }
      }
    }
  });
}

}  // namespace s24::detail

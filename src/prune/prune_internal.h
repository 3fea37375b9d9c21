// Internal: what the pruning dispatcher (prune.cc) shares with its CPU implementations
// (*_cpu.cc). Inputs reaching the *_cpu functions are already checked: 2-D, contiguous, on the CPU,
// cols % 4 == 0, a dtype the algorithm takes, masks of the same shape and U8.
#pragma once

#include <atomic>
#include <cstdint>

#include "prune/prune_group.h"
#include "sparse24/format.h"
#include "sparse24/prune.h"
#include "sparse24/tensor.h"

namespace s24::detail {

// Throws the s24::Error that a packed fault (prune_group.h) stands for, naming the position in a
// matrix with `cols` columns. `op` names the public function.
[[noreturn]] void throw_prune_fault(uint64_t packed, int64_t cols, const char* op);

// The smallest fault reported by any thread of a parallel loop.
class FaultCollector {
 public:
  void report(uint64_t packed) {
    uint64_t seen = first_.load(std::memory_order_relaxed);
    while (packed < seen &&
           !first_.compare_exchange_weak(seen, packed, std::memory_order_relaxed)) {
    }
  }
  uint64_t first() const { return first_.load(std::memory_order_relaxed); }
  void throw_if_any(int64_t cols, const char* op) const {
    if (first() != kNoFault) throw_prune_fault(first(), cols, op);
  }

 private:
  std::atomic<uint64_t> first_{kNoFault};
};

// Rows per parallel chunk so that a chunk holds roughly `elements` matrix elements.
inline int64_t rows_per_chunk(int64_t cols, int64_t elements = 1 << 15) {
  return cols <= 0 ? 1 : (elements + cols - 1) / cols;
}

// Where a pruner writes: any subset of the dense pruned matrix (w's shape and dtype), the 0/1 mask
// (U8, w's shape) and the compressed form (values and metadata). All allocated by the caller,
// contiguous, on the device of the input.
struct PruneOutputs {
  Tensor* dense = nullptr;
  Tensor* mask = nullptr;
  Compressed24* compressed = nullptr;
};

struct HwLayout;  // format/hw_layout.h

// Prune + compress straight into the mma.sp hardware layout (f16/bf16; docs/FORMAT.md). CUDA: one
// fused kernel on `stream` (prune_hw_cuda.cu). CPU: the reference,
// to_hw_layout_cpu(prune_compress(w, options)). Same checks as prune_compress.
HwLayout prune_compress_hw(const Tensor& w, const PruneOptions& options, Stream stream = nullptr);

void magnitude_cpu(const Tensor& w, const PruneOutputs& out);
void apply_mask_cpu(const Tensor& w, const Tensor& mask, const PruneOutputs& out);
void mvue24_cpu(const Tensor& w, uint64_t seed, uint64_t offset, const PruneOutputs& out);
void transposable_cpu(const Tensor& w, const PruneOutputs& out);
void soft_threshold_cpu(const Tensor& w, const PruneOutputs& out);
double soft_threshold_scale_cpu(const Tensor& w, const Tensor& soft);
void masked_decay_cpu(Tensor& grad, const Tensor& w, const Tensor& mask, float alpha);

}  // namespace s24::detail

// Internal: the CUDA implementations behind include/sparse24/prune.h (src/prune/*_cuda.cu),
// declared without CUDA headers; defined only in CUDA builds. Arguments arrive checked by
// prune.cc (shapes, dtypes, devices); `w` may be strided (any 2-D strides); outputs are
// contiguous and on w's device. Work runs on the legacy default stream; each call returns after
// its faults (NaN, bad masks) were read back, so errors surface where the call is made.
#pragma once

#include <cstdint>

#include "format/hw_layout.h"
#include "prune/prune_internal.h"

namespace s24::detail {

void magnitude_cuda(const Tensor& w, const PruneOutputs& out);
void apply_mask_cuda(const Tensor& w, const Tensor& mask, const PruneOutputs& out);
void mvue24_cuda(const Tensor& w, uint64_t seed, uint64_t offset, const PruneOutputs& out);
void transposable_cuda(const Tensor& w, const PruneOutputs& out);
void soft_threshold_cuda(const Tensor& w, const PruneOutputs& out);
double soft_threshold_scale_cuda(const Tensor& w, const Tensor& soft);
void masked_decay_cuda(Tensor& grad, const Tensor& w, const Tensor& mask, float alpha);

// Launch-only forms, for callers that own the stream and the fault word (a training step, a CUDA
// graph, a benchmark): `w` contiguous, outputs preallocated, faults lowered into *fault, which the
// caller initialises to kNoFault (all bits set) and reads when it wants; nothing synchronises and
// nothing is allocated. The sync forms above are these plus a fault read-back.
void launch_magnitude_cuda(const Tensor& w, const PruneOutputs& out, unsigned long long* fault,
                           Stream stream);
void launch_apply_mask_cuda(const Tensor& w, const Tensor& mask, const PruneOutputs& out,
                            unsigned long long* fault, Stream stream);
void launch_mvue24_cuda(const Tensor& w, uint64_t seed, uint64_t offset, const PruneOutputs& out,
                        unsigned long long* fault, Stream stream);
void launch_transposable_cuda(const Tensor& w, const PruneOutputs& out, unsigned long long* fault,
                              Stream stream);
void launch_soft_threshold_cuda(const Tensor& w, const PruneOutputs& out, unsigned long long* fault,
                                Stream stream);
void launch_prune_cuda(PruneMethod method, const Tensor& w, uint64_t seed, uint64_t offset,
                       const PruneOutputs& out, unsigned long long* fault, Stream stream);
void launch_prune_hw_cuda(const Tensor& w, const PruneOptions& options, HwLayout& out,
                          unsigned long long* fault, Stream stream);

// Prune + compress in one kernel straight into the mma.sp hardware layout (f16/bf16) on `stream`;
// `out` is preallocated (empty_hw_layout). Returns after the stream finished (fault check).
void prune_compress_hw_cuda(const Tensor& w, const PruneOptions& options, HwLayout& out,
                            Stream stream);

}  // namespace s24::detail

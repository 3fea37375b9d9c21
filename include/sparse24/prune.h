// sparse24 — pruning a dense matrix to 2:4. Groups of 4 run along rows (the K dimension of a
// Linear weight [out_features, in_features]). Exact semantics: docs/FORMAT.md, section "Pruning".
//
// Masks are U8 tensors of the weight's shape holding 0 or 1.
#pragma once

#include <cstdint>

#include "sparse24/format.h"
#include "sparse24/tensor.h"

namespace s24 {

// Magnitude: keep the two largest |x| of every group of 4. Ties: the lower index wins.
// -0.0 == 0. NaN anywhere is an error (kNonFinite); +-Inf are ordinary large magnitudes.
Tensor mask_magnitude(const Tensor& w);
// Returns w * mask (same dtype/device). The mask must be U8 0/1 and have at most two ones per
// group (kNotTwoFour otherwise).
Tensor apply_mask(const Tensor& w, const Tensor& mask);
Tensor prune_magnitude(const Tensor& w);  // apply_mask(w, mask_magnitude(w))

// MVUE24 (2by4-pretrain): an unbiased stochastic 2:4 estimator of w. Draws come from a
// counter-based RNG (Philox4x32-10, key = seed, counter = (group index, offset)), so the CPU and
// the GPU produce the same result for the same (seed, offset). f32 arithmetic is specified in
// docs/FORMAT.md so that results are bit-identical across devices.
Tensor prune_mvue24(const Tensor& w, uint64_t seed, uint64_t offset = 0);

// Transposable 2:4 mask: for every 4x4 block, the 0/1 pattern with two ones in every row and
// every column (90 of them) that maximises the kept sum of |w|. Ties: the pattern that comes first
// in the documented enumeration. rows % 4 == 0 and cols % 4 == 0 are required.
Tensor mask_transposable(const Tensor& w);

// S-STE soft threshold: per group, t = the 2nd smallest |w|; the two largest (magnitude order,
// ties to the lower index) become sign(w) * (|w| - t), the rest 0.
Tensor soft_threshold24(const Tensor& w);
// beta = <w, S(w)> / <S(w), S(w)>, accumulated in double (1.0 when S(w) == 0).
double soft_threshold_scale(const Tensor& w, const Tensor& soft);

// grad += alpha * (1 - mask) * w, in place; grad and w of the same float dtype and shape.
void masked_decay_(Tensor& grad, const Tensor& w, const Tensor& mask, float alpha);

enum class PruneMethod { kMagnitude, kMVUE24, kTransposable, kSoftThreshold };
const char* prune_method_name(PruneMethod m);
PruneMethod parse_prune_method(const std::string& name);  // magnitude, mvue24, transposable, ste
// Prune + compress in one pass (on the GPU one kernel). For kSoftThreshold the compressed values
// are the thresholded values (without beta).
struct PruneOptions {
  PruneMethod method = PruneMethod::kMagnitude;
  uint64_t seed = 0;    // MVUE24
  uint64_t offset = 0;  // MVUE24
};
Compressed24 prune_compress(const Tensor& w, const PruneOptions& options = {});

}  // namespace s24

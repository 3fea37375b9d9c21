// sparse24 — a 2:4 weight prepared once for fast repeated products.
//
// A Compressed24 holds the logical layout (docs/FORMAT.md): stable, portable, what files store.
// The GPU kernels read a hardware layout derived from it (values and metadata pre-shuffled per
// mma.sp tile and lane, docs/FORMAT.md "Hardware layout (sm80 mma.sp)"). SparseWeight builds that
// copy once, so that every linear() on it is one kernel launch: no conversion, no allocation, a
// few microseconds of host time, capturable in a CUDA graph.
//
//   s24::SparseWeight w(s24::compress(dense_on_gpu));   // once
//   s24::LinearOptions options;
//   options.stream = stream;
//   s24::linear_out(x, w, &bias, y, options);            // every step
//
// linear() on a plain Compressed24 also works on the GPU; it converts into a per-stream scratch
// copy on every call (one extra pass over the weight): convenient, not the fast path.
#pragma once

#include <cstddef>
#include <memory>

#include "sparse24/format.h"
#include "sparse24/ops.h"
#include "sparse24/tensor.h"

namespace s24 {

class SparseWeight {
 public:
  SparseWeight() = default;  // undefined: defined() is false

  // Prepares `w` on its own device. CUDA (f16/bf16): builds the hardware layout with a GPU kernel
  // on `stream` (the object is usable once the stream reaches that point). With
  // backend == Backend::kCuSparseLt it also builds cuSPARSELt's compressed copy (throws
  // kUnsupported in builds without that backend). CPU weights are kept as they are (the CPU
  // linear reads the logical layout). The object references w's tensors (no copy) and is cheap
  // to copy (shared, immutable).
  explicit SparseWeight(const Compressed24& w, Backend backend = Backend::kAuto,
                        Stream stream = nullptr);

  bool defined() const { return impl_ != nullptr; }
  int64_t rows() const;  // N, output features
  int64_t cols() const;  // K, input features
  DType dtype() const;
  Device device() const;
  const Compressed24& logical() const;
  bool has_cusparselt() const;
  // Device bytes held by the prepared copies (not counting the referenced logical tensors).
  size_t prepared_bytes() const;

  struct Impl;  // internal (src/ops/sparse_weight_impl.h)
  const Impl& impl() const;

 private:
  std::shared_ptr<const Impl> impl_;
};

// Y[..., N] = X[..., K] W^T (+ bias) then the activation, as the Compressed24 overloads of ops.h.
// On CUDA: one kernel launch of sparse24's mma.sp GEMM (Backend::kAuto / kNative), or cuSPARSELt
// (Backend::kCuSparseLt, needs a SparseWeight prepared with that backend). Alignment on CUDA:
// K % 8 == 0, N % 8 == 0, X, Y and bias contiguous and 16-byte aligned (kAlignment otherwise).
Tensor linear(const Tensor& x, const SparseWeight& w, const Tensor* bias = nullptr,
              const LinearOptions& options = {});
void linear_out(const Tensor& x, const SparseWeight& w, const Tensor* bias, Tensor& y,
                const LinearOptions& options = {});

}  // namespace s24

// CPU-only builds: the CUDA entry points exist and answer kUnsupported, so dispatchers and the
// SparseWeight code need no #if.
#include "core/check.h"
#include "ops/linear_cuda.h"
#include "ops/linear_dense_cuda.h"

#if !S24_WITH_CUDA
namespace s24::detail {

void linear_cuda(const Tensor&, const Compressed24&, const Tensor*, Tensor&, const LinearOptions&) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
void linear_cuda_prepared(const Tensor&, const SparseWeight&, const Tensor*, Tensor&,
                          const LinearOptions&) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
void linear_cuda_hw(const Tensor&, const HwLayout&, const Tensor*, Tensor&, const LinearOptions&,
                    const gemm::GemmPlan*) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
void linear_dense_cuda(const Tensor&, const Tensor&, const Tensor*, Tensor&, const LinearOptions&) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}

}  // namespace s24::detail
#endif

#include "sparse24/sparse_weight.h"

#include "backends/cusparselt.h"
#include "core/check.h"
#include "ops/linear_cuda.h"
#include "ops/sparse_weight_impl.h"

namespace s24 {

SparseWeight::SparseWeight(const Compressed24& w, Backend backend, Stream stream) {
  auto impl = std::make_shared<Impl>();
  impl->logical = w;
  if (w.device().is_cuda()) {
    detail::check_hw_convertible(w);
    impl->hw = detail::to_hw_layout(w, stream);
    if (backend == Backend::kCuSparseLt) impl->cusparselt = detail::cslt::prepare(w, stream);
  } else {
    S24_CHECK(backend != Backend::kCuSparseLt, ErrorCode::kUnsupported,
              "Backend::kCuSparseLt needs a CUDA weight, got one on ", w.device().str());
  }
  impl_ = std::move(impl);
}

const SparseWeight::Impl& SparseWeight::impl() const {
  S24_CHECK(impl_ != nullptr, ErrorCode::kInvalidArgument, "the SparseWeight is undefined");
  return *impl_;
}

int64_t SparseWeight::rows() const { return impl().logical.rows; }
int64_t SparseWeight::cols() const { return impl().logical.cols; }
DType SparseWeight::dtype() const { return impl().logical.dtype(); }
Device SparseWeight::device() const { return impl().logical.device(); }
const Compressed24& SparseWeight::logical() const { return impl().logical; }
bool SparseWeight::has_cusparselt() const { return impl().cusparselt != nullptr; }

size_t SparseWeight::prepared_bytes() const {
  const Impl& i = impl();
  size_t bytes = 0;
  // An 8-bit layout references the logical values (format/hw_layout.h): its metadata only.
  if (i.hw.meta.defined()) bytes += i.hw.meta.nbytes();
  if (i.hw.values.defined() && !detail::is_8bit_layout_dtype(i.hw.dtype()))
    bytes += i.hw.values.nbytes();
  if (i.cusparselt) bytes += detail::cslt::prepared_bytes(*i.cusparselt);
  return bytes;
}

void linear_out(const Tensor& x, const SparseWeight& w, const Tensor* bias, Tensor& y,
                const LinearOptions& options) {
  S24_CHECK(w.defined(), ErrorCode::kInvalidArgument, "the SparseWeight is undefined");
  if (w.device().is_cuda()) {
    detail::linear_cuda_prepared(x, w, bias, y, options);
  } else {
    linear_out(x, w.logical(), bias, y, options);
  }
}

Tensor linear(const Tensor& x, const SparseWeight& w, const Tensor* bias,
              const LinearOptions& options) {
  S24_CHECK(w.defined(), ErrorCode::kInvalidArgument, "the SparseWeight is undefined");
  if (!w.device().is_cuda()) return linear(x, w.logical(), bias, options);
  S24_CHECK(x.defined() && x.dim() >= 1, ErrorCode::kShapeMismatch,
            "x must have at least one dimension");
  Shape out_shape = x.shape();
  out_shape.back() = w.rows();
  // 8-bit products return F16, as s24::linear does (ops.h).
  const DType y_dtype = detail::is_8bit_layout_dtype(w.dtype()) ? DType::kF16 : w.dtype();
  Tensor y = Tensor::empty(out_shape, y_dtype, w.device());
  linear_out(x, w, bias, y, options);
  return y;
}

}  // namespace s24

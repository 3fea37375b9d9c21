// CUDA paths of linear with a 2:4 weight: argument checks (kept to a few hundred nanoseconds of
// host time) and the choice between the native mma.sp GEMM and cuSPARSELt.
#include <cmath>
#include <cstdint>

#include "backends/cusparselt.h"
#include "core/check.h"
#include "cuda/device_info.h"
#include "cuda/gemm/sparse_gemm.h"
#include "cuda/workspace.h"
#include "ops/linear_cuda.h"
#include "ops/linear_q8_cpu.h"  // is_8bit_value_dtype, kMaxI8Products
#include "ops/sparse_weight_impl.h"

namespace s24::detail {
namespace {

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

bool overlaps(const Tensor& a, const Tensor& b) {
  const auto* a0 = static_cast<const char*>(a.raw_data());
  const auto* b0 = static_cast<const char*>(b.raw_data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

// One F32 scale vector of the epilogue: [count] contiguous on `device`, not under y.
void check_scale(const Tensor* scale, int64_t count, const char* what, const Device& device,
                 const Tensor& y) {
  if (scale == nullptr) return;
  S24_CHECK(scale->defined(), ErrorCode::kInvalidArgument, what, " is an undefined tensor");
  S24_CHECK(scale->device() == device, ErrorCode::kInvalidArgument, what, " is on ",
            scale->device().str(), " but the weight on ", device.str(),
            "; all tensors of one call must be on one device");
  S24_CHECK(scale->dtype() == DType::kF32, ErrorCode::kDTypeMismatch, what, " is ",
            dtype_name(scale->dtype()), "; scales are F32 whatever the product's dtype");
  S24_CHECK(scale->dim() == 1 && scale->size(0) == count, ErrorCode::kShapeMismatch, what, " is ",
            shape_str(scale->shape()), ", expected [", count, "]");
  S24_CHECK(scale->is_contiguous(), ErrorCode::kInvalidArgument, what, " must be contiguous");
  S24_CHECK(!overlaps(*scale, y) || scale->numel() == 0, ErrorCode::kInvalidArgument, "y overlaps ",
            what, " (the output must not alias an input)");
}

// The epilogue operands of LinearOptions for an [m, n] product (x and y already checked).
void check_epilogue_args(const LinearOptions& options, int64_t m, int64_t n, DType dtype,
                         const Device& device, const Tensor& x, const Tensor* bias,
                         const Tensor& y) {
  S24_CHECK(std::isfinite(options.alpha), ErrorCode::kInvalidArgument, "alpha is ", options.alpha,
            "; it must be finite");
  check_scale(options.x_scale, m, "x_scale", device, y);
  check_scale(options.w_scale, n, "w_scale", device, y);
  const Tensor* r = options.residual;
  if (r == nullptr) return;
  S24_CHECK(r->defined(), ErrorCode::kInvalidArgument, "residual is an undefined tensor");
  S24_CHECK(r->device() == device, ErrorCode::kInvalidArgument, "residual is on ",
            r->device().str(), " but the weight on ", device.str(),
            "; all tensors of one call must be on one device");
  S24_CHECK(r->dtype() == dtype, ErrorCode::kDTypeMismatch, "residual is ",
            dtype_name(r->dtype()), " but y is ", dtype_name(dtype), ": they must agree");
  S24_CHECK(r->shape() == y.shape(), ErrorCode::kShapeMismatch, "residual is ",
            shape_str(r->shape()), ", expected y's shape ", shape_str(y.shape()));
  S24_CHECK(r->is_contiguous(), ErrorCode::kInvalidArgument, "residual must be contiguous");
  S24_CHECK(aligned16(r->raw_data()), ErrorCode::kAlignment,
            "residual must be 16-byte aligned (the epilogue reads 8 elements at a time)");
  if (r->numel() == 0) return;
  // Same data, shape and (contiguous) strides as y: the in-place add.
  S24_CHECK(r->raw_data() == y.raw_data() || !overlaps(*r, y), ErrorCode::kInvalidArgument,
            "the residual overlaps y without being y; an in-place add needs the residual to be "
            "exactly y");
  S24_CHECK(!overlaps(*r, x) && (bias == nullptr || !overlaps(*r, *bias)),
            ErrorCode::kInvalidArgument,
            "the residual overlaps x or the bias; it may only be y itself");
}

// Checks the linear contract for a weight [n, k] of `dtype` on `device`; returns M.
int64_t check_linear_args(const Tensor& x, int64_t n, int64_t k, DType dtype, const Device& device,
                          const Tensor* bias, const Tensor& y, const LinearOptions& options) {
  S24_CHECK(device.is_cuda(), ErrorCode::kInternal, "CUDA linear called for ", device.str());
  const bool q8 = is_8bit_value_dtype(dtype);
  S24_CHECK(dtype == DType::kF16 || dtype == DType::kBF16 || q8, ErrorCode::kDTypeMismatch,
            "the CUDA linear takes F16, BF16, F8_E4M3, F8_E5M2 or I8 weights, got ",
            dtype_name(dtype));
  S24_CHECK(x.defined() && y.defined(), ErrorCode::kInvalidArgument, "x and y must be defined");
  S24_CHECK(x.device() == device && y.device() == device, ErrorCode::kInvalidArgument, "x (",
            x.device().str(), "), y (", y.device().str(), ") and the weight (", device.str(),
            ") must be on one device");
  if (q8) {
    S24_CHECK(is_8bit_value_dtype(x.dtype()) && (x.dtype() == DType::kI8) == (dtype == DType::kI8),
              ErrorCode::kDTypeMismatch, "x is ", dtype_name(x.dtype()), " but the weight is ",
              dtype_name(dtype), "; 8-bit products are int8 x int8 or fp8 x fp8");
    S24_CHECK(y.dtype() == DType::kF16 || y.dtype() == DType::kBF16 || y.dtype() == DType::kF32,
              ErrorCode::kDTypeMismatch, "y is ", dtype_name(y.dtype()),
              "; an 8-bit product writes F16, BF16 or F32");
    S24_CHECK(k % 32 == 0, ErrorCode::kAlignment, "the CUDA 8-bit linear needs K % 32 == 0 (",
              "16-byte rows of the K/2 kept values), got K = ", k);
    S24_CHECK(dtype != DType::kI8 || k / 2 <= kMaxI8Products, ErrorCode::kInvalidArgument,
              "K = ", k, " adds ", k / 2, " int8 products per output; their int32 sum is exact ",
              "only up to ", kMaxI8Products);
  } else {
    S24_CHECK(x.dtype() == dtype && y.dtype() == dtype, ErrorCode::kDTypeMismatch, "x is ",
              dtype_name(x.dtype()), ", y is ", dtype_name(y.dtype()), ", the weight is ",
              dtype_name(dtype), ": they must agree");
  }
  const DType y_dtype = y.dtype();
  S24_CHECK(x.dim() >= 1 && x.size(-1) == k, ErrorCode::kShapeMismatch, "x is ",
            shape_str(x.shape()), " but the weight has K = ", k, " input features");
  S24_CHECK(y.dim() == x.dim(), ErrorCode::kShapeMismatch, "y is ", shape_str(y.shape()),
            ", expected x's leading dims and N = ", n);
  for (int64_t d = 0; d + 1 < x.dim(); ++d)
    S24_CHECK(y.size(d) == x.size(d), ErrorCode::kShapeMismatch, "y is ", shape_str(y.shape()),
              " but x is ", shape_str(x.shape()));
  S24_CHECK(y.size(-1) == n, ErrorCode::kShapeMismatch, "y is ", shape_str(y.shape()),
            " but the weight has N = ", n, " output features");
  S24_CHECK(k > 0 && n > 0, ErrorCode::kShapeMismatch, "the CUDA linear needs N > 0 and K > 0, ",
            "got N = ", n, ", K = ", k);
  S24_CHECK(k % 8 == 0, ErrorCode::kAlignment, "the CUDA linear needs K % 8 == 0 (16-byte rows ",
            "of x), got K = ", k);
  S24_CHECK(n % 8 == 0, ErrorCode::kAlignment, "the CUDA linear needs N % 8 == 0 (16-byte rows ",
            "of y), got N = ", n);
  S24_CHECK(x.is_contiguous() && y.is_contiguous(), ErrorCode::kInvalidArgument,
            "x and y must be contiguous");
  S24_CHECK(aligned16(x.raw_data()) && aligned16(y.raw_data()), ErrorCode::kAlignment,
            "x and y must be 16-byte aligned");
  if (bias != nullptr) {
    S24_CHECK(bias->defined() && bias->device() == device && bias->dtype() == y_dtype,
              ErrorCode::kInvalidArgument, "bias must be a ", dtype_name(y_dtype), " tensor on ",
              device.str(), " (y's dtype)");
    S24_CHECK(bias->dim() == 1 && bias->size(0) == n, ErrorCode::kShapeMismatch, "bias is ",
              shape_str(bias->shape()), ", expected [", n, "]");
    S24_CHECK(bias->is_contiguous() && aligned16(bias->raw_data()), ErrorCode::kAlignment,
              "bias must be contiguous and 16-byte aligned");
    S24_CHECK(!overlaps(*bias, y), ErrorCode::kInvalidArgument, "y overlaps bias");
  }
  S24_CHECK(!overlaps(x, y) || x.numel() == 0 || y.numel() == 0, ErrorCode::kInvalidArgument,
            "y overlaps x (the product cannot run in place)");
  const int64_t m = x.numel() / k;
  S24_CHECK(m < (int64_t{1} << 31) && n < (int64_t{1} << 31) && k < (int64_t{1} << 31),
            ErrorCode::kInvalidArgument, "linear of ", m, " x ", n, " x ", k,
            " exceeds 32-bit dimensions");
  check_epilogue_args(options, m, n, y_dtype, device, x, bias, y);
  return m;
}

}  // namespace

void linear_cuda_hw(const Tensor& x, const HwLayout& w, const Tensor* bias, Tensor& y,
                    const LinearOptions& options, const gemm::GemmPlan* plan) {
  const int64_t m = check_linear_args(x, w.rows, w.cols, w.dtype(), w.device(), bias, y, options);
  require_sm80(w.device());
  if (m == 0) return;
  gemm::GemmArgs a;
  a.x = x.raw_data();
  a.w_values = w.values.raw_data();
  a.w_meta = w.meta.raw_data();
  if (w.row_values.defined()) {
    S24_CHECK(w.row_values.device() == w.device() && w.row_values.dtype() == w.dtype() &&
                  w.row_values.is_contiguous() && w.row_values.numel() == w.rows * (w.cols / 2),
              ErrorCode::kShapeMismatch, "the hardware layout's row-major values do not match its [",
              w.rows, ", ", w.cols, "] matrix");
    a.w_row_values = w.row_values.raw_data();
  }
  a.bias = bias ? bias->raw_data() : nullptr;
  a.y = y.raw_data();
  a.m = m;
  a.n = w.rows;
  a.k = w.cols;
  a.dtype = w.dtype();
  a.x_dtype = x.dtype();
  a.y_dtype = y.dtype();
  a.activation = options.activation;
  a.alpha = options.alpha;
  a.x_scale = options.x_scale ? options.x_scale->data<float>() : nullptr;
  a.w_scale = options.w_scale ? options.w_scale->data<float>() : nullptr;
  a.residual = options.residual ? options.residual->raw_data() : nullptr;
  a.device = w.device();
  a.stream = options.stream;
  gemm::run_sparse_gemm(a, plan);
}

void linear_cuda_prepared(const Tensor& x, const SparseWeight& w, const Tensor* bias, Tensor& y,
                          const LinearOptions& options) {
  S24_CHECK(w.defined(), ErrorCode::kInvalidArgument, "the SparseWeight is undefined");
  const SparseWeight::Impl& impl = w.impl();
  if (options.backend == Backend::kCuSparseLt) {
    S24_CHECK(impl.cusparselt != nullptr, ErrorCode::kUnsupported,
              "Backend::kCuSparseLt needs a SparseWeight prepared with Backend::kCuSparseLt");
    check_linear_args(x, w.rows(), w.cols(), w.dtype(), w.device(), bias, y, options);
    cslt::linear(x, *impl.cusparselt, bias, y, options);
    return;
  }
  linear_cuda_hw(x, impl.hw, bias, y, options, nullptr);
}

void linear_cuda(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                 const LinearOptions& options) {
  check_hw_convertible(w);
  check_linear_args(x, w.rows, w.cols, w.dtype(), w.device(), bias, y, options);
  require_sm80(w.device());  // before any device work (a clear kUnsupported without a GPU)
  if (options.backend == Backend::kCuSparseLt) {
    const SparseWeight prepared(w, Backend::kCuSparseLt, options.stream);
    linear_cuda_prepared(x, prepared, bias, y, options);
    return;
  }
  // The scratch layout lives in one per-stream buffer: values first, metadata after (256-byte
  // aligned), reused by every call on this stream. An 8-bit layout has metadata only (it reads
  // the logical values in place).
  const bool q8 = is_8bit_layout_dtype(w.dtype());
  const size_t value_bytes = q8 ? 0 : static_cast<size_t>(hw::value_count(w.rows, w.cols)) * 2;
  const size_t value_bytes_aligned = (value_bytes + 255) / 256 * 256;
  const size_t meta_bytes = static_cast<size_t>(hw::meta_word_count(w.rows, w.cols)) * 4;
  auto* scratch = static_cast<char*>(stream_workspace(
      w.device(), options.stream, WorkspaceSlot::kHwScratch, value_bytes_aligned + meta_bytes));
  HwLayout h;
  h.rows = w.rows;
  h.cols = w.cols;
  if (!q8)
    h.values = Tensor::borrow(scratch, {hw::value_count(w.rows, w.cols)}, w.dtype(), w.device());
  h.meta = Tensor::borrow(scratch + value_bytes_aligned, {hw::meta_word_count(w.rows, w.cols)},
                          DType::kI32, w.device());
  ensure_current_device(w.device());
  to_hw_layout_cuda(w, h, options.stream);
  linear_cuda_hw(x, h, bias, y, options, nullptr);
}

}  // namespace s24::detail

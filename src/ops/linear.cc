// The dispatchers of ops.h: every argument is checked here, once, for both backends; the kernels
// behind (linear_cpu.cc, spmm_cpu.cc, linear_cuda.cu) receive 2-D views with a unit column
// stride and trust them.
#include <string>

#include "core/check.h"
#include "ops/linear_cpu.h"
#include "ops/linear_cuda.h"
#include "ops/linear_dense_cuda.h"
#include "ops/spmm_cpu.h"
#include "sparse24/ops.h"

namespace s24 {
namespace {

// A [..., K] tensor seen as rows: M rows of `cols` elements, row r at r * ld.
struct RowView {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;
};

void check_defined(const Tensor& t, const char* op, const char* what) {
  S24_CHECK(t.defined(), ErrorCode::kInvalidArgument, op, ": ", what, " is an undefined tensor");
}

// Leading dims collapse into one row index when each one's stride is the next one's stride times
// its size (size-1 dims are free). The last dim must be unit-stride: the kernels read rows with
// vector loads.
RowView as_rows(const Tensor& t, const char* op, const char* what) {
  S24_CHECK(t.dim() >= 1, ErrorCode::kShapeMismatch, op, ": ", what,
            " needs at least one dimension, got ", t.describe());
  RowView v;
  v.cols = t.size(-1);
  v.rows = t.numel() / (v.cols == 0 ? 1 : v.cols);
  if (v.cols == 0) {
    v.rows = 1;
    for (int64_t d = 0; d + 1 < t.dim(); ++d) v.rows *= t.size(d);
  }
  S24_CHECK(v.cols <= 1 || t.stride(-1) == 1, ErrorCode::kInvalidArgument, op, ": ", what, " ",
            t.describe(), " has stride ", t.stride(-1),
            " in its last dimension; the CPU and CUDA kernels need it contiguous (call "
            ".contiguous())");
  v.ld = v.cols;
  int64_t expected = -1;  // the stride the next outer non-trivial dim must have
  for (int64_t d = t.dim() - 2; d >= 0; --d) {
    if (t.size(d) == 1) continue;
    if (expected < 0) {
      v.ld = t.stride(d);
    } else {
      S24_CHECK(t.stride(d) == expected, ErrorCode::kInvalidArgument, op, ": ", what, " ",
                t.describe(), " has leading dimensions that do not collapse into rows (strides ",
                shape_str(t.strides()), "); call .contiguous()");
    }
    expected = t.stride(d) * t.size(d);
  }
  return v;
}

Tensor rows_2d(const Tensor& t, const RowView& v) {
  return Tensor::borrow(const_cast<void*>(t.raw_data()), {v.rows, v.cols}, t.dtype(), t.device(),
                        {v.ld, 1});
}

void check_compressed(const Compressed24& w, const char* op, const char* what) {
  S24_CHECK(w.values.defined() && w.meta.defined(), ErrorCode::kInvalidArgument, op, ": ", what,
            " has undefined values or metadata");
  S24_CHECK(w.rows >= 0 && w.cols >= 0, ErrorCode::kInvalidArgument, op, ": ", what,
            " has a negative logical shape [", w.rows, ", ", w.cols, "]");
  S24_CHECK(w.cols % 4 == 0, ErrorCode::kAlignment, op, ": ", what, " has ", w.cols,
            " columns, not a multiple of 4");
  S24_CHECK(w.values.shape() == Shape({w.rows, w.cols / 2}), ErrorCode::kShapeMismatch, op, ": ",
            what, " values are ", shape_str(w.values.shape()), ", expected ",
            shape_str({w.rows, w.cols / 2}), " for a [", w.rows, ", ", w.cols, "] matrix");
  S24_CHECK(w.meta.dtype() == DType::kU8, ErrorCode::kDTypeMismatch, op, ": ", what,
            " metadata is ", dtype_name(w.meta.dtype()), ", expected U8");
  S24_CHECK(w.meta.shape() == Shape({w.rows, meta_cols(w.cols)}), ErrorCode::kShapeMismatch, op,
            ": ", what, " metadata is ", shape_str(w.meta.shape()), ", expected ",
            shape_str({w.rows, meta_cols(w.cols)}));
  S24_CHECK(w.values.device() == w.meta.device(), ErrorCode::kInvalidArgument, op, ": ", what,
            " values are on ", w.values.device().str(), " but its metadata on ",
            w.meta.device().str());
  // (Empty parts count as contiguous whatever their strides say.)
  S24_CHECK((w.values.numel() == 0 || w.values.is_contiguous()) &&
                (w.meta.numel() == 0 || w.meta.is_contiguous()),
            ErrorCode::kInvalidArgument, op, ": ", what, " values and metadata must be contiguous");
}

void check_same_device(const Device& a, const Device& b, const char* op, const char* what_a,
                       const char* what_b) {
  S24_CHECK(a == b, ErrorCode::kInvalidArgument, op, ": ", what_a, " is on ", a.str(), " but ",
            what_b, " on ", b.str(), "; all tensors of one call must be on one device");
}

void check_same_dtype(DType a, DType b, const char* op, const char* what_a, const char* what_b) {
  S24_CHECK(a == b, ErrorCode::kDTypeMismatch, op, ": ", what_a, " is ", dtype_name(a), " but ",
            what_b, " is ", dtype_name(b), "; they must share one dtype");
}

// The value dtypes each backend computes in (ops.h): F32, F16, BF16 on the CPU; F16, BF16 on
// CUDA.
void check_compute_dtype(DType dtype, const Device& device, const char* op) {
  const bool half = dtype == DType::kF16 || dtype == DType::kBF16;
  if (device.is_cpu()) {
    S24_CHECK(half || dtype == DType::kF32, ErrorCode::kDTypeMismatch, op, ": dtype ",
              dtype_name(dtype), " is not supported on the CPU (F32, F16 or BF16)");
  } else {
    S24_CHECK(half, ErrorCode::kDTypeMismatch, op, ": dtype ", dtype_name(dtype),
              " is not supported on CUDA (F16 or BF16)");
  }
}

void check_bias(const Tensor* bias, int64_t n, const Tensor& x, const char* op) {
  if (!bias) return;
  check_defined(*bias, op, "bias");
  S24_CHECK(bias->dim() == 1 && bias->size(0) == n, ErrorCode::kShapeMismatch, op, ": bias is ",
            bias->describe(), ", expected [", n, "] (one value per output column)");
  check_same_dtype(bias->dtype(), x.dtype(), op, "bias", "x");
  check_same_device(bias->device(), x.device(), op, "bias", "x");
  S24_CHECK(n <= 1 || bias->stride(0) == 1, ErrorCode::kInvalidArgument, op, ": bias ",
            bias->describe(), " must be contiguous");
}

// The bytes a row view spans (for the overlap check of the output).
struct Span {
  const char* begin;
  const char* end;
};
Span span_of(const Tensor& t, const RowView& v) {
  const char* p = static_cast<const char*>(t.raw_data());
  if (v.rows == 0 || v.cols == 0) return {p, p};
  const int64_t elems = (v.rows - 1) * v.ld + v.cols;
  return {p, p + elems * static_cast<int64_t>(t.element_size())};
}
bool overlaps(Span a, Span b) { return a.begin < b.end && b.begin < a.end; }

Shape output_shape(const Tensor& x, int64_t n) {
  Shape s = x.shape();
  s.back() = n;
  return s;
}

Span span_of_all(const Tensor& t) {  // contiguous tensors: values, metadata, bias
  const char* p = static_cast<const char*>(t.raw_data());
  return {p, p + t.nbytes()};
}

void check_output(const Tensor& y, const Tensor& x, const RowView& xv, const Compressed24& w,
                  const Tensor* bias, const char* op) {
  check_defined(y, op, "y");
  const Shape want = output_shape(x, w.rows);
  S24_CHECK(y.shape() == want, ErrorCode::kShapeMismatch, op, ": y is ", y.describe(),
            ", expected ", shape_str(want), " for x ", x.describe());
  check_same_dtype(y.dtype(), x.dtype(), op, "y", "x");
  check_same_device(y.device(), x.device(), op, "y", "x");
  const RowView yv = as_rows(y, op, "y");
  S24_CHECK(yv.rows <= 1 || yv.ld >= yv.cols, ErrorCode::kInvalidArgument, op, ": y ", y.describe(),
            " has rows that overlap each other (row stride ", yv.ld, " < ", yv.cols, ")");
  const Span ys = span_of(y, yv);
  const char* alias = overlaps(ys, span_of(x, xv))               ? "x"
                      : overlaps(ys, span_of_all(w.values))      ? "w's values"
                      : overlaps(ys, span_of_all(w.meta))        ? "w's metadata"
                      : bias && overlaps(ys, span_of_all(*bias)) ? "the bias"
                                                                 : nullptr;
  S24_CHECK(alias == nullptr, ErrorCode::kInvalidArgument, op, ": y overlaps ", alias,
            " in memory; the output must not alias an input");
}

// Everything linear and linear_out share; returns x's row view.
RowView check_linear(const Tensor& x, const Compressed24& w, const Tensor* bias,
                     const LinearOptions& options, const char* op) {
  check_defined(x, op, "x");
  check_compressed(w, op, "w");
  const RowView xv = as_rows(x, op, "x");
  S24_CHECK(xv.cols == w.cols, ErrorCode::kShapeMismatch, op, ": x ", x.describe(),
            " has K = ", xv.cols, " but w is [", w.rows, ", ", w.cols,
            "] (x's last dimension must equal w's column count)");
  check_same_dtype(x.dtype(), w.dtype(), op, "x", "w");
  check_same_device(x.device(), w.device(), op, "x", "w");
  check_compute_dtype(x.dtype(), x.device(), op);
  check_bias(bias, w.rows, x, op);
  if (x.device().is_cpu())
    S24_CHECK(options.backend != Backend::kCuSparseLt, ErrorCode::kUnsupported, op,
              ": the cuSPARSELt backend serves CUDA tensors only; x is on the CPU");
  return xv;
}

// CUDA-only builds get kUnsupported stubs of the CUDA entry points (linear_cuda_stub.cc), so the
// CUDA branches below need no #if.
void run_linear(const Tensor& x2, const Compressed24& w, const Tensor* bias, Tensor& y2,
                const LinearOptions& options) {
  if (x2.device().is_cpu()) return detail::linear_cpu(x2, w, bias, y2, options.activation);
  detail::linear_cuda(x2, w, bias, y2, options);
}

}  // namespace

void linear_out(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                const LinearOptions& options) {
  const char* op = "linear_out";
  const RowView xv = check_linear(x, w, bias, options, op);
  check_output(y, x, xv, w, bias, op);
  Tensor x2 = rows_2d(x, xv);
  Tensor y2 = rows_2d(y, as_rows(y, op, "y"));
  run_linear(x2, w, bias, y2, options);
}

Tensor linear(const Tensor& x, const Compressed24& w, const Tensor* bias,
              const LinearOptions& options) {
  const char* op = "linear";
  const RowView xv = check_linear(x, w, bias, options, op);
  Tensor y = Tensor::empty(output_shape(x, w.rows), x.dtype(), x.device());
  Tensor x2 = rows_2d(x, xv);
  Tensor y2 = rows_2d(y, as_rows(y, op, "y"));
  run_linear(x2, w, bias, y2, options);
  return y;
}

Tensor linear_dense(const Tensor& x, const Tensor& w, const Tensor* bias,
                    const LinearOptions& options) {
  const char* op = "linear_dense";
  check_defined(x, op, "x");
  check_defined(w, op, "w");
  S24_CHECK(w.dim() == 2, ErrorCode::kShapeMismatch, op, ": w must be a 2-d [N, K] matrix, got ",
            w.describe());
  const RowView xv = as_rows(x, op, "x");
  S24_CHECK(xv.cols == w.size(1), ErrorCode::kShapeMismatch, op, ": x ", x.describe(),
            " has K = ", xv.cols, " but w is ", w.describe(),
            " (x's last dimension must equal w's column count)");
  check_same_dtype(x.dtype(), w.dtype(), op, "x", "w");
  check_same_device(x.device(), w.device(), op, "x", "w");
  check_compute_dtype(x.dtype(), x.device(), op);
  const RowView wv = as_rows(w, op, "w");
  check_bias(bias, w.size(0), x, op);
  Tensor y = Tensor::empty(output_shape(x, w.size(0)), x.dtype(), x.device());
  Tensor x2 = rows_2d(x, xv), w2 = rows_2d(w, wv);
  Tensor y2 = rows_2d(y, as_rows(y, op, "y"));
  if (x.device().is_cpu())
    detail::linear_dense_cpu(x2, w2, bias, y2, options.activation);
  else
    detail::linear_dense_cuda(x2, w2, bias, y2, options);
  return y;
}

Tensor spmm(const Compressed24& a, const Tensor& b) {
  const char* op = "spmm";
  check_compressed(a, op, "a");
  check_defined(b, op, "b");
  S24_CHECK(b.dim() == 2, ErrorCode::kShapeMismatch, op, ": b must be a 2-d [K, C] matrix, got ",
            b.describe());
  S24_CHECK(b.size(0) == a.cols, ErrorCode::kShapeMismatch, op, ": a is [", a.rows, ", ", a.cols,
            "] but b is ", b.describe(), " (b's row count must equal a's column count)");
  check_same_dtype(b.dtype(), a.dtype(), op, "b", "a");
  check_same_device(b.device(), a.device(), op, "b", "a");
  check_compute_dtype(b.dtype(), b.device(), op);
  const RowView bv = as_rows(b, op, "b");
  // No CUDA kernel for the sparse-on-the-left product yet (the GPU training path of a later
  // issue); until then CUDA operands are refused rather than copied behind the caller's back.
  S24_CHECK(b.device().is_cpu(), ErrorCode::kUnsupported, op,
            ": no CUDA implementation yet; move the operands to the CPU");
  Tensor c = Tensor::empty({a.rows, b.size(1)}, b.dtype(), b.device());
  Tensor b2 = rows_2d(b, bv);
  detail::spmm_cpu(a, b2, c);
  return c;
}

}  // namespace s24

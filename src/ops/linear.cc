// The dispatchers of ops.h: every argument is checked here, once, for both backends; the kernels
// behind (linear_cpu.cc, spmm_cpu.cc, linear_cuda.cu) receive 2-D views with a unit column
// stride and trust them.
#include <array>
#include <cmath>
#include <string>

#include "core/check.h"
#include "ops/linear_cpu.h"
#include "ops/linear_cuda.h"
#include "ops/linear_dense_cuda.h"
#include "ops/linear_q8_cpu.h"
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

// The dtypes of a product (ops.h): x and w share one of F32, F16, BF16, which y, the bias and the
// residual have too; or both are 8-bit, int8 x int8 or fp8 x fp8 (e4m3 / e5m2 in any mix), and
// y, the bias and the residual are F16, BF16 or F32: `q8_output` (linear_out's y, else F16).
// Returns y's dtype.
DType check_product_dtypes(const Tensor& x, DType w_dtype, DType q8_output, const char* op) {
  const DType xd = x.dtype();
  if (!detail::is_8bit_value_dtype(xd) && !detail::is_8bit_value_dtype(w_dtype)) {
    check_same_dtype(xd, w_dtype, op, "x", "w");
    check_compute_dtype(xd, x.device(), op);
    return xd;
  }
  S24_CHECK(detail::is_8bit_value_dtype(xd) && detail::is_8bit_value_dtype(w_dtype) &&
                (xd == DType::kI8) == (w_dtype == DType::kI8),
            ErrorCode::kDTypeMismatch, op, ": x is ", dtype_name(xd), " but w is ",
            dtype_name(w_dtype), "; 8-bit products are int8 x int8 (I8) or fp8 x fp8 (F8_E4M3, ",
            "F8_E5M2, any mix)");
  // CUDA: the kernels check what they support (sm_90 for the sparse product, cuBLASLt's
  // 8-bit types for the dense one) and throw kUnsupported otherwise.
  S24_CHECK(q8_output == DType::kF16 || q8_output == DType::kBF16 || q8_output == DType::kF32,
            ErrorCode::kDTypeMismatch, op, ": y is ", dtype_name(q8_output),
            "; an 8-bit product writes F16, BF16 or F32");
  return q8_output;
}

// int8 sums are exact in int32 (linear_q8_cpu.h): `products` per output must keep them there.
void check_int8_sum(DType x_dtype, int64_t k, int64_t products, const char* op) {
  S24_CHECK(x_dtype != DType::kI8 || products <= detail::kMaxI8Products,
            ErrorCode::kInvalidArgument, op, ": K = ", k, " adds ", products,
            " int8 products per output; their int32 sum is exact only up to ",
            detail::kMaxI8Products, " products");
}

void check_bias(const Tensor* bias, int64_t n, const Tensor& x, DType y_dtype, const char* op) {
  if (!bias) return;
  check_defined(*bias, op, "bias");
  S24_CHECK(bias->dim() == 1 && bias->size(0) == n, ErrorCode::kShapeMismatch, op, ": bias is ",
            bias->describe(), ", expected [", n, "] (one value per output column)");
  check_same_dtype(bias->dtype(), y_dtype, op, "bias", y_dtype == x.dtype() ? "x" : "y");
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

// The memory a linear reads besides the epilogue's operands (unused entries empty).
using InputSpans = std::array<Span, 4>;
constexpr Span kNoSpan{nullptr, nullptr};
InputSpans sparse_inputs(const Tensor& x, const RowView& xv, const Compressed24& w,
                         const Tensor* bias) {
  return {span_of(x, xv), span_of_all(w.values), span_of_all(w.meta),
          bias ? span_of_all(*bias) : kNoSpan};
}

void check_output(const Tensor& y, const Tensor& x, const RowView& xv, const Compressed24& w,
                  const Tensor* bias, const char* op) {
  check_defined(y, op, "y");
  const Shape want = output_shape(x, w.rows);
  S24_CHECK(y.shape() == want, ErrorCode::kShapeMismatch, op, ": y is ", y.describe(),
            ", expected ", shape_str(want), " for x ", x.describe());
  if (!detail::is_8bit_value_dtype(x.dtype()))  // (8-bit: y's dtype checked with x's and w's)
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

// One F32 scale vector of the epilogue: [count], contiguous, on x's device.
void check_scale(const Tensor* scale, int64_t count, const char* per, const Tensor& x,
                 const char* op, const char* what) {
  if (!scale) return;
  check_defined(*scale, op, what);
  S24_CHECK(scale->dtype() == DType::kF32, ErrorCode::kDTypeMismatch, op, ": ", what, " is ",
            dtype_name(scale->dtype()), "; scales are F32 whatever the product's dtype");
  S24_CHECK(scale->dim() == 1 && scale->size(0) == count, ErrorCode::kShapeMismatch, op, ": ",
            what, " is ", scale->describe(), ", expected [", count, "] (one value per ", per, ")");
  check_same_device(scale->device(), x.device(), op, what, "x");
  S24_CHECK(count <= 1 || scale->stride(0) == 1, ErrorCode::kInvalidArgument, op, ": ", what, " ",
            scale->describe(), " must be contiguous");
}

bool same_rows(const Tensor& a, const RowView& av, const Tensor& b, const RowView& bv) {
  return a.raw_data() == b.raw_data() && av.rows == bv.rows && av.cols == bv.cols &&
         (av.rows <= 1 || av.ld == bv.ld);
}

// The epilogue operands of LinearOptions (ops.h) for an output of `y_shape` (rows of x: m,
// output features: n), read from memory that the output must not write over. Returns the
// residual's row view (meaningful only with a residual).
RowView check_epilogue(const LinearOptions& options, const Tensor& x, const RowView& xv,
                       const Shape& y_shape, DType y_dtype, const InputSpans& inputs,
                       const char* op) {
  S24_CHECK(std::isfinite(options.alpha), ErrorCode::kInvalidArgument, op, ": alpha is ",
            options.alpha, "; it must be finite");
  const int64_t n = y_shape.back();
  check_scale(options.x_scale, xv.rows, "row of x", x, op, "x_scale");
  check_scale(options.w_scale, n, "output feature", x, op, "w_scale");
  RowView rv;
  const Tensor* r = options.residual;
  if (!r) return rv;
  check_defined(*r, op, "residual");
  S24_CHECK(r->shape() == y_shape, ErrorCode::kShapeMismatch, op, ": residual is ", r->describe(),
            ", expected ", shape_str(y_shape), " (y's shape)");
  check_same_dtype(r->dtype(), y_dtype, op, "residual", y_dtype == x.dtype() ? "x" : "y");
  check_same_device(r->device(), x.device(), op, "residual", "x");
  rv = as_rows(*r, op, "residual");
  const Span rs = span_of(*r, rv);
  for (const Span& in : inputs)
    S24_CHECK(!overlaps(rs, in), ErrorCode::kInvalidArgument, op,
              ": the residual overlaps an input (x, w or the bias) in memory; it may only be y "
              "itself");
  return rv;
}

// The output may not be written over what the epilogue still reads: the scales always, the
// residual unless it is y itself (each element then read just before it is written).
void check_output_epilogue(const Tensor& y, const LinearOptions& options, const RowView& rv,
                           const char* op) {
  const RowView yv = as_rows(y, op, "y");
  const Span ys = span_of(y, yv);
  if (options.x_scale)
    S24_CHECK(!overlaps(ys, span_of_all(*options.x_scale)), ErrorCode::kInvalidArgument, op,
              ": y overlaps x_scale in memory; the output must not alias an input");
  if (options.w_scale)
    S24_CHECK(!overlaps(ys, span_of_all(*options.w_scale)), ErrorCode::kInvalidArgument, op,
              ": y overlaps w_scale in memory; the output must not alias an input");
  const Tensor* r = options.residual;
  if (r && !same_rows(*r, rv, y, yv))
    S24_CHECK(!overlaps(ys, span_of(*r, rv)), ErrorCode::kInvalidArgument, op,
              ": the residual overlaps y without being y; an in-place add needs the residual to be "
              "exactly y (same data, shape and strides)");
}

// The options the kernels get: the residual as a 2-D view next to y2 (`storage` holds it), or y2
// itself for the in-place add.
LinearOptions kernel_options(const LinearOptions& options, const RowView& rv, const Tensor& y,
                             Tensor& y2, Tensor& storage) {
  LinearOptions o = options;
  if (!options.residual) return o;
  const Tensor& r = *options.residual;
  if (r.raw_data() == y.raw_data() && r.numel() > 0) {
    o.residual = &y2;  // checked to be exactly y
  } else {
    storage = rows_2d(r, rv);
    o.residual = &storage;
  }
  return o;
}

// Everything linear and linear_out share; returns x's row view. `q8_output`: see
// check_product_dtypes.
RowView check_linear(const Tensor& x, const Compressed24& w, const Tensor* bias,
                     const LinearOptions& options, DType q8_output, const char* op) {
  check_defined(x, op, "x");
  check_compressed(w, op, "w");
  const RowView xv = as_rows(x, op, "x");
  S24_CHECK(xv.cols == w.cols, ErrorCode::kShapeMismatch, op, ": x ", x.describe(),
            " has K = ", xv.cols, " but w is [", w.rows, ", ", w.cols,
            "] (x's last dimension must equal w's column count)");
  check_same_device(x.device(), w.device(), op, "x", "w");
  const DType y_dtype = check_product_dtypes(x, w.dtype(), q8_output, op);
  check_int8_sum(x.dtype(), w.cols, w.cols / 2, op);
  check_bias(bias, w.rows, x, y_dtype, op);
  if (x.device().is_cpu())
    S24_CHECK(options.backend != Backend::kCuSparseLt, ErrorCode::kUnsupported, op,
              ": the cuSPARSELt backend serves CUDA tensors only; x is on the CPU");
  return xv;
}

// CUDA-only builds get kUnsupported stubs of the CUDA entry points (linear_cuda_stub.cc), so the
// CUDA branches below need no #if.
void run_linear(const Tensor& x2, const Compressed24& w, const Tensor* bias, Tensor& y2,
                const LinearOptions& options) {
  if (x2.device().is_cpu()) {
    if (detail::is_8bit_value_dtype(x2.dtype()))
      return detail::linear_q8_cpu(x2, w, bias, y2, options);
    return detail::linear_cpu(x2, w, bias, y2, options);
  }
  detail::linear_cuda(x2, w, bias, y2, options);
}

}  // namespace

void linear_out(const Tensor& x, const Compressed24& w, const Tensor* bias, Tensor& y,
                const LinearOptions& options) {
  const char* op = "linear_out";
  const DType q8_output = y.defined() ? y.dtype() : DType::kF16;
  const RowView xv = check_linear(x, w, bias, options, q8_output, op);
  const DType y_dtype = detail::is_8bit_value_dtype(x.dtype()) ? q8_output : x.dtype();
  const RowView rv = check_epilogue(options, x, xv, output_shape(x, w.rows), y_dtype,
                                    sparse_inputs(x, xv, w, bias), op);
  check_output(y, x, xv, w, bias, op);
  check_output_epilogue(y, options, rv, op);
  Tensor x2 = rows_2d(x, xv);
  Tensor y2 = rows_2d(y, as_rows(y, op, "y"));
  Tensor r2;
  run_linear(x2, w, bias, y2, kernel_options(options, rv, y, y2, r2));
}

Tensor linear(const Tensor& x, const Compressed24& w, const Tensor* bias,
              const LinearOptions& options) {
  const char* op = "linear";
  const RowView xv = check_linear(x, w, bias, options, DType::kF16, op);
  const DType y_dtype = detail::is_8bit_value_dtype(x.dtype()) ? DType::kF16 : x.dtype();
  const RowView rv = check_epilogue(options, x, xv, output_shape(x, w.rows), y_dtype,
                                    sparse_inputs(x, xv, w, bias), op);
  Tensor y = Tensor::empty(output_shape(x, w.rows), y_dtype, x.device());
  Tensor x2 = rows_2d(x, xv);
  Tensor y2 = rows_2d(y, as_rows(y, op, "y"));
  Tensor r2;
  run_linear(x2, w, bias, y2, kernel_options(options, rv, y, y2, r2));
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
  check_same_device(x.device(), w.device(), op, "x", "w");
  const DType y_dtype = check_product_dtypes(x, w.dtype(), DType::kF16, op);
  check_int8_sum(x.dtype(), w.size(1), w.size(1), op);
  const RowView wv = as_rows(w, op, "w");
  check_bias(bias, w.size(0), x, y_dtype, op);
  const InputSpans inputs = {span_of(x, xv), span_of(w, wv),
                             bias ? span_of_all(*bias) : kNoSpan, kNoSpan};
  const RowView rv =
      check_epilogue(options, x, xv, output_shape(x, w.size(0)), y_dtype, inputs, op);
  Tensor y = Tensor::empty(output_shape(x, w.size(0)), y_dtype, x.device());
  Tensor x2 = rows_2d(x, xv), w2 = rows_2d(w, wv);
  Tensor y2 = rows_2d(y, as_rows(y, op, "y"));
  Tensor r2;
  const LinearOptions kernel = kernel_options(options, rv, y, y2, r2);
  if (x.device().is_cpu() && detail::is_8bit_value_dtype(x.dtype()))
    detail::linear_dense_q8_cpu(x2, w2, bias, y2, kernel);
  else if (x.device().is_cpu())
    detail::linear_dense_cpu(x2, w2, bias, y2, kernel);
  else
    detail::linear_dense_cuda(x2, w2, bias, y2, kernel);
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

// Pruning dispatcher: checks the arguments once, allocates the outputs on the input's device and
// runs the CPU loop (*_cpu.cc) or, in CUDA builds, the CUDA kernel (*_cuda.cu).
#include "sparse24/prune.h"

#include <cmath>
#include <string>

#include "core/check.h"
#include "format/hw_layout.h"
#include "prune/prune_internal.h"
#if S24_WITH_CUDA
#include "prune/prune_cuda.h"
#endif

namespace s24 {
namespace detail {

[[noreturn]] void throw_prune_fault(uint64_t packed, int64_t cols, const char* op) {
  S24_CHECK(packed != kNoFault && cols > 0, ErrorCode::kInternal, op,
            ": fault reported without a position");
  const int64_t element = static_cast<int64_t>(packed >> 16);
  const uint32_t detail = static_cast<uint32_t>(packed >> 8) & 0xFFu;
  const int64_t row = element / cols, col = element % cols;
  switch (static_cast<uint32_t>(packed & 0xFFu)) {
    case kFaultNaN:
      S24_THROW(ErrorCode::kNonFinite, op, ": NaN at row ", row, ", column ", col);
    case kFaultInf:
      S24_THROW(ErrorCode::kNonFinite, op, ": Inf at row ", row, ", column ", col,
                " (this algorithm needs finite values)");
    case kFaultSumOverflow:
      S24_THROW(ErrorCode::kNonFinite, op, ": the sum of |x| + eps over row ", row, ", columns ",
                col, "..", col + 3, " overflows f32");
    case kFaultMaskValue:
      S24_THROW(ErrorCode::kInvalidArgument, op, ": mask value ", detail, " at row ", row,
                ", column ", col, " is not 0 or 1");
    case kFaultMaskCount:
      S24_THROW(ErrorCode::kNotTwoFour, op, ": the mask keeps ", detail, " elements of row ", row,
                ", columns ", col, "..", col + 3, " (2:4 allows at most 2)");
    default:
      S24_THROW(ErrorCode::kInternal, op, ": unknown fault code ", packed & 0xFFu);
  }
}

}  // namespace detail

namespace {

using detail::PruneOutputs;

bool is_float_dtype(DType d) { return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16; }

void check_defined(const Tensor& t, const char* op, const char* what) {
  S24_CHECK(t.defined(), ErrorCode::kInvalidArgument, op, ": ", what, " is an undefined tensor");
}

// The checks every pruner makes on its weight; returns the tensor the implementation reads
// (contiguous on the CPU; CUDA kernels take any strides).
Tensor checked_matrix(const Tensor& w, const char* op, bool float_only) {
  check_defined(w, op, "the weight");
  S24_CHECK(w.dim() == 2, ErrorCode::kShapeMismatch, op, " needs a 2-d matrix, got ", w.describe());
  S24_CHECK(w.size(1) % 4 == 0, ErrorCode::kAlignment, op, ": the column count ", w.size(1), " of ",
            w.describe(), " is not a multiple of 4 (2:4 groups run along rows)");
  if (float_only) {
    S24_CHECK(is_float_dtype(w.dtype()), ErrorCode::kDTypeMismatch, op,
              " takes F32, F16 or BF16, got ", dtype_name(w.dtype()));
  } else {
    (void)dispatch_value_dtype(w.dtype(), [](auto) { return 0; });  // value dtypes only
  }
  return w.device().is_cpu() ? w.contiguous() : w;
}

void check_mask(const Tensor& mask, const Tensor& w, const char* op) {
  check_defined(mask, op, "the mask");
  S24_CHECK(mask.dtype() == DType::kU8, ErrorCode::kDTypeMismatch, op,
            ": the mask must be U8 (0 or 1), got ", dtype_name(mask.dtype()));
  S24_CHECK(mask.shape() == w.shape(), ErrorCode::kShapeMismatch, op, ": mask ",
            shape_str(mask.shape()), " does not match the weight ", shape_str(w.shape()));
  S24_CHECK(mask.device() == w.device(), ErrorCode::kInvalidArgument, op, ": mask on ",
            mask.device().str(), " but the weight on ", w.device().str());
}

#if !S24_WITH_CUDA
[[noreturn]] void no_cuda(const char* op) {
  S24_THROW(ErrorCode::kUnsupported, op, ": this build of sparse24 has no CUDA support");
}
#endif

// Runs `cpu(args...)` or `cuda(args...)` by the device of `on`.
#if S24_WITH_CUDA
#define S24_PRUNE_DISPATCH(on, op, cpu_call, cuda_call) \
  do {                                                  \
    if ((on).device().is_cuda()) {                      \
      cuda_call;                                        \
    } else {                                            \
      cpu_call;                                         \
    }                                                   \
  } while (0)
#else
#define S24_PRUNE_DISPATCH(on, op, cpu_call, cuda_call) \
  do {                                                  \
    if ((on).device().is_cuda()) no_cuda(op);           \
    cpu_call;                                           \
  } while (0)
#endif

Compressed24 empty_compressed(const Tensor& w) {
  Compressed24 c;
  c.rows = w.size(0);
  c.cols = w.size(1);
  c.values = Tensor::empty({c.rows, c.cols / 2}, w.dtype(), w.device());
  c.meta = Tensor::empty({c.rows, meta_cols(c.cols)}, DType::kU8, w.device());
  return c;
}

void run_method(PruneMethod method, const Tensor& x, uint64_t seed, uint64_t offset,
                const PruneOutputs& out, const char* op) {
  switch (method) {
    case PruneMethod::kMagnitude:
      S24_PRUNE_DISPATCH(x, op, detail::magnitude_cpu(x, out), detail::magnitude_cuda(x, out));
      return;
    case PruneMethod::kMVUE24:
      S24_PRUNE_DISPATCH(x, op, detail::mvue24_cpu(x, seed, offset, out),
                         detail::mvue24_cuda(x, seed, offset, out));
      return;
    case PruneMethod::kTransposable:
      S24_PRUNE_DISPATCH(x, op, detail::transposable_cpu(x, out),
                         detail::transposable_cuda(x, out));
      return;
    case PruneMethod::kSoftThreshold:
      S24_PRUNE_DISPATCH(x, op, detail::soft_threshold_cpu(x, out),
                         detail::soft_threshold_cuda(x, out));
      return;
  }
  S24_THROW(ErrorCode::kInvalidArgument, op, ": unknown pruning method ", static_cast<int>(method));
}

bool method_is_float_only(PruneMethod m) {
  return m == PruneMethod::kMVUE24 || m == PruneMethod::kSoftThreshold;
}

void check_transposable_rows(const Tensor& w, const char* op) {
  S24_CHECK(w.size(0) % 4 == 0, ErrorCode::kAlignment, op, ": the row count ", w.size(0), " of ",
            w.describe(), " is not a multiple of 4 (transposable masks work on 4x4 blocks)");
}

Tensor prune_dense(PruneMethod method, const Tensor& w, uint64_t seed, uint64_t offset,
                   const char* op) {
  const Tensor x = checked_matrix(w, op, method_is_float_only(method));
  if (method == PruneMethod::kTransposable) check_transposable_rows(x, op);
  Tensor dense = Tensor::empty(x.shape(), x.dtype(), x.device());
  run_method(method, x, seed, offset, PruneOutputs{&dense, nullptr, nullptr}, op);
  return dense;
}

}  // namespace

Tensor mask_magnitude(const Tensor& w) {
  const char* op = "mask_magnitude";
  const Tensor x = checked_matrix(w, op, false);
  Tensor mask = Tensor::empty(x.shape(), DType::kU8, x.device());
  run_method(PruneMethod::kMagnitude, x, 0, 0, PruneOutputs{nullptr, &mask, nullptr}, op);
  return mask;
}

Tensor apply_mask(const Tensor& w, const Tensor& mask) {
  const char* op = "apply_mask";
  const Tensor x = checked_matrix(w, op, false);
  check_mask(mask, x, op);
  const Tensor m = mask.device().is_cpu() ? mask.contiguous() : mask;
  Tensor dense = Tensor::empty(x.shape(), x.dtype(), x.device());
  const PruneOutputs out{&dense, nullptr, nullptr};
  S24_PRUNE_DISPATCH(x, op, detail::apply_mask_cpu(x, m, out), detail::apply_mask_cuda(x, m, out));
  return dense;
}

Tensor prune_magnitude(const Tensor& w) {
  return prune_dense(PruneMethod::kMagnitude, w, 0, 0, "prune_magnitude");
}

Tensor prune_mvue24(const Tensor& w, uint64_t seed, uint64_t offset) {
  return prune_dense(PruneMethod::kMVUE24, w, seed, offset, "prune_mvue24");
}

Tensor mask_transposable(const Tensor& w) {
  const char* op = "mask_transposable";
  const Tensor x = checked_matrix(w, op, false);
  check_transposable_rows(x, op);
  Tensor mask = Tensor::empty(x.shape(), DType::kU8, x.device());
  run_method(PruneMethod::kTransposable, x, 0, 0, PruneOutputs{nullptr, &mask, nullptr}, op);
  return mask;
}

Tensor soft_threshold24(const Tensor& w) {
  return prune_dense(PruneMethod::kSoftThreshold, w, 0, 0, "soft_threshold24");
}

double soft_threshold_scale(const Tensor& w, const Tensor& soft) {
  const char* op = "soft_threshold_scale";
  const Tensor x = checked_matrix(w, op, false);
  check_defined(soft, op, "the thresholded weight");
  S24_CHECK(soft.shape() == w.shape(), ErrorCode::kShapeMismatch, op, ": thresholded ",
            shape_str(soft.shape()), " does not match the weight ", shape_str(w.shape()));
  S24_CHECK(soft.device() == w.device(), ErrorCode::kInvalidArgument, op, ": weight on ",
            w.device().str(), " but the thresholded weight on ", soft.device().str());
  (void)dispatch_value_dtype(soft.dtype(), [](auto) { return 0; });
  const Tensor s = soft.device().is_cpu() ? soft.contiguous() : soft;
  double beta = 1.0;
  S24_PRUNE_DISPATCH(x, op, beta = detail::soft_threshold_scale_cpu(x, s),
                     beta = detail::soft_threshold_scale_cuda(x, s));
  return beta;
}

void masked_decay_(Tensor& grad, const Tensor& w, const Tensor& mask, float alpha) {
  const char* op = "masked_decay_";
  check_defined(grad, op, "the gradient");
  check_defined(w, op, "the weight");
  S24_CHECK(is_float_dtype(grad.dtype()) && is_float_dtype(w.dtype()), ErrorCode::kDTypeMismatch,
            op, " takes F32, F16 or BF16 gradients and weights, got ", dtype_name(grad.dtype()),
            " and ", dtype_name(w.dtype()));
  S24_CHECK(grad.shape() == w.shape(), ErrorCode::kShapeMismatch, op, ": gradient ",
            shape_str(grad.shape()), " does not match the weight ", shape_str(w.shape()));
  S24_CHECK(grad.device() == w.device(), ErrorCode::kInvalidArgument, op, ": gradient on ",
            grad.device().str(), " but the weight on ", w.device().str());
  check_mask(mask, w, op);
  S24_CHECK(std::isfinite(alpha), ErrorCode::kInvalidArgument, op, ": alpha ", alpha,
            " is not finite");
  // In place: a strided gradient is updated through a contiguous copy that is written back.
  Tensor g = grad.is_contiguous() ? grad : grad.contiguous();
  const Tensor x = w.contiguous(), m = mask.contiguous();
  S24_PRUNE_DISPATCH(g, op, detail::masked_decay_cpu(g, x, m, alpha),
                     detail::masked_decay_cuda(g, x, m, alpha));
  if (g.raw_data() != grad.raw_data()) grad.copy_from(g);
}

const char* prune_method_name(PruneMethod m) {
  switch (m) {
    case PruneMethod::kMagnitude:
      return "magnitude";
    case PruneMethod::kMVUE24:
      return "mvue24";
    case PruneMethod::kTransposable:
      return "transposable";
    case PruneMethod::kSoftThreshold:
      return "ste";
  }
  return "unknown";
}

PruneMethod parse_prune_method(const std::string& name) {
  for (PruneMethod m : {PruneMethod::kMagnitude, PruneMethod::kMVUE24, PruneMethod::kTransposable,
                        PruneMethod::kSoftThreshold})
    if (name == prune_method_name(m)) return m;
  S24_THROW(ErrorCode::kInvalidArgument, "unknown pruning method '", name,
            "' (expected magnitude, mvue24, transposable or ste)");
}

namespace detail {

HwLayout prune_compress_hw(const Tensor& w, const PruneOptions& options, Stream stream) {
  const char* op = "prune_compress (hardware layout)";
  const Tensor x = checked_matrix(w, op, method_is_float_only(options.method));
  S24_CHECK(x.dtype() == DType::kF16 || x.dtype() == DType::kBF16, ErrorCode::kDTypeMismatch, op,
            ": the mma.sp hardware layout holds F16 or BF16, got ", dtype_name(x.dtype()));
  if (options.method == PruneMethod::kTransposable) check_transposable_rows(x, op);
  if (x.device().is_cpu()) return to_hw_layout_cpu(prune_compress(x, options));
#if S24_WITH_CUDA
  HwLayout out = empty_hw_layout(x.size(0), x.size(1), x.dtype(), x.device());
  prune_compress_hw_cuda(x, options, out, stream);
  return out;
#else
  no_cuda(op);
#endif
}

}  // namespace detail

Compressed24 prune_compress(const Tensor& w, const PruneOptions& options) {
  const char* op = "prune_compress";
  const Tensor x = checked_matrix(w, op, method_is_float_only(options.method));
  if (options.method == PruneMethod::kTransposable) check_transposable_rows(x, op);
  Compressed24 c = empty_compressed(x);
  run_method(options.method, x, options.seed, options.offset, PruneOutputs{nullptr, nullptr, &c},
             op);
  return c;
}

}  // namespace s24

// The optional cuSPARSELt backend (compiled only when CMake finds cuSPARSELt). See cusparselt.h.
//
// Orientation (the one PyTorch uses): Y^T [N, M] = W [N, K] X^T with the structured W as A
// (row-major, 2:4 along K), B = X described as row-major [M, K] with opB = TRANSPOSE, and the
// result described column-major [N, M] with ld N, which is exactly Y [M, N] row-major. The bias
// vector runs along the result's rows (N).
#include "backends/cusparselt.h"

#include <cuda_runtime.h>
#include <cusparseLt.h>

#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/cuda_dtype.h"
#include "cuda/device_info.h"
#include "cuda/workspace.h"

#define S24_CSLT_CHECK(expr)                                                                   \
  do {                                                                                         \
    const cusparseStatus_t s24_cslt_status_ = (expr);                                          \
    if (s24_cslt_status_ != CUSPARSE_STATUS_SUCCESS)                                           \
      S24_THROW(::s24::ErrorCode::kCuda, #expr,                                                \
                " failed: ", cusparseLtGetErrorName(s24_cslt_status_), " (",                   \
                cusparseLtGetErrorString(s24_cslt_status_), ") at ", __FILE__, ":", __LINE__); \
  } while (0)

namespace s24::detail::cslt {
namespace {

bool search_enabled() {
  const char* env = std::getenv("S24_CUSPARSELT_SEARCH");
  return env != nullptr && env[0] == '1';
}


constexpr int kMaxDevices = 64;

struct Handles {
  std::array<std::once_flag, kMaxDevices> once;
  std::array<cusparseLtHandle_t, kMaxDevices> handle;
};

// Deliberately leaked: destroying library handles during static destruction races the CUDA
// runtime's own teardown.
Handles& handles() {
  static Handles* h = new Handles();
  return *h;
}

const cusparseLtHandle_t* handle_for(const Device& device) {
  Handles& h = handles();
  std::call_once(h.once[device.index], [&] {
    ensure_current_device(device);
    S24_CSLT_CHECK(cusparseLtInit(&h.handle[device.index]));
  });
  return &h.handle[device.index];
}

cudaDataType value_type(DType dtype) {
  S24_CHECK(dtype == DType::kF16 || dtype == DType::kBF16 || dtype == DType::kF8E4M3 ||
                dtype == DType::kF8E5M2 || dtype == DType::kI8,
            ErrorCode::kDTypeMismatch,
            "the cuSPARSELt backend takes F16, BF16, F8_E4M3, F8_E5M2 or I8 weights, got ",
            dtype_name(dtype));
  return *cuda_data_type(dtype);
}

bool is_8bit(DType d) { return d == DType::kI8 || d == DType::kF8E4M3 || d == DType::kF8E5M2; }

// The output types this backend asks cuSPARSELt for: the input dtype for 16-bit products; F16,
// BF16 or F32 for 8-bit ones (int8 x int8 with CUSPARSE_COMPUTE_32I, fp8 x fp8 with 32F).
cudaDataType output_type(DType dtype) {
  S24_CHECK(dtype == DType::kF16 || dtype == DType::kBF16 || dtype == DType::kF32,
            ErrorCode::kDTypeMismatch, "the cuSPARSELt backend writes F16, BF16 or F32, not ",
            dtype_name(dtype));
  return *cuda_data_type(dtype);
}

struct Plan {
  const cusparseLtHandle_t* handle = nullptr;
  cusparseLtMatDescriptor_t b{}, c{};
  cusparseLtMatmulDescriptor_t matmul{};
  cusparseLtMatmulAlgSelection_t alg{};
  cusparseLtMatmulPlan_t plan{};
  bool have_b = false, have_c = false, have_alg = false, have_plan = false;
  size_t workspace_bytes = 0;
  ~Plan() {
    if (have_plan) (void)cusparseLtMatmulPlanDestroy(&plan);
    if (have_alg) (void)cusparseLtMatmulAlgSelectionDestroy(&alg);
    if (have_c) (void)cusparseLtMatDescriptorDestroy(&c);
    if (have_b) (void)cusparseLtMatDescriptorDestroy(&b);
  }
};

}  // namespace

struct PreparedWeight {
  Device device;
  DType dtype = DType::kF16;
  int64_t n = 0, k = 0;
  const cusparseLtHandle_t* handle = nullptr;
  cusparseLtMatDescriptor_t a{};
  bool have_a = false;
  void* compressed = nullptr;
  size_t compressed_bytes = 0;
  std::mutex mutex;
  // Key: (M, bias pointer, activation, output dtype). The bias pointer is part of the matmul
  // descriptor that a plan is built from, hence part of the key.
  std::map<std::tuple<int64_t, const void*, int, int>, std::unique_ptr<Plan>> plans;

  ~PreparedWeight() {
    plans.clear();
    if (have_a) (void)cusparseLtMatDescriptorDestroy(&a);
    if (compressed) (void)cudaFree(compressed);
  }
};

bool available() { return true; }

int version() {
  int v = 0;
  if (cusparseLtGetProperty(MAJOR_VERSION, &v) != CUSPARSE_STATUS_SUCCESS) return 0;
  int minor = 0, patch = 0;
  (void)cusparseLtGetProperty(MINOR_VERSION, &minor);
  (void)cusparseLtGetProperty(PATCH_LEVEL, &patch);
  return v * 1000 + minor * 100 + patch;
}

std::shared_ptr<PreparedWeight> prepare(const Compressed24& w, Stream stream) {
  S24_CHECK(w.device().is_cuda(), ErrorCode::kInvalidArgument,
            "cuSPARSELt needs a CUDA weight, got one on ", w.device().str());
  const cudaDataType type = value_type(w.dtype());
  if (is_8bit(w.dtype()))
    S24_CHECK(w.rows % 32 == 0 && w.cols % 32 == 0, ErrorCode::kAlignment,
              "cuSPARSELt's 8-bit kernels need N % 32 == 0 and K % 32 == 0, got [", w.rows, ", ",
              w.cols, "]");
  else
    S24_CHECK(w.rows % 8 == 0 && w.cols % 16 == 0, ErrorCode::kAlignment,
              "cuSPARSELt needs N % 8 == 0 and K % 16 == 0, got [", w.rows, ", ", w.cols, "]");
  auto p = std::make_shared<PreparedWeight>();
  p->device = w.device();
  p->dtype = w.dtype();
  p->n = w.rows;
  p->k = w.cols;
  p->handle = handle_for(w.device());
  ensure_current_device(w.device());
  auto s = static_cast<cudaStream_t>(stream);
  // cuSPARSELt compresses from the dense matrix; decompressing on the CPU keeps this backend
  // independent of the GPU format kernels (a one-time cost).
  const Tensor dense = decompress(w.to(Device::cpu(), stream)).to(w.device(), stream);
  S24_CSLT_CHECK(cusparseLtStructuredDescriptorInit(p->handle, &p->a, w.rows, w.cols, w.cols, 16,
                                                    type, CUSPARSE_ORDER_ROW,
                                                    CUSPARSELT_SPARSITY_50_PERCENT));
  p->have_a = true;
  size_t buffer_bytes = 0;
  S24_CSLT_CHECK(
      cusparseLtSpMMACompressedSize2(p->handle, &p->a, &p->compressed_bytes, &buffer_bytes));
  S24_CUDA_CHECK(cudaMalloc(&p->compressed, p->compressed_bytes));
  void* buffer = nullptr;
  if (buffer_bytes > 0) S24_CUDA_CHECK(cudaMalloc(&buffer, buffer_bytes));
  const cusparseStatus_t st =
      cusparseLtSpMMACompress2(p->handle, &p->a, 1, CUSPARSE_OPERATION_NON_TRANSPOSE,
                               dense.raw_data(), p->compressed, buffer, s);
  const cudaError_t sync = cudaStreamSynchronize(s);
  if (buffer) (void)cudaFree(buffer);
  S24_CSLT_CHECK(st);
  S24_CUDA_CHECK(sync);
  return p;
}

size_t prepared_bytes(const PreparedWeight& w) { return w.compressed_bytes; }

void linear(const Tensor& x, const PreparedWeight& wc, const Tensor* bias, Tensor& y,
            const LinearOptions& options) {
  // cuSPARSELt's alpha is ops.h's alpha (it scales the product before the bias, as ops.h does);
  // per-row / per-column scales and a residual have no counterpart in its epilogue.
  S24_CHECK(options.x_scale == nullptr && options.w_scale == nullptr && options.residual == nullptr,
            ErrorCode::kUnsupported,
            "the cuSPARSELt backend supports alpha but not x_scale, w_scale or a residual; use the "
            "native backend (Backend::kAuto) for this epilogue");
  auto& w = const_cast<PreparedWeight&>(wc);  // the plan cache is the only mutable part
  const bool q8 = is_8bit(w.dtype);
  // 8-bit: X of W's dtype (cuSPARSELt has no mixed fp8 kernels), Y F16 / BF16 / F32, no bias
  // (the bias type rules of its 8-bit epilogues are not ours). 16-bit: Y of the input dtype.
  S24_CHECK(x.dtype() == w.dtype, ErrorCode::kUnsupported, "the cuSPARSELt backend multiplies ",
            dtype_name(w.dtype), " weights by ", dtype_name(w.dtype), " activations only, got x ",
            dtype_name(x.dtype()));
  const DType yd = y.dtype();
  S24_CHECK(q8 ? (yd == DType::kF16 || yd == DType::kBF16 || yd == DType::kF32) : yd == w.dtype,
            ErrorCode::kUnsupported, "the cuSPARSELt backend cannot write ", dtype_name(y.dtype()),
            " from a ", dtype_name(w.dtype), " product");
  S24_CHECK(!q8 || bias == nullptr, ErrorCode::kUnsupported,
            "the cuSPARSELt backend takes no bias with 8-bit operands; use the native backend");
  const int64_t m_real = x.numel() / w.k;
  if (m_real == 0) return;
  // cuSPARSELt rejects a dense operand whose row count is not a multiple of 16 (M = 1 decode):
  // such calls run on padded copies of X and Y (two extra device copies, as PyTorch pads too).
  // 8-bit operands pad to 32 rows, conservatively (whether 16 would do is not verified).
  const int64_t pad = q8 ? 32 : 16;
  const int64_t m = (m_real + pad - 1) / pad * pad;
  const void* x_ptr = x.raw_data();
  void* y_ptr = y.raw_data();
  const size_t x_elem = x.element_size(), y_elem = y.element_size();
  if (m != m_real) {
    void* xp = stream_workspace(w.device, options.stream, WorkspaceSlot::kCsltPadX,
                                static_cast<size_t>(m) * w.k * x_elem, /*zero_fill=*/true);
    y_ptr = stream_workspace(w.device, options.stream, WorkspaceSlot::kCsltPadY,
                             static_cast<size_t>(m) * w.n * y_elem);
    ensure_current_device(w.device);
    S24_CUDA_CHECK(cudaMemcpyAsync(xp, x.raw_data(), static_cast<size_t>(m_real) * w.k * x_elem,
                                   cudaMemcpyDeviceToDevice,
                                   static_cast<cudaStream_t>(options.stream)));
    x_ptr = xp;
  }
  int act = 0;
  switch (options.activation) {
    case Activation::kNone:
      break;
    case Activation::kRelu:
      act = 1;
      break;
    case Activation::kGeluTanh:
      act = 2;
      break;
    default:
      S24_THROW(ErrorCode::kUnsupported, "the cuSPARSELt backend supports no activation, ReLU ",
                "or GELU (tanh); use the native backend for this one");
  }
  const void* bias_ptr = bias ? bias->raw_data() : nullptr;
  const cudaDataType type = value_type(w.dtype), out_type = output_type(y.dtype());
  const cusparseComputeType compute =
      w.dtype == DType::kI8 ? CUSPARSE_COMPUTE_32I : CUSPARSE_COMPUTE_32F;
  auto stream = static_cast<cudaStream_t>(options.stream);
  const float alpha = options.alpha, beta = 0.0f;

  std::lock_guard<std::mutex> lock(w.mutex);
  auto key = std::make_tuple(m, bias_ptr, act, static_cast<int>(y.dtype()));
  auto it = w.plans.find(key);
  if (it == w.plans.end()) {
    S24_CHECK(!stream_is_capturing(options.stream), ErrorCode::kUnsupported,
              "cuSPARSELt builds and tunes a plan on the first call of each shape; run it once ",
              "before capturing a CUDA graph");
    ensure_current_device(w.device);
    auto plan = std::make_unique<Plan>();
    plan->handle = w.handle;
    S24_CSLT_CHECK(cusparseLtDenseDescriptorInit(w.handle, &plan->b, m, w.k, w.k, 16, type,
                                                 CUSPARSE_ORDER_ROW));
    plan->have_b = true;
    S24_CSLT_CHECK(cusparseLtDenseDescriptorInit(w.handle, &plan->c, w.n, m, w.n, 16, out_type,
                                                 CUSPARSE_ORDER_COL));
    plan->have_c = true;
    // (Both operands K-major: the layout cuSPARSELt's 8-bit kernels need too.) A combination it
    // has no kernel for is a clear kUnsupported, not a library failure.
    const cusparseStatus_t init = cusparseLtMatmulDescriptorInit(
        w.handle, &plan->matmul, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_TRANSPOSE,
        &w.a, &plan->b, &plan->c, &plan->c, compute);
    S24_CHECK(init != CUSPARSE_STATUS_NOT_SUPPORTED, ErrorCode::kUnsupported,
              "cuSPARSELt has no kernel for ", dtype_name(w.dtype), " x ", dtype_name(w.dtype),
              " -> ", dtype_name(y.dtype()), " at M = ", m, ", N = ", w.n, ", K = ", w.k);
    S24_CSLT_CHECK(init);
    if (bias_ptr != nullptr) {
      S24_CSLT_CHECK(cusparseLtMatmulDescSetAttribute(
          w.handle, &plan->matmul, CUSPARSELT_MATMUL_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)));
    }
    if (act != 0) {
      const int on = 1;
      S24_CSLT_CHECK(cusparseLtMatmulDescSetAttribute(
          w.handle, &plan->matmul,
          act == 1 ? CUSPARSELT_MATMUL_ACTIVATION_RELU : CUSPARSELT_MATMUL_ACTIVATION_GELU, &on,
          sizeof(on)));
    }
    S24_CSLT_CHECK(cusparseLtMatmulAlgSelectionInit(w.handle, &plan->alg, &plan->matmul,
                                                    CUSPARSELT_MATMUL_ALG_DEFAULT));
    plan->have_alg = true;
    S24_CSLT_CHECK(cusparseLtMatmulPlanInit(w.handle, &plan->plan, &plan->matmul, &plan->alg));
    plan->have_plan = true;
    S24_CSLT_CHECK(cusparseLtMatmulGetWorkspace(w.handle, &plan->plan, &plan->workspace_bytes));
    // The library's default algorithm, as PyTorch uses it. cusparseLtMatmulSearch is opt-in
    // (S24_CUSPARSELT_SEARCH=1): it launches every candidate kernel, and on the lent H200s
    // (cuSPARSELt 0.8.0, 2026-11-21) one f16 candidate (an sm90 cluster kernel) died with an
    // illegal instruction, which poisons the whole CUDA context; bf16 searched fine.
    if (search_enabled()) {
      void* ws = stream_workspace(w.device, options.stream, WorkspaceSlot::kCuSparseLt,
                                  plan->workspace_bytes);
      S24_CSLT_CHECK(cusparseLtMatmulSearch(w.handle, &plan->plan, &alpha, w.compressed, x_ptr,
                                            &beta, y_ptr, y_ptr, ws, &stream, 1));
    }
    S24_CSLT_CHECK(cusparseLtMatmulGetWorkspace(w.handle, &plan->plan, &plan->workspace_bytes));
    it = w.plans.emplace(key, std::move(plan)).first;
  }
  Plan& plan = *it->second;
  void* ws =
      stream_workspace(w.device, options.stream, WorkspaceSlot::kCuSparseLt, plan.workspace_bytes);
  S24_CSLT_CHECK(cusparseLtMatmul(w.handle, &plan.plan, &alpha, w.compressed, x_ptr, &beta, y_ptr,
                                  y_ptr, ws, &stream, 1));
  if (y_ptr != y.raw_data()) {
    S24_CUDA_CHECK(cudaMemcpyAsync(y.raw_data(), y_ptr, static_cast<size_t>(m_real) * w.n * y_elem,
                                   cudaMemcpyDeviceToDevice, stream));
  }
}

}  // namespace s24::detail::cslt

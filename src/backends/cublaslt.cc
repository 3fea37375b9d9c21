#include "backends/cublaslt.h"

#include "core/check.h"

#if S24_WITH_CUDA
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>

#include "cuda/check_cuda.h"
#include "cuda/cuda_dtype.h"
#include "cuda/device_info.h"
#include "cuda/workspace.h"

#define S24_CUBLAS_CHECK(expr)                                                          \
  do {                                                                                  \
    const cublasStatus_t s24_cublas_status_ = (expr);                                   \
    if (s24_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                    \
      S24_THROW(::s24::ErrorCode::kCuda, #expr, " failed with cuBLAS status ",          \
                static_cast<int>(s24_cublas_status_), " at ", __FILE__, ":", __LINE__); \
  } while (0)

namespace s24::detail::cublaslt {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;
constexpr int kMaxDevices = 64;

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  std::mutex mutex;  // the bias pointer lives in the shared descriptor
  ~Plan() {
    if (c) (void)cublasLtMatrixLayoutDestroy(c);
    if (b) (void)cublasLtMatrixLayoutDestroy(b);
    if (a) (void)cublasLtMatrixLayoutDestroy(a);
    if (desc) (void)cublasLtMatmulDescDestroy(desc);
  }
};

struct State {
  std::array<std::once_flag, kMaxDevices> once;
  std::array<cublasLtHandle_t, kMaxDevices> handle{};
  std::mutex mutex;
  // (device, m, n, k, x dtype, w dtype, output dtype, epilogue, pointer alignment)
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int, int, int, int, uint32_t>,
           std::unique_ptr<Plan>>
      plans;
};

// Deliberately leaked (library handles must not be destroyed during static destruction).
State& state() {
  static State* s = new State();
  return *s;
}

cublasLtEpilogue_t epilogue_for(Activation act, bool has_bias) {
  switch (act) {
    case Activation::kNone:
      return has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    case Activation::kRelu:
      return has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case Activation::kGeluTanh:
      return has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    default:
      S24_THROW(ErrorCode::kUnsupported, "cuBLASLt has no epilogue for this activation");
  }
}

cudaDataType cuda_type(DType dtype) {
  const std::optional<cudaDataType> type = cuda_data_type(dtype);
  S24_CHECK(type.has_value(), ErrorCode::kInternal, "cuBLASLt linear called with ",
            dtype_name(dtype));
  return *type;
}

bool is_int8(DType d) { return d == DType::kI8; }
bool is_fp8(DType d) { return d == DType::kF8E4M3 || d == DType::kF8E5M2; }

// `align`: the alignment in bytes (a power of two <= 256) that the A, B, C and D pointers of
// every call with this plan have. cuBLASLt's heuristic otherwise assumes 256 bytes and may pick
// a kernel that faults or misreads on a less aligned view.
Plan& plan_for(int device, int64_t m, int64_t n, int64_t k, DType x_dtype, DType dtype,
               DType out_dtype, cublasLtEpilogue_t epi, uint32_t align, cublasLtHandle_t handle) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto key = std::make_tuple(device, m, n, k, static_cast<int>(x_dtype), static_cast<int>(dtype),
                             static_cast<int>(out_dtype), static_cast<int>(epi), align);
  auto it = s.plans.find(key);
  if (it != s.plans.end()) return *it->second;
  auto plan = std::make_unique<Plan>();
  const cudaDataType type = cuda_type(dtype), x_type = cuda_type(x_dtype),
                     out_type = cuda_type(out_dtype);
  // int8 x int8 -> int32: integer compute and scale types (alpha / beta are int32); everything
  // else (16-bit and fp8) accumulates and scales in f32.
  const bool integer = is_int8(dtype);
  S24_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc,
                                            integer ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
                                            integer ? CUDA_R_32I : CUDA_R_32F));
  const cublasOperation_t trans = CUBLAS_OP_T, no = CUBLAS_OP_N;
  S24_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans,
                                                  sizeof(trans)));
  S24_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &no, sizeof(no)));
  S24_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  if (epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_RELU_BIAS ||
      epi == CUBLASLT_EPILOGUE_GELU_BIAS) {
    const cudaDataType bias_type = type;
    S24_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                    &bias_type, sizeof(bias_type)));
  }
  S24_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, type, k, n, k));  // W^T: K x N
  S24_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, x_type, k, m, k));  // X^T: K x M
  S24_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, out_type, n, m, n));  // Y^T: N x M
  cublasLtMatmulPreference_t pref = nullptr;
  S24_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = kWorkspaceBytes;
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st1 = cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  for (cublasLtMatmulPreferenceAttributes_t attr :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    if (st1 == CUBLAS_STATUS_SUCCESS)
      st1 = cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof(align));
  const cublasStatus_t st2 =
      st1 == CUBLAS_STATUS_SUCCESS
          ? cublasLtMatmulAlgoGetHeuristic(handle, plan->desc, plan->a, plan->b, plan->c, plan->c,
                                           pref, 1, &result, &found)
          : st1;
  (void)cublasLtMatmulPreferenceDestroy(pref);
  // NOT_SUPPORTED (or no result) means cuBLASLt has no kernel for this combination of types,
  // layouts and epilogue on this device: a clear kUnsupported, not a library failure.
  S24_CHECK(st2 != CUBLAS_STATUS_NOT_SUPPORTED && (st2 != CUBLAS_STATUS_SUCCESS || found > 0),
            ErrorCode::kUnsupported, "cuBLASLt has no algorithm for ", dtype_name(x_dtype), " x ",
            dtype_name(dtype), " -> ", dtype_name(out_dtype), " at M = ", m, ", N = ", n,
            ", K = ", k, " (epilogue ", static_cast<int>(epi), ") on cuda:", device);
  S24_CUBLAS_CHECK(st2);
  plan->algo = result.algo;
  return *s.plans.emplace(key, std::move(plan)).first->second;
}

}  // namespace

bool fuses(Activation a) {
  return a == Activation::kNone || a == Activation::kRelu || a == Activation::kGeluTanh;
}

void check_8bit_support(DType x_dtype, DType w_dtype, const Device& device) {
  if (is_int8(x_dtype) && is_int8(w_dtype)) return;  // IMMA: sm_75+, the library needs sm_80
  S24_CHECK(is_fp8(x_dtype) && is_fp8(w_dtype), ErrorCode::kInternal,
            "cuBLASLt 8-bit check called with ", dtype_name(x_dtype), " x ", dtype_name(w_dtype));
  S24_CHECK(!(x_dtype == DType::kF8E5M2 && w_dtype == DType::kF8E5M2), ErrorCode::kUnsupported,
            "the dense CUDA linear (cuBLASLt) cannot multiply F8_E5M2 by F8_E5M2: cuBLASLt has "
            "fp8 kernels for E4M3 x E4M3, E4M3 x E5M2 and E5M2 x E4M3 only; convert one operand "
            "to F8_E4M3");
  const DeviceInfo& info = device_info(device.index);
  S24_CHECK(info.cc_major * 10 + info.cc_minor >= 89, ErrorCode::kUnsupported,
            "fp8 products need an sm_89 or newer GPU (fp8 tensor cores); ", device.str(), " (",
            info.name, ") is sm_", info.cc_major, info.cc_minor);
}

void linear_dense(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                  Activation activation, Stream stream, float alpha) {
  const Device device = w.device();
  const DType wt = w.dtype(), yt = y.dtype();
  if (is_int8(wt) || is_fp8(wt)) {
    // The 8-bit products: the raw product (int8: int32), or an fp8 product rounded to y with
    // alpha; every other epilogue runs in the caller's elementwise pass.
    S24_CHECK(bias == nullptr && activation == Activation::kNone, ErrorCode::kInternal,
              "cuBLASLt 8-bit linear called with a bias or an activation");
    S24_CHECK(is_int8(wt) ? (x.dtype() == wt && yt == DType::kI32 && alpha == 1.0f)
                          : (is_fp8(x.dtype()) &&
                             (yt == DType::kF16 || yt == DType::kBF16 || yt == DType::kF32)),
              ErrorCode::kInternal, "cuBLASLt linear: ", dtype_name(x.dtype()), " x ",
              dtype_name(wt), " -> ", dtype_name(yt), " with alpha ", alpha);
  } else {
    S24_CHECK(x.dtype() == wt && (yt == wt || (yt == DType::kF32 && bias == nullptr)),
              ErrorCode::kInternal, "cuBLASLt linear: ", dtype_name(yt), " output for ",
              dtype_name(x.dtype()), " x ", dtype_name(wt), " inputs");
  }
  const int64_t n = w.size(0), k = w.size(1);
  const int64_t m = x.numel() / k;
  if (m == 0 || n == 0) return;
  State& s = state();
  std::call_once(s.once[device.index], [&] {
    ensure_current_device(device);
    S24_CUBLAS_CHECK(cublasLtCreate(&s.handle[device.index]));
  });
  const cublasLtHandle_t handle = s.handle[device.index];
  const cublasLtEpilogue_t epi = epilogue_for(activation, bias != nullptr);
  // The largest power of two <= 256 dividing the operand addresses (256: cudaMalloc'd tensors).
  const uintptr_t addr_bits = reinterpret_cast<uintptr_t>(x.raw_data()) |
                              reinterpret_cast<uintptr_t>(w.raw_data()) |
                              reinterpret_cast<uintptr_t>(y.raw_data()) | uintptr_t{256};
  const auto align = static_cast<uint32_t>(addr_bits & (~addr_bits + 1));
  Plan& plan = plan_for(device.index, m, n, k, x.dtype(), wt, yt, epi, align, handle);
  void* ws = stream_workspace(device, stream, WorkspaceSlot::kCublasLt, kWorkspaceBytes);
  ensure_current_device(device);
  const float beta = 0.0f;
  // CUBLAS_COMPUTE_32I takes int32 alpha / beta (alpha is 1 there, checked above).
  const int32_t alpha_i = 1, beta_i = 0;
  const bool integer = is_int8(wt);
  const void* alpha_ptr = integer ? static_cast<const void*>(&alpha_i) : &alpha;
  const void* beta_ptr = integer ? static_cast<const void*>(&beta_i) : &beta;
  std::lock_guard<std::mutex> lock(plan.mutex);
  if (bias != nullptr) {
    const void* ptr = bias->raw_data();
    S24_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                    &ptr, sizeof(ptr)));
  }
  S24_CUBLAS_CHECK(cublasLtMatmul(handle, plan.desc, alpha_ptr, w.raw_data(), plan.a, x.raw_data(),
                                  plan.b, beta_ptr, y.raw_data(), plan.c, y.raw_data(), plan.c,
                                  &plan.algo, ws, kWorkspaceBytes,
                                  static_cast<cudaStream_t>(stream)));
}

}  // namespace s24::detail::cublaslt

#else  // !S24_WITH_CUDA

namespace s24::detail::cublaslt {
bool fuses(Activation) { return false; }
void check_8bit_support(DType, DType, const Device&) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
void linear_dense(const Tensor&, const Tensor&, const Tensor*, Tensor&, Activation, Stream, float) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
}  // namespace s24::detail::cublaslt

#endif

#include "backends/cublaslt.h"

#include "core/check.h"

#if S24_WITH_CUDA
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "cuda/check_cuda.h"
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
  // (device, m, n, k, dtype, output dtype, epilogue)
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int, int, int>, std::unique_ptr<Plan>> plans;
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
  switch (dtype) {
    case DType::kF16:
      return CUDA_R_16F;
    case DType::kBF16:
      return CUDA_R_16BF;
    case DType::kF32:
      return CUDA_R_32F;
    default:
      S24_THROW(ErrorCode::kInternal, "cuBLASLt linear called with ", dtype_name(dtype));
  }
}

Plan& plan_for(int device, int64_t m, int64_t n, int64_t k, DType dtype, DType out_dtype,
               cublasLtEpilogue_t epi, cublasLtHandle_t handle) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto key = std::make_tuple(device, m, n, k, static_cast<int>(dtype), static_cast<int>(out_dtype),
                             static_cast<int>(epi));
  auto it = s.plans.find(key);
  if (it != s.plans.end()) return *it->second;
  auto plan = std::make_unique<Plan>();
  const cudaDataType type = cuda_type(dtype), out_type = cuda_type(out_dtype);
  S24_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
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
  S24_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, type, k, m, k));  // X^T: K x M
  S24_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, out_type, n, m, n));  // Y^T: N x M
  cublasLtMatmulPreference_t pref = nullptr;
  S24_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = kWorkspaceBytes;
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st1 = cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  const cublasStatus_t st2 =
      st1 == CUBLAS_STATUS_SUCCESS
          ? cublasLtMatmulAlgoGetHeuristic(handle, plan->desc, plan->a, plan->b, plan->c, plan->c,
                                           pref, 1, &result, &found)
          : st1;
  (void)cublasLtMatmulPreferenceDestroy(pref);
  S24_CUBLAS_CHECK(st2);
  S24_CHECK(found > 0, ErrorCode::kUnsupported, "cuBLASLt found no algorithm for ", m, " x ", n,
            " x ", k);
  plan->algo = result.algo;
  return *s.plans.emplace(key, std::move(plan)).first->second;
}

}  // namespace

bool fuses(Activation a) {
  return a == Activation::kNone || a == Activation::kRelu || a == Activation::kGeluTanh;
}

void linear_dense(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                  Activation activation, Stream stream, float alpha) {
  const Device device = w.device();
  S24_CHECK(y.dtype() == w.dtype() || (y.dtype() == DType::kF32 && bias == nullptr),
            ErrorCode::kInternal, "cuBLASLt linear: ", dtype_name(y.dtype()), " output for ",
            dtype_name(w.dtype()), " inputs");
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
  Plan& plan = plan_for(device.index, m, n, k, w.dtype(), y.dtype(), epi, handle);
  void* ws = stream_workspace(device, stream, WorkspaceSlot::kCublasLt, kWorkspaceBytes);
  ensure_current_device(device);
  const float beta = 0.0f;
  std::lock_guard<std::mutex> lock(plan.mutex);
  if (bias != nullptr) {
    const void* ptr = bias->raw_data();
    S24_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                    &ptr, sizeof(ptr)));
  }
  S24_CUBLAS_CHECK(cublasLtMatmul(handle, plan.desc, &alpha, w.raw_data(), plan.a, x.raw_data(),
                                  plan.b, &beta, y.raw_data(), plan.c, y.raw_data(), plan.c,
                                  &plan.algo, ws, kWorkspaceBytes,
                                  static_cast<cudaStream_t>(stream)));
}

}  // namespace s24::detail::cublaslt

#else  // !S24_WITH_CUDA

namespace s24::detail::cublaslt {
bool fuses(Activation) { return false; }
void linear_dense(const Tensor&, const Tensor&, const Tensor*, Tensor&, Activation, Stream, float) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
}  // namespace s24::detail::cublaslt

#endif

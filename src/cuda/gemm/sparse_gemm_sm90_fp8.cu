// The sm_90a GEMM's fp8 instantiations: e4m3 / e5m2 weight x e4m3 / e5m2 activations.
#include "cuda/gemm/sparse_gemm_sm90_launch.cuh"

namespace s24::detail::gemm {

void launch_sm90_fp8(DType w, DType x, int config, const Sm90Launch& l) {
  const bool w4 = w == DType::kF8E4M3, x4 = x == DType::kF8E4M3;
  S24_CHECK((w4 || w == DType::kF8E5M2) && (x4 || x == DType::kF8E5M2), ErrorCode::kDTypeMismatch,
            "the fp8 sparse GEMM takes F8_E4M3 / F8_E5M2, got ", dtype_name(w), " x ",
            dtype_name(x));
  if (w4 && x4) return launch_config<arch::WgmmaE4M3E4M3, void>(config, l);
  if (w4) return launch_config<arch::WgmmaE4M3E5M2, void>(config, l);
  if (x4) return launch_config<arch::WgmmaE5M2E4M3, void>(config, l);
  return launch_config<arch::WgmmaE5M2E5M2, void>(config, l);
}

}  // namespace s24::detail::gemm

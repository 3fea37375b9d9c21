// The sm_90a GEMM's fp8 dispatch: e4m3 / e5m2 weight x e4m3 / e5m2 activations. The
// instantiations live in one file per weight type (sparse_gemm_sm90_fp8_w*.cu): together they are
// the build's largest translation unit, and two compile at once.
#include "cuda/gemm/sparse_gemm_sm90_launch.cuh"

namespace s24::detail::gemm {

void launch_sm90_fp8(DType w, DType x, int config, const Sm90Launch& l) {
  const bool w4 = w == DType::kF8E4M3, x4 = x == DType::kF8E4M3;
  S24_CHECK((w4 || w == DType::kF8E5M2) && (x4 || x == DType::kF8E5M2), ErrorCode::kDTypeMismatch,
            "the fp8 sparse GEMM takes F8_E4M3 / F8_E5M2, got ", dtype_name(w), " x ",
            dtype_name(x));
  if (w4) return launch_sm90_fp8_w_e4m3(x4, config, l);
  launch_sm90_fp8_w_e5m2(x4, config, l);
}

}  // namespace s24::detail::gemm

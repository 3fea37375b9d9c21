// Internal: every tile configuration of the sm_80 sparse GEMM (mma.sp m16n8k32), in one place.
// The kernel computes Y^T = W X^T: W (the 2:4 weight, [N, K], hardware layout) is the sparse A
// operand, X^T the dense B operand. One CTA owns bn output features (rows of W) x bm tokens and a
// range of K (split-K over gridDim.z); a pipeline stage is bk = 128 logical columns of K.
// Warps are arranged warps_n x warps_m x warps_k: warps_k > 1 splits the 4 k-steps of a stage
// among warps (their partial sums meet in shared memory), which adds warps without adding rows.
//
// Plain C++ (no CUDA headers) so that the host-side heuristic and the benchmark can see it.
#pragma once

namespace s24::detail::gemm {

struct TileConfig {
  const char* name;
  int bn;       // rows of W (output features) per CTA; multiple of 32 * warps_n, divides 128
  int bm;       // tokens per CTA; multiple of 8 * warps_m
  int warps_n;  // each warp owns bn / warps_n rows = whole row pairs (32 rows)
  int warps_m;  // each warp owns bm / warps_m tokens = whole n8 tiles
  int warps_k;  // 1, 2 or 4 warps share a stage's 4 k-steps
  int stages;   // cp.async pipeline depth

  constexpr int threads() const { return 32 * warps_n * warps_m * warps_k; }
  // Per stage: values bn x 128 B, metadata bn x 16 B, activations bm x 256 B (bk = 128).
  constexpr int stage_bytes() const { return bn * 144 + bm * 256; }
  constexpr int pipeline_bytes() const { return stages * stage_bytes(); }
  // The f32 output tile [bm][bn + 4] reuses the pipeline's shared memory after the main loop.
  constexpr int epilogue_bytes() const { return bm * (bn + 4) * 4; }
  constexpr int smem_bytes() const {
    return pipeline_bytes() > epilogue_bytes() ? pipeline_bytes() : epilogue_bytes();
  }
};

constexpr int kStageK = 128;  // logical K per pipeline stage (= hw::kColAlign)

// Memory-bound configurations (few tokens) first, then the compute-bound ones. The shape heuristic
// (sparse_gemm.cu, choose_plan) picks one and a split-K factor; the benchmark can force any.
enum ConfigId : int {
  kN64M8 = 0,  // decode, M <= 8
  kN64M16,     // decode, M <= 16
  kN128M16,    // decode, M <= 16, fewer CTAs re-reading X
  kN64M32,     // small batches
  kN128M64,    // M <= 64
  kN128M128,   // large M
  kConfigCount
};

constexpr TileConfig kConfigs[kConfigCount] = {
    // name        bn   bm  wn wm wk stages
    {"n64m8", 64, 8, 2, 1, 2, 4},     {"n64m16", 64, 16, 2, 1, 2, 4},
    {"n128m16", 128, 16, 4, 1, 2, 4}, {"n64m32", 64, 32, 2, 1, 2, 4},
    {"n128m64", 128, 64, 4, 2, 1, 3}, {"n128m128", 128, 128, 2, 4, 1, 3},
};

constexpr bool valid_config(const TileConfig& c) {
  return c.bn % (32 * c.warps_n) == 0 && 128 % c.bn == 0 && c.bm % (8 * c.warps_m) == 0 &&
         (c.warps_k == 1 || c.warps_k == 2 || c.warps_k == 4) && c.stages >= 2 &&
         c.smem_bytes() <= 227 * 1024 && c.threads() <= 1024;
}
static_assert(valid_config(kConfigs[0]) && valid_config(kConfigs[1]) && valid_config(kConfigs[2]) &&
                  valid_config(kConfigs[3]) && valid_config(kConfigs[4]) &&
                  valid_config(kConfigs[5]),
              "a tile configuration breaks the kernel's assumptions");

// Largest split-K factor the heuristic or a forced plan may use.
constexpr int kMaxSplits = 32;

}  // namespace s24::detail::gemm

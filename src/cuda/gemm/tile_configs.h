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

// ---- sm_90a: the wgmma.mma_async.sp GEMM (sparse_gemm_sm90_kernel.cuh) ----
// One CTA = one producer warpgroup (a single TMA-issuing thread) + two consumer warpgroups. Each
// consumer warpgroup owns `slices` m64 wgmma A tiles (64 weight rows each), so a CTA tile is
// rows() weight rows x bm tokens (the wgmma N), walked in k-blocks of 64 logical columns (two
// m64nNk32 steps per m64 slice; 8-bit: 128 columns, two m64nNk64 steps). The grid is persistent: min(tiles, SMs) CTAs walk the output
// tiles in a grouped raster order.
//
// A (the compressed weight) is read by the wgmma from shared memory: the row-major kept values
// (the logical layout's values tensor) arrive by TMA with the 64-byte swizzle, the metadata words
// by bulk copies from the hardware layout, so only the metadata passes through registers and one
// batch of wgmma stays in flight across stages. An earlier version took A from registers (the
// hardware layout's fragments); overwriting them with a wgmma in flight makes ptxas serialize every
// wgmma, so it waited for each stage's batch and ran 1.2-1.6x slower (bench/NOTES.md, sm90 v4).
// Needs K % 16 == 0 (the TMA row pitch of K/2 values must be a multiple of 16 bytes; 8-bit:
// K % 32 == 0).
//
// Consumers: cooperative (both warpgroups on every tile, 64 * slices rows each) or ping-pong
// (each warpgroup owns alternate tiles of 64 * slices rows; their mainloops take turns so that
// one's epilogue overlaps the other's wgmma: what short-K products such as BERT's need).
//
// Clusters (cluster 2): two CTAs on adjacent N tiles with the same tokens; each loads half of the
// X box and multicasts it to both, halving X's L2 traffic (not the bytes that land in each SM's
// shared memory). With a cluster-scope release on the remote "empty" arrivals they ran 1.4-2.9x
// slower; with the default CTA-scope one they match or beat (by ~1-2%) the same tiles
// unclustered, and the tuned table may pick them (bench/NOTES.md, sm90 v6). wgpc_n128m128 is
// the ping-pong tile in clusters (both CTAs' warpgroups take the same units in the same order):
// at BERT's 128 x 128 tiles, where X's L2 traffic weighs most, it was the fastest plan for three
// of the four batch-16 shapes on an H100 (up to 10% over wgp_n128m128; sm90 v8).
//
// Per k-block a CTA reads bm x 128 B of X (half of it with clusters) and rows() x 72 B of W
// (64 B of values, 8 of metadata; 8-bit: 16) for rows() x bm x 64 MACs (8-bit: x 128).
//
// 8-bit operands (e4m3 / e5m2 / int8, m64nNk64) use the same byte geometry: a k-block is 128
// bytes of X per token and 64 bytes of kept values per weight row, i.e. 128 logical columns
// instead of 64; only the metadata doubles (one nibble per group of 4 columns), so a stage holds
// rows()/32 x 512 B of it. Configurations with stages_q8 > 0 are also instantiated for 8-bit
// operands, with that depth (the larger metadata can push the 16-bit depth past 227 KB).
struct Sm90TileConfig {
  const char* name;
  int bm;         // tokens per tile = wgmma N (64, 96, 128, 160, 192, 224 or 256: the generated
                  // instructions; whole 32-token epilogue chunks)
  int slices;     // m64 A tiles per consumer warpgroup (1 or 2); accumulators: slices * bm / 2
  int stages;     // TMA pipeline depth (k-blocks in flight), 16-bit operands
  bool pingpong;  // warpgroups own alternate tiles (else both share each tile)
  int cluster;    // CTAs per cluster along N sharing the X box by multicast (1 or 2)
  int stages_q8;  // depth for 8-bit operands; 0: no 8-bit instantiation
  // A fourth warpgroup runs the epilogue: the consumers leave each tile's f32 accumulators in
  // shared memory and go on to the next tile's mainloop (cooperative, unclustered, 16-bit only).
  bool epilogue_warpgroup = false;

  static constexpr int kBlockBytes = 128;     // bytes of an X row per pipeline stage
  static constexpr int kEpilogueTokens = 32;  // tokens per epilogue pass through shared memory

  // Producer + 2 consumer warpgroups (+ the epilogue warpgroup).
  constexpr int threads() const { return epilogue_warpgroup ? 512 : 384; }

  // Logical K per pipeline stage: 64 (16-bit) or 128 (8-bit) columns.
  static constexpr int block_k(bool q8) { return q8 ? kBlockBytes : kBlockBytes / 2; }
  constexpr int depth(bool q8) const { return q8 ? stages_q8 : stages; }
  constexpr int wg_rows() const { return 64 * slices; }
  constexpr int rows() const { return pingpong ? wg_rows() : 2 * wg_rows(); }
  // f32 row pitch of a warpgroup's staging tile: +4 puts the lanes of a quad-row store on 32
  // distinct banks (2 * pitch % 32 == 8).
  constexpr int epilogue_ld() const { return wg_rows() + 4; }
  // Per stage: X box bm x 128 B (128-byte swizzled rows), values box rows() x 64 B (64-byte
  // swizzled rows), metadata rows()/32 row pairs x 2 k-steps x 128 B (8-bit: x 256 B). X first,
  // then the values: the swizzled boxes need 1024-byte (X) and 512-byte (values) aligned bases.
  constexpr int x_bytes() const { return bm * kBlockBytes; }
  constexpr int value_bytes() const { return rows() * kBlockBytes / 2; }
  constexpr int meta_pair_bytes(bool q8) const { return q8 ? 512 : 256; }
  constexpr int meta_bytes(bool q8) const { return rows() / 32 * meta_pair_bytes(q8); }
  constexpr int stage_bytes(bool q8) const { return x_bytes() + value_bytes() + meta_bytes(q8); }
  // f32 row pitch of the whole-tile accumulator buffer (epilogue warpgroup): +4 as above.
  constexpr int tile_ld() const { return rows() + 4; }
  // Per consumer warpgroup kEpilogueTokens f32 rows of epilogue_ld(); the 16-bit epilogue uses
  // the same bytes as two buffers of kEpilogueTokens unpadded 16-bit rows. With an epilogue
  // warpgroup: the whole tile's f32 accumulators, bm token rows of tile_ld().
  constexpr int staging_bytes() const {
    return epilogue_warpgroup ? bm * tile_ld() * 4 : 2 * kEpilogueTokens * epilogue_ld() * 4;
  }
  // + 1024 for aligning the dynamic base, + the stage barriers, the two turn barriers and the
  // accumulator buffer's two.
  constexpr int smem_bytes(bool q8) const {
    return 1024 + depth(q8) * stage_bytes(q8) + staging_bytes() + (2 * depth(q8) + 4) * 8;
  }
};

// GELU (erf) in the unrolled 16-bit epilogue (separate kernel instantiations): 7-15% faster per
// product than the rolled loop (no step dispatch, more registers for GELU's chains), for a larger
// kernel; BERT's fc1 products at batch 64 (17-23 tiles per SM with the tables' tiles) and up take
// it, batch 16 (6) does not (bench/NOTES.md, sm90 v10'). Products with at least this many output
// tiles per SM take it (a clustered work unit counts as its two tiles: the H200 table's clustered
// GELU tile at batch 64 has 17.5 tiles per SM).
constexpr int kSm90UnrolledGeluMinTilesPerSm = 16;

// The 96- and 192-token tiles exist for wave quantization: BERT's N = 768 products at batch 16
// (M = 6144) make 288 tiles of 128 x 128, 2.2 waves on 132 SMs, i.e. three rounds of which the
// last is a fifth full; 128 x 96 makes 384 tiles (2.9 waves). At batch 64 (M = 24576) 128 x 256
// makes 576 tiles (4.4 waves), 128 x 192 768 (5.8 waves). The 160- and 224-token tiles take the
// same idea one step further (session 19): at batch 16 the N = 768 products make 192 tiles of
// 128 x 192 (1.45 waves: two rounds of 192 tokens) but 234 of 128 x 160 (1.77 waves: two rounds
// of 160); at batch 64 every BERT product makes a whole number of waves with 128 x 224 (N = 768:
// 660 tiles, 5.0 waves; N = 2304: 15.0; N = 3072: 20.0) where 128 x 192 and 128 x 256 leave the
// last round 45-82% full.
enum Sm90ConfigId : int {
  kSm90N128M128 = 0,  // cooperative
  kSm90N128M256,
  kSm90N256M64,
  kSm90N256M128,
  kSm90N128M96,
  kSm90N128M192,
  kSm90PingN128M128,  // ping-pong
  kSm90PingN128M64,
  kSm90ClusterN128M128,  // cooperative, clusters of 2
  kSm90ClusterN128M256,
  kSm90ClusterN128M192,
  kSm90ClusterPingN128M128,  // ping-pong, clusters of 2
  kSm90EpilogueN128M128,     // cooperative, epilogue warpgroup
  kSm90EpilogueN128M192,
  kSm90N128M160,  // cooperative (after the others: the tune's tie rule keeps their order)
  kSm90N128M224,
  kSm90ConfigCount
};

constexpr Sm90TileConfig kSm90Configs[kSm90ConfigCount] = {
    // name          bm  slices stages pingpong cluster stages_q8
    {"wg_n128m128", 128, 1, 8, false, 1, 8},  {"wg_n128m256", 256, 1, 5, false, 1, 4},
    {"wg_n256m64", 64, 2, 7, false, 1, 0},    {"wg_n256m128", 128, 2, 5, false, 1, 0},
    {"wg_n128m96", 96, 1, 9, false, 1, 9},    {"wg_n128m192", 192, 1, 6, false, 1, 6},
    {"wgp_n128m128", 128, 2, 7, true, 1, 7},  {"wgp_n128m64", 64, 2, 10, true, 1, 0},
    {"wgc_n128m128", 128, 1, 8, false, 2, 0}, {"wgc_n128m256", 256, 1, 5, false, 2, 0},
    {"wgc_n128m192", 192, 1, 6, false, 2, 0}, {"wgpc_n128m128", 128, 2, 7, true, 2, 0},
    {"wge_n128m128", 128, 1, 6, false, 1, 0, true}, {"wge_n128m192", 192, 1, 3, false, 1, 0, true},
    {"wg_n128m160", 160, 1, 7, false, 1, 6},  {"wg_n128m224", 224, 1, 5, false, 1, 5},
};

constexpr bool valid_sm90_config(const Sm90TileConfig& c) {
  return (c.bm == 64 || c.bm == 96 || c.bm == 128 || c.bm == 160 || c.bm == 192 || c.bm == 224 ||
          c.bm == 256) &&
         c.bm % Sm90TileConfig::kEpilogueTokens == 0 && (c.slices == 1 || c.slices == 2) &&
         c.slices * c.bm <= 256 && c.rows() % 128 == 0 && c.stages >= 2 &&
         (c.cluster == 1 || (c.cluster == 2 && (c.bm / 2) % 8 == 0)) &&
         c.smem_bytes(false) <= 227 * 1024 && c.x_bytes() % 1024 == 0 &&
         c.value_bytes() % 512 == 0 &&
         2 * Sm90TileConfig::kEpilogueTokens * c.wg_rows() * 2 <=
             Sm90TileConfig::kEpilogueTokens * c.epilogue_ld() * 4 &&
         (c.stages_q8 == 0 ||
          (c.stages_q8 >= 2 && c.cluster == 1 && c.smem_bytes(true) <= 227 * 1024)) &&
         (!c.epilogue_warpgroup ||
          (!c.pingpong && c.cluster == 1 && c.stages_q8 == 0 && c.slices == 1 && c.bm <= 192));
}
constexpr bool all_sm90_configs_valid() {
  for (const Sm90TileConfig& c : kSm90Configs)
    if (!valid_sm90_config(c)) return false;
  return true;
}
static_assert(all_sm90_configs_valid(), "an sm_90a tile configuration breaks the kernel's assumptions");

}  // namespace s24::detail::gemm

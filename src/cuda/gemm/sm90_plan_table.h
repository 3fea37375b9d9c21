// Internal: which sm_90a tile configuration (tile_configs.h, kSm90Configs) serves a shape. A
// table, regenerated on a GPU by `sparse24 bench --tune --plan-table FILE` (the fastest measured
// configuration per tuned shape, tools/sparse24/plan_table.cc), checked in as
// sm90_plan_table.inc and compiled in: a lookup is a few comparisons, no I/O, no allocation.
//
// Rows are read in order; the first whose operand width matches and whose bounds hold wins
// (m <= max_m and k <= max_k, a bound of -1 holds for every value). The writer orders each
// width's rows by (max_m, max_k), leaves the largest tuned K of each M unbounded and ends with
// an unbounded row, so a shape takes the configuration measured fastest on the nearest tuned
// shape at least as large in M, then in K.
// Whether the wgmma kernel serves a shape at all is prefer_sm90's rule (sparse_gemm_sm90.cu).
#pragma once

#include <cstdint>

#include "cuda/gemm/tile_configs.h"

namespace s24::detail::gemm {

struct Sm90PlanRow {
  int operand_bits;  // 16 (f16 / bf16) or 8 (fp8 / int8)
  int64_t max_m;     // tokens; -1: any
  int64_t max_k;     // input features; -1: any
  const char* config;  // a kSm90Configs name (8-bit rows: one with stages_q8 > 0)
};

inline constexpr Sm90PlanRow kSm90PlanTable[] = {
#include "cuda/gemm/sm90_plan_table.inc"
};

constexpr bool same_name(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) ++a, ++b;
  return *a == *b;
}
constexpr int sm90_config_index(const char* name) {
  for (int i = 0; i < kSm90ConfigCount; ++i)
    if (same_name(kSm90Configs[i].name, name)) return i;
  return -1;
}
// Every row names a configuration that exists (for 8-bit rows: one with an 8-bit depth) and each
// width ends with an unbounded row, so a lookup always succeeds.
constexpr bool sm90_plan_table_valid() {
  bool open16 = false, open8 = false;
  for (const Sm90PlanRow& r : kSm90PlanTable) {
    const int c = sm90_config_index(r.config);
    if (c < 0 || (r.operand_bits != 16 && r.operand_bits != 8)) return false;
    if (r.operand_bits == 8 && kSm90Configs[c].stages_q8 == 0) return false;
    const bool unbounded = r.max_m < 0 && r.max_k < 0;
    (r.operand_bits == 16 ? open16 : open8) |= unbounded;
  }
  return open16 && open8;
}
static_assert(sm90_plan_table_valid(), "sm90_plan_table.inc names an unknown configuration, an "
              "8-bit row without an 8-bit depth, or lacks an unbounded row per operand width");

inline int sm90_table_config(int64_t m, int64_t k, int operand_bits) {
  for (const Sm90PlanRow& r : kSm90PlanTable)
    if (r.operand_bits == operand_bits && (r.max_m < 0 || m <= r.max_m) &&
        (r.max_k < 0 || k <= r.max_k))
      return sm90_config_index(r.config);
  return kSm90N128M128;  // unreachable: sm90_plan_table_valid()
}

}  // namespace s24::detail::gemm

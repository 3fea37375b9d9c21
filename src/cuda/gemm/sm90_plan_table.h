// Internal: which sm_90a tile configuration (tile_configs.h, kSm90Configs) serves a shape. Tables,
// regenerated on a GPU by `sparse24 bench --tune --plan-table FILE` (the fastest measured
// configuration per tuned shape, tools/sparse24/plan_table.cc; scripts/tune_shapes.sh), checked
// in and compiled in: a lookup is a few comparisons, no I/O, no allocation.
//
// One table per device class, because the winners differ between the two Hopper parts that share
// a die (132 SMs) but not a memory: H100 (HBM3, 3.35 TB/s; sm90_plan_table_h100.inc) and H200
// (HBM3e, 4.8 TB/s; sm90_plan_table_h200.inc, also serving GH200). A product streams its X once
// per N tile, so the balance between larger and clustered tiles (less traffic) and smaller ones
// (more waves) moves with the bandwidth. On the H200, clustered tiles won BERT rows by 1-2% each
// but ran BERT-base 2-6% slower end to end, so its table has none; on the H100 they win by up to
// 10% and BERT-base ran faster with them (bench/NOTES.md, sessions 5 and 8).
//
// Rows are read in order; the first whose operand width and activation class match and whose
// bounds hold wins (m <= max_m, n <= max_n and k <= max_k; a bound of -1 holds for every value).
// Rows marked `activated` serve only products with an activation in their epilogue, and come
// first; the others serve every product. The writer orders each class's rows by (max_m, max_n,
// max_k), leaves the largest tuned N of each M and the largest tuned K of each (M, N) unbounded,
// and ends the general class of each width with an unbounded row, so a shape takes the
// configuration measured fastest on the nearest tuned shape at least as large in M, then N, then
// K. Activated rows stop at their largest tuned M; beyond it the general rows serve.
// N is a key because the tile count decides the waves: BERT-base's N = 768 and N = 3072 products
// at batch 16 want different token tiles (tile_configs.h).
// Whether the wgmma kernel serves a shape at all is prefer_sm90's rule (sm90_plan.cu).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>

#include "cuda/gemm/tile_configs.h"

namespace s24::detail::gemm {

struct Sm90PlanRow {
  int operand_bits;  // 16 (f16 / bf16) or 8 (fp8 / int8)
  bool activated;    // only for products with an activation (ReLU, GELU, SiLU) in the epilogue
  int64_t max_m;     // tokens; -1: any
  int64_t max_n;     // output features; -1: any
  int64_t max_k;     // input features; -1: any
  const char* config;  // a kSm90Configs name (8-bit rows: one with stages_q8 > 0)
};

enum class Sm90TableClass { kH100, kH200 };

// By the device's name: every part whose name contains "H200" (H200, H200 NVL, GH200) has HBM3e;
// other sm_90 devices take the H100 table.
inline Sm90TableClass sm90_table_class(const std::string& device_name) {
  return device_name.find("H200") != std::string::npos ? Sm90TableClass::kH200
                                                       : Sm90TableClass::kH100;
}
inline const char* sm90_table_file(Sm90TableClass c) {
  return c == Sm90TableClass::kH200 ? "sm90_plan_table_h200.inc" : "sm90_plan_table_h100.inc";
}

inline constexpr Sm90PlanRow kSm90PlanTableH100[] = {
#include "cuda/gemm/sm90_plan_table_h100.inc"
};
inline constexpr Sm90PlanRow kSm90PlanTableH200[] = {
#include "cuda/gemm/sm90_plan_table_h200.inc"
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

// Each row's configuration index, resolved at compile time: a lookup compares no names.
template <size_t N>
struct Sm90PlanIndex {
  int config[N];
};
template <size_t N>
constexpr Sm90PlanIndex<N> sm90_plan_index(const Sm90PlanRow (&table)[N]) {
  Sm90PlanIndex<N> index{};
  for (size_t i = 0; i < N; ++i) index.config[i] = sm90_config_index(table[i].config);
  return index;
}
inline constexpr auto kSm90PlanIndexH100 = sm90_plan_index(kSm90PlanTableH100);
inline constexpr auto kSm90PlanIndexH200 = sm90_plan_index(kSm90PlanTableH200);

struct Sm90PlanTable {
  const Sm90PlanRow* first;
  const Sm90PlanRow* last;
  const int* config_index;  // per row, kSm90Configs index
};
inline Sm90PlanTable sm90_plan_table(Sm90TableClass c) {
  if (c == Sm90TableClass::kH200)
    return {std::begin(kSm90PlanTableH200), std::end(kSm90PlanTableH200),
            kSm90PlanIndexH200.config};
  return {std::begin(kSm90PlanTableH100), std::end(kSm90PlanTableH100), kSm90PlanIndexH100.config};
}
// Every row names a configuration that exists (for 8-bit rows: one with an 8-bit depth) and the
// general rows of each width end with an unbounded one, so a lookup always succeeds.
template <size_t N>
constexpr bool sm90_plan_table_valid(const Sm90PlanRow (&table)[N]) {
  bool open16 = false, open8 = false;
  for (const Sm90PlanRow& r : table) {
    const int c = sm90_config_index(r.config);
    if (c < 0 || (r.operand_bits != 16 && r.operand_bits != 8)) return false;
    if (r.operand_bits == 8 && kSm90Configs[c].stages_q8 == 0) return false;
    const bool unbounded = !r.activated && r.max_m < 0 && r.max_n < 0 && r.max_k < 0;
    (r.operand_bits == 16 ? open16 : open8) |= unbounded;
  }
  return open16 && open8;
}
static_assert(sm90_plan_table_valid(kSm90PlanTableH100) &&
                  sm90_plan_table_valid(kSm90PlanTableH200),
              "an sm90_plan_table_*.inc names an unknown configuration, an 8-bit row without an "
              "8-bit depth, or lacks an unbounded row per operand width");

// The first row of [first, last) that serves the product, or nullptr.
inline const Sm90PlanRow* sm90_table_row(const Sm90PlanRow* first, const Sm90PlanRow* last,
                                         int64_t m, int64_t n, int64_t k, int operand_bits,
                                         bool activated) {
  for (const Sm90PlanRow* r = first; r != last; ++r)
    if (r->operand_bits == operand_bits && (!r->activated || activated) &&
        (r->max_m < 0 || m <= r->max_m) && (r->max_n < 0 || n <= r->max_n) &&
        (r->max_k < 0 || k <= r->max_k))
      return r;
  return nullptr;
}

inline int sm90_table_config(Sm90TableClass table, int64_t m, int64_t n, int64_t k,
                             int operand_bits, bool activated) {
  const Sm90PlanTable t = sm90_plan_table(table);
  const Sm90PlanRow* r = sm90_table_row(t.first, t.last, m, n, k, operand_bits, activated);
  return r != nullptr ? t.config_index[r - t.first] : kSm90N128M128;  // always found: _valid()
}

}  // namespace s24::detail::gemm

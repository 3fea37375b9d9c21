// sparse24 bench: the GPU benchmark sweep of BRIEF section 2. Native 2:4 linear (sparse24's mma.sp
// GEMM on a prepared SparseWeight) against cuBLASLt dense and (when built in) cuSPARSELt, same
// inputs, same run, same GPU. Kernel time by CUDA events and by CUDA-graph replay (medians),
// inputs rotated over enough buffer sets that the operands cannot stay in L2 between calls,
// random non-zero data. Writes bench.json, bench.csv and bench_speedup.svg into --out (with
// --tune, the per-shape tuning results inside bench.json). The 8-bit section (tags "q8_...",
// e4m3 and int8): the native 2:4 product through the public API (SparseWeight / linear_out,
// Y F16; "n/a (reason)" where it throws), dense cuBLASLt (e4m3: Y F16; int8: the int32 product,
// its cheapest form) and cuSPARSELt 8-bit (Y F16).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "cuda/gemm/sm90_plan_table.h"  // plain C++: --merge --plan-table runs anywhere
#include "sparse24/bench_report.h"
#include "sparse24/plan_table.h"
#include "sparse24/cli_util.h"
#include "sparse24/commands.h"
#include "sparse24/sparse24.h"
#include "sparse24/sparse_weight.h"

#if S24_WITH_CUDA
#include <cuda_runtime.h>

#include "backends/cublaslt.h"
#include "backends/cusparselt.h"
#include "bench_util/gpu_timer.h"
#include "core/json.h"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/gemm/sparse_gemm.h"
#include "cuda/gemm/tile_configs.h"
#include "ops/linear_cuda.h"
#include "ops/linear_dense_cuda.h"
#include "ops/linear_q8_cpu.h"
#include "ops/sparse_weight_impl.h"
#endif

namespace s24::cli {
namespace {

const char kHelp[] =
    "usage: sparse24 bench [--out DIR] [--filter TEXT] [--quick] [--tune] [--no-cusparselt]\n"
    "                      [--shape M,N,K[,DTYPE]] [--case I] [--count] [--target-ms MS]\n"
    "       sparse24 bench --merge --out DIR [--plan-table FILE] RUN_DIR...\n\n"
    "GPU benchmark of the 2:4 linear Y = X W^T + b: sparse24's native mma.sp kernel (prepared\n"
    "SparseWeight) vs cuBLASLt dense vs cuSPARSELt (when this build has it), fp16/bf16.\n"
    "Default sweep: the seed quick-start 3072x3072x10240; BERT-base Linear shapes (qkv 768->2304,\n"
    "attn-out 768->768, fc1 768->3072, fc2 3072->768) at batch 1,4,16,64,256 x seq 384;\n"
    "Llama-8B MLP (up 4096->14336, down 14336->4096) at 1,16,64,128,2048,8192 tokens (fp16, and\n"
    "bf16 at 1 and 16 tokens); 8192^3 in fp16 and bf16.\n"
    "8-bit section (tags q8_*, e4m3 and int8 operands): 8192^3, Llama-8B MLP at 8192 tokens,\n"
    "BERT-base at batch 64 x seq 384. Native 2:4 8-bit (public API, Y F16; \"n/a (reason)\" while\n"
    "it throws) vs dense cuBLASLt 8-bit (e4m3: Y F16; int8: the int32 product, the cheapest\n"
    "cuBLASLt form, so the int8 ratios are against the fastest dense int8 product; dense f16 ms\n"
    "adds the full int8 linear_dense to F16) vs cuSPARSELt 8-bit (Y F16). --filter q8_ selects\n"
    "only these rows.\n\n"
    "  --out DIR        where bench.json, bench.csv, bench_speedup.svg go (default bench_out)\n"
    "  --filter TEXT    only rows whose tag contains TEXT\n"
    "  --quick          a short sweep (one shape per family)\n"
    "  --tune           also time every candidate plan of the native kernel (tile configuration x\n"
    "                   split-K for M <= 128; on sm_90 every wgmma configuration for M >= 64);\n"
    "                   the row then also reports the fastest (native_tuned_*)\n"
    "  --no-cusparselt  skip the cuSPARSELt backend\n"
    "  --shape M,N,K[,DTYPE][,gelu] benchmark only this shape (DTYPE f16, bf16, e4m3 or i8;\n"
    "                   gelu: with an erf GELU in the epilogue)\n"
    "  --case I         only row I of the sweep (0-based; --count prints how many there are):\n"
    "                   one process per row keeps a failing library call from taking the rest\n"
    "  --merge          combine the bench.json of the RUN_DIRs into one report in --out\n"
    "  --plan-table FILE write the dispatcher's sm_90a tile table (the fastest configuration per\n"
    "                   tuned shape) from the --tune results, for src/cuda/gemm/\n"
    "                   sm90_plan_table_h100.inc or _h200.inc (the GPU's class; then rebuild);\n"
    "                   scripts/tune_shapes.sh does it all\n"
    "  --target-ms MS   measuring time per backend and method (default 250)\n\n"
    "Times are per call, medians: CUDA-graph replay (the headline numbers) and per-call CUDA\n"
    "events. Inputs rotate over enough buffer sets that one pass moves >= 4x the L2. The native\n"
    "and dense rows are written before cuSPARSELt runs. Needs a CUDA build and an sm_80+ GPU\n"
    "(exit status 2 otherwise; --merge and --count work anywhere).\n";

struct Case {
  std::string tag;
  int64_t m, n, k;
  DType dtype;
  // The rest of a model's epilogue (every 16-bit row has a bias): an activation (BERT's fc1 runs
  // GELU in its Linear), and a residual read from its own [m, n] tensor (the add after attn-out
  // and fc2; sparse24's BERT runtime fuses it into its LayerNorm kernel instead, other users put
  // it in the Linear). Epilogue changes must be judged on these: a faster bias-only epilogue once
  // made BERT-base 13% slower end to end (bench/NOTES.md, sm90 v7).
  Activation activation = Activation::kNone;
  bool residual = false;
};

std::vector<Case> default_cases(bool quick) {
  std::vector<Case> c;
  const DType f16 = DType::kF16, bf16 = DType::kBF16;
  c.push_back({"seed-quickstart", 3072, 3072, 10240, f16});
  const int batches_full[] = {1, 4, 16, 64, 256};
  const int batches_quick[] = {16};
  for (int bs : quick ? std::vector<int>(batches_quick, batches_quick + 1)
                      : std::vector<int>(batches_full, batches_full + 5)) {
    const int64_t t = int64_t{bs} * 384;
    const std::string b = " bs" + std::to_string(bs);
    c.push_back({"bert-qkv" + b, t, 2304, 768, f16});
    c.push_back({"bert-attnout" + b, t, 768, 768, f16});
    c.push_back({"bert-fc1" + b, t, 3072, 768, f16});
    c.push_back({"bert-fc2" + b, t, 768, 3072, f16});
  }
  if (!quick) {
    for (int bs : {16, 64}) {
      const int64_t t = int64_t{bs} * 384;
      const std::string b = " bs" + std::to_string(bs);
      c.push_back({"bert-fc1+gelu" + b, t, 3072, 768, f16, Activation::kGeluErf});
      c.push_back({"bert-attnout+res" + b, t, 768, 768, f16, Activation::kNone, true});
      c.push_back({"bert-fc2+res" + b, t, 768, 3072, f16, Activation::kNone, true});
    }
  }
  const int tokens_full[] = {1, 16, 64, 128, 2048, 8192};
  const int tokens_quick[] = {1, 16};
  for (int t : quick ? std::vector<int>(tokens_quick, tokens_quick + 2)
                     : std::vector<int>(tokens_full, tokens_full + 6)) {
    const std::string s = " T" + std::to_string(t);
    c.push_back({"llama8b-up" + s, t, 14336, 4096, f16});
    c.push_back({"llama8b-down" + s, t, 4096, 14336, f16});
  }
  for (int t : {1, 16}) {
    const std::string s = " T" + std::to_string(t);
    c.push_back({"llama8b-up" + s, t, 14336, 4096, bf16});
    c.push_back({"llama8b-down" + s, t, 4096, 14336, bf16});
  }
  if (!quick) {
    c.push_back({"square8k", 8192, 8192, 8192, f16});
    c.push_back({"square8k", 8192, 8192, 8192, bf16});
    // The 8-bit section ("q8_" tags): e4m3 and int8 operands, Y F16.
    for (DType q8 : {DType::kF8E4M3, DType::kI8}) {
      c.push_back({"q8_square8k", 8192, 8192, 8192, q8});
      c.push_back({"q8_llama8b-up T8192", 8192, 14336, 4096, q8});
      c.push_back({"q8_llama8b-down T8192", 8192, 4096, 14336, q8});
      const int64_t t = 64 * 384;
      c.push_back({"q8_bert-qkv bs64", t, 2304, 768, q8});
      c.push_back({"q8_bert-attnout bs64", t, 768, 768, q8});
      c.push_back({"q8_bert-fc1 bs64", t, 3072, 768, q8});
      c.push_back({"q8_bert-fc2 bs64", t, 768, 3072, q8});
    }
  }
  return c;
}

// Only the cases whose tag contains `filter` (all for an empty filter).
std::vector<Case> filtered(std::vector<Case> cases, const std::string& filter) {
  if (filter.empty()) return cases;
  std::vector<Case> kept;
  for (const Case& c : cases)
    if (c.tag.find(filter) != std::string::npos) kept.push_back(c);
  return kept;
}

std::string fmt_ms(double v) { return v < 0 ? "-" : fmt_fixed(v, v < 0.1 ? 4 : 3); }
std::string fmt_x(double a, double b) { return (a > 0 && b > 0) ? fmt_fixed(a / b, 2) : "-"; }

void print_table(const BenchMeta& meta, const std::vector<BenchRow>& rows) {
  Table table({"case", "dt", "M", "N", "K", "dense ms", "native ms", "cslt ms", "nat x", "cslt x",
               "nat/cslt", "nat GB/s", "tuned x", "nat err", "host us"},
              "llrrrrrrrrrrrrr");
  bool any_i8 = false, any_na = false;
  for (const BenchRow& r : rows) {
    any_i8 = any_i8 || r.dtype == "i8";
    any_na = any_na || !r.native_note.empty();
    table.add({r.tag, r.dtype, std::to_string(r.m), std::to_string(r.n), std::to_string(r.k),
               fmt_ms(r.dense_ms), r.native_note.empty() ? fmt_ms(r.native_ms) : "n/a",
               fmt_ms(r.cslt_ms), fmt_x(r.dense_ms, r.native_ms), fmt_x(r.dense_ms, r.cslt_ms),
               fmt_x(r.cslt_ms, r.native_ms),
               r.native_ms > 0 ? fmt_fixed(r.sparse_bytes() / (r.native_ms * 1e6), 0) : "-",
               fmt_x(r.dense_ms, r.native_tuned_ms),
               r.native_max_rel >= 0 ? fmt_fixed(r.native_max_rel * 1e3, 2) + "e-3" : "-",
               fmt_fixed(r.native_host_us, 1)});
  }
  std::printf(
      "\n%s, %s; kernel time per call (CUDA graph, median); x = speedup over cuBLASLt "
      "dense; copy %.0f GB/s\n",
      meta.gpu.c_str(), meta.date.c_str(), meta.copy_gbs);
  table.print(stdout);
  if (any_i8)
    std::printf(
        "i8 rows: dense = cuBLASLt int8 x int8 -> int32 product (the cheapest cuBLASLt int8 form, "
        "no conversion); the sparse columns write F16.\n");
  if (any_na)
    for (const BenchRow& r : rows)
      if (!r.native_note.empty())
        std::printf("native n/a: %s %s (%s)\n", r.tag.c_str(), r.dtype.c_str(),
                    r.native_note.c_str());
}

void write_all(const std::string& dir, const BenchMeta& meta, const std::vector<BenchRow>& rows,
               const std::vector<std::string>& tuning) {
  write_bench_json(dir + "/bench.json", meta, rows, tuning);
  write_bench_csv(dir + "/bench.csv", rows);
  write_bench_svg(dir + "/bench_speedup.svg", meta, rows);
}

// --plan-table FILE: the dispatcher's sm_90a tile table from this report's --tune results.
void write_plan_table(const Args& args, const BenchMeta& meta,
                      const std::vector<std::string>& tuning) {
  const std::string path = args.get("--plan-table", "");
  if (path.empty()) return;
  S24_CHECK(!tuning.empty(), ErrorCode::kInvalidArgument,
            "--plan-table needs --tune results (none in this run or in the merged reports)");
  const std::string text = sm90_plan_table_from_tuning(
      tuning, meta.gpu,
      "measured on " + (meta.gpu.empty() ? std::string("an unnamed GPU") : meta.gpu) +
          (meta.date.empty() ? std::string() : ", " + meta.date));
  std::ofstream f(path);
  f << text;
  S24_CHECK(f.good(), ErrorCode::kIo, "cannot write --plan-table ", path);
  std::printf("wrote the sm_90a tile table (%zu tuned shapes) to %s; copy it to src/cuda/gemm/%s "
              "and rebuild to use it\n",
              tuning.size(), path.c_str(),
              detail::gemm::sm90_table_file(detail::gemm::sm90_table_class(meta.gpu)));
}

int merge_reports(const Args& args, const std::string& out_dir) {
  BenchMeta meta;
  std::vector<BenchRow> rows;
  std::vector<std::string> tuning;
  for (const std::string& dir : args.positional()) {
    BenchMeta m;
    try {
      read_bench_json(dir + "/bench.json", &m, &rows, &tuning);
    } catch (const Error& e) {
      std::printf("skipping %s: %s\n", dir.c_str(), e.what());
      continue;
    }
    if (meta.gpu.empty()) meta = m;
  }
  write_all(out_dir, meta, rows, tuning);
  print_table(meta, rows);
  std::printf("merged %zu rows into %s/bench.json, bench.csv, bench_speedup.svg\n", rows.size(),
              out_dir.c_str());
  write_plan_table(args, meta, tuning);
  return 0;
}

#if S24_WITH_CUDA

// ---- data -------------------------------------------------------------------------------------

// The row's dtype name: f16, bf16, e4m3, e5m2, i8.
std::string short_dtype(DType dt) {
  switch (dt) {
    case DType::kBF16:
      return "bf16";
    case DType::kF8E4M3:
      return "e4m3";
    case DType::kF8E5M2:
      return "e5m2";
    case DType::kI8:
      return "i8";
    default:
      return "f16";
  }
}

// xorshift64*: fast, and plenty for benchmark data (uniform in [-1, 1), never all zeros).
struct FastRng {
  uint64_t s;
  explicit FastRng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  float uniform() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    const uint64_t r = s * 0x2545F4914F6CDD1Dull;
    return static_cast<float>(static_cast<int64_t>(r >> 40) - (int64_t{1} << 23)) / 8388608.0f;
  }
};

uint16_t to_bits(float v, DType dt) {
  return dt == DType::kF16 ? float_to_f16(v) : float_to_bf16(v);
}
// 8-bit data: fp8 values in [-1, 1); int8 integers in [-8, 8], so that the F16 outputs of the
// longest sums (K = 14336) stay far from F16's range limit (int8 speed does not depend on it).
uint8_t to_bits8(float v, DType dt) {
  if (dt == DType::kF8E4M3) return float_to_e4m3(v);
  if (dt == DType::kF8E5M2) return float_to_e5m2(v);
  return static_cast<uint8_t>(float_to_i8(8.0f * v));
}

Tensor random_matrix(int64_t rows, int64_t cols, DType dt, uint64_t seed) {
  Tensor t = Tensor::empty({rows, cols}, dt);
  FastRng r(seed);
  if (detail::is_8bit_value_dtype(dt)) {
    auto* p = static_cast<uint8_t*>(t.raw_data());
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = to_bits8(r.uniform(), dt);
    return t;
  }
  auto* p = static_cast<uint16_t*>(t.raw_data());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = to_bits(r.uniform(), dt);
  return t;
}

// A random 2:4 weight: its logical compressed form and the equivalent dense matrix (CPU).
// `Bits`: the storage of one element (uint16_t for 16-bit dtypes, uint8_t for 8-bit ones).
template <class Bits>
void random_weight_as(int64_t n, int64_t k, DType dt, uint64_t seed, Compressed24* c,
                      Tensor* dense) {
  static const uint8_t kNibbles[6] = {0x4, 0x8, 0xC, 0x9, 0xD, 0xE};
  c->rows = n;
  c->cols = k;
  c->values = random_matrix(n, k / 2, dt, seed);
  c->meta = Tensor::empty({n, meta_cols(k)}, DType::kU8);
  *dense = Tensor::zeros({n, k}, dt);
  auto* meta = static_cast<uint8_t*>(c->meta.raw_data());
  const auto* vals = static_cast<const Bits*>(c->values.raw_data());
  auto* d = static_cast<Bits*>(dense->raw_data());
  FastRng r(seed ^ 0xABCDEF);
  const int64_t mc = meta_cols(k);
  for (int64_t row = 0; row < n; ++row) {
    uint8_t* mrow = meta + row * mc;
    std::memset(mrow, 0, mc);
    for (int64_t g = 0; g < k / 4; ++g) {
      const uint8_t nib = kNibbles[static_cast<int>((r.uniform() + 1.0f) * 3.0f) % 6];
      mrow[g / 2] |= (g & 1) ? static_cast<uint8_t>(nib << 4) : nib;
      d[row * k + 4 * g + (nib & 3)] = vals[row * (k / 2) + 2 * g];
      d[row * k + 4 * g + ((nib >> 2) & 3)] = vals[row * (k / 2) + 2 * g + 1];
    }
  }
}
void random_weight(int64_t n, int64_t k, DType dt, uint64_t seed, Compressed24* c, Tensor* dense) {
  if (detail::is_8bit_value_dtype(dt))
    random_weight_as<uint8_t>(n, k, dt, seed, c, dense);
  else
    random_weight_as<uint16_t>(n, k, dt, seed, c, dense);
}

struct BufferSet {
  Tensor x, w_dense, y;
  Tensor residual;  // [m, n], for cases with a residual add
  Compressed24 w_logical;
  SparseWeight w;
};

// ---- errors -----------------------------------------------------------------------------------

void compare(const Tensor& y, const Tensor& ref, double* max_rel, double* rel_l2) {
  const Tensor a = y.to_f32_cpu(), b = ref.to_f32_cpu();
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  double max_diff = 0, max_ref = 0, num = 0, den = 0;
  bool nan = false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(pa[i]) || std::isnan(pb[i])) nan = true;
    const double d = double(pa[i]) - double(pb[i]);
    max_diff = std::max(max_diff, std::fabs(d));
    max_ref = std::max(max_ref, std::fabs(double(pb[i])));
    num += d * d;
    den += double(pb[i]) * pb[i];
  }
  *max_rel = nan ? INFINITY : (max_ref > 0 ? max_diff / max_ref : max_diff);
  *rel_l2 = nan ? INFINITY : (den > 0 ? std::sqrt(num / den) : std::sqrt(num));
}

// ---- measurement ------------------------------------------------------------------------------

struct Timed {
  double graph_ms = -1, event_ms = -1;
};

Timed measure(const bench::Launch& launch, Stream stream, int sets, double target_ms) {
  // A first estimate decides how many calls fill the measuring time.
  const bench::Stats probe = bench::time_events(launch, stream, 3, 5);
  const double t = std::max(probe.median_ms, 1e-3);
  Timed out;
  const int iters = static_cast<int>(std::clamp(target_ms / t, 10.0, 400.0));
  out.event_ms = bench::time_events(launch, stream, 5, iters).median_ms;
  const int per_graph = std::clamp(std::max(sets, static_cast<int>(1.0 / t)), 4, 64);
  const int graph_iters = static_cast<int>(std::clamp(target_ms / (t * per_graph), 5.0, 100.0));
  out.graph_ms = bench::time_graph(launch, stream, per_graph, 3, graph_iters).median_ms;
  return out;
}

double measure_copy_gbs(Stream stream) {
  const size_t bytes = size_t{1} << 30;
  Tensor a = Tensor::zeros({static_cast<int64_t>(bytes)}, DType::kU8, Device::cuda(0));
  Tensor b = Tensor::empty({static_cast<int64_t>(bytes)}, DType::kU8, Device::cuda(0));
  const bench::Stats s = bench::time_events(
      [&](int) {
        S24_CUDA_CHECK(cudaMemcpyAsync(b.raw_data(), a.raw_data(), bytes, cudaMemcpyDeviceToDevice,
                                       static_cast<cudaStream_t>(stream)));
      },
      stream, 2, 10);
  return 2.0 * bytes / (s.median_ms * 1e6);
}

std::string today() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d", std::gmtime(&now));
  return buf;
}

// Tuning: every configuration x split-K of the native kernel on one decode shape (graph time).
std::string tune_case(const Case& c, std::vector<BufferSet>& sets, const Tensor* bias,
                      Stream stream, detail::gemm::GemmPlan* best_plan) {
  using detail::gemm::GemmPlan;
  std::ostringstream js;
  js << "{\"tag\":\"" << c.tag << "\",\"dtype\":\"" << dtype_name(c.dtype) << "\",\"m\":" << c.m
     << ",\"n\":" << c.n << ",\"k\":" << c.k
     << ",\"activated\":" << (c.activation != Activation::kNone ? "true" : "false")
     << ",\"results\":[";
  bool first = true;
  double best = 1e30;
  std::string best_name;
  LinearOptions opt;
  opt.stream = stream;
  opt.activation = c.activation;
  // The candidates: every mma.sp configuration and split-K factor up to M = 512, where the
  // tiles alone may not fill the GPU (only the unsplit large-M configuration beyond that), and
  // on sm_90 every wgmma configuration.
  // 8-bit products have the wgmma configurations with an 8-bit depth only.
  const bool q8 = detail::is_8bit_value_dtype(c.dtype);
  std::vector<GemmPlan> plans;
  for (int cfg = 0; cfg < detail::gemm::kConfigCount && !q8; ++cfg) {
    if (detail::gemm::kConfigs[cfg].bm > 2 * std::max<int64_t>(c.m, 8) && cfg != 0) continue;
    for (int splits : {1, 2, 3, 4, 6, 8, 12, 16, 24, 32}) {
      if (c.m > 512 && (splits > 1 || cfg != detail::gemm::kN128M128)) continue;
      const GemmPlan plan = detail::gemm::normalize_plan(GemmPlan{cfg, splits}, c.k);
      if (plan.splits == splits) plans.push_back(plan);
    }
  }
  const detail::DeviceInfo& info = detail::device_info(0);
  if (info.cc_major == 9 && info.cc_minor == 0 && (c.m >= 64 || q8))
    for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg)
      if (!q8 || detail::gemm::kSm90Configs[cfg].stages_q8 > 0) plans.push_back(GemmPlan{cfg, 1, true});
  std::string listing;
  for (const GemmPlan& plan : plans) {
    auto launch = [&](int i) {
      BufferSet& s = sets[i % sets.size()];
      LinearOptions o = opt;
      if (c.residual) o.residual = &s.residual;
      detail::linear_cuda_hw(s.x, s.w.impl().hw, bias, s.y, o, &plan);
    };
    const int per_graph = std::max<int>(static_cast<int>(sets.size()), 8);
    const double ms = bench::time_graph(launch, stream, per_graph, 2, 15).median_ms;
    js << (first ? "" : ",") << "{\"plan\":\"" << detail::gemm::plan_name(plan)
       << "\",\"ms\":" << ms << "}";
    if (plan.wgmma || c.m > 128) listing += " " + detail::gemm::plan_name(plan) + " " + fmt_ms(ms);
    first = false;
    if (ms < best) {
      best = ms;
      best_name = detail::gemm::plan_name(plan);
      *best_plan = plan;
    }
  }
  const detail::gemm::GemmPlan chosen =
      detail::gemm::choose_plan_for(c.m, c.n, c.k, c.dtype, c.activation, Device::cuda(0));
  js << "],\"best\":\"" << best_name << "\",\"best_ms\":" << best << ",\"heuristic\":\""
     << detail::gemm::plan_name(chosen) << "\"}";
  std::printf("  tune %-20s %s M=%lld: best %s %.4f ms (heuristic %s)%s\n", c.tag.c_str(),
              dtype_name(c.dtype), static_cast<long long>(c.m), best_name.c_str(), best,
              detail::gemm::plan_name(chosen).c_str(), listing.c_str());
  std::fflush(stdout);
  return js.str();
}

int run_bench(const Args& args) {
  const std::string out_dir = args.get("--out", "bench_out");
  if (std::system(("mkdir -p '" + out_dir + "'").c_str()) != 0)
    throw UsageError("cannot create --out " + out_dir);
  const std::string filter = args.get("--filter", "");
  const bool quick = args.has("--quick");
  std::vector<Case> cases;
  const std::string spec = args.get("--shape", "");
  if (!spec.empty()) {
    long long m = 0, n = 0, k = 0;
    char rest[32] = "";
    const int got = std::sscanf(spec.c_str(), "%lld,%lld,%lld,%31s", &m, &n, &k, rest);
    if (got < 3 || m <= 0 || n <= 0 || k <= 0) throw UsageError("bad --shape '" + spec + "'");
    // Optional DTYPE, then optional "gelu" (BERT's fc1 epilogue), in either order.
    Case c{"custom", m, n, k, DType::kF16};
    std::string fields = got == 4 ? rest : "";
    while (!fields.empty()) {
      const size_t comma = fields.find(',');
      const std::string field = fields.substr(0, comma);
      fields = comma == std::string::npos ? "" : fields.substr(comma + 1);
      if (field == "gelu") {
        c.activation = Activation::kGeluErf;
        c.tag = "custom+gelu";
      } else {
        c.dtype = parse_dtype(field);
      }
    }
    cases.push_back(c);
  }
  if (cases.empty()) cases = default_cases(quick);
  cases = filtered(cases, filter);
  if (args.has("--count")) {
    std::printf("%zu\n", cases.size());
    return 0;
  }
  if (args.has("--case")) {
    const int64_t i = args.get_int("--case", 0, 0, static_cast<int64_t>(cases.size()) - 1);
    cases = {cases[static_cast<size_t>(i)]};
  }

  if (!cuda_available()) {
    std::fprintf(stderr, "sparse24 bench: no CUDA device is visible; the benchmark needs a GPU\n");
    return 2;
  }
  const detail::DeviceInfo& info = detail::device_info(0);
  if (info.cc_major < 8) {
    std::fprintf(stderr, "sparse24 bench: %s is sm_%d%d; the kernels need sm_80 or newer\n",
                 info.name.c_str(), info.cc_major, info.cc_minor);
    return 2;
  }
  const bool tune = args.has("--tune");
  const bool use_cslt = !args.has("--no-cusparselt") && detail::cslt::available();
  const double target_ms = static_cast<double>(args.get_int("--target-ms", 250, 10, 100000));

  bench::ScopedStream stream;
  BenchMeta meta;
  meta.gpu = info.name;
  meta.date = today();
  meta.sm_count = info.sm_count;
  meta.l2_mb = info.l2_bytes / 1048576.0;
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  meta.cuda_runtime = std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
  meta.cusparselt = use_cslt ? std::to_string(detail::cslt::version()) : "not in this run";
  meta.copy_gbs = measure_copy_gbs(stream.get());
  std::printf(
      "sparse24 bench on %s (%d SMs, L2 %.0f MB), CUDA runtime %s, cuSPARSELt %s, "
      "copy %.0f GB/s (read + write)\n",
      meta.gpu.c_str(), meta.sm_count, meta.l2_mb, meta.cuda_runtime.c_str(),
      meta.cusparselt.c_str(), meta.copy_gbs);
  std::fflush(stdout);

  std::vector<BenchRow> rows;
  std::vector<std::string> tuning;
  size_t free_bytes = 0, total_bytes = 0;
  S24_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  uint64_t seed = 1;

  // A row's identity: the case's tag, shape and short dtype name.
  auto row_for = [](const Case& c) {
    BenchRow row;
    row.tag = c.tag;
    row.m = c.m;
    row.n = c.n;
    row.k = c.k;
    row.dtype = short_dtype(c.dtype);
    return row;
  };
  // Buffer sets per row: enough that one pass over them moves >= 4x the L2 (call_bytes: the
  // smallest footprint of one call, the sparse one), within a third of the free device memory
  // (set_bytes: everything one set allocates).
  auto buffer_sets = [&](double call_bytes, double set_bytes) {
    int nsets = static_cast<int>(std::ceil(4.0 * info.l2_bytes / call_bytes));
    nsets = std::clamp(nsets, 2, 64);
    return std::min<int>(nsets, std::max<int>(1, static_cast<int>(free_bytes / 3 / set_bytes)));
  };
  // The cuSPARSELt cells of row r (called last in a row, so that a failing set-up there cannot
  // cost the cells above): check() writes one product into y_other, compared with y_dense;
  // call(i) runs buffer set i. Every set's plan is built before the timing.
  auto time_cusparselt = [&](BenchRow& r, int nsets, const Tensor& y_other, const Tensor& y_dense,
                             const auto& check, const auto& call) {
    check();
    bench::synchronize(stream.get());
    compare(y_other, y_dense, &r.cslt_max_rel, &r.cslt_rel_l2);
    for (int i = 0; i < nsets; ++i) call(i);
    bench::synchronize(stream.get());
    const auto t = measure(call, stream.get(), nsets, target_ms);
    r.cslt_ms = t.graph_ms;
    r.cslt_event_ms = t.event_ms;
    r.cslt_host_us = bench::host_us_per_call(call, stream.get(), 200);
  };

  // The 8-bit rows: plain products (no bias, alpha 1), Y F16 for the sparse products and the
  // e4m3 baseline; the int8 baseline is cuBLASLt's int32 product (its cheapest form; the full
  // int8 linear_dense to F16, the int32 product plus one epilogue pass, is dense_f16_ms). The
  // native sparse product goes through the public API (SparseWeight, linear_out): while it
  // throws (kUnsupported until the 8-bit kernel exists) its cells say "n/a (reason)".
  auto run_case_q8 = [&](const Case& c) {
    BenchRow row = row_for(c);
    const bool integer = c.dtype == DType::kI8;
    row.dense_note = integer ? "cuBLASLt I8 x I8 -> I32 product (no conversion)"
                             : std::string("cuBLASLt ") + dtype_name(c.dtype) + " x " +
                                   dtype_name(c.dtype) + " -> F16";
    // Per set: X, the dense W, the logical and the prepared sparse W, Y (F16) and for int8 the
    // I32 product; sets as for the 16-bit rows (one pass >= 4x the L2, within a third of the
    // free memory).
    const int nsets = buffer_sets(row.sparse_bytes(), double(c.m) * c.k + 2.3 * double(c.n) * c.k +
                                                       (integer ? 6.0 : 2.0) * double(c.m) * c.n);
    row.sets = nsets;

    Compressed24 w_cpu;
    Tensor dense_cpu;
    random_weight(c.n, c.k, c.dtype, seed++, &w_cpu, &dense_cpu);
    const Tensor x_cpu = random_matrix(c.m, c.k, c.dtype, seed++);
    std::vector<BufferSet> sets(nsets);
    std::vector<Tensor> y_i32(integer ? nsets : 0);
    for (int i = 0; i < nsets; ++i) {
      BufferSet& s = sets[i];
      s.x = x_cpu.to(Device::cuda(0));
      s.w_dense = dense_cpu.to(Device::cuda(0));
      s.w_logical = w_cpu.to(Device::cuda(0));
      s.y = Tensor::empty({c.m, c.n}, DType::kF16, Device::cuda(0));
      if (integer) y_i32[i] = Tensor::empty({c.m, c.n}, DType::kI32, Device::cuda(0));
    }
    bench::synchronize(stream.get());
    LinearOptions opt;
    opt.stream = stream.get();
    Tensor y_native = Tensor::empty({c.m, c.n}, DType::kF16, Device::cuda(0));
    Tensor y_dense = Tensor::empty({c.m, c.n}, DType::kF16, Device::cuda(0));
    Tensor y_other = Tensor::empty({c.m, c.n}, DType::kF16, Device::cuda(0));
    Timed t;

    // Native first (as for the 16-bit rows: a fault there must not cost what was measured).
    try {
      for (int i = 0; i < nsets; ++i)
        sets[i].w = SparseWeight(sets[i].w_logical, Backend::kNative, stream.get());
      auto native = [&](int i) {
        BufferSet& s = sets[i % nsets];
        linear_out(s.x, s.w, nullptr, s.y, opt);
      };
      linear_out(sets[0].x, sets[0].w, nullptr, y_native, opt);
      bench::synchronize(stream.get());
      try {
        row.native_plan = detail::gemm::plan_name(
            detail::gemm::choose_plan_for(c.m, c.n, c.k, c.dtype, c.activation, Device::cuda(0)));
      } catch (const Error&) {
        row.native_plan = "?";
      }
      t = measure(native, stream.get(), nsets, target_ms);
      row.native_ms = t.graph_ms;
      row.native_event_ms = t.event_ms;
      row.native_host_us = bench::host_us_per_call(native, stream.get(), 200);
      if (tune) {
        detail::gemm::GemmPlan best;
        tuning.push_back(tune_case(c, sets, nullptr, stream.get(), &best));
        auto tuned = [&](int i) {
          BufferSet& s = sets[i % nsets];
          detail::linear_cuda_hw(s.x, s.w.impl().hw, nullptr, s.y, opt, &best);
        };
        t = measure(tuned, stream.get(), nsets, target_ms);
        row.native_tuned_plan = detail::gemm::plan_name(best);
        row.native_tuned_ms = t.graph_ms;
        row.native_tuned_event_ms = t.event_ms;
      }
    } catch (const Error& e) {
      row.native_note = e.what();
      row.native_ms = row.native_event_ms = row.native_host_us = -1;
    }
    for (BufferSet& s : sets) s.w = SparseWeight();  // the prepared copies are not needed now
    rows.push_back(row);
    write_all(out_dir, meta, rows, tuning);

    // Dense: the F16 result (the error reference), then the baseline.
    detail::linear_dense_cuda(sets[0].x, sets[0].w_dense, nullptr, y_dense, opt);
    bench::synchronize(stream.get());
    if (row.native_note.empty())
      compare(y_native, y_dense, &row.native_max_rel, &row.native_rel_l2);
    auto dense_f16 = [&](int i) {
      BufferSet& s = sets[i % nsets];
      detail::linear_dense_cuda(s.x, s.w_dense, nullptr, s.y, opt);
    };
    auto dense_i32 = [&](int i) {
      BufferSet& s = sets[i % nsets];
      detail::cublaslt::linear_dense(s.x, s.w_dense, nullptr, y_i32[i % nsets], Activation::kNone,
                                     opt.stream);
    };
    if (integer) {
      dense_i32(0);
      bench::synchronize(stream.get());
      t = measure(dense_i32, stream.get(), nsets, target_ms);
      row.dense_host_us = bench::host_us_per_call(dense_i32, stream.get(), 200);
      row.dense_f16_ms = measure(dense_f16, stream.get(), nsets, target_ms).graph_ms;
    } else {
      t = measure(dense_f16, stream.get(), nsets, target_ms);
      row.dense_host_us = bench::host_us_per_call(dense_f16, stream.get(), 200);
    }
    row.dense_ms = t.graph_ms;
    row.dense_event_ms = t.event_ms;
    rows.back() = row;
    const std::string native_cell =
        row.native_note.empty() ? fmt_ms(row.native_ms) + " x" + fmt_x(row.dense_ms, row.native_ms)
                                : "n/a (" + row.native_note + ")";
    std::printf("%-22s %-4s M=%-6lld N=%-6lld K=%-6lld sets %-2d | dense %8s%s | native %s\n",
                row.tag.c_str(), row.dtype.c_str(), row.m, row.n, row.k, nsets,
                fmt_ms(row.dense_ms).c_str(),
                integer ? (" (i32; to F16 " + fmt_ms(row.dense_f16_ms) + ")").c_str() : "",
                native_cell.c_str());
    std::fflush(stdout);
    write_all(out_dir, meta, rows, tuning);

    if (use_cslt) {
      // cuSPARSELt 8-bit, called directly (the public kCuSparseLt path needs a SparseWeight,
      // i.e. the native hardware layout, which may not exist for 8-bit yet): its compressed
      // copy and plans are built here, outside the timing.
      BenchRow& r = rows.back();
      try {
        std::vector<std::shared_ptr<detail::cslt::PreparedWeight>> cw(nsets);
        for (int i = 0; i < nsets; ++i)
          cw[i] = detail::cslt::prepare(sets[i].w_logical, stream.get());
        bench::synchronize(stream.get());
        time_cusparselt(
            r, nsets, y_other, y_dense,
            [&] { detail::cslt::linear(sets[0].x, *cw[0], nullptr, y_other, opt); },
            [&](int i) {
              BufferSet& s = sets[i % nsets];
              detail::cslt::linear(s.x, *cw[i % nsets], nullptr, s.y, opt);
            });
      } catch (const Error& e) {
        r.cslt_note = e.what();
      }
      std::printf("%-22s %-4s cuSPARSELt %8s x%s (err %.1e) %s\n", r.tag.c_str(), r.dtype.c_str(),
                  fmt_ms(r.cslt_ms).c_str(), fmt_x(r.dense_ms, r.cslt_ms).c_str(), r.cslt_max_rel,
                  r.cslt_note.c_str());
      std::fflush(stdout);
      write_all(out_dir, meta, rows, tuning);
    }
  };

  auto run_case = [&](const Case& c) {
    BenchRow row = row_for(c);
    const int nsets =
        buffer_sets(row.sparse_bytes(),
                    row.dense_bytes() + 3.5 * c.n * c.k + (c.residual ? 4.0 : 2.0) * c.m * c.n);
    row.sets = nsets;

    Compressed24 w_cpu;
    Tensor dense_cpu;
    random_weight(c.n, c.k, c.dtype, seed++, &w_cpu, &dense_cpu);
    const Tensor x_cpu = random_matrix(c.m, c.k, c.dtype, seed++);
    const Tensor bias = random_matrix(1, c.n, c.dtype, seed++).view({c.n}).to(Device::cuda(0));
    std::vector<BufferSet> sets(nsets);
    for (int i = 0; i < nsets; ++i) {
      BufferSet& s = sets[i];
      s.x = x_cpu.to(Device::cuda(0));
      s.w_dense = dense_cpu.to(Device::cuda(0));
      s.w_logical = w_cpu.to(Device::cuda(0));
      s.y = Tensor::empty({c.m, c.n}, c.dtype, Device::cuda(0));
      s.w = SparseWeight(s.w_logical, Backend::kNative, stream.get());
    }
    if (c.residual) {
      const Tensor residual_cpu = random_matrix(c.m, c.n, c.dtype, seed++);
      for (BufferSet& s : sets) s.residual = residual_cpu.to(Device::cuda(0));
    }
    bench::synchronize(stream.get());
    LinearOptions native_opt, dense_opt, cslt_opt;
    native_opt.stream = dense_opt.stream = cslt_opt.stream = stream.get();
    native_opt.backend = Backend::kNative;
    cslt_opt.backend = Backend::kCuSparseLt;
    native_opt.activation = dense_opt.activation = cslt_opt.activation = c.activation;
    // The options of one call on set s (its own residual tensor when the case has one).
    auto with_residual = [&](const LinearOptions& o, BufferSet& s) {
      LinearOptions r = o;
      if (c.residual) r.residual = &s.residual;
      return r;
    };
    auto native = [&](int i) {
      BufferSet& s = sets[i % nsets];
      linear_out(s.x, s.w, &bias, s.y, with_residual(native_opt, s));
    };
    auto dense = [&](int i) {
      BufferSet& s = sets[i % nsets];
      detail::linear_dense_cuda(s.x, s.w_dense, &bias, s.y, with_residual(dense_opt, s));
    };
    row.native_plan = detail::gemm::plan_name(
        detail::gemm::choose_plan_for(c.m, c.n, c.k, c.dtype, c.activation, Device::cuda(0)));

    // Native first, written out before the dense baseline runs: a library kernel that faults
    // poisons the CUDA context, and a row should keep whatever was measured before that.
    Tensor y_native = Tensor::empty({c.m, c.n}, c.dtype, Device::cuda(0));
    Tensor y_dense = Tensor::empty({c.m, c.n}, c.dtype, Device::cuda(0));
    Tensor y_other = Tensor::empty({c.m, c.n}, c.dtype, Device::cuda(0));
    linear_out(sets[0].x, sets[0].w, &bias, y_native, with_residual(native_opt, sets[0]));
    bench::synchronize(stream.get());
    Timed t = measure(native, stream.get(), nsets, target_ms);
    row.native_ms = t.graph_ms;
    row.native_event_ms = t.event_ms;
    row.native_host_us = bench::host_us_per_call(native, stream.get(), 200);
    rows.push_back(row);
    write_all(out_dir, meta, rows, tuning);

    detail::linear_dense_cuda(sets[0].x, sets[0].w_dense, &bias, y_dense,
                              with_residual(dense_opt, sets[0]));
    bench::synchronize(stream.get());
    compare(y_native, y_dense, &row.native_max_rel, &row.native_rel_l2);
    t = measure(dense, stream.get(), nsets, target_ms);
    row.dense_ms = t.graph_ms;
    row.dense_event_ms = t.event_ms;
    row.dense_host_us = bench::host_us_per_call(dense, stream.get(), 200);
    rows.back() = row;
    std::printf(
        "%-20s %-4s M=%-6lld N=%-6lld K=%-6lld sets %-2d | dense %8s | native %8s x%s "
        "(%s, %.0f GB/s, err %.1e, host %.1f us)\n",
        row.tag.c_str(), row.dtype.c_str(), row.m, row.n, row.k, nsets,
        fmt_ms(row.dense_ms).c_str(), fmt_ms(row.native_ms).c_str(),
        fmt_x(row.dense_ms, row.native_ms).c_str(), row.native_plan.c_str(),
        row.sparse_bytes() / (row.native_ms * 1e6), row.native_max_rel, row.native_host_us);
    std::fflush(stdout);
    write_all(out_dir, meta, rows, tuning);  // the dense / native numbers are safe from here on

    if (tune) {
      detail::gemm::GemmPlan best;
      tuning.push_back(tune_case(c, sets, &bias, stream.get(), &best));
      auto tuned = [&](int i) {
        BufferSet& s = sets[i % nsets];
        detail::linear_cuda_hw(s.x, s.w.impl().hw, &bias, s.y, with_residual(native_opt, s),
                               &best);
      };
      t = measure(tuned, stream.get(), nsets, target_ms);
      rows.back().native_tuned_plan = detail::gemm::plan_name(best);
      rows.back().native_tuned_ms = t.graph_ms;
      rows.back().native_tuned_event_ms = t.event_ms;
      std::printf("%-20s %-4s tuned native %8s x%s (%s)\n", row.tag.c_str(), row.dtype.c_str(),
                  fmt_ms(t.graph_ms).c_str(), fmt_x(row.dense_ms, t.graph_ms).c_str(),
                  rows.back().native_tuned_plan.c_str());
      std::fflush(stdout);
      write_all(out_dir, meta, rows, tuning);
    }

    if (use_cslt) {
      // cuSPARSELt last: its set-up (compression, plan search) runs only now, so that a failure
      // there cannot cost the rows above.
      BenchRow& r = rows.back();
      try {
        std::vector<SparseWeight> cw(nsets);
        for (int i = 0; i < nsets; ++i)
          cw[i] = SparseWeight(sets[i].w_logical, Backend::kCuSparseLt, stream.get());
        bench::synchronize(stream.get());
        time_cusparselt(
            r, nsets, y_other, y_dense,
            [&] { linear_out(sets[0].x, cw[0], &bias, y_other, with_residual(cslt_opt, sets[0])); },
            [&](int i) {
              BufferSet& s = sets[i % nsets];
              linear_out(s.x, cw[i % nsets], &bias, s.y, with_residual(cslt_opt, s));
            });
      } catch (const Error& e) {
        r.cslt_note = e.what();
      }
      std::printf("%-20s %-4s cuSPARSELt %8s x%s %s\n", r.tag.c_str(), r.dtype.c_str(),
                  fmt_ms(r.cslt_ms).c_str(), fmt_x(r.dense_ms, r.cslt_ms).c_str(),
                  r.cslt_note.c_str());
      std::fflush(stdout);
      write_all(out_dir, meta, rows, tuning);
    }
  };

  for (const Case& c : cases) {
    try {
      if (detail::is_8bit_value_dtype(c.dtype))
        run_case_q8(c);
      else
        run_case(c);
    } catch (const Error& e) {
      // One failing shape must not lose the rest of the sweep.
      std::printf("%-20s M=%lld N=%lld K=%lld: FAILED: %s\n", c.tag.c_str(),
                  static_cast<long long>(c.m), static_cast<long long>(c.n),
                  static_cast<long long>(c.k), e.what());
      std::fflush(stdout);
    }
  }
  write_all(out_dir, meta, rows, tuning);
  print_table(meta, rows);
  std::printf("wrote %s/bench.json, bench.csv, bench_speedup.svg\n", out_dir.c_str());
  write_plan_table(args, meta, tuning);
  return 0;
}

#endif  // S24_WITH_CUDA

}  // namespace

int cmd_bench(int argc, char** argv) {
  return run_command("bench", [&]() -> int {
    const Args args(argc, argv,
                    {"--out", "--filter", "--shape", "--target-ms", "--case", "--plan-table"},
                    {"--quick", "--tune", "--no-cusparselt", "--count", "--merge"});
    if (args.help()) {
      std::fputs(kHelp, stdout);
      return 0;
    }
    if (args.has("--merge")) {
      const std::string out_dir = args.get("--out", "bench_out");
      if (std::system(("mkdir -p '" + out_dir + "'").c_str()) != 0)
        throw UsageError("cannot create --out " + out_dir);
      return merge_reports(args, out_dir);
    }
    if (args.has("--count")) {  // (after --filter, so that --case indexes the filtered rows)
      std::printf("%zu\n",
                  filtered(default_cases(args.has("--quick")), args.get("--filter", "")).size());
      return 0;
    }
#if S24_WITH_CUDA
    return run_bench(args);
#else
    std::fprintf(stderr,
                 "sparse24 bench: this build has no CUDA support. The benchmark needs a CUDA "
                 "build (configure where nvcc is found) and an NVIDIA GPU of sm_80 or newer.\n");
    return 2;
#endif
  });
}

}  // namespace s24::cli

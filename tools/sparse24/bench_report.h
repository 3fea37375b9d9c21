// The `sparse24 bench` report: one row per (shape, dtype), written as JSON, CSV and an SVG chart of
// speedup over dense against the shape. Plain C++ (no CUDA), so it builds everywhere.
#pragma once

#include <string>
#include <vector>

namespace s24::cli {

struct BenchRow {
  std::string tag;  // e.g. "llama8b-up T16"; the 8-bit rows start with "q8_"
  long long m = 0, n = 0, k = 0;
  std::string dtype;  // f16, bf16; 8-bit rows: e4m3, i8 (operands; the sparse products write F16)
  int sets = 0;             // rotated buffer sets
  std::string native_plan;  // tile configuration / split-K
  // Kernel time per call in ms: CUDA-graph replay (primary) and per-call events. < 0: not run.
  double dense_ms = -1, native_ms = -1, cslt_ms = -1;
  double dense_event_ms = -1, native_event_ms = -1, cslt_event_ms = -1;
  // --tune: the fastest tile configuration / split-K measured for this shape in the same run.
  std::string native_tuned_plan;
  double native_tuned_ms = -1, native_tuned_event_ms = -1;
  // Host time per call (us) of the native public linear_out, and of the baselines.
  double native_host_us = -1, dense_host_us = -1, cslt_host_us = -1;
  // Versus the dense result: max |y - y_dense| / max |y_dense| and ||y - y_dense|| / ||y_dense||.
  double native_max_rel = -1, native_rel_l2 = -1, cslt_max_rel = -1, cslt_rel_l2 = -1;
  std::string cslt_note;  // why cuSPARSELt did not run, if it did not
  // 8-bit rows: why the native sparse product did not run (printed "n/a (reason)"), what the
  // dense baseline measured, and for int8 the full dense linear_dense to F16 (the int32 product
  // plus the epilogue pass; the baseline itself is the int32 product alone).
  std::string native_note, dense_note;
  double dense_f16_ms = -1;

  double flops() const { return 2.0 * m * n * k; }  // dense-equivalent
  bool is_8bit() const;                             // dtype e4m3, e5m2 or i8
  // Bytes each product moves, each operand once. 16-bit: X + W + Y + bias (sparse: W's values
  // and metadata, 1.125 W). 8-bit (no bias): X + W + Y with 1-byte X and W, Y F16 (the dense
  // int8 baseline: I32); sparse W 0.625 bytes per dense element.
  double dense_bytes() const;
  double sparse_bytes() const;
};

struct BenchMeta {
  std::string gpu, date, cuda_runtime, cusparselt;
  int sm_count = 0;
  double l2_mb = 0;
  double copy_gbs = 0;  // measured device-to-device copy, bytes read + written per second
  std::string notes;
};

// `tuning`: JSON texts of the --tune results (one object per shape), stored under "tuning".
void write_bench_json(const std::string& path, const BenchMeta& meta,
                      const std::vector<BenchRow>& rows, const std::vector<std::string>& tuning);
// Reads what write_bench_json wrote (for merging the per-row runs of one sweep).
void read_bench_json(const std::string& path, BenchMeta* meta, std::vector<BenchRow>* rows,
                     std::vector<std::string>* tuning);
void write_bench_csv(const std::string& path, const std::vector<BenchRow>& rows);
void write_bench_svg(const std::string& path, const BenchMeta& meta,
                     const std::vector<BenchRow>& rows);

}  // namespace s24::cli

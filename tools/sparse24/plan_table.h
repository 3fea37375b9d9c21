// The writer of src/cuda/gemm/sm90_plan_table_{h100,h200}.inc from `sparse24 bench --tune`
// results: for each tuned shape the fastest sm_90a tile configuration, as rows of the
// dispatcher's table (src/cuda/gemm/sm90_plan_table.h explains how rows are read).
#pragma once

#include <string>
#include <vector>

namespace s24::cli {

// `tuning`: the JSON objects that --tune stores under "tuning" in bench.json (tag, dtype, m, n, k,
// activated, results [{plan, ms}]). Only the wgmma configurations' times count. Shapes with the
// same (operand width, activated, M, N, K) are pooled (f16 and bf16): the configuration with the
// lowest sum of time / best time wins, except that one listed earlier in kSm90Configs takes the
// cell when its sum is within 2% of the lowest (wins that small are noise). A class (width, with
// or without an activation) with no tuned shape keeps the rows of the compiled-in table of `gpu`'s
// class (H100 or H200, sm90_plan_table.h); the header comment names that table's file.
// `provenance` goes into the header comment too (the GPU, the date). Throws s24::Error on
// malformed input.
std::string sm90_plan_table_from_tuning(const std::vector<std::string>& tuning,
                                        const std::string& gpu, const std::string& provenance);

}  // namespace s24::cli

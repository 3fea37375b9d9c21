#include "sparse24/plan_table.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <sstream>
#include <tuple>

#include "core/check.h"
#include "core/json.h"
#include "cuda/gemm/sm90_plan_table.h"

namespace s24::cli {
namespace {

using s24::Json;
using detail::gemm::kSm90PlanTable;
using detail::gemm::sm90_config_index;

int operand_bits(const std::string& dtype) {
  if (dtype == "F16" || dtype == "BF16") return 16;
  if (dtype == "F8_E4M3" || dtype == "F8_E5M2" || dtype == "I8") return 8;
  S24_THROW(ErrorCode::kInvalidArgument, "tuning result with unknown dtype '", dtype, "'");
}

struct Row {
  int bits;
  int64_t max_m, max_k;
  std::string config;
};

// A cell's configuration: among those within kTieMargin of the fastest pooled score, the one
// listed first in kSm90Configs (cooperative tiles, then ping-pong, then clustered: the later
// ones have more launch constraints). A 1-2% difference is inside the bench's call-to-call
// spread; a table regenerated on such wins chose clustered tiles on 10 rows and ran BERT-base
// 2-6% slower end to end (bench/NOTES.md, session 5).
constexpr double kTieMargin = 0.02;

std::string choose_config(const std::map<std::string, double>& cell) {
  double fastest = cell.begin()->second;
  for (const auto& [plan, score] : cell) fastest = std::min(fastest, score);
  std::string choice;
  int choice_index = detail::gemm::kSm90ConfigCount;
  for (const auto& [plan, score] : cell) {
    const int index = sm90_config_index(plan.c_str());
    if (score <= fastest * (1 + kTieMargin) && index < choice_index) {
      choice = plan;
      choice_index = index;
    }
  }
  return choice;
}

}  // namespace

std::string sm90_plan_table_from_tuning(const std::vector<std::string>& tuning,
                                        const std::string& provenance) {
  // (bits, m, k) -> configuration -> sum over pooled shapes of time / that shape's best time.
  std::map<std::tuple<int, int64_t, int64_t>, std::map<std::string, double>> cells;
  std::map<std::tuple<int, int64_t, int64_t>, int> shapes_in_cell;
  for (const std::string& text : tuning) {
    const Json o = Json::parse(text, "bench tuning result");
    const int bits = operand_bits(o.at("dtype").as_string());
    const auto key = std::make_tuple(bits, o.at("m").as_int64(), o.at("k").as_int64());
    std::map<std::string, double> times;
    double best = 0;
    for (const Json& r : o.at("results").as_array()) {
      const std::string plan = r.at("plan").as_string();
      const int c = sm90_config_index(plan.c_str());
      if (c < 0) continue;  // an mma.sp plan
      if (bits == 8 && detail::gemm::kSm90Configs[c].stages_q8 == 0) continue;
      const double ms = r.at("ms").as_number();
      if (!(ms > 0)) continue;
      times[plan] = ms;
      best = best > 0 ? std::min(best, ms) : ms;
    }
    if (times.empty()) continue;
    // A configuration missing from one pooled shape cannot win the cell.
    auto& cell = cells[key];
    const int seen = shapes_in_cell[key]++;
    for (auto it = cell.begin(); it != cell.end();)
      it = times.count(it->first) ? std::next(it) : cell.erase(it);
    for (const auto& [plan, ms] : times)
      if (seen == 0 || cell.count(plan)) cell[plan] += ms / best;
  }

  std::vector<Row> rows;
  for (int bits : {16, 8}) {
    std::vector<Row> mine;
    for (const auto& [key, cell] : cells) {
      if (std::get<0>(key) != bits || cell.empty()) continue;
      mine.push_back({bits, std::get<1>(key), std::get<2>(key), choose_config(cell)});
    }
    if (mine.empty()) {  // keep the compiled-in rows of this width
      for (const auto& r : kSm90PlanTable)
        if (r.operand_bits == bits) rows.push_back({bits, r.max_m, r.max_k, r.config});
      continue;
    }
    // cells iterate in (m, k) order. The largest tuned K of each M serves every larger K at that
    // M (a decode-sized M keeps its small tiles however long K is), and the largest tuned cell's
    // configuration everything beyond the tuned M range.
    for (size_t i = 0; i < mine.size(); ++i)
      if (i + 1 == mine.size() || mine[i + 1].max_m != mine[i].max_m) mine[i].max_k = -1;
    // A row is redundant when the row after it covers its bounds with the same configuration
    // (every shape it matches would match that one next).
    mine.push_back({bits, -1, -1, mine.back().config});
    auto covers = [](const Row& next, const Row& r) {
      const bool m_ok = next.max_m < 0 || (r.max_m >= 0 && next.max_m >= r.max_m);
      const bool k_ok = next.max_k < 0 || (r.max_k >= 0 && next.max_k >= r.max_k);
      return m_ok && k_ok && next.config == r.config;
    };
    std::vector<Row> kept{mine.back()};
    for (size_t i = mine.size() - 1; i-- > 0;)
      if (!covers(kept.back(), mine[i])) kept.push_back(mine[i]);
    std::reverse(kept.begin(), kept.end());
    rows.insert(rows.end(), kept.begin(), kept.end());
  }

  std::ostringstream out;
  out << "// The sm_90a tile table (sm90_plan_table.h), written by `sparse24 bench --tune "
         "--plan-table`\n// from "
      << tuning.size() << " tuned shape(s); " << provenance << ".\n"
      << "// bits  max_m  max_k  configuration\n";
  for (const Row& r : rows)
    out << "{" << r.bits << ", " << r.max_m << ", " << r.max_k << ", \"" << r.config << "\"},\n";
  return out.str();
}

}  // namespace s24::cli

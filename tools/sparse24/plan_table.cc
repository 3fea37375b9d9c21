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
using detail::gemm::sm90_config_index;

int operand_bits(const std::string& dtype) {
  if (dtype == "F16" || dtype == "BF16") return 16;
  if (dtype == "F8_E4M3" || dtype == "F8_E5M2" || dtype == "I8") return 8;
  S24_THROW(ErrorCode::kInvalidArgument, "tuning result with unknown dtype '", dtype, "'");
}

struct Row {
  int bits;
  bool activated;
  int64_t max_m, max_n, max_k;
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
                                        const std::string& gpu, const std::string& provenance) {
  const detail::gemm::Sm90TableClass table_class = detail::gemm::sm90_table_class(gpu);
  const detail::gemm::Sm90PlanTable compiled_in = detail::gemm::sm90_plan_table(table_class);
  // (bits, activated, m, n, k) -> configuration -> sum over pooled shapes of time / that
  // shape's best time.
  using Key = std::tuple<int, bool, int64_t, int64_t, int64_t>;
  std::map<Key, std::map<std::string, double>> cells;
  std::map<Key, int> shapes_in_cell;
  for (const std::string& text : tuning) {
    const Json o = Json::parse(text, "bench tuning result");
    const int bits = operand_bits(o.at("dtype").as_string());
    // Results written before the activation key have none: bias-only products.
    const Json* activated = o.find("activated");
    const Key key{bits, activated != nullptr && activated->as_bool(), o.at("m").as_int64(),
                  o.at("n").as_int64(), o.at("k").as_int64()};
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

  // A row is redundant when the row after it covers its bounds with the same configuration
  // (every shape it matches would match that one next).
  auto covers = [](const Row& next, const Row& r) {
    auto bound_ok = [](int64_t next_max, int64_t max) {
      return next_max < 0 || (max >= 0 && next_max >= max);
    };
    return bound_ok(next.max_m, r.max_m) && bound_ok(next.max_n, r.max_n) &&
           bound_ok(next.max_k, r.max_k) && next.config == r.config;
  };
  // One class (an operand width, with or without an activation) from its tuned cells.
  auto class_rows = [&](int bits, bool activated) {
    std::vector<Row> mine;
    for (const auto& [key, cell] : cells) {
      const auto& [b, a, m, n, k] = key;
      if (b == bits && a == activated && !cell.empty())
        mine.push_back({bits, activated, m, n, k, choose_config(cell)});
    }
    if (mine.empty()) return mine;
    // cells iterate in (m, n, k) order. The largest tuned K of each (M, N) serves every larger K
    // there, and the largest tuned N of each M every larger N (a decode-sized M keeps its small
    // tiles however large the weight).
    const size_t count = mine.size();
    auto same_m = [&](size_t i, size_t j) { return j < count && mine[j].max_m == mine[i].max_m; };
    std::vector<int64_t> last_n(count);  // the largest tuned N at each row's M
    for (size_t i = count; i-- > 0;) last_n[i] = same_m(i, i + 1) ? last_n[i + 1] : mine[i].max_n;
    for (size_t i = 0; i < count; ++i) {
      if (!same_m(i, i + 1) || mine[i + 1].max_n != mine[i].max_n) mine[i].max_k = -1;
      if (mine[i].max_n == last_n[i]) mine[i].max_n = -1;
    }
    // The general rows end with the largest tuned cell's configuration for everything beyond the
    // tuned M range; activated rows stop there and leave larger M to the general rows.
    if (!activated) mine.push_back({bits, false, -1, -1, -1, mine.back().config});
    std::vector<Row> kept{mine.back()};
    for (size_t i = mine.size() - 1; i-- > 0;)
      if (!covers(kept.back(), mine[i])) kept.push_back(mine[i]);
    std::reverse(kept.begin(), kept.end());
    return kept;
  };
  std::vector<Row> rows;
  for (int bits : {16, 8}) {
    std::vector<Row> activated = class_rows(bits, true);
    std::vector<Row> general = class_rows(bits, false);
    // A class with no tuned shape keeps the compiled-in table's rows of that class.
    for (bool act : {true, false}) {
      std::vector<Row>& mine = act ? activated : general;
      if (!mine.empty()) continue;
      for (const auto* r = compiled_in.first; r != compiled_in.last; ++r)
        if (r->operand_bits == bits && r->activated == act)
          mine.push_back({bits, act, r->max_m, r->max_n, r->max_k, r->config});
    }
    rows.insert(rows.end(), activated.begin(), activated.end());
    rows.insert(rows.end(), general.begin(), general.end());
  }

  std::ostringstream out;
  out << "// The sm_90a tile table for " << detail::gemm::sm90_table_file(table_class)
      << " (sm90_plan_table.h), written by\n// `sparse24 bench --tune --plan-table` from "
      << tuning.size() << " tuned shape(s);\n// " << provenance << ".\n"
      << "// bits  activated  max_m  max_n  max_k  configuration\n";
  for (const Row& r : rows)
    out << "{" << r.bits << ", " << (r.activated ? "true" : "false") << ", " << r.max_m << ", "
        << r.max_n << ", " << r.max_k << ", \"" << r.config << "\"},\n";
  return out.str();
}

}  // namespace s24::cli

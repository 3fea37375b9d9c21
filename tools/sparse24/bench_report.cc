#include "sparse24/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/json.h"

namespace s24::cli {
namespace {

constexpr double kElem = 2.0;  // bytes per f16 / bf16 element

std::ofstream open_out(const std::string& path) {
  std::ofstream f(path);
  S24_CHECK(f.good(), ErrorCode::kIo, "cannot write ", path);
  return f;
}

Json num_or_null(double v) { return v < 0 ? Json() : Json::number(v); }

std::string csv_num(double v) {
  if (v < 0) return "";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// A CSV field: quoted (quotes doubled, line breaks as spaces) when it holds a delimiter.
std::string csv_text(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) {
    if (c == '"')
      o += "\"\"";
    else if (c == '\n' || c == '\r')
      o += ' ';
    else
      o += c;
  }
  return o + "\"";
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

}  // namespace

bool BenchRow::is_8bit() const { return dtype == "e4m3" || dtype == "e5m2" || dtype == "i8"; }

double BenchRow::dense_bytes() const {
  if (is_8bit())
    return double(m) * k + double(n) * k + (dtype == "i8" ? 4.0 : 2.0) * double(m) * n;
  return kElem * (double(m) * k + double(n) * k + double(m) * n + n);
}
double BenchRow::sparse_bytes() const {
  if (is_8bit()) return double(m) * k + 0.625 * double(n) * k + 2.0 * double(m) * n;
  return kElem * (double(m) * k + double(m) * n + n) + 1.125 * double(n) * k;
}

namespace {

Json row_to_json(const BenchRow& r) {
  Json::Object o;
  o["tag"] = Json::string(r.tag);
  o["m"] = Json::integer(r.m);
  o["n"] = Json::integer(r.n);
  o["k"] = Json::integer(r.k);
  o["dtype"] = Json::string(r.dtype);
  o["sets"] = Json::integer(r.sets);
  o["native_plan"] = Json::string(r.native_plan);
  o["dense_ms"] = num_or_null(r.dense_ms);
  o["native_ms"] = num_or_null(r.native_ms);
  o["cslt_ms"] = num_or_null(r.cslt_ms);
  o["dense_event_ms"] = num_or_null(r.dense_event_ms);
  o["native_event_ms"] = num_or_null(r.native_event_ms);
  o["cslt_event_ms"] = num_or_null(r.cslt_event_ms);
  if (!r.native_tuned_plan.empty()) {
    o["native_tuned_plan"] = Json::string(r.native_tuned_plan);
    o["native_tuned_ms"] = num_or_null(r.native_tuned_ms);
    o["native_tuned_event_ms"] = num_or_null(r.native_tuned_event_ms);
  }
  o["native_host_us"] = num_or_null(r.native_host_us);
  o["dense_host_us"] = num_or_null(r.dense_host_us);
  o["cslt_host_us"] = num_or_null(r.cslt_host_us);
  o["native_max_rel_err"] = num_or_null(r.native_max_rel);
  o["native_rel_l2_err"] = num_or_null(r.native_rel_l2);
  o["cslt_max_rel_err"] = num_or_null(r.cslt_max_rel);
  o["cslt_rel_l2_err"] = num_or_null(r.cslt_rel_l2);
  if (!r.cslt_note.empty()) o["cslt_note"] = Json::string(r.cslt_note);
  if (!r.native_note.empty()) o["native_note"] = Json::string(r.native_note);
  if (!r.dense_note.empty()) o["dense_note"] = Json::string(r.dense_note);
  if (r.dense_f16_ms > 0) o["dense_f16_ms"] = Json::number(r.dense_f16_ms);
  // Derived columns, for readers of the file (recomputed from the fields above on reading).
  if (r.dense_ms > 0 && r.native_ms > 0)
    o["native_speedup"] = Json::number(r.dense_ms / r.native_ms);
  if (r.dense_ms > 0 && r.cslt_ms > 0) o["cslt_speedup"] = Json::number(r.dense_ms / r.cslt_ms);
  // The time ratios sparse / dense as well (< 1: the sparse product is faster).
  if (r.dense_ms > 0 && r.native_ms > 0)
    o["native_over_dense"] = Json::number(r.native_ms / r.dense_ms);
  if (r.dense_ms > 0 && r.cslt_ms > 0) o["cslt_over_dense"] = Json::number(r.cslt_ms / r.dense_ms);
  if (r.native_ms > 0) {
    o["native_tflops"] = Json::number(r.flops() / (r.native_ms * 1e9));
    o["native_gbs"] = Json::number(r.sparse_bytes() / (r.native_ms * 1e6));
  }
  if (r.dense_ms > 0) {
    o["dense_tflops"] = Json::number(r.flops() / (r.dense_ms * 1e9));
    o["dense_gbs"] = Json::number(r.dense_bytes() / (r.dense_ms * 1e6));
  }
  if (r.cslt_ms > 0) {
    o["cslt_tflops"] = Json::number(r.flops() / (r.cslt_ms * 1e9));
    o["cslt_gbs"] = Json::number(r.sparse_bytes() / (r.cslt_ms * 1e6));
  }
  return Json::object(std::move(o));
}

double num_of(const Json& o, const char* key) {
  const Json* v = o.find(key);
  return (v && v->is_number()) ? v->as_number() : -1.0;
}

BenchRow row_from_json(const Json& o) {
  BenchRow r;
  r.tag = o.get_string("tag", "");
  r.m = o.get_int64("m", 0);
  r.n = o.get_int64("n", 0);
  r.k = o.get_int64("k", 0);
  r.dtype = o.get_string("dtype", "");
  r.sets = static_cast<int>(o.get_int64("sets", 0));
  r.native_plan = o.get_string("native_plan", "");
  r.dense_ms = num_of(o, "dense_ms");
  r.native_ms = num_of(o, "native_ms");
  r.cslt_ms = num_of(o, "cslt_ms");
  r.dense_event_ms = num_of(o, "dense_event_ms");
  r.native_event_ms = num_of(o, "native_event_ms");
  r.cslt_event_ms = num_of(o, "cslt_event_ms");
  r.native_tuned_plan = o.get_string("native_tuned_plan", "");
  r.native_tuned_ms = num_of(o, "native_tuned_ms");
  r.native_tuned_event_ms = num_of(o, "native_tuned_event_ms");
  r.native_host_us = num_of(o, "native_host_us");
  r.dense_host_us = num_of(o, "dense_host_us");
  r.cslt_host_us = num_of(o, "cslt_host_us");
  r.native_max_rel = num_of(o, "native_max_rel_err");
  r.native_rel_l2 = num_of(o, "native_rel_l2_err");
  r.cslt_max_rel = num_of(o, "cslt_max_rel_err");
  r.cslt_rel_l2 = num_of(o, "cslt_rel_l2_err");
  r.cslt_note = o.get_string("cslt_note", "");
  r.native_note = o.get_string("native_note", "");
  r.dense_note = o.get_string("dense_note", "");
  r.dense_f16_ms = num_of(o, "dense_f16_ms");
  return r;
}

}  // namespace

void write_bench_json(const std::string& path, const BenchMeta& meta,
                      const std::vector<BenchRow>& rows, const std::vector<std::string>& tuning) {
  Json::Object top;
  top["gpu"] = Json::string(meta.gpu);
  top["date"] = Json::string(meta.date);
  top["cuda_runtime"] = Json::string(meta.cuda_runtime);
  top["cusparselt"] = Json::string(meta.cusparselt);
  top["sm_count"] = Json::integer(meta.sm_count);
  top["l2_mb"] = Json::number(meta.l2_mb);
  top["copy_gbs"] = Json::number(meta.copy_gbs);
  top["notes"] = Json::string(meta.notes);
  top["time_unit"] = Json::string(
      "ms per call, median; *_ms = CUDA-graph replay, *_event_ms = per-call CUDA events");
  Json::Array arr;
  for (const BenchRow& r : rows) arr.push_back(row_to_json(r));
  top["rows"] = Json::array(std::move(arr));
  Json::Array tune;
  for (const std::string& t : tuning) tune.push_back(Json::parse(t, "bench tuning"));
  top["tuning"] = Json::array(std::move(tune));
  auto f = open_out(path);
  f << Json::object(std::move(top)).dump() << "\n";
}

void read_bench_json(const std::string& path, BenchMeta* meta, std::vector<BenchRow>* rows,
                     std::vector<std::string>* tuning) {
  std::ifstream f(path);
  S24_CHECK(f.good(), ErrorCode::kIo, "cannot read ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  const Json top = Json::parse(ss.str(), path);
  meta->gpu = top.get_string("gpu", "");
  meta->date = top.get_string("date", "");
  meta->cuda_runtime = top.get_string("cuda_runtime", "");
  meta->cusparselt = top.get_string("cusparselt", "");
  meta->sm_count = static_cast<int>(top.get_int64("sm_count", 0));
  meta->l2_mb = top.get_number("l2_mb", 0);
  meta->copy_gbs = top.get_number("copy_gbs", 0);
  meta->notes = top.get_string("notes", "");
  if (const Json* r = top.find("rows"))
    for (const Json& o : r->as_array()) rows->push_back(row_from_json(o));
  if (const Json* t = top.find("tuning"))
    for (const Json& o : t->as_array()) tuning->push_back(o.dump());
}

void write_bench_csv(const std::string& path, const std::vector<BenchRow>& rows) {
  auto f = open_out(path);
  f << "tag,m,n,k,dtype,sets,native_plan,dense_ms,native_ms,cslt_ms,dense_event_ms,"
       "native_event_ms,cslt_event_ms,native_speedup,cslt_speedup,native_vs_cslt,dense_tflops,"
       "native_tflops,cslt_tflops,dense_gbs,native_gbs,cslt_gbs,native_max_rel_err,"
       "native_rel_l2_err,cslt_max_rel_err,cslt_rel_l2_err,native_host_us,dense_host_us,"
       "cslt_host_us,native_tuned_plan,native_tuned_ms,native_tuned_speedup,native_over_dense,"
       "cslt_over_dense,dense_f16_ms,native_note,dense_note,cslt_note\n";
  for (const BenchRow& r : rows) {
    auto ratio = [](double a, double b) { return (a > 0 && b > 0) ? a / b : -1.0; };
    auto rate = [](double work, double ms, double unit) {
      return ms > 0 ? work / (ms * unit) : -1.0;
    };
    f << r.tag << "," << r.m << "," << r.n << "," << r.k << "," << r.dtype << "," << r.sets << ","
      << r.native_plan << "," << csv_num(r.dense_ms) << "," << csv_num(r.native_ms) << ","
      << csv_num(r.cslt_ms) << "," << csv_num(r.dense_event_ms) << "," << csv_num(r.native_event_ms)
      << "," << csv_num(r.cslt_event_ms) << "," << csv_num(ratio(r.dense_ms, r.native_ms)) << ","
      << csv_num(ratio(r.dense_ms, r.cslt_ms)) << "," << csv_num(ratio(r.cslt_ms, r.native_ms))
      << "," << csv_num(rate(r.flops(), r.dense_ms, 1e9)) << ","
      << csv_num(rate(r.flops(), r.native_ms, 1e9)) << ","
      << csv_num(rate(r.flops(), r.cslt_ms, 1e9)) << ","
      << csv_num(rate(r.dense_bytes(), r.dense_ms, 1e6)) << ","
      << csv_num(rate(r.sparse_bytes(), r.native_ms, 1e6)) << ","
      << csv_num(rate(r.sparse_bytes(), r.cslt_ms, 1e6)) << "," << csv_num(r.native_max_rel) << ","
      << csv_num(r.native_rel_l2) << "," << csv_num(r.cslt_max_rel) << "," << csv_num(r.cslt_rel_l2)
      << "," << csv_num(r.native_host_us) << "," << csv_num(r.dense_host_us) << ","
      << csv_num(r.cslt_host_us) << "," << r.native_tuned_plan << "," << csv_num(r.native_tuned_ms)
      << "," << csv_num(ratio(r.dense_ms, r.native_tuned_ms)) << ","
      << csv_num(ratio(r.native_ms, r.dense_ms)) << "," << csv_num(ratio(r.cslt_ms, r.dense_ms))
      << "," << csv_num(r.dense_f16_ms) << "," << csv_text(r.native_note) << ","
      << csv_text(r.dense_note) << "," << csv_text(r.cslt_note) << "\n";
  }
}

// A horizontal grouped bar chart: one band per row (shape), a bar for native and one for
// cuSPARSELt, both as speedup over cuBLAS dense; the 1.0x line marks parity.
void write_bench_svg(const std::string& path, const BenchMeta& meta,
                     const std::vector<BenchRow>& rows) {
  const int label_w = 300, plot_w = 520, band_h = 26, top = 70, bottom = 50;
  const int height = top + bottom + band_h * static_cast<int>(std::max<size_t>(rows.size(), 1));
  const int width = label_w + plot_w + 40;
  double vmax = 2.0;
  for (const BenchRow& r : rows) {
    if (r.dense_ms > 0 && r.native_ms > 0) vmax = std::max(vmax, r.dense_ms / r.native_ms);
    if (r.dense_ms > 0 && r.cslt_ms > 0) vmax = std::max(vmax, r.dense_ms / r.cslt_ms);
  }
  vmax = std::ceil(vmax * 2) / 2;
  auto xpos = [&](double v) { return label_w + plot_w * std::min(v, vmax) / vmax; };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">sparse24 2:4 linear: "
       "speedup over cuBLAS dense (kernel time, CUDA graph)</text>\n";
  s << "<text x=\"10\" y=\"42\">" << xml_escape(meta.gpu) << ", " << xml_escape(meta.date)
    << ". Blue: sparse24 native mma.sp (dashed tick: best tuned plan); orange: cuSPARSELt "
    << xml_escape(meta.cusparselt) << ".</text>\n";
  for (double v = 0; v <= vmax + 1e-9; v += 0.5) {
    const double x = xpos(v);
    s << "<line x1=\"" << x << "\" y1=\"" << top - 8 << "\" x2=\"" << x << "\" y2=\""
      << height - bottom + 4 << "\" stroke=\"" << (std::fabs(v - 1.0) < 1e-9 ? "#000" : "#ddd")
      << "\" stroke-width=\"" << (std::fabs(v - 1.0) < 1e-9 ? 1.5 : 1) << "\"/>\n";
    s << "<text x=\"" << x << "\" y=\"" << height - bottom + 20 << "\" text-anchor=\"middle\">" << v
      << "x</text>\n";
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const BenchRow& r = rows[i];
    const int y0 = top + static_cast<int>(i) * band_h;
    char label[200];
    std::snprintf(label, sizeof(label), "%s %s (M%lld N%lld K%lld)", r.tag.c_str(), r.dtype.c_str(),
                  r.m, r.n, r.k);
    s << "<text x=\"" << label_w - 6 << "\" y=\"" << y0 + 16 << "\" text-anchor=\"end\">"
      << xml_escape(label) << "</text>\n";
    auto bar = [&](double v, int dy, const char* color) {
      if (v <= 0) return;
      s << "<rect x=\"" << label_w << "\" y=\"" << y0 + dy << "\" width=\"" << xpos(v) - label_w
        << "\" height=\"10\" fill=\"" << color << "\"/>\n";
      s << "<text x=\"" << xpos(v) + 3 << "\" y=\"" << y0 + dy + 9 << "\" font-size=\"10\">";
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.2fx", v);
      s << buf << "</text>\n";
    };
    if (r.dense_ms > 0 && r.native_ms > 0) bar(r.dense_ms / r.native_ms, 2, "#2b6cb0");
    if (r.dense_ms > 0 && r.cslt_ms > 0) bar(r.dense_ms / r.cslt_ms, 13, "#dd6b20");
    if (r.dense_ms > 0 && r.native_tuned_ms > 0 && r.native_tuned_plan != r.native_plan)
      s << "<line x1=\"" << xpos(r.dense_ms / r.native_tuned_ms) << "\" y1=\"" << y0 + 1
        << "\" x2=\"" << xpos(r.dense_ms / r.native_tuned_ms) << "\" y2=\"" << y0 + 13
        << "\" stroke=\"#2b6cb0\" stroke-width=\"2\" stroke-dasharray=\"2,1\"/>\n";
  }
  s << "</svg>\n";
  auto f = open_out(path);
  f << s.str();
}

}  // namespace s24::cli

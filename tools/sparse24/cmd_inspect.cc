// sparse24 inspect: list the tensors of a safetensors file and how 2:4 each one is.
#include <cmath>
#include <cstdio>
#include <regex>
#include <string>

#include "sparse24/cli_util.h"
#include "sparse24/commands.h"

namespace s24::cli {
namespace {

const char kUsage[] =
    "usage: sparse24 inspect FILE [--pattern RE]\n"
    "\n"
    "Lists the tensors of a safetensors file (sparse24's compressed tensors under their logical\n"
    "name and shape, storage \"compressed\"). For every 2-D tensor with cols % 4 == 0:\n"
    "  2:4      whether it is 2:4 sparse (at most 2 nonzeros in every group of 4 along a row)\n"
    "  nonzero  the fraction of nonzero elements\n"
    "  kept|w|  the fraction of sum |w| that magnitude 2:4 pruning keeps (1 when already 2:4)\n"
    "\n"
    "options:\n"
    "  --pattern RE   list only the tensors whose name matches RE (ECMAScript, searched)\n"
    "  -h, --help     this text\n";

struct Stats {
  bool applicable = false;  // 2-D value tensor with cols % 4 == 0
  bool is24 = false;
  double nonzero = 0;       // fraction
  double abs_sum = 0;
  double kept = 1;          // kept-magnitude fraction of magnitude pruning
  std::string note;
};

double count_nonzero(const Tensor& t, double* abs_sum) {
  const Tensor f = t.to_f32_cpu();
  const float* p = f.data<float>();
  int64_t nz = 0;
  double s = 0;
  for (int64_t i = 0; i < f.numel(); ++i) {
    nz += p[i] != 0.0f;
    s += std::fabs(double(p[i]));
  }
  if (abs_sum) *abs_sum = s;
  return static_cast<double>(nz);
}

Stats dense_stats(const Tensor& t) {
  Stats s;
  if (!prune_ineligibility(t, PruneMethod::kMagnitude).empty() || t.numel() == 0) return s;
  s.applicable = true;
  s.is24 = is_24(t);
  s.nonzero = count_nonzero(t, &s.abs_sum) / static_cast<double>(t.numel());
  try {
    s.kept = s.is24 ? 1.0 : kept_magnitude_fraction(t, prune_magnitude(t));
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNonFinite) throw;
    s.kept = NAN;
    s.note = "NaN/Inf";
  }
  return s;
}

Stats compressed_stats(const Compressed24& c) {
  Stats s;
  s.applicable = c.rows * c.cols > 0;
  s.is24 = true;
  if (s.applicable)
    s.nonzero = count_nonzero(c.values, &s.abs_sum) / static_cast<double>(c.rows * c.cols);
  return s;
}

// Metadata is free text from the file: shown shortened, on one line.
std::string one_line(const std::string& s, size_t max) {
  std::string out;
  for (unsigned char c : s) out += c < 0x20 || c == 0x7F ? ' ' : static_cast<char>(c);
  return out.size() > max ? out.substr(0, max - 3) + "..." : out;
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
  return run_command("inspect", [&]() -> int {
    const Args args(argc, argv, {"--pattern"});
    if (args.help()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    args.expect_positional({"FILE"});
    const bool filtered = args.has("--pattern");
    std::regex pattern;
    if (filtered) {
      try {
        pattern = std::regex(args.get("--pattern", ""));
      } catch (const std::regex_error& e) {
        throw UsageError("--pattern '" + args.get("--pattern", "") +
                         "' is not a valid regular expression: " + e.what());
      }
    }
    const std::string path = args.positional()[0];
    const TensorFile file = load_safetensors(path);

    // One sorted listing of dense and compressed tensors.
    std::map<std::string, std::pair<const Tensor*, const Compressed24*>> all;
    for (const auto& [n, t] : file.tensors) all[n].first = &t;
    for (const auto& [n, c] : file.sparse) all[n].second = &c;

    Table table({"tensor", "dtype", "shape", "storage", "2:4", "nonzero", "kept|w|"},
                "llllrrr");
    int64_t listed = 0, params = 0, n24 = 0, napplicable = 0, ncompressed = 0;
    double kept_sum = 0, abs_sum = 0;
    for (const auto& [name, ptrs] : all) {
      if (filtered && !std::regex_search(name, pattern)) continue;
      ++listed;
      const Tensor* t = ptrs.first;
      const Compressed24* c = ptrs.second;
      const Stats s = t ? dense_stats(*t) : compressed_stats(*c);
      const DType dtype = t ? t->dtype() : c->dtype();
      const Shape shape = t ? t->shape() : c->logical_shape();
      params += shape_numel(shape);
      ncompressed += c != nullptr;
      std::vector<std::string> row = {name, dtype_name(dtype), fmt_shape(shape),
                                      c ? "compressed" : "dense"};
      if (s.applicable) {
        ++napplicable;
        n24 += s.is24;
        if (!std::isnan(s.kept)) {
          kept_sum += s.kept * s.abs_sum;
          abs_sum += s.abs_sum;
        }
        row.push_back(s.is24 ? "yes" : "no");
        row.push_back(fmt_fixed(100.0 * s.nonzero, 1) + "%");
        row.push_back(s.note.empty() ? fmt_fixed(s.kept, 4) : s.note);
      } else {
        row.insert(row.end(), {"-", "-", "-"});
      }
      table.add(std::move(row));
    }
    table.print(stdout);
    std::printf("%lld tensor%s (%lld compressed), %lld parameters; %lld of %lld 2-D tensors "
                "with cols %% 4 == 0 are 2:4",
                static_cast<long long>(listed), listed == 1 ? "" : "s",
                static_cast<long long>(ncompressed), static_cast<long long>(params),
                static_cast<long long>(n24), static_cast<long long>(napplicable));
    if (abs_sum > 0) std::printf("; kept|w| overall %s", fmt_fixed(kept_sum / abs_sum, 4).c_str());
    std::printf("\nfile: %s, %s", path.c_str(), fmt_bytes(file_size(path)).c_str());
    bool first = true;
    for (const auto& [k, v] : file.metadata) {
      std::printf("%s%s=%s", first ? "; metadata: " : ", ", one_line(k, 40).c_str(),
                  one_line(v, 60).c_str());
      first = false;
    }
    std::printf("\n");
    return 0;
  });
}

}  // namespace s24::cli

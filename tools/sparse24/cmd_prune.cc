// sparse24 prune: prune the chosen 2-D weights of a safetensors file to 2:4.
#include <cmath>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "sparse24/cli_util.h"
#include "sparse24/commands.h"

namespace s24::cli {
namespace {

const char kUsage[] =
    "usage: sparse24 prune IN.safetensors OUT.safetensors [options]\n"
    "\n"
    "Prunes 2-D weights of a safetensors file to 2:4 and writes them as dense 2:4 weights (same\n"
    "dtype) or in sparse24's compressed format. Other tensors and the metadata are copied.\n"
    "\n"
    "options:\n"
    "  --method M     magnitude (default): keep the 2 largest |w| of every 4\n"
    "                 mvue24: unbiased stochastic 2:4 (tensor i, in name order, uses counter\n"
    "                         offset i of the seed's stream)\n"
    "                 transposable: 2:4 along rows and columns (rows % 4 == 0 needed)\n"
    "                 ste: S-STE soft threshold times its scale beta\n"
    "  --pattern RE   prune the 2-D tensors whose name matches the regular expression RE\n"
    "                 (ECMAScript syntax, searched anywhere in the name) instead of the default\n"
    "  --format F     dense (default): 2:4 weights stored densely, readable by any tool\n"
    "                 compressed: values + metadata (docs/FORMAT.md); about 56% of the bytes\n"
    "                 for 16-bit weights, 62.5% for 8-bit ones (I8, F8_E4M3, F8_E5M2)\n"
    "  --seed N       seed of mvue24 (default 0)\n"
    "  -h, --help     this text\n"
    "\n";

}  // namespace

int cmd_prune(int argc, char** argv) {
  return run_command("prune", [&]() -> int {
    const Args args(argc, argv, {"--method", "--pattern", "--format", "--seed"});
    if (args.help()) {
      std::fputs(kUsage, stdout);
      std::fputs(kDefaultSelectionHelp, stdout);
      return 0;
    }
    args.expect_positional({"IN.safetensors", "OUT.safetensors"});
    const std::string in_path = args.positional()[0], out_path = args.positional()[1];
    PruneMethod method;
    try {
      method = parse_prune_method(args.get("--method", "magnitude"));
    } catch (const Error&) {
      throw UsageError("--method must be magnitude, mvue24, transposable or ste, got '" +
                       args.get("--method", "") + "'");
    }
    const std::string format = args.get("--format", "dense");
    if (format != "dense" && format != "compressed")
      throw UsageError("--format must be dense or compressed, got '" + format + "'");
    const uint64_t seed = args.get_u64("--seed", 0);
    const bool custom_pattern = args.has("--pattern");
    std::regex pattern;
    if (custom_pattern) {
      try {
        pattern = std::regex(args.get("--pattern", ""));
      } catch (const std::regex_error& e) {
        throw UsageError("--pattern '" + args.get("--pattern", "") +
                         "' is not a valid regular expression: " + e.what());
      }
    }

    TensorFile file = load_safetensors(in_path);
    std::vector<std::string> chosen;
    std::vector<std::pair<std::string, std::string>> skipped;
    for (const auto& [name, t] : file.tensors) {
      const bool named = custom_pattern ? std::regex_search(name, pattern)
                                        : default_prunable_name(name);
      if (!named) continue;
      const std::string why = prune_ineligibility(t, method);
      if (why.empty()) {
        chosen.push_back(name);
      } else if (custom_pattern || t.dim() == 2) {
        // The default rule names 1-D tensors too (biases are filtered by ".weight", but some
        // models keep 1-D ".weight"s inside layers); those are not worth a line.
        skipped.emplace_back(name, why);
      }
    }
    for (const auto& [name, why] : skipped)
      std::printf("skip  %s %s: %s\n", name.c_str(),
                  fmt_shape(file.tensors.at(name).shape()).c_str(), why.c_str());
    if (chosen.empty())
      std::fprintf(stderr, "sparse24 prune: no tensor of %s matches %s; writing it unchanged\n",
                   in_path.c_str(), custom_pattern ? "--pattern" : "the default selection");

    double kept_sum = 0, total_sum = 0;
    for (size_t i = 0; i < chosen.size(); ++i) {
      const std::string& name = chosen[i];
      const Tensor w = file.tensors.at(name);
      const Tensor pruned = prune_with(w, method, seed, i);
      const double kept = kept_magnitude_fraction(w, pruned);
      const Tensor wf = w.to_f32_cpu();
      double abs_sum = 0;
      for (int64_t k = 0; k < wf.numel(); ++k) abs_sum += std::fabs(double(wf.data<float>()[k]));
      kept_sum += kept * abs_sum;
      total_sum += abs_sum;
      if (format == "compressed") {
        file.tensors.erase(name);
        file.sparse[name] = compress(pruned);
      } else {
        file.tensors[name] = pruned;
      }
      std::printf("[%zu/%zu] %s %s %s kept-magnitude %s\n", i + 1, chosen.size(), name.c_str(),
                  dtype_name(w.dtype()), fmt_shape(w.shape()).c_str(),
                  fmt_fixed(kept, 4).c_str());
      std::fflush(stdout);
    }
    save_safetensors(out_path, file);
    std::printf("pruned %zu tensor%s (%s, %s), kept-magnitude overall %s; wrote %s (%s)\n",
                chosen.size(), chosen.size() == 1 ? "" : "s", prune_method_name(method),
                format.c_str(), fmt_fixed(total_sum > 0 ? kept_sum / total_sum : 1.0, 4).c_str(),
                out_path.c_str(), fmt_bytes(file_size(out_path)).c_str());
    return 0;
  });
}

}  // namespace s24::cli

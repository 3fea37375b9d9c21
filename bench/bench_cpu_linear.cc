// Sparse (2:4 compressed) vs dense CPU linear, Y = X W^T, at BERT-base and MiniLM layer shapes.
//
//   bench_cpu_linear [--dtype f32|f16|bf16] [--reps N] [--warmup N] [--only M,N,K]
//
// Each case: W random normal, pruned 2:4 by magnitude; the dense baseline multiplies by the same
// pruned matrix (dense storage) with s24::linear_dense, the sparse side by its compressed form
// with s24::linear. Several weight copies and inputs are rotated so that consecutive calls do
// not find the previous call's operands in the caches (together they exceed the L3 of common
// server parts), as successive layers of a model would. Dense and sparse calls alternate;
// `warmup` pairs are untimed, then `reps` pairs are timed. The table gives the median time of
// each side, GFLOP/s counting the dense multiply-adds (2 M N K) for both, and the speedup as the
// median over the pairs of t_dense / t_sparse. Threads: S24_NUM_THREADS (default: all cores).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/parallel.h"
#include "sparse24/sparse24.h"

namespace {

using s24::Compressed24;
using s24::DType;
using s24::Tensor;

struct Case {
  const char* model;
  const char* layer;
  int64_t m, n, k;
};

Tensor random_normal(const s24::Shape& shape, std::mt19937_64& g) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  std::normal_distribution<float> d(0.0f, 1.0f);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(g);
  return t;
}

// Keeps the two largest |w| of every group of 4 along rows.
void prune_24(Tensor& w) {
  float* p = w.data<float>();
  for (int64_t i = 0; i < w.numel(); i += 4) {
    int order[4] = {0, 1, 2, 3};
    std::sort(order, order + 4,
              [&](int a, int b) { return std::fabs(p[i + a]) > std::fabs(p[i + b]); });
    p[i + order[2]] = 0.0f;
    p[i + order[3]] = 0.0f;
  }
}

double median(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  const size_t n = t.size();
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

struct PairTiming {
  double a_seconds;  // median
  double b_seconds;  // median
  double ratio;      // median over the pairs of a_i / b_i
};

// Times `a` and `b` in alternation (a, b, a, b, ...), so that both see the same machine: on a
// shared machine the load changes from second to second, and the ratio of neighbouring calls is
// steadier than the ratio of two medians.
template <class FnA, class FnB>
PairTiming time_pair(int warmup, int reps, FnA&& a, FnB&& b) {
  for (int i = 0; i < warmup; ++i) {
    a(i);
    b(i);
  }
  std::vector<double> ta, tb;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    a(warmup + i);
    auto t1 = std::chrono::steady_clock::now();
    b(warmup + i);
    auto t2 = std::chrono::steady_clock::now();
    ta.push_back(std::chrono::duration<double>(t1 - t0).count());
    tb.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  std::vector<double> ratios;
  for (int i = 0; i < reps; ++i) ratios.push_back(ta[i] / tb[i]);
  return {median(ta), median(tb), median(ratios)};
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  const Tensor fa = a.to_f32_cpu(), fb = b.to_f32_cpu();
  double num = 0, den = 0;
  for (int64_t i = 0; i < fa.numel(); ++i) {
    const double d = double(fa.data<float>()[i]) - double(fb.data<float>()[i]);
    num += d * d;
    den += double(fb.data<float>()[i]) * double(fb.data<float>()[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

std::string cpu_model() {
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return "unknown CPU";
  char line[512];
  std::string model = "unknown CPU";
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "model name", 10) == 0) {
      const char* colon = std::strchr(line, ':');
      if (colon) {
        model = colon + 2;
        while (!model.empty() && (model.back() == '\n' || model.back() == ' ')) model.pop_back();
      }
      break;
    }
  }
  std::fclose(f);
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  DType dtype = DType::kF32;
  int reps = 51, warmup = 5;
  int64_t only_m = -1, only_n = -1, only_k = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dtype" && i + 1 < argc) {
      dtype = s24::parse_dtype(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--warmup" && i + 1 < argc) {
      warmup = std::max(0, std::atoi(argv[++i]));
    } else if (a == "--only" && i + 1 < argc) {
      long long m, n, k;
      if (std::sscanf(argv[++i], "%lld,%lld,%lld", &m, &n, &k) != 3) {
        std::fprintf(stderr, "--only takes M,N,K\n");
        return 2;
      }
      only_m = m, only_n = n, only_k = k;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--dtype f32|f16|bf16] [--reps N] [--warmup N] [--only M,N,K]\n",
                   argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }

  std::vector<Case> cases;
  if (only_m > 0) {
    cases.push_back({"custom", "-", only_m, only_n, only_k});
  } else {
    for (int64_t m : {128, 384}) {
      cases.push_back({"BERT-base", "attn qkv (fused)", m, 2304, 768});
      cases.push_back({"BERT-base", "attn out", m, 768, 768});
      cases.push_back({"BERT-base", "ffn up", m, 3072, 768});
      cases.push_back({"BERT-base", "ffn down", m, 768, 3072});
    }
    for (int64_t m : {128, 384}) {
      cases.push_back({"MiniLM-L6", "attn q/k/v/out", m, 384, 384});
      cases.push_back({"MiniLM-L6", "ffn up", m, 1536, 384});
      cases.push_back({"MiniLM-L6", "ffn down", m, 384, 1536});
    }
    for (int64_t m : {1, 8, 32}) {
      cases.push_back({"BERT-base", "ffn up", m, 3072, 768});
      cases.push_back({"BERT-base", "ffn down", m, 768, 3072});
    }
  }

  std::printf("CPU: %s, %d threads, dtype %s, median of %d calls after %d warm-up calls\n\n",
              cpu_model().c_str(), s24::detail::num_threads(), s24::dtype_name(dtype), reps,
              warmup);
  std::printf(
      "| model | layer | M | N | K | dense ms | dense GFLOP/s | sparse ms | sparse GFLOP/s "
      "(dense-equiv.) | speedup |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::mt19937_64 g(20261121);
  for (const Case& c : cases) {
    // Enough weight copies that one round of them exceeds 64 MiB (dense f32 bytes), at most 8.
    const double dense_bytes = double(c.n) * double(c.k) * 4.0;
    const int copies =
        static_cast<int>(std::clamp(std::ceil(64.0 * 1048576.0 / dense_bytes), 2.0, 8.0));
    std::vector<Tensor> dense_w, xs;
    std::vector<Compressed24> sparse_w;
    for (int i = 0; i < copies; ++i) {
      Tensor w = random_normal({c.n, c.k}, g);
      prune_24(w);
      dense_w.push_back(w.cast_cpu(dtype));
      sparse_w.push_back(s24::compress(dense_w.back()));
      xs.push_back(random_normal({c.m, c.k}, g).cast_cpu(dtype));
    }
    // The two sides must agree before their times mean anything.
    const double diff =
        max_rel_diff(s24::linear(xs[0], sparse_w[0]), s24::linear_dense(xs[0], dense_w[0]));
    if (diff > (dtype == DType::kF32 ? 1e-5 : 1e-2)) {
      std::fprintf(stderr,
                   "sparse and dense disagree (relative error %g) at M=%lld N=%lld K=%lld\n", diff,
                   (long long)c.m, (long long)c.n, (long long)c.k);
      return 1;
    }
    const PairTiming t = time_pair(
        warmup, reps,
        [&](int i) { Tensor y = s24::linear_dense(xs[i % copies], dense_w[i % copies]); },
        [&](int i) { Tensor y = s24::linear(xs[i % copies], sparse_w[i % copies]); });
    const double flop = 2.0 * double(c.m) * double(c.n) * double(c.k);
    std::printf("| %s | %s | %lld | %lld | %lld | %.3f | %.1f | %.3f | %.1f | %.2fx |\n", c.model,
                c.layer, (long long)c.m, (long long)c.n, (long long)c.k, t.a_seconds * 1e3,
                flop / t.a_seconds * 1e-9, t.b_seconds * 1e3, flop / t.b_seconds * 1e-9, t.ratio);
    std::fflush(stdout);
  }
  return 0;
}

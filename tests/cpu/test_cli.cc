// The sparse24 command line, run as a user runs it: the built binary ($S24_BUILD_DIR/sparse24,
// set by CTest) on small files made here. Exit codes: 0 done, 1 the work failed (bad file...),
// 2 a usage mistake.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "common/test_util.h"
#include "cuda/gemm/sm90_plan_table.h"

namespace s24 {
namespace {

namespace fs = std::filesystem;

std::string binary() {
  if (const char* dir = std::getenv("S24_BUILD_DIR")) return std::string(dir) + "/sparse24";
  // CliRun by hand: the test executables sit beside the CLI in the build folder.
  std::error_code ec;
  return (fs::read_symlink("/proc/self/exe", ec).parent_path() / "sparse24").string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct CliRun {
  int rc = -1;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "s24_cli_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(fs::exists(binary())) << "the sparse24 binary is missing at " << binary()
                                      << " (build the sparse24_cli target)";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  // Runs sparse24 with `args` (each single-quoted for the shell).
  CliRun run(const std::vector<std::string>& args) const {
    std::string cmd = "'" + binary() + "'";
    for (const auto& a : args) {
      std::string q;
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      cmd += " '" + q + "'";
    }
    cmd += " >'" + path("stdout.txt") + "' 2>'" + path("stderr.txt") + "' </dev/null";
    CliRun r;
    const int status = std::system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(path("stdout.txt"));
    r.err = slurp(path("stderr.txt"));
    return r;
  }

  // A small "model": prunable Linear weights in several dtypes and naming schemes, and tensors
  // the default selection must leave alone.
  TensorFile make_model(uint64_t salt) const {
    auto g = test::rng(salt);
    TensorFile f;
    f.tensors["encoder.layer.0.attention.self.query.weight"] =
        test::random_normal({8, 16}, DType::kF32, g);
    f.tensors["encoder.layer.0.attention.self.query.bias"] =
        test::random_normal({8}, DType::kF32, g);
    f.tensors["encoder.layer.1.intermediate.dense.weight"] =
        test::random_normal({12, 8}, DType::kF32, g);
    f.tensors["model.layers.3.mlp.up_proj.weight"] = test::random_normal({4, 12}, DType::kF16, g);
    f.tensors["h.0.attn.c_proj.weight"] = test::random_normal({8, 8}, DType::kBF16, g);
    f.tensors["encoder.layer.0.odd.weight"] = test::random_normal({4, 6}, DType::kF32, g);
    f.tensors["embeddings.word_embeddings.weight"] = test::random_normal({10, 8}, DType::kF32, g);
    f.tensors["encoder.layer.0.output.LayerNorm.weight"] = test::random_normal({8}, DType::kF32, g);
    f.tensors["pooler.dense.weight"] = test::random_normal({8, 8}, DType::kF32, g);
    Tensor ids = Tensor::empty({1, 8}, DType::kI64);
    for (int i = 0; i < 8; ++i) ids.data<int64_t>()[i] = i;
    f.tensors["position_ids"] = ids;
    f.metadata["format"] = "pt";
    return f;
  }
  const std::vector<std::string> default_chosen_ = {
      "encoder.layer.0.attention.self.query.weight", "encoder.layer.1.intermediate.dense.weight",
      "model.layers.3.mlp.up_proj.weight", "h.0.attn.c_proj.weight"};

  std::string dir_;
};

std::string cli_fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(CliTest, HelpForEveryCommand) {
  for (const char* cmd : {"prune", "inspect", "demo"}) {
    for (const char* flag : {"--help", "-h"}) {
      const CliRun r = run({cmd, flag});
      EXPECT_EQ(r.rc, 0) << cmd << " " << flag << ": " << r.err;
      EXPECT_NE(r.out.find(std::string("usage: sparse24 ") + cmd), std::string::npos) << r.out;
    }
  }
  // --help wins over otherwise bad arguments.
  EXPECT_EQ(run({"prune", "--bogus", "--help"}).rc, 0);
  const CliRun top = run({"--help"});
  EXPECT_EQ(top.rc, 0);
  for (const char* cmd : {"prune", "inspect", "demo"})
    EXPECT_NE(top.out.find(cmd), std::string::npos) << top.out;
}

// The rows of a written table, parsed back into the dispatcher's row type.
struct ParsedTable {
  std::vector<std::string> names;  // storage for the rows' configuration names
  std::vector<detail::gemm::Sm90PlanRow> rows;
};
ParsedTable parse_plan_table(const std::string& text) {
  ParsedTable t;
  std::istringstream in(text);
  std::string line;
  std::vector<std::tuple<int, bool, long long, long long, long long>> keys;
  while (std::getline(in, line)) {
    int bits = 0;
    char act[8] = "";
    long long m = 0, n = 0, k = 0;
    char name[64] = "";
    if (std::sscanf(line.c_str(), "{%d, %7[a-z], %lld, %lld, %lld, \"%63[^\"]\"}", &bits, act, &m,
                    &n, &k, name) == 6) {
      keys.emplace_back(bits, std::string(act) == "true", m, n, k);
      t.names.push_back(name);
    }
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& [bits, act, m, n, k] = keys[i];
    t.rows.push_back({bits, act, m, n, k, t.names[i].c_str()});
  }
  return t;
}

std::string lookup(const ParsedTable& t, int64_t m, int64_t n, int64_t k, int bits,
                   bool activated) {
  const auto* r = detail::gemm::sm90_table_row(t.rows.data(), t.rows.data() + t.rows.size(), m,
                                               n, k, bits, activated);
  return r != nullptr ? r->config : "none";
}

// `bench --merge --plan-table` (works without a GPU): the dispatcher's sm_90a tile table from
// --tune results, pooled per (operand width, activation, M, N, K), with configurations that cannot
// serve 8-bit operands ignored for them, redundant rows dropped and an unbounded row per width;
// and the dispatcher's lookup over the written rows gives each tuned shape its fastest tile.
TEST_F(CliTest, BenchMergeWritesThePlanTable) {
  fs::create_directories(path("r1"));
  {
    std::ofstream f(path("r1/bench.json"));
    f << R"({"gpu":"Test GPU","date":"2026-11-21","rows":[],"tuning":[
 {"tag":"a","dtype":"F16","m":128,"n":4096,"k":4096,"results":[{"plan":"n128m128/s1","ms":0.05},
   {"plan":"wg_n128m128","ms":0.1},{"plan":"wg_n128m256","ms":0.2}]},
 {"tag":"b","dtype":"F16","m":6144,"n":768,"k":768,"results":[{"plan":"wgp_n128m128","ms":0.09},
   {"plan":"wg_n128m256","ms":0.1}]},
 {"tag":"b2","dtype":"BF16","m":6144,"n":768,"k":768,"results":[{"plan":"wgp_n128m128","ms":0.1},
   {"plan":"wg_n128m256","ms":0.1}]},
 {"tag":"c","dtype":"BF16","m":6144,"n":3072,"k":768,"activated":false,
   "results":[{"plan":"wgp_n128m128","ms":0.31},{"plan":"wg_n128m256","ms":0.2}]},
 {"tag":"c+gelu","dtype":"F16","m":6144,"n":3072,"k":768,"activated":true,
   "results":[{"plan":"wgp_n128m128","ms":0.2},{"plan":"wg_n128m256","ms":0.3}]},
 {"tag":"d","dtype":"F16","m":24576,"n":768,"k":768,"results":[{"plan":"wgp_n128m128","ms":0.2},
   {"plan":"wg_n128m256","ms":0.3}]},
 {"tag":"e","dtype":"I8","m":8192,"n":8192,"k":8192,"results":[{"plan":"wgp_n128m128","ms":0.7},
   {"plan":"wg_n128m256","ms":0.6},{"plan":"wg_n256m64","ms":0.1}]}]})";
  }
  const CliRun r = run({"bench", "--merge", "--out", path("m"), "--plan-table", path("t.inc"),
                        path("r1")});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  const std::string table = slurp(path("t.inc"));
  const std::string want =
      "{16, true, 6144, -1, -1, \"wgp_n128m128\"},\n"     // c+gelu: its own class, M-bounded
      "{16, false, 128, -1, -1, \"wg_n128m128\"},\n"      // the mma.sp plan does not count
      "{16, false, 6144, 768, -1, \"wgp_n128m128\"},\n"   // b and b2 pooled: 2.0 against 2.11
      "{16, false, 6144, -1, -1, \"wg_n128m256\"},\n"     // c: N keys apart from b
      "{16, false, -1, -1, -1, \"wgp_n128m128\"},\n"      // d, extended past the tuned range
      "{8, false, -1, -1, -1, \"wg_n128m256\"},\n";       // wg_n256m64 has no 8-bit depth
  EXPECT_NE(table.find(want), std::string::npos) << table;
  EXPECT_NE(table.find("measured on Test GPU, 2026-11-21"), std::string::npos) << table;
  // A GPU whose name does not say H200 gets the H100-class table.
  EXPECT_NE(table.find("for sm90_plan_table_h100.inc"), std::string::npos) << table;

  const ParsedTable t = parse_plan_table(table);
  ASSERT_EQ(t.rows.size(), 6u) << table;
  EXPECT_EQ(lookup(t, 6144, 768, 768, 16, false), "wgp_n128m128");
  EXPECT_EQ(lookup(t, 6144, 3072, 768, 16, false), "wg_n128m256");
  EXPECT_EQ(lookup(t, 6144, 3072, 768, 16, true), "wgp_n128m128");
  // Nearest tuned shape at least as large: in M, then N (N = 1000 takes N = 3072's tile), then K.
  EXPECT_EQ(lookup(t, 5000, 1000, 768, 16, false), "wg_n128m256");
  EXPECT_EQ(lookup(t, 5000, 700, 4096, 16, false), "wgp_n128m128");
  EXPECT_EQ(lookup(t, 100, 100000, 100000, 16, false), "wg_n128m128");
  // Activated products beyond the tuned activated M take the general rows.
  EXPECT_EQ(lookup(t, 8192, 3072, 768, 16, true), "wgp_n128m128");
  EXPECT_EQ(lookup(t, 100, 3072, 768, 16, true), "wgp_n128m128");
  EXPECT_EQ(lookup(t, 1 << 20, 1 << 20, 1 << 20, 8, true), "wg_n128m256");

  // Within 2% the configuration listed first (here the unclustered tile) takes the cell; a
  // larger margin goes to the faster one.
  fs::create_directories(path("r3"));
  std::ofstream(path("r3/bench.json")) << R"({"gpu":"Test GPU","rows":[],"tuning":[
 {"tag":"f","dtype":"F16","m":8192,"n":8192,"k":8192,"results":[{"plan":"wgc_n128m256","ms":0.99},
   {"plan":"wg_n128m256","ms":1.0},{"plan":"wg_n128m128","ms":1.5}]},
 {"tag":"g","dtype":"F16","m":16384,"n":8192,"k":8192,"results":[{"plan":"wgc_n128m256","ms":1.9},
   {"plan":"wg_n128m256","ms":2.0},{"plan":"wg_n128m128","ms":3.0}]}]})";
  const CliRun tie = run({"bench", "--merge", "--out", path("m3"), "--plan-table",
                          path("t3.inc"), path("r3")});
  ASSERT_EQ(tie.rc, 0) << tie.out << tie.err;
  const std::string tie_table = slurp(path("t3.inc"));
  EXPECT_NE(tie_table.find("{16, false, 8192, -1, -1, \"wg_n128m256\"},\n"
                           "{16, false, -1, -1, -1, \"wgc_n128m256\"},\n"),
            std::string::npos)
      << tie_table;
  // The classes without tuned shapes (8-bit) keep the compiled-in rows, so the table still
  // serves every width.
  const ParsedTable t3 = parse_plan_table(tie_table);
  EXPECT_NE(lookup(t3, 1 << 20, 1 << 20, 1 << 20, 8, false), "none");
  // Reports without --tune results cannot make a table.
  fs::create_directories(path("r2"));
  std::ofstream(path("r2/bench.json")) << R"({"gpu":"Test GPU","rows":[],"tuning":[]})";
  const CliRun none = run({"bench", "--merge", "--out", path("m2"), "--plan-table",
                           path("t2.inc"), path("r2")});
  EXPECT_EQ(none.rc, 1) << none.out << none.err;
  EXPECT_NE(none.err.find("--tune"), std::string::npos) << none.err;
  EXPECT_FALSE(fs::exists(path("t2.inc")));
}

// The device classes of the tables: HBM3e parts (H200, H200 NVL, GH200) and the rest.
TEST(PlanTable, DeviceClassByName) {
  using detail::gemm::Sm90TableClass;
  using detail::gemm::sm90_table_class;
  EXPECT_EQ(sm90_table_class("NVIDIA H200"), Sm90TableClass::kH200);
  EXPECT_EQ(sm90_table_class("NVIDIA H200 NVL"), Sm90TableClass::kH200);
  EXPECT_EQ(sm90_table_class("NVIDIA GH200 480GB"), Sm90TableClass::kH200);
  EXPECT_EQ(sm90_table_class("NVIDIA H100 80GB HBM3"), Sm90TableClass::kH100);
  EXPECT_EQ(sm90_table_class("NVIDIA H100 PCIe"), Sm90TableClass::kH100);
  EXPECT_EQ(sm90_table_class(""), Sm90TableClass::kH100);
  // Both compiled-in tables serve every width and activation class.
  for (Sm90TableClass c : {Sm90TableClass::kH100, Sm90TableClass::kH200})
    for (int bits : {16, 8})
      for (bool act : {false, true}) {
        const auto t = detail::gemm::sm90_plan_table(c);
        EXPECT_NE(detail::gemm::sm90_table_row(t.first, t.last, 1 << 20, 1 << 20, 1 << 20, bits,
                                               act),
                  nullptr);
      }
}

TEST_F(CliTest, UsageMistakesExitTwoWithOneLine) {
  save_safetensors(path("in.safetensors"), make_model(1));
  const std::string in = path("in.safetensors"), out = path("out.safetensors");
  struct Case {
    std::vector<std::string> args;
    const char* needle;
  };
  const Case cases[] = {
      {{"prune"}, "missing argument IN.safetensors"},
      {{"prune", in}, "missing argument OUT.safetensors"},
      {{"prune", in, out, "extra"}, "unexpected argument 'extra'"},
      {{"prune", in, out, "--method", "random"}, "--method must be"},
      {{"prune", in, out, "--format", "csr"}, "--format must be dense or compressed"},
      {{"prune", in, out, "--pattern", "("}, "not a valid regular expression"},
      {{"prune", in, out, "--seed", "-3"}, "--seed must be a non-negative integer"},
      {{"prune", in, out, "--seed"}, "--seed needs a value"},
      {{"prune", in, out, "--frobnicate"}, "unknown option '--frobnicate'"},
      {{"inspect"}, "missing argument FILE"},
      {{"inspect", in, "--pattern", "[z-a]"}, "not a valid regular expression"},
      {{"demo", "extra"}, "unexpected argument 'extra'"},
      {{"demo", "--threads", "0"}, "--threads must be an integer in [1, 1024]"},
      {{"demo", "--tokens", "12x"}, "--tokens must be an integer"},
      {{"bert", "--timing-order", "random"}, "--timing-order: 'random' is not alternating or"},
      {{"nosuchcommand"}, "unknown command"},
  };
  for (const auto& c : cases) {
    const CliRun r = run(c.args);
    SCOPED_TRACE(c.args[0] + (c.args.size() > 1 ? " " + c.args.back() : std::string()));
    EXPECT_EQ(r.rc, 2) << r.out << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
    if (c.args[0] != "nosuchcommand") {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }
  EXPECT_FALSE(fs::exists(out)) << "a usage mistake must not write the output";
}

TEST_F(CliTest, PruneDenseThenInspectShowsTwoFour) {
  const TensorFile model = make_model(2);
  save_safetensors(path("in.safetensors"), model);
  const CliRun r = run({"prune", path("in.safetensors"), path("out.safetensors")});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[1/4] encoder.layer.0.attention.self.query.weight F32 [8, 16]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[4/4]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skip  encoder.layer.0.odd.weight [4, 6]: column count 6 % 4 != 0"),
            std::string::npos)
      << r.out;

  const TensorFile out = load_safetensors(path("out.safetensors"));
  EXPECT_TRUE(out.sparse.empty());
  EXPECT_EQ(out.metadata, model.metadata);
  ASSERT_EQ(out.tensors.size(), model.tensors.size());
  for (const auto& [name, t] : model.tensors) {
    const Tensor& o = out.tensors.at(name);
    if (contains(default_chosen_, name)) {
      EXPECT_TRUE(is_24(o)) << name;
      EXPECT_TRUE(test::bit_equal(o, prune_magnitude(t))) << name;
      const double kept = kept_magnitude_fraction(t, o);
      EXPECT_NE(r.out.find(name + " " + dtype_name(t.dtype()) + " " + shape_str(t.shape()) +
                           " kept-magnitude " + cli_fixed4(kept)),
                std::string::npos)
          << name << "\n" << r.out;
    } else {
      EXPECT_TRUE(test::bit_equal(o, t)) << name << " must be copied unchanged";
    }
  }

  const CliRun ins = run({"inspect", path("out.safetensors")});
  ASSERT_EQ(ins.rc, 0) << ins.err;
  for (const auto& name : default_chosen_) {
    const size_t at = ins.out.find(name + " ");
    ASSERT_NE(at, std::string::npos) << ins.out;
    const std::string line = ins.out.substr(at, ins.out.find('\n', at) - at);
    EXPECT_NE(line.find(" dense "), std::string::npos) << line;
    EXPECT_NE(line.find(" yes "), std::string::npos) << line;
    EXPECT_NE(line.find("1.0000"), std::string::npos) << line;
  }
  const size_t emb = ins.out.find("embeddings.word_embeddings.weight");
  ASSERT_NE(emb, std::string::npos);
  EXPECT_NE(ins.out.substr(emb, ins.out.find('\n', emb) - emb).find(" no "), std::string::npos);
  EXPECT_NE(ins.out.find("4 of 6 2-D tensors with cols % 4 == 0 are 2:4"), std::string::npos)
      << ins.out;
}

TEST_F(CliTest, PruneCompressedThenInspect) {
  const TensorFile model = make_model(3);
  save_safetensors(path("in.safetensors"), model);
  const CliRun r = run({"prune", path("in.safetensors"), path("c.safetensors"), "--format",
                     "compressed"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const TensorFile out = load_safetensors(path("c.safetensors"));
  ASSERT_EQ(out.sparse.size(), default_chosen_.size());
  for (const auto& name : default_chosen_) {
    ASSERT_TRUE(out.sparse.count(name)) << name;
    EXPECT_FALSE(out.tensors.count(name)) << name;
    EXPECT_TRUE(test::bit_equal(decompress(out.sparse.at(name)),
                                prune_magnitude(model.tensors.at(name))))
        << name;
  }
  EXPECT_EQ(out.tensors.size() + out.sparse.size(), model.tensors.size());

  const CliRun ins = run({"inspect", path("c.safetensors"), "--pattern", "layers?\\.[0-9]"});
  ASSERT_EQ(ins.rc, 0) << ins.err;
  const size_t at = ins.out.find("model.layers.3.mlp.up_proj.weight");
  ASSERT_NE(at, std::string::npos) << ins.out;
  const std::string line = ins.out.substr(at, ins.out.find('\n', at) - at);
  EXPECT_NE(line.find("F16"), std::string::npos) << line;
  EXPECT_NE(line.find("[4, 12]"), std::string::npos) << line;  // the logical shape
  EXPECT_NE(line.find("compressed"), std::string::npos) << line;
  EXPECT_NE(line.find("yes"), std::string::npos) << line;
  EXPECT_EQ(ins.out.find("pooler"), std::string::npos) << "--pattern filters the listing";
  EXPECT_EQ(ins.out.find("embeddings"), std::string::npos);
}

// 8-bit weights (int8, fp8 e4m3 / e5m2) are pruned by magnitude, written compressed and listed;
// the methods that need 16/32-bit floats skip them with the reason.
TEST_F(CliTest, EightBitWeights) {
  auto g = test::rng(9);
  TensorFile model;
  const char* names[] = {"layers.0.q.weight", "layers.0.k.weight", "layers.0.v.weight"};
  const DType dtypes[] = {DType::kI8, DType::kF8E4M3, DType::kF8E5M2};
  for (int i = 0; i < 3; ++i)
    model.tensors[names[i]] = test::random_normal({8, 16}, DType::kF32, g, 20.0f).cast_cpu(dtypes[i]);
  save_safetensors(path("in.safetensors"), model);
  const CliRun r = run({"prune", path("in.safetensors"), path("c.safetensors"), "--format",
                        "compressed", "--pattern", "weight$"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const TensorFile out = load_safetensors(path("c.safetensors"));
  ASSERT_EQ(out.sparse.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const Compressed24& c = out.sparse.at(names[i]);
    EXPECT_EQ(c.dtype(), dtypes[i]);
    EXPECT_TRUE(test::bit_equal(decompress(c), prune_magnitude(model.tensors.at(names[i]))))
        << names[i];
  }
  const CliRun ins = run({"inspect", path("c.safetensors")});
  ASSERT_EQ(ins.rc, 0) << ins.err;
  for (const char* dt : {"I8", "F8_E4M3", "F8_E5M2"})
    EXPECT_NE(ins.out.find(dt), std::string::npos) << ins.out;
  EXPECT_NE(ins.out.find("3 of 3 2-D tensors"), std::string::npos) << ins.out;
  const CliRun dense = run({"inspect", path("in.safetensors")});
  ASSERT_EQ(dense.rc, 0) << dense.err;
  EXPECT_NE(dense.out.find("0 of 3 2-D tensors"), std::string::npos) << dense.out;
  const CliRun ste = run({"prune", path("in.safetensors"), path("s.safetensors"), "--method",
                          "ste", "--pattern", "weight$"});
  ASSERT_EQ(ste.rc, 0) << ste.err;
  EXPECT_NE(ste.out.find("ste takes F32/F16/BF16, not I8"), std::string::npos) << ste.out;
}

TEST_F(CliTest, PruneMethodsAndPattern) {
  const TensorFile model = make_model(4);
  save_safetensors(path("in.safetensors"), model);
  const std::string w = "encoder.layer.0.attention.self.query.weight";  // F32 [8, 16]
  for (const char* method : {"magnitude", "mvue24", "transposable", "ste"}) {
    SCOPED_TRACE(method);
    const CliRun r = run({"prune", path("in.safetensors"), path("m.safetensors"), "--method",
                          method, "--pattern", "query\\.weight$", "--seed", "7"});
    ASSERT_EQ(r.rc, 0) << r.err;
    const TensorFile out = load_safetensors(path("m.safetensors"));
    const Tensor& p = out.tensors.at(w);
    EXPECT_TRUE(is_24(p));
    if (std::string(method) == "transposable") {
      EXPECT_TRUE(is_24(p.t().contiguous()));
    }
    if (std::string(method) == "mvue24") {
      EXPECT_TRUE(test::bit_equal(p, prune_mvue24(model.tensors.at(w), 7, 0)));
    }
    if (std::string(method) == "ste") {
      const Tensor soft = soft_threshold24(model.tensors.at(w));
      const double beta = soft_threshold_scale(model.tensors.at(w), soft);
      const Tensor sf = soft.to_f32_cpu();
      for (int64_t i = 0; i < p.numel(); ++i)
        EXPECT_EQ(p.data<float>()[i], static_cast<float>(sf.data<float>()[i] * beta)) << i;
    }
    // Only the pattern's tensor changed.
    for (const auto& [name, t] : model.tensors) {
      if (name != w) {
        EXPECT_TRUE(test::bit_equal(out.tensors.at(name), t)) << name;
      }
    }
  }
  // A custom pattern may pick what the default leaves alone, and reports what it cannot prune.
  const CliRun r = run({"prune", path("in.safetensors"), path("p.safetensors"), "--pattern",
                        "pooler|odd|position_ids"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("skip  position_ids [1, 8]: dtype I64 holds no weights"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("skip  encoder.layer.0.odd.weight"), std::string::npos) << r.out;
  EXPECT_TRUE(is_24(load_safetensors(path("p.safetensors")).tensors.at("pooler.dense.weight")));
  // mvue24 with a seed is reproducible; another seed draws differently.
  for (const char* seed : {"1", "1", "2"})
    ASSERT_EQ(run({"prune", path("in.safetensors"), path(std::string("s") + seed + ".safetensors"),
                   "--method", "mvue24", "--seed", seed})
                  .rc,
              0);
  EXPECT_EQ(slurp(path("s1.safetensors")).size(), slurp(path("s2.safetensors")).size());
  EXPECT_NE(slurp(path("s1.safetensors")), slurp(path("s2.safetensors")));
}

TEST_F(CliTest, CorruptFilesExitOneWithAClearMessage) {
  {
    std::ofstream f(path("garbage.safetensors"), std::ios::binary);
    f << "this is not a safetensors file at all";
  }
  CliRun r = run({"inspect", path("garbage.safetensors")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("corrupt file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("garbage.safetensors"), std::string::npos) << r.err;

  r = run({"prune", path("garbage.safetensors"), path("out.safetensors")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("corrupt file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("out.safetensors")));

  // A compressed file with an illegal nibble: the loader names the tensor and the nibble.
  auto g = test::rng(5);
  TensorFile c;
  Tensor w = test::random_normal({4, 8}, DType::kF32, g);
  c.sparse["layer.0.w"] = compress(prune_magnitude(w));
  save_safetensors(path("c.safetensors"), c);
  std::string bytes = slurp(path("c.safetensors"));
  // The metadata tensor (U8, stored last) is the last 4 bytes of the file.
  bytes[bytes.size() - 1] = static_cast<char>(0x33);
  {
    std::ofstream f(path("c.safetensors"), std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  r = run({"inspect", path("c.safetensors")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("illegal metadata nibble 0x3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'layer.0.w'"), std::string::npos) << r.err;

  r = run({"inspect", path("missing.safetensors")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("cannot open"), std::string::npos) << r.err;
}

TEST_F(CliTest, DemoOnASmallModel) {
  fs::create_directories(path("model"));
  TensorFile model = make_model(6);
  save_safetensors(path("model/model.safetensors"), model);
  const CliRun r = run({"demo", "--model", path("model"), "--out", path("demo_out"), "--threads",
                     "2", "--tokens", "5", "--repeats", "3"});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("bit-identical"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total (4 layers)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 threads"), std::string::npos) << r.out;
  const TensorFile out = load_safetensors(path("demo_out/minilm-2of4.safetensors"));
  ASSERT_EQ(out.sparse.size(), default_chosen_.size());
  for (const auto& name : default_chosen_)
    EXPECT_TRUE(test::bit_equal(decompress(out.sparse.at(name)),
                                prune_magnitude(model.tensors.at(name))))
        << name;

  const CliRun missing = run({"demo", "--model", path("nowhere")});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("install_deps.sh"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace s24

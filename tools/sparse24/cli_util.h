// Shared pieces of the sparse24 sub-commands: argument parsing, the default choice of weights to
// prune, table printing and number formatting.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sparse24/sparse24.h"

namespace s24::cli {

// A mistake on the command line. run_command() prints it on one line and exits with 2, the
// conventional status for usage errors (1 is left for failures of the work itself).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options are "--name value" or "--name=value"; "--" ends the options. --help / -h anywhere
// only sets help() (other arguments are then not checked, so "--help" always works).
class Args {
 public:
  // argv[0] is the sub-command's name. `valued`: options that take a value; `flags`: those
  // that do not. Throws UsageError on an unknown option or a missing value.
  Args(int argc, char** argv, const std::vector<std::string>& valued,
       const std::vector<std::string>& flags = {});

  bool help() const { return help_; }
  const std::vector<std::string>& positional() const { return positional_; }
  // Throws UsageError unless there are exactly `names.size()` positional arguments.
  void expect_positional(const std::vector<std::string>& names) const;

  bool has(const std::string& option) const;
  std::string get(const std::string& option, const std::string& fallback) const;
  // An integer in [lo, hi]; UsageError otherwise.
  int64_t get_int(const std::string& option, int64_t fallback, int64_t lo, int64_t hi) const;
  uint64_t get_u64(const std::string& option, uint64_t fallback) const;

 private:
  bool help_ = false;
  std::vector<std::string> positional_;
  std::vector<std::pair<std::string, std::string>> options_;  // in command-line order
};

// Runs `body`; a UsageError becomes "sparse24 <name>: <message> (see: sparse24 <name> --help)"
// on stderr and exit status 2. s24::Error passes through to main().
int run_command(const char* name, const std::function<int()>& body);

// ---- which weights to prune --------------------------------------------------------------------

// The default selection of `prune` and `demo`: the Linear weights inside transformer layers.
// A name qualifies when it has a layer index path segment (layer.N., layers.N., h.N., block.N.,
// blocks.N.) and ends in ".weight", and does not mention embeddings or normalisation (norm,
// embed, relative_attention_bias, case-insensitive). HF BERT's encoder.layer.N.attention.self.
// query.weight qualifies; embeddings.word_embeddings.weight, *.LayerNorm.weight and
// pooler.dense.weight do not.
bool default_prunable_name(const std::string& name);
extern const char kDefaultSelectionHelp[];

// Why `w` cannot be pruned with `method` ("" when it can): 2-D, cols % 4 == 0, a dtype the method
// takes, rows % 4 == 0 for transposable masks.
std::string prune_ineligibility(const Tensor& w, PruneMethod method);

// Prunes `w` with `method` and returns the dense 2:4 result in w's dtype. MVUE24 uses the
// counter offset `offset` so that tensors pruned with one seed draw independent numbers. For
// S-STE the result is beta * S(w) (rounded to w's dtype), the weight the sparse model uses.
Tensor prune_with(const Tensor& w, PruneMethod method, uint64_t seed, uint64_t offset);

// ---- output -------------------------------------------------------------------------------------

// A text table; `align` holds one letter per column: 'l' or 'r'.
class Table {
 public:
  Table(std::vector<std::string> headers, std::string align);
  void add(std::vector<std::string> row);
  void rule();  // a horizontal line before the next row
  void print(std::FILE* out) const;

 private:
  std::vector<std::string> headers_;
  std::string align_;
  std::vector<std::vector<std::string>> rows_;  // an empty row is a rule
};

std::string fmt_fixed(double v, int digits);
std::string fmt_bytes(uint64_t bytes);  // "87.6 MiB"
std::string fmt_shape(const Shape& shape);  // "[384, 1536]"
uint64_t file_size(const std::string& path);  // throws kIo

// True when `p` names a regular file (no exception on errors).
bool is_file(const std::filesystem::path& p);
// The checkout this binary belongs to: the first folder holding include/sparse24/sparse24.h,
// walking up from the executable, then from the current directory; empty when none is found.
std::filesystem::path find_repo_root();
// <repo>/relative; throws kIo naming `what` when the checkout cannot be found.
std::filesystem::path repo_file(const std::filesystem::path& relative, const char* what);

// Where the model folder comes from: --model, else $S24_MODEL_DIR, else the default
// all-MiniLM-L6-v2 installed by scripts/install_deps.sh. Not checked: each command checks the
// files it needs and names `where` in its error.
struct ModelLocation {
  std::filesystem::path dir;
  std::string where;
};
ModelLocation locate_model(const Args& args);
// The advice every missing-model error ends with.
extern const char* const kInstallModelHint;

}  // namespace s24::cli

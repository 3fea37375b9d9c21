#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "sparse24/sparse24.h"
#include "sparse24/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

const Command kCommands[] = {
    {"demo", s24::cli::cmd_demo,
     "prune a real checkpoint to 2:4, compress, save, reload, time sparse vs dense"},
    {"prune", s24::cli::cmd_prune, "prune the 2-D weights of a safetensors file to 2:4"},
    {"inspect", s24::cli::cmd_inspect, "list the tensors of a file and whether each is 2:4"},
    {"bench", s24::cli::cmd_bench, "GPU benchmark sweep: native 2:4 vs cuBLAS dense vs cuSPARSELt"},
    {"bert", s24::cli::cmd_bert, "BERT end to end: prune, fidelity, dense vs sparse timings"},
};

void usage(FILE* out) {
  std::fprintf(out,
               "sparse24 %s — 2:4 semi-structured sparsity\n\n"
               "usage: sparse24 <command> [options]   (sparse24 <command> --help for more)\n\n",
               SPARSE24_VERSION_STRING);
  for (const auto& c : kCommands) std::fprintf(out, "  %-8s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    usage(stdout);
    return 0;
  }
  if (name == "--version") {
    std::printf("sparse24 %s (format version %d, CUDA %s)\n", SPARSE24_VERSION_STRING,
                SPARSE24_FORMAT_VERSION, S24_WITH_CUDA ? "on" : "off");
    return 0;
  }
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(argc - 1, argv + 1);  // argv[0] of the command is its name
    } catch (const s24::Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sparse24: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "sparse24: unknown command '%s'\n\n", name.c_str());
  usage(stderr);
  return 2;
}

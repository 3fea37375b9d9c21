// The sparse24 command line: one function per sub-command, each in its own cmd_<name>.cc.
// Each returns the process exit code; s24::Error escapes to main(), which prints it.
#pragma once

namespace s24::cli {

int cmd_prune(int argc, char** argv);    // cmd_prune.cc
int cmd_inspect(int argc, char** argv);  // cmd_inspect.cc
int cmd_demo(int argc, char** argv);     // cmd_demo.cc: the README's main job
int cmd_bench(int argc, char** argv);    // cmd_bench.cc: GPU benchmark sweep
int cmd_bert(int argc, char** argv);     // cmd_bert.cc: BERT end to end

}  // namespace s24::cli

// sparse24 — safetensors files, plain and with 2:4 compressed tensors (docs/FORMAT.md).
#pragma once

#include <map>
#include <string>

#include "sparse24/format.h"
#include "sparse24/tensor.h"

namespace s24 {

struct TensorFile {
  std::map<std::string, Tensor> tensors;         // dense tensors, on the CPU
  std::map<std::string, Compressed24> sparse;    // 2:4 tensors (compressed files only)
  std::map<std::string, std::string> metadata;   // the "__metadata__" string map
};

// Reads any safetensors file. Compressed tensors written by save_safetensors appear in `sparse`
// under their logical name. Validates everything: header size and JSON, dtypes, shapes against
// byte ranges, ranges inside the file and not overlapping, legal nibbles. Throws kIo / kCorruptFile.
TensorFile load_safetensors(const std::string& path);
TensorFile parse_safetensors(const void* data, size_t size);  // the same, from memory
void save_safetensors(const std::string& path, const TensorFile& file);

}  // namespace s24

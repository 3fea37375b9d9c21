// Internal: whole-file reads for the model loaders (config.json, vocab.txt, SQuAD files).
#pragma once

#include <string>

namespace s24::model {

// The bytes of `path`; throws s24::Error(kIo) naming the file and the reason.
std::string read_text_file(const std::string& path);
bool file_exists(const std::string& path);
// dir + "/" + name (dir may end with '/').
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace s24::model

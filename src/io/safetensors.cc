// safetensors files (docs/FORMAT.md, "On disk"). The reader trusts nothing in the file: every
// size, offset and name is checked before it is used, and the work is linear in the file size.
#include "sparse24/io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/json.h"
#include "io/safetensors_internal.h"
#include "sparse24/version.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors stores little-endian data; this reader copies bytes as they are");

namespace s24 {
namespace detail {

bool is_valid_utf8(std::string_view s, size_t* bad_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The first continuation byte's range excludes overlong forms, UTF-16 surrogates
    // (U+D800..U+DFFF) and code points above U+10FFFF (RFC 3629, table 3-7 of Unicode).
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = 3;
    } else if (c == 0xED) {
      len = 3, hi = 0x9F;
    } else if (c == 0xF0) {
      len = 4, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4, hi = 0x8F;
    }
    bool ok = len != 0 && n - i >= len && p[i + 1] >= lo && p[i + 1] <= hi;
    for (size_t k = 2; ok && k < len; ++k) ok = p[i + k] >= 0x80 && p[i + k] <= 0xBF;
    if (!ok) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace detail

namespace {

// The reference implementation's limit; a real header of a few thousand tensors is ~1 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// root object -> tensor object -> shape array -> numbers.
constexpr int kHeaderMaxDepth = 3;
// root -> "tensors" -> entry -> shape -> numbers.
constexpr int kSparseMetaMaxDepth = 4;
constexpr char kSparseMetaKey[] = "sparse24";
constexpr char kMetadataKey[] = "__metadata__";
constexpr char kValuesSuffix[] = ".s24_values";
constexpr char kMetaSuffix[] = ".s24_meta";

// The message of an Error without its "sparse24: <code>: " prefix, to re-throw it with context.
std::string bare_message(const Error& e) {
  const std::string prefix = std::string("sparse24: ") + error_code_name(e.code()) + ": ";
  const std::string what = e.what();
  return what.compare(0, prefix.size(), prefix) == 0 ? what.substr(prefix.size()) : what;
}

// Json keeps every value as a node of ~150 bytes, so a 100 MB header of "[0,0,0,...]" would
// cost gigabytes. An upper bound on the number of values (structural characters outside strings)
// is cheap to find first; real headers hold about ten values per tensor.
constexpr size_t kMaxJsonValues = 4'000'000;

size_t json_value_bound(std::string_view text) {
  size_t n = 1;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == ',' || c == '[' || c == '{') {
      ++n;
    }
  }
  return n;
}

Json parse_bounded(std::string_view text, const char* what, int max_depth) {
  const size_t bound = json_value_bound(text);
  S24_CHECK(bound <= kMaxJsonValues, ErrorCode::kCorruptFile, what, " holds up to ", bound,
            " JSON values, more than the ", kMaxJsonValues, " a sane file needs");
  return Json::parse(text, what, max_depth);
}

std::string quoted(std::string_view s) {
  // Names come from untrusted files: keep the message one printable line.
  std::string out = "'";
  for (unsigned char c : s.substr(0, 200)) {
    if (c < 0x20 || c == 0x7F) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out + "'";
}

// The dtype names a safetensors file may carry. Only the upper-case names of the format are
// accepted (parse_dtype's lower-case short forms are for command lines, not files).
DType file_dtype(const std::string& name, const std::string& tensor) {
  static const std::pair<const char*, DType> kSupported[] = {
      {"F32", DType::kF32},         {"F16", DType::kF16}, {"BF16", DType::kBF16},
      {"F8_E4M3", DType::kF8E4M3}, {"F8_E5M2", DType::kF8E5M2}, {"I8", DType::kI8},
      {"U8", DType::kU8},           {"I32", DType::kI32}, {"I64", DType::kI64},
  };
  for (const auto& [n, d] : kSupported)
    if (name == n) return d;
  // Legal safetensors dtypes that sparse24 has no storage type for: the file is fine, the
  // request is not one this library serves.
  static const char* kKnownOther[] = {"BOOL", "U16", "I16", "U32", "U64", "F64",
                                      "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"};
  for (const char* n : kKnownOther)
    if (name == n)
      S24_THROW(ErrorCode::kUnsupported, "tensor ", quoted(tensor), ": dtype ", name,
                " is not supported by sparse24 (supported: F32, F16, BF16, F8_E4M3, F8_E5M2, I8,"
                " U8, I32, I64)");
  S24_THROW(ErrorCode::kCorruptFile, "tensor ", quoted(tensor), ": unknown dtype ", quoted(name),
            " (supported: F32, F16, BF16, F8_E4M3, F8_E5M2, I8, U8, I32, I64)");
}

// A JSON number that is an integer in [0, 2^63).
uint64_t read_count(const Json& j, const std::string& tensor, const char* field) {
  int64_t v = -1;
  if (j.is_number()) {
    try {
      v = j.as_int64();
    } catch (const Error&) {
      v = -1;
    }
  }
  S24_CHECK(v >= 0, ErrorCode::kCorruptFile, "tensor ", quoted(tensor), ": ", field,
            " must hold non-negative integers below 2^63, got ",
            j.is_number() ? std::to_string(j.as_number()) : std::string("a non-number"));
  return static_cast<uint64_t>(v);
}

struct Entry {
  std::string name;
  DType dtype = DType::kU8;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

Entry read_entry(const std::string& name, const Json& j, uint64_t data_size) {
  S24_CHECK(j.is_object(), ErrorCode::kCorruptFile, "tensor ", quoted(name),
            ": header entry is not a JSON object");
  for (const auto& [key, value] : j.as_object()) {
    (void)value;
    S24_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", ErrorCode::kCorruptFile,
              "tensor ", quoted(name), ": unexpected field ", quoted(key),
              " (a tensor has exactly dtype, shape and data_offsets)");
  }
  for (const char* key : {"dtype", "shape", "data_offsets"})
    S24_CHECK(j.contains(key), ErrorCode::kCorruptFile, "tensor ", quoted(name),
              ": missing field \"", key, "\"");
  Entry e;
  e.name = name;
  const Json& dtype = j.at("dtype");
  S24_CHECK(dtype.is_string(), ErrorCode::kCorruptFile, "tensor ", quoted(name),
            ": dtype is not a string");
  e.dtype = file_dtype(dtype.as_string(), name);

  const Json& shape = j.at("shape");
  S24_CHECK(shape.is_array(), ErrorCode::kCorruptFile, "tensor ", quoted(name),
            ": shape is not an array");
  uint64_t numel = 1;
  bool overflow = false;
  for (const Json& d : shape.as_array()) {
    const uint64_t v = read_count(d, name, "shape");
    e.shape.push_back(static_cast<int64_t>(v));
    // Checked in order, as the reference reader does: a zero later in the shape does not
    // excuse an overflowing prefix.
    if (v != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / v)
      overflow = true;
    numel *= v;
  }
  const uint64_t esize = dtype_size(e.dtype);
  overflow = overflow || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / esize;
  S24_CHECK(!overflow, ErrorCode::kCorruptFile, "tensor ", quoted(name), ": shape ",
            shape_str(e.shape), " overflows 64-bit sizes");

  const Json& offsets = j.at("data_offsets");
  S24_CHECK(offsets.is_array() && offsets.as_array().size() == 2, ErrorCode::kCorruptFile,
            "tensor ", quoted(name), ": data_offsets must be [begin, end]");
  e.begin = read_count(offsets.as_array()[0], name, "data_offsets");
  e.end = read_count(offsets.as_array()[1], name, "data_offsets");
  S24_CHECK(e.begin <= e.end, ErrorCode::kCorruptFile, "tensor ", quoted(name),
            ": data_offsets [", e.begin, ", ", e.end, "] end before they begin");
  S24_CHECK(e.end <= data_size, ErrorCode::kCorruptFile, "tensor ", quoted(name),
            ": data_offsets [", e.begin, ", ", e.end, "] run past the end of the ", data_size,
            "-byte data buffer (truncated file?)");
  S24_CHECK(e.end - e.begin == numel * esize, ErrorCode::kCorruptFile, "tensor ", quoted(name),
            ": ", dtype_name(e.dtype), shape_str(e.shape), " needs ", numel * esize,
            " bytes but data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin);
  return e;
}

// safetensors requires the byte ranges, sorted, to tile the data buffer exactly: no overlap,
// no gap, nothing after the last tensor (the reference reader rejects anything else, and a gap
// or an overlap is how a lying header shows).
void check_tiling(std::vector<const Entry*>& order, uint64_t data_size) {
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    if (e->begin < covered)
      S24_THROW(ErrorCode::kCorruptFile, "tensors ", quoted(prev->name), " [", prev->begin, ", ",
                prev->end, ") and ", quoted(e->name), " [", e->begin, ", ", e->end,
                ") overlap in the data buffer");
    if (e->begin > covered)
      S24_THROW(ErrorCode::kCorruptFile, "bytes [", covered, ", ", e->begin,
                ") of the data buffer belong to no tensor (safetensors requires the tensors to "
                "cover the buffer contiguously)");
    covered = e->end;
    prev = e;
  }
  S24_CHECK(covered == data_size, ErrorCode::kCorruptFile, "the data buffer holds ", data_size,
            " bytes but the tensors cover only ", covered,
            " (safetensors requires the tensors to cover the buffer exactly)");
}

// Moves the companions of every tensor listed in the "sparse24" metadata from `file.tensors`
// into `file.sparse`, after checking them against the listing and the 2:4 format.
void gather_compressed(const std::string& meta_json, TensorFile& file) {
  const Json doc = parse_bounded(meta_json, "sparse24 metadata", kSparseMetaMaxDepth);
  S24_CHECK(doc.is_object(), ErrorCode::kCorruptFile, "sparse24 metadata is not a JSON object");
  for (const auto& [key, value] : doc.as_object()) {
    (void)value;
    S24_CHECK(key == "format_version" || key == "tensors", ErrorCode::kCorruptFile,
              "sparse24 metadata: unexpected field ", quoted(key));
  }
  const Json* version = doc.find("format_version");
  S24_CHECK(version != nullptr, ErrorCode::kCorruptFile,
            "sparse24 metadata: missing field \"format_version\"");
  int64_t v = -1;
  if (version->is_number()) {
    try {
      v = version->as_int64();
    } catch (const Error&) {
      v = -1;
    }
  }
  S24_CHECK(v >= 1, ErrorCode::kCorruptFile,
            "sparse24 metadata: format_version must be a positive integer");
  S24_CHECK(v <= SPARSE24_FORMAT_VERSION, ErrorCode::kCorruptFile,
            "sparse24 metadata: format_version ", v, " is newer than this sparse24 reads (",
            SPARSE24_FORMAT_VERSION, "); upgrade sparse24 to load this file");
  const Json* tensors = doc.find("tensors");
  S24_CHECK(tensors != nullptr && tensors->is_object(), ErrorCode::kCorruptFile,
            "sparse24 metadata: \"tensors\" must be an object");

  for (const auto& [name, info] : tensors->as_object()) {
    const std::string what = "compressed tensor " + quoted(name);
    S24_CHECK(info.is_object(), ErrorCode::kCorruptFile, what, ": entry is not an object");
    for (const auto& [key, value] : info.as_object()) {
      (void)value;
      S24_CHECK(key == "dtype" || key == "shape", ErrorCode::kCorruptFile, what,
                ": unexpected field ", quoted(key));
    }
    const Json* dtype_j = info.find("dtype");
    const Json* shape_j = info.find("shape");
    S24_CHECK(dtype_j && dtype_j->is_string(), ErrorCode::kCorruptFile, what,
              ": missing or non-string \"dtype\"");
    S24_CHECK(shape_j && shape_j->is_array() && shape_j->as_array().size() == 2,
              ErrorCode::kCorruptFile, what, ": \"shape\" must be [rows, cols]");
    const DType dtype = file_dtype(dtype_j->as_string(), name);
    bool value_dtype = true;
    try {
      (void)dispatch_value_dtype(dtype, [](auto) { return 0; });
    } catch (const Error&) {
      value_dtype = false;
    }
    S24_CHECK(value_dtype, ErrorCode::kCorruptFile, what, ": dtype ", dtype_name(dtype),
              " cannot hold a 2:4 matrix");
    const int64_t rows = static_cast<int64_t>(read_count(shape_j->as_array()[0], name, "shape"));
    const int64_t cols = static_cast<int64_t>(read_count(shape_j->as_array()[1], name, "shape"));
    S24_CHECK(cols % 4 == 0, ErrorCode::kCorruptFile, what, ": logical column count ", cols,
              " is not a multiple of 4");
    S24_CHECK(file.tensors.count(name) == 0 && file.sparse.count(name) == 0,
              ErrorCode::kCorruptFile, what, " also exists as a dense tensor");

    auto values_it = file.tensors.find(name + kValuesSuffix);
    auto meta_it = file.tensors.find(name + kMetaSuffix);
    S24_CHECK(values_it != file.tensors.end(), ErrorCode::kCorruptFile, what,
              ": its values tensor ", quoted(name + kValuesSuffix), " is missing");
    S24_CHECK(meta_it != file.tensors.end(), ErrorCode::kCorruptFile, what,
              ": its metadata tensor ", quoted(name + kMetaSuffix), " is missing");
    Compressed24 c;
    c.values = values_it->second;
    c.meta = meta_it->second;
    c.rows = rows;
    c.cols = cols;
    S24_CHECK(c.values.dtype() == dtype, ErrorCode::kCorruptFile, what, ": listed as ",
              dtype_name(dtype), " but its values are ", dtype_name(c.values.dtype()));
    try {
      validate(c);
    } catch (const Error& e) {
      S24_THROW(ErrorCode::kCorruptFile, what, " [", rows, ", ", cols, "]: ", bare_message(e));
    }
    file.tensors.erase(values_it);
    file.tensors.erase(meta_it);
    file.sparse.emplace(name, std::move(c));
  }
}

}  // namespace

TensorFile parse_safetensors(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  S24_CHECK(size >= 8, ErrorCode::kCorruptFile, "file is ", size,
            " bytes, shorter than the 8-byte safetensors header length (truncated file?)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);
  S24_CHECK(header_len <= kMaxHeaderBytes, ErrorCode::kCorruptFile, "header length ",
            header_len, " exceeds the ", kMaxHeaderBytes,
            "-byte limit (not a safetensors file, or a corrupt one)");
  S24_CHECK(header_len <= size - 8, ErrorCode::kCorruptFile, "header length ", header_len,
            " runs past the end of the ", size, "-byte file (truncated file?)");
  const std::string_view header(reinterpret_cast<const char*>(bytes + 8), header_len);
  size_t bad = 0;
  S24_CHECK(detail::is_valid_utf8(header, &bad), ErrorCode::kCorruptFile,
            "safetensors header is not valid UTF-8 (byte ", bad, ")");
  const Json root = parse_bounded(header, "safetensors header", kHeaderMaxDepth);
  S24_CHECK(root.is_object(), ErrorCode::kCorruptFile,
            "safetensors header is not a JSON object");

  const unsigned char* buffer = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  TensorFile file;
  std::vector<Entry> entries;
  entries.reserve(root.as_object().size());
  for (const auto& [key, value] : root.as_object()) {
    if (key == kMetadataKey) {
      S24_CHECK(value.is_object(), ErrorCode::kCorruptFile,
                "__metadata__ is not a JSON object of strings");
      for (const auto& [mk, mv] : value.as_object()) {
        S24_CHECK(mv.is_string(), ErrorCode::kCorruptFile, "__metadata__ value of ", quoted(mk),
                  " is not a string");
        file.metadata.emplace(mk, mv.as_string());
      }
      continue;
    }
    entries.push_back(read_entry(key, value, data_size));
  }
  std::vector<const Entry*> order;
  order.reserve(entries.size());
  for (const Entry& e : entries) order.push_back(&e);
  check_tiling(order, data_size);

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), buffer + e.begin, e.end - e.begin);
    file.tensors.emplace(e.name, std::move(t));
  }

  auto sparse_meta = file.metadata.find(kSparseMetaKey);
  if (sparse_meta != file.metadata.end()) {
    gather_compressed(sparse_meta->second, file);
    file.metadata.erase(sparse_meta);  // consumed: save_safetensors rebuilds it from `sparse`
  }
  return file;
}

namespace {

std::string errno_text() { return std::strerror(errno); }

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

class Mapping {
 public:
  Mapping(void* p, size_t n) : p_(p), n_(n) {}
  ~Mapping() {
    if (p_ != nullptr && p_ != MAP_FAILED) ::munmap(p_, n_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

 private:
  void* p_;
  size_t n_;
};

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    // Linux moves at most ~2 GiB per write() call.
    const ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    S24_CHECK(w > 0, ErrorCode::kIo, "cannot write ", path, ": ", errno_text());
    p += w;
    n -= static_cast<size_t>(w);
  }
}

struct Item {
  std::string name;
  Tensor tensor;  // contiguous, on the CPU
};

Tensor cpu_contiguous(const Tensor& t) {
  return t.device().is_cpu() ? t.contiguous() : t.to(Device::cpu());
}

void check_name(const std::string& name, const char* what) {
  size_t bad = 0;
  S24_CHECK(detail::is_valid_utf8(name, &bad), ErrorCode::kInvalidArgument, what, " ",
            quoted(name), " is not valid UTF-8");
}

}  // namespace

TensorFile load_safetensors(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  S24_CHECK(fd.get() >= 0, ErrorCode::kIo, "cannot open ", path, ": ", errno_text());
  struct stat st {};
  S24_CHECK(::fstat(fd.get(), &st) == 0, ErrorCode::kIo, "cannot stat ", path, ": ",
            errno_text());
  S24_CHECK(S_ISREG(st.st_mode), ErrorCode::kIo, path, " is not a regular file");
  const size_t size = static_cast<size_t>(st.st_size);
  try {
    if (size == 0) return parse_safetensors("", 0);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    S24_CHECK(p != MAP_FAILED, ErrorCode::kIo, "cannot map ", path, ": ", errno_text());
    Mapping mapping(p, size);
    ::madvise(p, size, MADV_SEQUENTIAL);
    return parse_safetensors(p, size);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kIo) throw;
    throw Error(e.code(), path + ": " + bare_message(e));
  }
}

void save_safetensors(const std::string& path, const TensorFile& file) {
  std::vector<Item> items;
  items.reserve(file.tensors.size() + 2 * file.sparse.size());
  std::map<std::string, int> taken;  // name -> 0 dense, 1 companion
  for (const auto& [name, t] : file.tensors) {
    S24_CHECK(name != kMetadataKey, ErrorCode::kInvalidArgument,
              "a tensor cannot be named __metadata__");
    check_name(name, "tensor name");
    S24_CHECK(t.defined(), ErrorCode::kInvalidArgument, "tensor ", quoted(name),
              " is undefined");
    items.push_back({name, cpu_contiguous(t)});
    taken[name] = 0;
  }
  Json::Object listing;
  for (const auto& [name, c] : file.sparse) {
    check_name(name, "tensor name");
    S24_CHECK(taken.count(name) == 0, ErrorCode::kInvalidArgument, "compressed tensor ",
              quoted(name), " has the name of a dense tensor");
    const Compressed24 cpu = c.device().is_cpu() ? c : c.to(Device::cpu());
    try {
      validate(cpu);
    } catch (const Error& e) {
      throw Error(e.code(), "compressed tensor " + quoted(name) + ": " + bare_message(e));
    }
    for (const char* suffix : {kValuesSuffix, kMetaSuffix}) {
      const std::string companion = name + suffix;
      S24_CHECK(taken.count(companion) == 0, ErrorCode::kInvalidArgument, "compressed tensor ",
                quoted(name), " needs the name ", quoted(companion), ", which is taken");
      taken[companion] = 1;
    }
    items.push_back({name + kValuesSuffix, cpu_contiguous(cpu.values)});
    items.push_back({name + kMetaSuffix, cpu_contiguous(cpu.meta)});
    listing.emplace(name, Json::object({{"dtype", Json::string(dtype_name(cpu.dtype()))},
                                        {"shape", Json::array({Json::integer(cpu.rows),
                                                               Json::integer(cpu.cols)})}}));
  }

  Json::Object metadata;
  for (const auto& [k, v] : file.metadata) {
    S24_CHECK(k != kSparseMetaKey, ErrorCode::kInvalidArgument,
              "the metadata key \"sparse24\" is reserved: it is written from TensorFile::sparse");
    check_name(k, "metadata key");
    check_name(v, "metadata value");
    metadata.emplace(k, Json::string(v));
  }
  if (!listing.empty()) {
    const Json doc = Json::object({{"format_version", Json::integer(SPARSE24_FORMAT_VERSION)},
                                   {"tensors", Json::object(std::move(listing))}});
    metadata.emplace(kSparseMetaKey, Json::string(doc.dump()));
  }

  // Largest elements first, then by name (as the reference writer orders them): with the data
  // buffer starting 8-byte aligned, every tensor then starts at a multiple of its element size
  // while the ranges still tile the buffer without gaps, as readers require.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.tensor.element_size() != b.tensor.element_size())
      return a.tensor.element_size() > b.tensor.element_size();
    return a.name < b.name;
  });
  Json::Object header;
  uint64_t offset = 0;
  for (const Item& it : items) {
    const uint64_t n = it.tensor.nbytes();
    Json::Array shape;
    for (int64_t d : it.tensor.shape()) shape.push_back(Json::integer(d));
    Json::Array range = {Json::integer(static_cast<int64_t>(offset)),
                         Json::integer(static_cast<int64_t>(offset + n))};
    header.emplace(it.name, Json::object({{"dtype", Json::string(dtype_name(it.tensor.dtype()))},
                                          {"shape", Json::array(std::move(shape))},
                                          {"data_offsets", Json::array(std::move(range))}}));
    offset += n;
  }
  if (!metadata.empty()) header.emplace(kMetadataKey, Json::object(std::move(metadata)));
  std::string header_text = Json::object(std::move(header)).dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  S24_CHECK(header_text.size() <= kMaxHeaderBytes, ErrorCode::kInvalidArgument, "the header of ",
            path, " would be ", header_text.size(), " bytes, over the ", kMaxHeaderBytes,
            "-byte limit of safetensors readers");

  // Write beside the target and rename over it: readers never see a half-written file, and a
  // failure leaves any previous file in place.
  std::random_device rd;
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd() % 1000000);
  FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  S24_CHECK(fd.get() >= 0, ErrorCode::kIo, "cannot create ", tmp, ": ", errno_text());
  try {
    const uint64_t header_len = header_text.size();
    unsigned char len_bytes[8];
    std::memcpy(len_bytes, &header_len, 8);
    write_all(fd.get(), len_bytes, 8, tmp);
    write_all(fd.get(), header_text.data(), header_text.size(), tmp);
    for (const Item& it : items) write_all(fd.get(), it.tensor.raw_data(), it.tensor.nbytes(), tmp);
    S24_CHECK(::fsync(fd.get()) == 0, ErrorCode::kIo, "cannot flush ", tmp, ": ", errno_text());
    S24_CHECK(::close(fd.release()) == 0, ErrorCode::kIo, "cannot close ", tmp, ": ",
              errno_text());
    S24_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, ErrorCode::kIo, "cannot rename ", tmp,
              " to ", path, ": ", errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace s24

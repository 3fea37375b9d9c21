// safetensors reading and writing: round trips of every dtype (plain and 2:4 compressed), the
// exact bytes the writer produces, files built by hand, and one test per kind of bad input.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "core/json.h"
#include "io/safetensors_internal.h"

namespace s24 {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "s24_io_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}
// A file from a header text (unpadded unless the caller pads) and a data buffer.
std::string make_file(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}
TensorFile parse(const std::string& bytes) { return parse_safetensors(bytes.data(), bytes.size()); }

Tensor random_bytes(const Shape& shape, DType dtype, std::mt19937_64& g) {
  Tensor t = Tensor::empty(shape, dtype);
  auto* p = static_cast<unsigned char*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<unsigned char>(g());
  return t;
}

// A random 2:4 matrix (each group keeps 0, 1 or 2 random nonzero positions) of a value dtype.
Tensor random_24(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g) {
  Tensor f = test::random_int({rows, cols}, DType::kF32, g, 1, 7);
  float* p = f.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; c += 4) {
      const unsigned keep = static_cast<unsigned>(g() % 16);
      int kept = 0;
      for (int i = 0; i < 4; ++i) {
        const bool on = (keep >> i) & 1u;
        if (on && kept < 2) {
          ++kept;
          if (g() % 2) p[r * cols + c + i] = -p[r * cols + c + i];
        } else {
          p[r * cols + c + i] = 0.0f;
        }
      }
    }
  return f.cast_cpu(dtype);
}

const DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E5M2,
                            DType::kI8,  DType::kU8,  DType::kI32,  DType::kI64};
const DType kValueDTypes[] = {DType::kF32,    DType::kF16,    DType::kBF16,
                              DType::kF8E4M3, DType::kF8E5M2, DType::kI8};

// The header of a file, parsed independently of the reader under test.
Json header_of(const std::string& bytes) {
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return Json::parse(bytes.substr(8, n));
}

TEST(SafetensorsRoundTrip, EveryDTypeAndOddShapes) {
  auto g = test::rng(1);
  TempDir dir;
  TensorFile in;
  const Shape shapes[] = {{3, 5}, {7}, {}, {0, 4}, {2, 3, 5}, {1, 1, 1, 1, 3}, {0}};
  for (DType d : kAllDTypes)
    for (size_t s = 0; s < std::size(shapes); ++s)
      in.tensors.emplace(std::string(dtype_name(d)) + ".t" + std::to_string(s),
                         random_bytes(shapes[s], d, g));
  in.metadata["format"] = "pt";
  in.metadata["quotes \" and \\ backslash"] = "line\nbreak\ttab \x01 control";
  in.metadata["unicode"] = "gr\xC3\xBC\xC3\x9F" "e \xE2\x82\xAC \xF0\x9F\x98\x80";
  in.metadata["empty"] = "";
  const std::string path = dir.file("all.safetensors");
  save_safetensors(path, in);
  const TensorFile out = load_safetensors(path);
  EXPECT_EQ(out.metadata, in.metadata);
  EXPECT_TRUE(out.sparse.empty());
  ASSERT_EQ(out.tensors.size(), in.tensors.size());
  for (const auto& [name, t] : in.tensors) {
    ASSERT_TRUE(out.tensors.count(name)) << name;
    EXPECT_TRUE(test::bit_equal(out.tensors.at(name), t)) << name;
  }
  // The same bytes parse from memory.
  const TensorFile mem = parse(read_bytes(path));
  EXPECT_EQ(mem.tensors.size(), in.tensors.size());
}

TEST(SafetensorsRoundTrip, EmptyFile) {
  TempDir dir;
  save_safetensors(dir.file("e.safetensors"), TensorFile{});
  const std::string bytes = read_bytes(dir.file("e.safetensors"));
  // The reference writer's bytes for an empty dict: "{}" padded to 8 with spaces.
  EXPECT_EQ(bytes, le64(8) + "{}      ");
  const TensorFile f = load_safetensors(dir.file("e.safetensors"));
  EXPECT_TRUE(f.tensors.empty() && f.sparse.empty() && f.metadata.empty());
}

TEST(SafetensorsRoundTrip, NonContiguousInputIsWrittenContiguously) {
  auto g = test::rng(2);
  TempDir dir;
  Tensor m = test::random_int({4, 6}, DType::kF32, g);
  TensorFile in;
  in.tensors["t"] = m.t();
  save_safetensors(dir.file("t.safetensors"), in);
  const TensorFile out = load_safetensors(dir.file("t.safetensors"));
  EXPECT_TRUE(test::bit_equal(out.tensors.at("t"), m.t().contiguous()));
}

TEST(SafetensorsRoundTrip, CompressedEveryValueDType) {
  auto g = test::rng(3);
  TempDir dir;
  TensorFile in;
  std::map<std::string, Tensor> dense;
  const std::pair<int64_t, int64_t> shapes[] = {{5, 12}, {3, 8}, {1, 4}, {0, 16}, {6, 36}};
  for (DType d : kValueDTypes)
    for (const auto& [rows, cols] : shapes) {
      const std::string name = std::string("layer.") + dtype_name(d) + "." +
                               std::to_string(rows) + "x" + std::to_string(cols) + ".weight";
      Tensor w = random_24(rows, cols, d, g);
      dense[name] = w;
      in.sparse[name] = compress(w);
    }
  in.tensors["plain.bias"] = test::random_int({12}, DType::kF16, g);
  in.metadata["format"] = "pt";
  const std::string path = dir.file("c.safetensors");
  save_safetensors(path, in);
  const TensorFile out = load_safetensors(path);
  EXPECT_EQ(out.metadata, in.metadata);  // "sparse24" is consumed, not returned
  ASSERT_EQ(out.tensors.size(), 1u);
  EXPECT_TRUE(test::bit_equal(out.tensors.at("plain.bias"), in.tensors.at("plain.bias")));
  ASSERT_EQ(out.sparse.size(), in.sparse.size());
  for (const auto& [name, c] : in.sparse) {
    ASSERT_TRUE(out.sparse.count(name)) << name;
    const Compressed24& back = out.sparse.at(name);
    EXPECT_EQ(back.rows, c.rows);
    EXPECT_EQ(back.cols, c.cols);
    EXPECT_TRUE(test::bit_equal(back.values, c.values)) << name;
    EXPECT_TRUE(test::bit_equal(back.meta, c.meta)) << name;
    EXPECT_TRUE(test::bit_equal(decompress(back), dense.at(name))) << name;
  }
}

TEST(SafetensorsLayout, CompressedTensorsArePlainSafetensors) {
  auto g = test::rng(4);
  TempDir dir;
  TensorFile in;
  in.sparse["X"] = compress(random_24(3, 12, DType::kF16, g));
  in.tensors["a"] = random_bytes({3}, DType::kU8, g);
  in.tensors["b"] = random_bytes({5}, DType::kF32, g);
  in.tensors["c"] = random_bytes({3}, DType::kI64, g);
  save_safetensors(dir.file("x.safetensors"), in);
  const std::string bytes = read_bytes(dir.file("x.safetensors"));
  const Json h = header_of(bytes);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u) << "header padded to a multiple of 8";

  const Json& values = h.at("X.s24_values");
  EXPECT_EQ(values.at("dtype").as_string(), "F16");
  EXPECT_EQ(values.at("shape").dump(), "[3,6]");
  const Json& meta = h.at("X.s24_meta");
  EXPECT_EQ(meta.at("dtype").as_string(), "U8");
  EXPECT_EQ(meta.at("shape").dump(), "[3,2]");
  EXPECT_FALSE(h.contains("X"));
  EXPECT_EQ(h.at("__metadata__").at("sparse24").as_string(),
            R"({"format_version":1,"tensors":{"X":{"dtype":"F16","shape":[3,12]}}})");

  // Offsets tile the buffer from 0 with every tensor aligned to its element size.
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const auto& [name, info] : h.as_object()) {
    if (name == "__metadata__") continue;
    const int64_t b = info.at("data_offsets").as_array()[0].as_int64();
    const int64_t e = info.at("data_offsets").as_array()[1].as_int64();
    EXPECT_EQ(b % static_cast<int64_t>(dtype_size(parse_dtype(info.at("dtype").as_string()))), 0)
        << name;
    ranges.emplace_back(b, e);
  }
  std::sort(ranges.begin(), ranges.end());
  int64_t at = 0;
  for (const auto& [b, e] : ranges) {
    EXPECT_EQ(b, at);
    at = e;
  }
  EXPECT_EQ(static_cast<uint64_t>(at), bytes.size() - 8 - n);
}

TEST(SafetensorsLayout, WriterBytesMatchTheSpecByHand) {
  TempDir dir;
  TensorFile in;
  Tensor t = Tensor::empty({1, 2, 3}, DType::kF32);
  for (int i = 0; i < 6; ++i) t.data<float>()[i] = static_cast<float>(i);
  in.tensors["attn.0"] = t;
  Tensor u = Tensor::empty({3}, DType::kU8);
  for (int i = 0; i < 3; ++i) u.data<uint8_t>()[i] = static_cast<uint8_t>(10 + i);
  in.tensors["a.u8"] = u;
  in.metadata["format"] = "pt";
  save_safetensors(dir.file("h.safetensors"), in);

  // Keys sorted; the F32 tensor first (larger elements first), then the U8 one; spaces pad the
  // header to a multiple of 8.
  std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("a.u8":{"data_offsets":[24,27],"dtype":"U8","shape":[3]},)"
      R"("attn.0":{"data_offsets":[0,24],"dtype":"F32","shape":[1,2,3]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string data;
  for (int i = 0; i < 6; ++i) {
    const float f = static_cast<float>(i);
    data.append(reinterpret_cast<const char*>(&f), 4);
  }
  data += "\x0a\x0b\x0c";
  EXPECT_EQ(read_bytes(dir.file("h.safetensors")), make_file(header, data));
}

TEST(SafetensorsLayout, ReadsHandBuiltFiles) {
  // The reference implementation's documentation example: two I32 rows, unpadded header.
  std::string data(16, '\0');
  for (int i = 0; i < 4; ++i) data[4 * i] = static_cast<char>(i + 1);
  TensorFile f = parse(make_file(R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})",
                                 data));
  ASSERT_EQ(f.tensors.size(), 1u);
  const Tensor& t = f.tensors.at("test");
  EXPECT_EQ(t.dtype(), DType::kI32);
  EXPECT_EQ(t.shape(), Shape({2, 2}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.data<int32_t>()[i], i + 1);

  // Any key order, whitespace, tensors listed out of offset order, an unaligned F32 tensor, a
  // scalar, an empty tensor sharing an offset, unicode escapes in names and metadata.
  std::string d2;
  d2 += "\x07";  // u8 scalar at 0
  const float vals[2] = {1.5f, -2.0f};
  d2.append(reinterpret_cast<const char*>(vals), 8);  // F32 at offset 1: unaligned
  const std::string h2 =
      "{ \"w\" : {\"shape\":[2], \"data_offsets\":[1,9], \"dtype\":\"F32\"},\n"
      "  \"__metadata__\": {\"k\\u00e9y\": \"v\\n\"},\n"
      "  \"s\": {\"dtype\":\"U8\",\"data_offsets\":[0,1],\"shape\":[]},\n"
      "  \"z\\u0041\": {\"dtype\":\"BF16\",\"data_offsets\":[1,1],\"shape\":[0,3]} }   ";
  f = parse(make_file(h2, d2));
  EXPECT_EQ(f.tensors.at("w").data<float>()[0], 1.5f);
  EXPECT_EQ(f.tensors.at("w").data<float>()[1], -2.0f);
  EXPECT_EQ(f.tensors.at("s").shape(), Shape{});
  EXPECT_EQ(f.tensors.at("s").data<uint8_t>()[0], 7);
  EXPECT_EQ(f.tensors.at("zA").shape(), Shape({0, 3}));
  EXPECT_EQ(f.metadata.at("k\xC3\xA9y"), "v\n");
}

TEST(SafetensorsLayout, ReadsCompressedFileBuiltByHand) {
  // [2, 8] F32 2:4 matrix; row 0 keeps (0,1),(2,3) -> nibbles 0x4, 0xE -> byte 0xE4;
  // row 1 keeps (1,3),(0,2) -> 0xD, 0x8 -> byte 0x8D.
  const float values[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  std::string data(reinterpret_cast<const char*>(values), 32);
  data += "\xE4\x8D";
  const std::string sparse_meta =
      R"({\"format_version\":1,\"tensors\":{\"W\":{\"dtype\":\"F32\",\"shape\":[2,8]}}})";
  const std::string header =
      R"({"W.s24_values":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},)"
      R"("W.s24_meta":{"dtype":"U8","shape":[2,1],"data_offsets":[32,34]},)"
      R"("__metadata__":{"sparse24":")" + sparse_meta + R"("}})";
  const TensorFile f = parse(make_file(header, data));
  ASSERT_EQ(f.sparse.size(), 1u);
  EXPECT_TRUE(f.tensors.empty());
  const Tensor d = decompress(f.sparse.at("W"));
  const float want[16] = {1, 2, 0, 0, 0, 0, 3, 4, 0, 5, 0, 6, 7, 0, 8, 0};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(d.data<float>()[i], want[i]) << i;
}

// ---- bad input ------------------------------------------------------------------------------

// A valid one-tensor F32 [2] file, pieces to be broken by the tests.
const char kGoodHeader[] = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
const std::string kGoodData(8, '\x01');

TEST(SafetensorsBadInput, TruncatedFile) {
  S24_EXPECT_ERROR(parse(""), kCorruptFile, "shorter than the 8-byte");
  S24_EXPECT_ERROR(parse(std::string(7, '\0')), kCorruptFile, "shorter than the 8-byte");
  // Every proper prefix of a valid file is rejected with an error, never a crash.
  const std::string full = make_file(kGoodHeader, kGoodData);
  (void)parse(full);
  for (size_t n = 0; n < full.size(); ++n) {
    try {
      (void)parse(full.substr(0, n));
      ADD_FAILURE() << "prefix of " << n << " bytes accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruptFile) << e.what();
    }
  }
  S24_EXPECT_ERROR(parse(full.substr(0, full.size() - 1)), kCorruptFile, "run past the end");
}

TEST(SafetensorsBadInput, HeaderLengthLies) {
  std::string f = make_file(kGoodHeader, kGoodData);
  const std::string too_long = le64(f.size()) + f.substr(8);
  S24_EXPECT_ERROR(parse(too_long), kCorruptFile, "runs past the end");
  // Shorter than the JSON: the header is cut mid-object.
  const std::string too_short = le64(20) + f.substr(8);
  S24_EXPECT_ERROR(parse(too_short), kCorruptFile, "safetensors header");
}

TEST(SafetensorsBadInput, EnormousHeaderLength) {
  S24_EXPECT_ERROR(parse(le64(100'000'001) + "{}"), kCorruptFile, "exceeds the 100000000");
  S24_EXPECT_ERROR(parse(le64(std::numeric_limits<uint64_t>::max()) + "{}"), kCorruptFile,
                   "exceeds");
  S24_EXPECT_ERROR(parse(le64(uint64_t{1} << 63) + "{}"), kCorruptFile, "exceeds");
}

TEST(SafetensorsBadInput, HeaderWithMillionsOfValues) {
  // Within the 100 MB cap but far more JSON values than any real header: refused before the
  // parser builds a node for each (gigabytes of memory).
  std::string shape = "[";
  for (int i = 0; i < 4'100'000; ++i) shape += "0,";
  shape += "0]";
  const std::string header =
      R"({"a":{"dtype":"U8","shape":)" + shape + R"(,"data_offsets":[0,0]}})";
  S24_EXPECT_ERROR(parse(make_file(header, "")), kCorruptFile, "more than the 4000000");
  // Commas inside strings are not values: a long metadata string is fine.
  const std::string meta = R"({"__metadata__":{"k":")" + std::string(5'000'000, ',') + R"("}})";
  EXPECT_EQ(parse(make_file(meta, "")).metadata.at("k").size(), 5'000'000u);
}

TEST(SafetensorsBadInput, BadJson) {
  S24_EXPECT_ERROR(parse(make_file("{", "")), kCorruptFile, "safetensors header");
  S24_EXPECT_ERROR(parse(make_file("", "")), kCorruptFile, "safetensors header");
  S24_EXPECT_ERROR(parse(make_file("[1,2]", "")), kCorruptFile, "not a JSON object");
  S24_EXPECT_ERROR(parse(make_file("{} x", "")), kCorruptFile, "safetensors header");
  S24_EXPECT_ERROR(parse(make_file(std::string("{}\0\0", 4), "")), kCorruptFile,
                   "safetensors header");
  S24_EXPECT_ERROR(
      parse(make_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{}})", "x")),
      kCorruptFile, "duplicate key");
  S24_EXPECT_ERROR(parse(make_file(R"({"a":{"dtype":"U8","shape":[[[1]]],"data_offsets":[0,1]}})",
                                   "x")),
                   kCorruptFile, "nesting");
  S24_EXPECT_ERROR(parse(make_file("{\"a\xff\":1}", "")), kCorruptFile, "not valid UTF-8");
  // Overlong "/" and an encoded surrogate are not UTF-8 either.
  S24_EXPECT_ERROR(parse(make_file("{\"\xC0\xAF\":1}", "")), kCorruptFile, "UTF-8");
  S24_EXPECT_ERROR(parse(make_file("{\"\xED\xA0\x80\":1}", "")), kCorruptFile, "UTF-8");
}

TEST(SafetensorsBadInput, Utf8Validator) {
  using detail::is_valid_utf8;
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"));
  EXPECT_TRUE(is_valid_utf8("\xEF\xBF\xBF\xED\x9F\xBF"));  // U+FFFF, U+D7FF
  size_t bad = 99;
  EXPECT_FALSE(is_valid_utf8("ab\x80", &bad));
  EXPECT_EQ(bad, 2u);
  EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));          // overlong 2-byte
  EXPECT_FALSE(is_valid_utf8("\xE0\x9F\xBF"));      // overlong 3-byte
  EXPECT_FALSE(is_valid_utf8("\xF0\x8F\xBF\xBF"));  // overlong 4-byte
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xED\xBF\xBF"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));      // truncated
  EXPECT_FALSE(is_valid_utf8("\xE2\x82\x41"));  // bad continuation
}

struct BadHeaderCase {
  const char* header;
  size_t data_bytes;
  ErrorCode code;
  const char* needle;
};

TEST(SafetensorsBadInput, BadTensorEntries) {
  const BadHeaderCase cases[] = {
      // missing / extra fields and wrong types
      {R"({"a":{"dtype":"F32","shape":[2]}})", 8, ErrorCode::kCorruptFile,
       "missing field \"data_offsets\""},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "missing field \"dtype\""},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "missing field \"shape\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}})", 8,
       ErrorCode::kCorruptFile, "unexpected field 'offsets'"},
      {R"({"a":[1]})", 8, ErrorCode::kCorruptFile, "not a JSON object"},
      {R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "dtype is not a string"},
      // dtypes
      {R"({"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "unknown dtype 'F12'"},
      {R"({"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "unknown dtype 'f32'"},
      {R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8, ErrorCode::kUnsupported,
       "dtype F64 is not supported"},
      {R"({"a":{"dtype":"BOOL","shape":[8],"data_offsets":[0,8]}})", 8, ErrorCode::kUnsupported,
       "dtype BOOL"},
      // shapes
      {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "shape is not an array"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})", 8,
       ErrorCode::kCorruptFile, "non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8,
       ErrorCode::kCorruptFile, "non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}})", 8,
       ErrorCode::kCorruptFile, "non-negative integers"},
      {R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8,
       ErrorCode::kCorruptFile, "overflows"},
      {R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", 0,
       ErrorCode::kCorruptFile, "overflows"},
      {R"({"a":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,8]}})", 8,
       ErrorCode::kCorruptFile, "overflows"},
      // offsets
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, ErrorCode::kCorruptFile,
       "data_offsets must be [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8, ErrorCode::kCorruptFile,
       "data_offsets must be [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":{"b":0}}})", 8, ErrorCode::kCorruptFile,
       "data_offsets must be [begin, end]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8, ErrorCode::kCorruptFile,
       "non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, ErrorCode::kCorruptFile,
       "end before they begin"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8, ErrorCode::kCorruptFile,
       "run past the end of the 8-byte data buffer"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "needs 12 bytes"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", 8, ErrorCode::kCorruptFile,
       "needs 4 bytes"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, ErrorCode::kCorruptFile, "overlap"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       8, ErrorCode::kCorruptFile, "overlap"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
       20, ErrorCode::kCorruptFile, "bytes [8, 12) of the data buffer belong to no tensor"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, ErrorCode::kCorruptFile,
       "bytes [0, 4)"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 9, ErrorCode::kCorruptFile,
       "cover only 8"},
      {R"({})", 1, ErrorCode::kCorruptFile, "cover only 0"},
      // metadata
      {R"({"__metadata__":{"k":1}})", 0, ErrorCode::kCorruptFile,
       "__metadata__ value of 'k' is not a string"},
      {R"({"__metadata__":["k"]})", 0, ErrorCode::kCorruptFile, "__metadata__ is not"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    try {
      (void)parse(make_file(c.header, std::string(c.data_bytes, '\0')));
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), c.code) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos)
          << "'" << e.what() << "' lacks '" << c.needle << "'";
    }
  }
}

TEST(SafetensorsBadInput, NamesInMessagesAreSanitised) {
  try {
    (void)parse(make_file("{\"bad\\u0007name\\n\":{\"dtype\":\"X\",\"shape\":[],"
                          "\"data_offsets\":[0,1]}}",
                          "x"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'bad\\x07name\\x0a'"), std::string::npos) << e.what();
  }
}

// A valid compressed file for one [rows, cols] F16 tensor "W" with pieces to break.
struct CompressedPieces {
  std::string values_dtype = "F16";
  std::string values_shape = "[2,4]";
  std::string meta_dtype = "U8";
  std::string meta_shape = "[2,1]";
  std::string sparse_meta =
      R"({"format_version":1,"tensors":{"W":{"dtype":"F16","shape":[2,8]}}})";
  std::string meta_bytes = "\xE4\x8D";
  bool with_values = true, with_meta = true;
  std::string extra_tensor;  // a whole extra header entry, e.g. a dense "W"

  std::string build() const {
    std::string values_data(16, '\0');
    for (int i = 0; i < 8; ++i) values_data[2 * i + 1] = 0x3C;  // f16 1.0
    std::string header = "{";
    std::string data;
    auto add = [&](const std::string& name, const std::string& dtype, const std::string& shape,
                   const std::string& bytes) {
      if (header.size() > 1) header += ",";
      header += "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
                ",\"data_offsets\":[" + std::to_string(data.size()) + "," +
                std::to_string(data.size() + bytes.size()) + "]}";
      data += bytes;
    };
    if (with_values) add("W.s24_values", values_dtype, values_shape, values_data);
    if (with_meta) add("W.s24_meta", meta_dtype, meta_shape, meta_bytes);
    if (!extra_tensor.empty()) add(extra_tensor, "U8", "[1]", "\x01");
    std::string escaped;
    for (char ch : sparse_meta) {
      if (ch == '"' || ch == '\\') escaped += '\\';
      escaped += ch;
    }
    header += std::string(header.size() > 1 ? "," : "") + "\"__metadata__\":{\"sparse24\":\"" +
              escaped + "\"}}";
    return make_file(header, data);
  }
};

TEST(SafetensorsBadInput, CompressedPiecesBaselineLoads) {
  const TensorFile f = parse(CompressedPieces{}.build());
  ASSERT_EQ(f.sparse.size(), 1u);
  EXPECT_EQ(f.sparse.at("W").logical_shape(), Shape({2, 8}));
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
}

TEST(SafetensorsBadInput, CompressedMetadataProblems) {
  struct Case {
    std::function<void(CompressedPieces&)> breakit;
    const char* needle;
  };
  const Case cases[] = {
      {[](auto& p) { p.sparse_meta = R"({"format_version":2,"tensors":{}})"; },
       "format_version 2 is newer than this sparse24 reads (1)"},
      {[](auto& p) { p.sparse_meta = R"({"format_version":0,"tensors":{}})"; },
       "format_version must be a positive integer"},
      {[](auto& p) { p.sparse_meta = R"({"format_version":"1","tensors":{}})"; },
       "format_version must be a positive integer"},
      {[](auto& p) { p.sparse_meta = R"({"tensors":{}})"; }, "missing field \"format_version\""},
      {[](auto& p) { p.sparse_meta = R"({"format_version":1})"; }, "\"tensors\" must be an object"},
      {[](auto& p) { p.sparse_meta = R"({"format_version":1,"tensors":{},"x":1})"; },
       "unexpected field 'x'"},
      {[](auto& p) { p.sparse_meta = "not json"; }, "sparse24 metadata"},
      {[](auto& p) { p.sparse_meta = "[1]"; }, "sparse24 metadata is not a JSON object"},
      {[](auto& p) {
         p.sparse_meta = R"({"format_version":1,"tensors":{"W":{"dtype":"F16"}}})";
       },
       "\"shape\" must be [rows, cols]"},
      {[](auto& p) {
         p.sparse_meta =
             R"({"format_version":1,"tensors":{"W":{"dtype":"F16","shape":[2,8],"k":1}}})";
       },
       "unexpected field 'k'"},
      {[](auto& p) {
         p.sparse_meta = R"({"format_version":1,"tensors":{"W":{"dtype":"U8","shape":[2,8]}}})";
       },
       "cannot hold a 2:4 matrix"},
      {[](auto& p) {
         p.sparse_meta = R"({"format_version":1,"tensors":{"W":{"dtype":"F16","shape":[2,6]}}})";
       },
       "not a multiple of 4"},
      {[](auto& p) {
         p.sparse_meta = R"({"format_version":1,"tensors":{"W":{"dtype":"F32","shape":[2,8]}}})";
       },
       "listed as F32 but its values are F16"},
      {[](auto& p) {
         p.sparse_meta = R"({"format_version":1,"tensors":{"W":{"dtype":"F16","shape":[2,16]}}})";
       },
       "values are [2, 4], expected [2, 8]"},
      {[](auto& p) {
         p.sparse_meta = R"({"format_version":1,"tensors":{"W":{"dtype":"F16","shape":[1,8]}}})";
       },
       "values are [2, 4], expected [1, 4]"},
      {[](auto& p) { p.with_values = false; }, "values tensor 'W.s24_values' is missing"},
      {[](auto& p) { p.with_meta = false; }, "metadata tensor 'W.s24_meta' is missing"},
      {[](auto& p) { p.meta_dtype = "I8"; }, "metadata is I8, expected U8"},
      {[](auto& p) {
         p.meta_shape = "[1,2]";
       },
       "metadata is [1, 2], expected [2, 1]"},
      {[](auto& p) { p.meta_bytes = std::string("\x04\x8D", 2); }, "illegal metadata nibble 0x0"},
      {[](auto& p) { p.meta_bytes = "\xF4\x8D"; }, "illegal metadata nibble 0xf at row 0, group 1"},
      {[](auto& p) { p.meta_bytes = "\xE4\x87"; }, "illegal metadata nibble 0x7 at row 1, group 0"},
      {[](auto& p) { p.meta_bytes = "\xE4\x3D"; }, "illegal metadata nibble 0x3"},
      {[](auto& p) { p.extra_tensor = "W"; }, "also exists as a dense tensor"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.needle);
    CompressedPieces p;
    c.breakit(p);
    try {
      (void)parse(p.build());
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruptFile) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
  }
}

TEST(SafetensorsBadInput, UnusedHighNibbleMustBeZero) {
  // cols = 12: three groups, the second meta byte's high nibble is unused and must be 0.
  auto g = test::rng(5);
  TensorFile in;
  in.sparse["W"] = compress(random_24(2, 12, DType::kF32, g));
  TempDir dir;
  save_safetensors(dir.file("w.safetensors"), in);
  std::string bytes = read_bytes(dir.file("w.safetensors"));
  const Json h = header_of(bytes);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const int64_t meta_at = h.at("W.s24_meta").at("data_offsets").as_array()[0].as_int64();
  bytes[8 + n + meta_at + 1] = static_cast<char>(bytes[8 + n + meta_at + 1] | 0x40);
  S24_EXPECT_ERROR(parse(bytes), kCorruptFile, "unused metadata nibble");
}

TEST(SafetensorsBadInput, EveryHeaderByteFlippedFailsCleanly) {
  // No single corrupted byte of a compressed file crashes the reader; each one either still
  // parses (e.g. a changed value byte or a renamed tensor) or throws s24::Error.
  auto g = test::rng(6);
  TensorFile in;
  in.sparse["enc.layer.0.w"] = compress(random_24(4, 8, DType::kBF16, g));
  in.tensors["b"] = test::random_int({3}, DType::kF32, g);
  in.metadata["format"] = "pt";
  TempDir dir;
  save_safetensors(dir.file("f.safetensors"), in);
  const std::string good = read_bytes(dir.file("f.safetensors"));
  int rejected = 0;
  for (size_t i = 0; i < good.size(); ++i)
    for (unsigned char x : {0x01u, 0x80u, 0xFFu, 0x20u}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ x);
      try {
        (void)parse(bad);
      } catch (const Error&) {
        ++rejected;
      }
    }
  EXPECT_GT(rejected, 0);
}

TEST(SafetensorsFiles, FuzzSeedCorpusLoads) {
  // The seeds are written by fuzz/make_corpus.py from the format description alone, so they also
  // check the reader against an independent writer.
  std::string src;
  if (const char* env = std::getenv("S24_SOURCE_DIR")) {
    src = env;
  } else {
    src = fs::path(__FILE__).parent_path().parent_path().parent_path().string();
  }
  const fs::path dir = fs::path(src) / "fuzz" / "corpus" / "safetensors";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int files = 0, compressed = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    SCOPED_TRACE(e.path().string());
    const TensorFile f = load_safetensors(e.path().string());
    ++files;
    for (const auto& [name, c] : f.sparse) {
      ++compressed;
      EXPECT_TRUE(is_24(decompress(c))) << name;
      EXPECT_EQ(f.tensors.count(name + ".s24_values"), 0u);
    }
  }
  EXPECT_GE(files, 5);
  EXPECT_GE(compressed, 3);
}

TEST(SafetensorsFiles, LoadErrorsNameThePath) {
  TempDir dir;
  S24_EXPECT_ERROR(load_safetensors(dir.file("missing.safetensors")), kIo, "cannot open");
  S24_EXPECT_ERROR(load_safetensors(dir.path()), kIo, "not a regular file");
  write_bytes(dir.file("short.safetensors"), "abc");
  S24_EXPECT_ERROR(load_safetensors(dir.file("short.safetensors")), kCorruptFile,
                   "short.safetensors: file is 3 bytes");
  write_bytes(dir.file("empty.safetensors"), "");
  S24_EXPECT_ERROR(load_safetensors(dir.file("empty.safetensors")), kCorruptFile,
                   "file is 0 bytes");
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(SafetensorsFiles, SaveRejectsBadRequestsAndLeavesNoFiles) {
  auto g = test::rng(7);
  TempDir dir;
  const std::string path = dir.file("out.safetensors");
  TensorFile good;
  good.tensors["keep"] = test::random_int({4}, DType::kF32, g);
  save_safetensors(path, good);
  const std::string before = read_bytes(path);

  TensorFile reserved = good;
  reserved.metadata["sparse24"] = "{}";
  S24_EXPECT_ERROR(save_safetensors(path, reserved), kInvalidArgument, "reserved");

  TensorFile clash = good;
  clash.tensors["W"] = test::random_int({4}, DType::kF32, g);
  clash.sparse["W"] = compress(random_24(2, 8, DType::kF32, g));
  S24_EXPECT_ERROR(save_safetensors(path, clash), kInvalidArgument, "name of a dense tensor");

  TensorFile companion_clash = good;
  companion_clash.tensors["W.s24_meta"] = test::random_int({4}, DType::kF32, g);
  companion_clash.sparse["W"] = compress(random_24(2, 8, DType::kF32, g));
  S24_EXPECT_ERROR(save_safetensors(path, companion_clash), kInvalidArgument,
                   "'W.s24_meta', which is taken");

  TensorFile illegal = good;
  Compressed24 c = compress(random_24(2, 8, DType::kF32, g));
  c.meta.data<uint8_t>()[0] = 0x00;
  illegal.sparse["W"] = c;
  S24_EXPECT_ERROR(save_safetensors(path, illegal), kInvalidArgument,
                   "compressed tensor 'W': illegal metadata nibble");

  TensorFile meta_name = good;
  meta_name.tensors["__metadata__"] = test::random_int({4}, DType::kF32, g);
  S24_EXPECT_ERROR(save_safetensors(path, meta_name), kInvalidArgument, "__metadata__");

  TensorFile bad_utf8 = good;
  bad_utf8.metadata["k"] = "\xff";
  S24_EXPECT_ERROR(save_safetensors(path, bad_utf8), kInvalidArgument, "not valid UTF-8");

  TensorFile undefined = good;
  undefined.tensors["u"] = Tensor();
  S24_EXPECT_ERROR(save_safetensors(path, undefined), kInvalidArgument, "undefined");

  S24_EXPECT_ERROR(save_safetensors(dir.file("no/such/dir/x.safetensors"), good), kIo,
                   "cannot create");

  // The earlier file is untouched and no temporary file is left behind.
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(list_dir(dir.path()), std::vector<std::string>{"out.safetensors"});
}

TEST(SafetensorsFiles, SaveReplacesAnExistingFileAtomically) {
  auto g = test::rng(8);
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  TensorFile a, b;
  a.tensors["x"] = test::random_int({64}, DType::kF32, g);
  b.tensors["y"] = test::random_int({3}, DType::kI8, g);
  save_safetensors(path, a);
  save_safetensors(path, b);
  const TensorFile back = load_safetensors(path);
  EXPECT_EQ(back.tensors.size(), 1u);
  EXPECT_TRUE(test::bit_equal(back.tensors.at("y"), b.tensors.at("y")));
  EXPECT_EQ(list_dir(dir.path()), std::vector<std::string>{"w.safetensors"});
}

}  // namespace
}  // namespace s24

#include "core/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "core/check.h"

namespace s24 {

class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& what, int max_depth)
      : s_(text), what_(what), max_depth_(max_depth) {}

  Json parse_document() {
    skip_ws();
    Json v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected bytes after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    S24_THROW(ErrorCode::kCorruptFile, what_, ": ", why, " at byte ", pos_);
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  void skip_ws() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' ||
                         s_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  void expect_word(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) fail("invalid literal");
    pos_ += w.size();
  }

  Json parse_value(int depth) {
    if (depth > max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
    switch (peek()) {
      case '{': return parse_object(depth);
      case '[': return parse_array(depth);
      case '"': return Json::string(parse_string());
      case 't': expect_word("true"); return Json::boolean(true);
      case 'f': expect_word("false"); return Json::boolean(false);
      case 'n': expect_word("null"); return Json();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number();
        fail(at_end() ? "unexpected end of input" : "unexpected character");
    }
  }

  Json parse_object(int depth) {
    expect('{');
    Json obj = Json::object();
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return obj;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      Json v = parse_value(depth + 1);
      if (!obj.obj_.emplace(std::move(key), std::move(v)).second) fail("duplicate key");
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return obj;
    }
  }

  Json parse_array(int depth) {
    expect('[');
    Json arr = Json::array();
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return arr;
    }
    for (;;) {
      skip_ws();
      arr.arr_.push_back(parse_value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return arr;
    }
  }

  unsigned parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("control character in string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (at_end()) fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a high surrogate needs its low half
            if (s_.substr(pos_, 2) != "\\u") fail("lone high surrogate");
            pos_ += 2;
            const uint32_t lo = parse_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("lone low surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  Json parse_number() {
    const size_t start = pos_;
    bool integral = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      fail("bad number");
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("bad number");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("bad number");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const std::string tok(s_.substr(start, pos_ - start));
    if (integral) {
      errno = 0;
      const long long v = std::strtoll(tok.c_str(), nullptr, 10);
      if (errno == 0) return Json::integer(v);
      // Out of int64 range: keep it as a double.
    }
    const double d = std::strtod(tok.c_str(), nullptr);
    if (!std::isfinite(d)) fail("number out of range");
    return Json::number(d);
  }

  std::string_view s_;
  const std::string& what_;
  int max_depth_;
  size_t pos_ = 0;
};

Json Json::boolean(bool b) {
  Json j;
  j.type_ = Type::kBool;
  j.bool_ = b;
  return j;
}
Json Json::number(double v) {
  Json j;
  j.type_ = Type::kNumber;
  j.num_ = v;
  if (std::nearbyint(v) == v && std::fabs(v) < 9.2e18) {
    j.is_integer_ = true;
    j.int_ = static_cast<int64_t>(v);
  }
  return j;
}
Json Json::integer(int64_t v) {
  Json j;
  j.type_ = Type::kNumber;
  j.num_ = static_cast<double>(v);
  j.is_integer_ = true;
  j.int_ = v;
  return j;
}
Json Json::string(std::string s) {
  Json j;
  j.type_ = Type::kString;
  j.str_ = std::move(s);
  return j;
}
Json Json::array(Array a) {
  Json j;
  j.type_ = Type::kArray;
  j.arr_ = std::move(a);
  return j;
}
Json Json::object(Object o) {
  Json j;
  j.type_ = Type::kObject;
  j.obj_ = std::move(o);
  return j;
}

Json Json::parse(std::string_view text, const std::string& what, int max_depth) {
  return JsonParser(text, what, max_depth).parse_document();
}

namespace {
const char* type_name(Json::Type t) {
  switch (t) {
    case Json::Type::kNull: return "null";
    case Json::Type::kBool: return "a boolean";
    case Json::Type::kNumber: return "a number";
    case Json::Type::kString: return "a string";
    case Json::Type::kArray: return "an array";
    case Json::Type::kObject: return "an object";
  }
  return "?";
}
}  // namespace

#define S24_JSON_EXPECT(t, name)                                                        \
  S24_CHECK(type_ == (t), ErrorCode::kCorruptFile, "JSON value is ", type_name(type_), \
            ", expected " name)

bool Json::as_bool() const {
  S24_JSON_EXPECT(Type::kBool, "a boolean");
  return bool_;
}
double Json::as_number() const {
  S24_JSON_EXPECT(Type::kNumber, "a number");
  return num_;
}
int64_t Json::as_int64() const {
  S24_JSON_EXPECT(Type::kNumber, "a number");
  S24_CHECK(is_integer_, ErrorCode::kCorruptFile, "JSON number ", num_,
            " is not an integer in int64 range");
  return int_;
}
const std::string& Json::as_string() const {
  S24_JSON_EXPECT(Type::kString, "a string");
  return str_;
}
const Json::Array& Json::as_array() const {
  S24_JSON_EXPECT(Type::kArray, "an array");
  return arr_;
}
const Json::Object& Json::as_object() const {
  S24_JSON_EXPECT(Type::kObject, "an object");
  return obj_;
}
Json::Array& Json::mutable_array() {
  S24_JSON_EXPECT(Type::kArray, "an array");
  return arr_;
}
Json::Object& Json::mutable_object() {
  S24_JSON_EXPECT(Type::kObject, "an object");
  return obj_;
}

const Json* Json::find(const std::string& key) const {
  if (type_ != Type::kObject) return nullptr;
  auto it = obj_.find(key);
  return it == obj_.end() ? nullptr : &it->second;
}
const Json& Json::at(const std::string& key) const {
  S24_JSON_EXPECT(Type::kObject, "an object");
  const Json* j = find(key);
  S24_CHECK(j != nullptr, ErrorCode::kCorruptFile, "JSON object has no member \"", key, "\"");
  return *j;
}
std::string Json::get_string(const std::string& key, const std::string& fallback) const {
  const Json* j = find(key);
  return j && !j->is_null() ? j->as_string() : fallback;
}
double Json::get_number(const std::string& key, double fallback) const {
  const Json* j = find(key);
  return j && !j->is_null() ? j->as_number() : fallback;
}
int64_t Json::get_int64(const std::string& key, int64_t fallback) const {
  const Json* j = find(key);
  return j && !j->is_null() ? j->as_int64() : fallback;
}
bool Json::get_bool(const std::string& key, bool fallback) const {
  const Json* j = find(key);
  return j && !j->is_null() ? j->as_bool() : fallback;
}

namespace {
void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}
void dump_value(std::string& out, const Json& j);
}  // namespace

std::string Json::dump() const {
  std::string out;
  dump_value(out, *this);
  return out;
}

namespace {
void dump_value(std::string& out, const Json& j) {
  switch (j.type()) {
    case Json::Type::kNull: out += "null"; break;
    case Json::Type::kBool: out += j.as_bool() ? "true" : "false"; break;
    case Json::Type::kNumber: {
      const double d = j.as_number();
      if (std::nearbyint(d) == d && std::fabs(d) < 9.2e18) {
        out += std::to_string(j.as_int64());
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        out += buf;
      }
      break;
    }
    case Json::Type::kString: dump_string(out, j.as_string()); break;
    case Json::Type::kArray: {
      out += '[';
      bool first = true;
      for (const auto& v : j.as_array()) {
        if (!first) out += ',';
        first = false;
        dump_value(out, v);
      }
      out += ']';
      break;
    }
    case Json::Type::kObject: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : j.as_object()) {
        if (!first) out += ',';
        first = false;
        dump_string(out, k);
        out += ':';
        dump_value(out, v);
      }
      out += '}';
      break;
    }
  }
}
}  // namespace

}  // namespace s24

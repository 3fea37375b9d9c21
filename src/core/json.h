// Internal: a small, strict JSON reader and writer (RFC 8259) for safetensors headers, HF config
// files, tokenizer and SQuAD files. Parsing limits nesting depth, rejects duplicate keys, trailing
// bytes, invalid UTF-8 escapes and control characters, and throws s24::Error(kCorruptFile).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace s24 {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json>;

  Json() = default;  // null
  static Json boolean(bool b);
  static Json number(double v);
  static Json integer(int64_t v);
  static Json string(std::string s);
  static Json array(Array a = {});
  static Json object(Object o = {});

  // `what` names the document in error messages ("safetensors header", "config.json").
  static Json parse(std::string_view text, const std::string& what = "JSON", int max_depth = 64);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Typed reads; each throws kCorruptFile naming the expected type.
  bool as_bool() const;
  double as_number() const;
  int64_t as_int64() const;  // the number must be integral and fit in int64
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;
  Array& mutable_array();
  Object& mutable_object();

  // Object member access: at() throws kCorruptFile when missing; find() returns nullptr.
  const Json& at(const std::string& key) const;
  const Json* find(const std::string& key) const;
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  // Convenience reads with defaults for optional members.
  std::string get_string(const std::string& key, const std::string& fallback) const;
  double get_number(const std::string& key, double fallback) const;
  int64_t get_int64(const std::string& key, int64_t fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;

  std::string dump() const;  // compact, keys sorted (std::map order)

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_integer_ = false;
  int64_t int_ = 0;
  double num_ = 0.0;
  std::string str_;
  Array arr_;
  Object obj_;
  friend class JsonParser;
};

}  // namespace s24

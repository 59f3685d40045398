// Reading the project's JSON files (config.json, arch.json, results.json, checkpoint headers)
// without ever letting a damaged or hand-edited file abort the program.
//
// A JsonReader is a read-only view of one value of a parsed document that knows the file it came
// from and the key path that leads to it. Every accessor checks before it reads, and every error
// is a figs::Error naming both, e.g.
//   "runs/a/config.json: 'search.lambda' must be a number, got "high""
//   "runs/a/arch.json: missing key 'widths'"
// nlohmann::json's own accessors throw json::exception (or, through a const operator[] on a
// missing key, are undefined behaviour); code that reads files goes through this class instead.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace figs {

class JsonReader {
 public:
  using Json = nlohmann::json;

  // Nesting deeper than this is an error (no file of the project needs more than a few levels).
  static constexpr int kMaxDepth = 64;
  // Parses `text`; a syntax error or nesting deeper than kMaxDepth names `origin` (a file name
  // or "--set ...").
  static Json parse(const std::string& text, const std::string& origin);
  // Reads and parses a file; errors name it.
  static Json parse_file(const std::string& path);

  // `value` must outlive the reader (it is not copied).
  JsonReader(const Json& value, std::string origin, std::string path = "");

  const Json& json() const { return *value_; }
  const std::string& origin() const { return origin_; }
  // The key path as the user would write it: "search.lambda", "sweep.budgets[2]", "<root>".
  std::string key() const { return path_.empty() ? "<root>" : path_; }

  bool is_object() const { return value_->is_object(); }
  bool has(const std::string& name) const { return value_->is_object() && value_->contains(name); }
  // A member; an error names the missing key (and says what is not an object).
  JsonReader operator[](const std::string& name) const;
  // An element of an array.
  JsonReader operator[](size_t index) const;
  size_t size() const;  // of an array or object
  // The names of an object's members, in the document's order.
  std::vector<std::string> keys() const;

  // Typed values. integer() accepts a number with an integral value (2 or 2.0, not 2.5);
  // count() is an integer >= 0.
  int64_t integer() const;
  int64_t count() const;
  double number() const;  // any finite number
  bool boolean() const;
  std::string string() const;
  std::vector<int64_t> integers() const;
  std::vector<std::string> strings() const;

  // A member's value, or `fallback` when the member is absent (a present member of the wrong
  // type is still an error).
  double number_or(const std::string& name, double fallback) const;
  int64_t integer_or(const std::string& name, int64_t fallback) const;
  bool boolean_or(const std::string& name, bool fallback) const;
  std::string string_or(const std::string& name, const std::string& fallback) const;

  // Throws figs::Error "<origin>: '<key>' <what...>".
  template <class... Args>
  [[noreturn]] void fail(const Args&... what) const {
    ::figs::fail(origin_, ": '", key(), "' ", what...);
  }

 private:
  [[noreturn]] void wrong_type(const char* expected) const;
  std::string child_path(const std::string& name) const;

  const Json* value_;
  std::string origin_, path_;
};

// A JSON value as the user wrote it, shortened for an error message.
std::string json_excerpt(const nlohmann::json& value, size_t max_chars = 60);

}  // namespace figs

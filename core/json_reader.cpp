#include "core/json_reader.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace figs {

using Json = JsonReader::Json;

Json JsonReader::parse(const std::string& text, const std::string& origin) {
  // nlohmann parses iteratively but prints and destroys recursively: a document nested 200,000
  // deep (found by fuzzing) would overflow the stack later, so depth is bounded while parsing.
  const Json::parser_callback_t bounded = [&](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxDepth) ::figs::fail(origin, ": JSON nested deeper than ", kMaxDepth, " levels");
    return true;
  };
  try {
    return Json::parse(text, bounded);
  } catch (const Json::exception& e) {
    ::figs::fail(origin, ": not valid JSON (", e.what(), ")");
  }
}

Json JsonReader::parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FIGS_CHECK(in.good(), "cannot read '", path, "': ", std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  FIGS_CHECK(!in.bad(), "reading '", path, "' failed: ", std::strerror(errno));
  return parse(text.str(), path);
}

JsonReader::JsonReader(const Json& value, std::string origin, std::string path)
    : value_(&value), origin_(std::move(origin)), path_(std::move(path)) {}

std::string JsonReader::child_path(const std::string& name) const { return path_.empty() ? name : path_ + "." + name; }

JsonReader JsonReader::operator[](const std::string& name) const {
  if (!value_->is_object()) wrong_type("an object");
  const auto it = value_->find(name);
  if (it == value_->end()) ::figs::fail(origin_, ": missing key '", child_path(name), "'");
  return JsonReader(*it, origin_, child_path(name));
}

JsonReader JsonReader::operator[](size_t index) const {
  if (!value_->is_array()) wrong_type("an array");
  if (index >= value_->size()) fail("has ", value_->size(), " elements; element ", index, " was asked for");
  return JsonReader((*value_)[index], origin_, key() + "[" + std::to_string(index) + "]");
}

size_t JsonReader::size() const {
  if (!value_->is_array() && !value_->is_object()) wrong_type("an array or an object");
  return value_->size();
}

std::vector<std::string> JsonReader::keys() const {
  if (!value_->is_object()) wrong_type("an object");
  std::vector<std::string> names;
  for (auto it = value_->begin(); it != value_->end(); ++it) names.push_back(it.key());
  return names;
}

void JsonReader::wrong_type(const char* expected) const { fail("must be ", expected, ", got ", json_excerpt(*value_)); }

int64_t JsonReader::integer() const {
  if (value_->is_number_integer()) {
    // An unsigned value beyond int64's range reads back negative: refuse it instead.
    if (value_->is_number_unsigned() && value_->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      fail("is too large: ", json_excerpt(*value_));
    return value_->get<int64_t>();
  }
  if (value_->is_number_float()) {
    const double v = value_->get<double>();
    // 2^63 is the first double that no longer fits; the bounds are exact powers of two.
    if (std::isfinite(v) && v == std::floor(v) && v >= -9223372036854775808.0 && v < 9223372036854775808.0)
      return static_cast<int64_t>(v);
  }
  wrong_type("an integer");
}

int64_t JsonReader::count() const {
  const int64_t v = integer();
  if (v < 0) fail("must be >= 0, got ", v);
  return v;
}

double JsonReader::number() const {
  if (!value_->is_number()) wrong_type("a number");
  const double v = value_->get<double>();
  if (!std::isfinite(v)) wrong_type("a finite number");
  return v;
}

bool JsonReader::boolean() const {
  if (!value_->is_boolean()) wrong_type("true or false");
  return value_->get<bool>();
}

std::string JsonReader::string() const {
  if (!value_->is_string()) wrong_type("a string");
  return value_->get<std::string>();
}

std::vector<int64_t> JsonReader::integers() const {
  if (!value_->is_array()) wrong_type("an array of integers");
  std::vector<int64_t> out;
  for (size_t i = 0; i < value_->size(); ++i) out.push_back((*this)[i].integer());
  return out;
}

std::vector<std::string> JsonReader::strings() const {
  if (!value_->is_array()) wrong_type("an array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < value_->size(); ++i) out.push_back((*this)[i].string());
  return out;
}

double JsonReader::number_or(const std::string& name, double fallback) const {
  return has(name) ? (*this)[name].number() : fallback;
}
int64_t JsonReader::integer_or(const std::string& name, int64_t fallback) const {
  return has(name) ? (*this)[name].integer() : fallback;
}
bool JsonReader::boolean_or(const std::string& name, bool fallback) const {
  return has(name) ? (*this)[name].boolean() : fallback;
}
std::string JsonReader::string_or(const std::string& name, const std::string& fallback) const {
  return has(name) ? (*this)[name].string() : fallback;
}

std::string json_excerpt(const Json& value, size_t max_chars) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  return text;
}

}  // namespace figs

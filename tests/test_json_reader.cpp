// core/json_reader.h: every wrong type, missing key and bad value is a figs::Error naming the
// file and the key path, never a json::exception or undefined behaviour.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/json_reader.h"
#include "test_util.h"

namespace figs {
namespace {

using Json = JsonReader::Json;

const Json kDoc = Json::parse(R"({
  "search": {"lambda": 4.5, "steps": 500, "name": "figs", "on": true, "big": 1e30, "round": 2.0, "half": 2.5,
             "neg": -3},
  "budgets": [100, 200.0, 300.5],
  "names": ["a", 3]
})");

TEST(JsonReader, ReadsTypedValues) {
  const JsonReader r(kDoc, "c.json");
  EXPECT_EQ(r["search"]["lambda"].number(), 4.5);
  EXPECT_EQ(r["search"]["steps"].integer(), 500);
  EXPECT_EQ(r["search"]["round"].integer(), 2);  // an integral float is an integer
  EXPECT_EQ(r["search"]["name"].string(), "figs");
  EXPECT_TRUE(r["search"]["on"].boolean());
  EXPECT_EQ(r["search"].number_or("absent", 7.0), 7.0);
  EXPECT_EQ(r["search"].integer_or("steps", 1), 500);
  EXPECT_EQ(r["budgets"][1].integer(), 200);
  EXPECT_EQ(r["search"]["lambda"].key(), "search.lambda");
  EXPECT_EQ(r["budgets"][2].key(), "budgets[2]");
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"budgets", "names", "search"}));  // nlohmann sorts keys
}

TEST(JsonReader, ErrorsNameFileAndKey) {
  const JsonReader r(kDoc, "c.json");
  EXPECT_ERROR_MENTIONS(r["search"]["lr"], "c.json: missing key 'search.lr'");
  EXPECT_ERROR_MENTIONS(r["search"]["name"].number(), "c.json: 'search.name' must be a number, got \"figs\"");
  EXPECT_ERROR_MENTIONS(r["search"]["half"].integer(), "c.json: 'search.half' must be an integer, got 2.5");
  EXPECT_ERROR_MENTIONS(r["search"]["big"].integer(), "'search.big' must be an integer, got 1e+30");
  EXPECT_ERROR_MENTIONS(r["search"]["neg"].count(), "'search.neg' must be >= 0, got -3");
  EXPECT_ERROR_MENTIONS(r["search"]["steps"].string(), "'search.steps' must be a string, got 500");
  EXPECT_ERROR_MENTIONS(r["search"]["steps"]["x"], "'search.steps' must be an object, got 500");
  EXPECT_ERROR_MENTIONS(r["budgets"].integers(), "'budgets[2]' must be an integer, got 300.5");
  EXPECT_ERROR_MENTIONS(r["names"].strings(), "'names[1]' must be a string, got 3");
  EXPECT_ERROR_MENTIONS(r["budgets"][5], "'budgets' has 3 elements; element 5 was asked for");
  EXPECT_ERROR_MENTIONS(r["search"].number_or("on", 1.0), "'search.on' must be a number, got true");
}

TEST(JsonReader, RejectsNonFiniteAndHugeNumbers) {
  const Json j = Json::parse(R"({"u": 18446744073709551615})");
  EXPECT_ERROR_MENTIONS(JsonReader(j, "f")["u"].integer(), "'u' is too large");
  Json inf = {{"x", std::numeric_limits<double>::infinity()}};
  EXPECT_ERROR_MENTIONS(JsonReader(inf, "f")["x"].number(), "'x' must be a finite number");
}

TEST(JsonReader, DeepNestingIsAnErrorNotAStackOverflow) {
  const std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_NO_THROW(JsonReader::parse(ok, "f"));
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  EXPECT_ERROR_MENTIONS(JsonReader::parse(deep, "deep.json"), "deep.json: JSON nested deeper than 64 levels");
}

TEST(JsonReader, ParseErrorsNameTheOrigin) {
  EXPECT_ERROR_MENTIONS(JsonReader::parse("{\"a\": ", "run/config.json"), "run/config.json: not valid JSON");
  EXPECT_ERROR_MENTIONS(JsonReader::parse_file("/nonexistent/dir/x.json"), "cannot read '/nonexistent/dir/x.json'");
  const std::string path = (std::filesystem::temp_directory_path() / "figs_json_reader_test.json").string();
  std::ofstream(path) << "[1, 2";
  EXPECT_ERROR_MENTIONS(JsonReader::parse_file(path), path + ": not valid JSON");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace figs

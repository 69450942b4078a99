#include "daemon/text/json_value.h"

#include <gtest/gtest.h>

#include "daemon/text/error.h"

namespace mm::text {
namespace {

TEST(JsonValue, ParseKeepsKeyOrderAndTypes) {
  const JsonValue v =
      JsonValue::parse(R"({"z": 1, "a": [true, null, 1.5, "\u00e9\ud83d\ude00"], "m": -0})");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.as_object()[0].first, "z");
  EXPECT_EQ(v.as_object()[1].first, "a");
  EXPECT_TRUE(v.find("z")->is_int());
  EXPECT_EQ(v.find("a")->as_array()[3].as_string(), "é😀");
  EXPECT_EQ(v.dump(), R"({"z": 1, "a": [true, null, 1.5, "é😀"], "m": 0})");
}

TEST(JsonValue, DumpMatchesPythonJsonDumps) {
  const JsonValue v = JsonValue::parse(R"({"b": [1, {"c": "x\ny\"\u0001"}], "a": "é"})");
  EXPECT_EQ(v.dump(JsonDumpOptions::python_default(2)),
            "{\n  \"b\": [\n    1,\n    {\n      \"c\": \"x\\ny\\\"\\u0001\"\n    }\n  ],\n  "
            "\"a\": \"é\"\n}");
  JsonDumpOptions ascii;
  ascii.ensure_ascii = true;
  ascii.sort_keys = true;
  EXPECT_EQ(v.dump(ascii), R"({"a": "\u00e9", "b": [1, {"c": "x\ny\"\u0001"}]})");
  EXPECT_EQ(JsonValue("😀").dump(ascii), R"("\ud83d\ude00")");
  EXPECT_EQ(JsonValue(JsonArray{}).dump(JsonDumpOptions::python_default(2)), "[]");
}

TEST(JsonValue, PythonFloatRepr) {
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_repr(1.5e-5), "1.5e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_float_repr(123456.789), "123456.789");
  EXPECT_EQ(python_float_repr(1.7976931348623157e308), "1.7976931348623157e+308");
}

TEST(JsonValue, ParseErrorsNameTheByteOffset) {
  auto message = [](std::string_view text) {
    try {
      JsonValue::parse(text, "args");
    } catch (const TextError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("{\"a\": }"), "args: unexpected character '}' at byte offset 6");
  EXPECT_EQ(message("[1, 2"), "args: expected ',' or ']' at byte offset 5");
  EXPECT_EQ(message("\"abc"), "args: unterminated string at byte offset 4");
  EXPECT_EQ(message("1 2"), "args: unexpected text after the JSON value at byte offset 2");
  EXPECT_EQ(message(std::string(1000, '[')), "args: nesting deeper than 512 at byte offset 513");
}

TEST(JsonValue, PythonEquality) {
  EXPECT_EQ(JsonValue(1), JsonValue(1.0));
  EXPECT_EQ(JsonValue(true), JsonValue(1));
  EXPECT_FALSE(JsonValue("1") == JsonValue(1));
  EXPECT_EQ(JsonValue::parse(R"({"a":1,"b":2})"), JsonValue::parse(R"({"b":2,"a":1})"));
}

}  // namespace
}  // namespace mm::text

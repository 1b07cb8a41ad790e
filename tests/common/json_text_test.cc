#include "common/json_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace oak {
namespace {

using nlohmann::json;

std::string Str(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}
std::string Num(double v) {
  std::string out;
  AppendJsonNumber(out, v);
  return out;
}

TEST(JsonTextTest, StringsReadBackAsWrittenAndNeedingEscapesAreEscaped) {
  EXPECT_EQ(Str("node-1"), "\"node-1\"");
  EXPECT_EQ(Str(""), "\"\"");
  for (std::string s : {std::string("say \"hi\""), std::string("back\\slash"), std::string("line\nbreak\ttab"),
                        std::string("nul\0byte", 8), std::string("caf\xc3\xa9 \xe2\x9c\x93")}) {
    json back = json::parse(Str(s));
    ASSERT_TRUE(back.is_string()) << s;
    EXPECT_EQ(back.get<std::string>(), s);
  }
  // Invalid UTF-8 is replaced, never written raw (the text stays valid JSON).
  json bad = json::parse(Str("x\xff\xfey"));
  EXPECT_EQ(bad.get<std::string>(), "x\xef\xbf\xbd\xef\xbf\xbdy");
}

TEST(JsonTextTest, NumbersReadBackExactlyAndStayFloatingPoint) {
  EXPECT_EQ(Num(5.0), "5.0");
  EXPECT_EQ(Num(0.0), "0.0");
  EXPECT_EQ(Num(0.1), "0.1");
  for (double v : {0.1, 12.345678901234567, 1e300, -2.5e-300, 37.5}) {
    json back = json::parse(Num(v));
    ASSERT_TRUE(back.is_number_float()) << Num(v);
    EXPECT_EQ(back.get<double>(), v);
  }
  EXPECT_EQ(Num(std::nan("")), "null");
  EXPECT_EQ(Num(std::numeric_limits<double>::infinity()), "null");
  std::string ints;
  AppendJsonNumber(ints, std::numeric_limits<int64_t>::min());
  ints += ',';
  AppendJsonNumber(ints, int64_t{42});
  EXPECT_EQ(ints, "-9223372036854775808,42");
}

TEST(JsonTextTest, KeysSeparateMembersButNotTheFirst) {
  std::string out = "{";
  AppendJsonKey(out, "a");
  AppendJsonNumber(out, int64_t{1});
  AppendJsonKey(out, "b");
  AppendJsonString(out, "x");
  out += '}';
  EXPECT_EQ(out, R"({"a":1,"b":"x"})");
}

}  // namespace
}  // namespace oak

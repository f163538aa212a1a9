// The dynamic-group query language: parsing, its errors, and evaluation over things.
#include "ironroot/fleet/thing_query.hpp"

#include <gtest/gtest.h>

#include "ironroot/fleet/names.hpp"

namespace ironroot::fleet {
namespace {

Thing lamp() {
  Thing thing;
  thing.name = "sensor-42";
  thing.thing_type = "lamp";
  thing.attributes = {{"color", "red"}, {"rev", "12"}, {"site", "hall b"}, {"temp", "-3.5"}};
  thing.firmware_version = "1.10.0";
  return thing;
}

bool matches(std::string_view text, const Thing& thing = lamp()) {
  auto query = ThingQuery::parse(text);
  EXPECT_TRUE(query) << text << ": " << query.error().message;
  return query && query->matches(thing);
}

std::string parse_error(std::string_view text) {
  auto query = ThingQuery::parse(text);
  EXPECT_FALSE(query) << text << " parsed";
  return query ? "" : query.error().message;
}

TEST(ThingQuery, MatchesFieldsWithWildcards) {
  EXPECT_TRUE(matches("thingName:sensor-*"));
  EXPECT_TRUE(matches("thingName:sensor-4?"));
  EXPECT_FALSE(matches("thingName:sensor-4"));
  EXPECT_FALSE(matches("thingName:gateway-*"));
  EXPECT_TRUE(matches("thingTypeName:lamp"));
  EXPECT_FALSE(matches("thingTypeName:lam"));
  EXPECT_TRUE(matches("attributes.color:red"));
  EXPECT_FALSE(matches("attributes.color:blue"));
  EXPECT_TRUE(matches("firmwareVersion:1.10.*"));
  EXPECT_FALSE(matches("firmwareVersion:1.2.*"));
}

TEST(ThingQuery, QuotedValuesAreExactWithEscapes) {
  EXPECT_TRUE(matches("attributes.site:\"hall b\""));
  EXPECT_FALSE(matches("attributes.site:\"hall *\""));  // '*' is literal when quoted
  Thing odd = lamp();
  odd.attributes["note"] = "say \"hi\" \\o/";
  EXPECT_TRUE(matches(R"(attributes.note:"say \"hi\" \\o/")", odd));
}

TEST(ThingQuery, MissingFieldsAreFalseAndNotTrue) {
  Thing bare;
  bare.name = "bare";
  EXPECT_FALSE(matches("thingTypeName:*", bare));
  EXPECT_FALSE(matches("attributes.color:*", bare));
  EXPECT_FALSE(matches("firmwareVersion<9", bare));
  EXPECT_TRUE(matches("NOT attributes.color:red", bare));
}

TEST(ThingQuery, ComparesVersionsNumbersAndText) {
  EXPECT_TRUE(matches("firmwareVersion>1.9.0"));  // as versions, not as text
  EXPECT_TRUE(matches("firmwareVersion<1.10.1"));
  EXPECT_TRUE(matches("firmwareVersion>=1.10"));  // missing components are 0
  EXPECT_TRUE(matches("firmwareVersion<=1.10.0.0"));
  EXPECT_FALSE(matches("firmwareVersion<1.10.0"));
  EXPECT_TRUE(matches("attributes.rev>=3"));  // numbers: 12 > 3, though "12" < "3" as text
  EXPECT_TRUE(matches("attributes.rev>9"));
  EXPECT_FALSE(matches("attributes.rev<12"));
  EXPECT_TRUE(matches("attributes.temp<-3"));  // signed decimals
  EXPECT_TRUE(matches("attributes.temp>-3.75"));
  EXPECT_TRUE(matches("attributes.color>blue"));  // text
  EXPECT_FALSE(matches("attributes.color>zebra"));
}

TEST(ThingQuery, CompareValuesRules) {
  EXPECT_LT(compare_values("1.9", "1.10"), 0);
  EXPECT_EQ(compare_values("1.2", "1.2.0"), 0);
  EXPECT_EQ(compare_values("007", "7"), 0);
  EXPECT_GT(compare_values("99999999999999999999999", "99999999999999999999998"), 0);
  EXPECT_LT(compare_values("-2", "1.5"), 0);
  EXPECT_LT(compare_values("1.2.0-rc1", "1.2.0-rc2"), 0);  // not dotted numbers: text
  EXPECT_GT(compare_values("b", "a"), 0);
}

TEST(ThingQuery, WildcardMatch) {
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("a*c", "abbbc"));
  EXPECT_TRUE(wildcard_match("a*", "a*b"));
  EXPECT_TRUE(wildcard_match("*b*b*", "abxbz"));
  EXPECT_FALSE(wildcard_match("a?c", "ac"));
  EXPECT_FALSE(wildcard_match("*x", "abc"));
  EXPECT_TRUE(wildcard_match(std::string(400, '*') + "z", std::string(800, 'a') + "z"));
}

TEST(ThingQuery, BooleanOperatorsAndPrecedence) {
  EXPECT_TRUE(matches("thingTypeName:lamp AND attributes.color:red"));
  EXPECT_FALSE(matches("thingTypeName:lamp AND attributes.color:blue"));
  EXPECT_TRUE(matches("thingTypeName:lamp attributes.color:red"));  // implicit AND
  EXPECT_TRUE(matches("attributes.color:blue OR attributes.color:red"));
  EXPECT_FALSE(matches("NOT thingTypeName:lamp"));
  // AND binds tighter than OR: (false AND false) OR true.
  EXPECT_TRUE(matches("attributes.color:blue AND thingName:x OR thingTypeName:lamp"));
  // Parentheses change it: false AND (false OR true).
  EXPECT_FALSE(matches("attributes.color:blue AND (thingName:x OR thingTypeName:lamp)"));
  EXPECT_TRUE(matches("NOT (attributes.color:blue OR thingName:x)"));
  EXPECT_TRUE(matches("NOT NOT thingTypeName:lamp"));
  EXPECT_TRUE(matches("  ( ( thingTypeName:lamp ) )  "));
}

TEST(ThingQuery, KeepsItsText) {
  auto query = ThingQuery::parse("attributes.rev>=3");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->text(), "attributes.rev>=3");
}

TEST(ThingQuery, SyntaxErrorsGiveThePosition) {
  EXPECT_NE(parse_error("color:red").find("character 1: unknown field 'color'"), std::string::npos);
  EXPECT_NE(parse_error("thingName:a AND").find("character 16"), std::string::npos);
  EXPECT_NE(parse_error("thingName:").find("character 11: expected a value"), std::string::npos);
  EXPECT_NE(parse_error("thingName=a").find("character 10: expected ':'"), std::string::npos);
  EXPECT_NE(parse_error("(thingName:a").find("character 1: this '(' is not closed"),
            std::string::npos);
  EXPECT_NE(parse_error("thingName:a)").find("character 12: unbalanced ')'"), std::string::npos);
  EXPECT_NE(parse_error("attributes.site:\"hall").find("character 17"), std::string::npos);
  EXPECT_NE(parse_error("thingName:\"a\\b\"").find("may only escape"), std::string::npos);
  EXPECT_NE(parse_error("OR thingName:a").find("character 1"), std::string::npos);
  EXPECT_NE(parse_error("").find("found the end"), std::string::npos);
  EXPECT_NE(parse_error("attributes.:x").find("unknown field"), std::string::npos);
}

TEST(ThingQuery, BoundsLengthDepthAndTerms) {
  EXPECT_NE(parse_error("thingName:" + std::string(kMaxQueryLength, 'a')).find("limit is 1000"),
            std::string::npos);
  std::string deep =
      std::string(kMaxQueryDepth, '(') + "thingName:a" + std::string(kMaxQueryDepth, ')');
  EXPECT_NE(parse_error(deep).find("levels deep"), std::string::npos);
  std::string shallow =
      std::string(kMaxQueryDepth - 1, '(') + "thingName:a" + std::string(kMaxQueryDepth - 1, ')');
  EXPECT_TRUE(ThingQuery::parse(shallow));
  std::string nots;
  for (std::size_t i = 0; i < kMaxQueryDepth; ++i) nots += "NOT ";
  EXPECT_NE(parse_error(nots + "thingName:a").find("levels deep"), std::string::npos);
  std::string many;
  for (std::size_t i = 0; i <= kMaxQueryTerms; ++i) many += "thingName:a ";
  EXPECT_NE(parse_error(many).find("terms"), std::string::npos);
}

}  // namespace
}  // namespace ironroot::fleet

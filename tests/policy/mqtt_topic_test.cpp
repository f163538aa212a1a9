// MQTT topic names, topic filters and the matching rule between them (MQTT 3.1.1 and 5, 4.7).
#include "ironroot/policy/mqtt_topic.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace ironroot::policy {
namespace {

using ::testing::HasSubstr;

struct MatchCase {
  const char* filter;
  const char* topic;
  bool matches;
};

TEST(TopicMatchesFilter, FollowsTheMqttRules) {
  const MatchCase cases[] = {
      // Exact levels, case-sensitive.
      {"sport/tennis/player1", "sport/tennis/player1", true},
      {"sport/tennis/player1", "sport/tennis/Player1", false},
      {"sport/tennis", "sport/tennis/player1", false},
      {"sport/tennis/player1", "sport/tennis", false},
      // '#': any number of remaining levels, including none (the parent level).
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/#", "sport", true},
      {"sport/#", "sports", false},
      {"#", "sport/tennis", true},
      {"#", "/", true},
      // '+': exactly one level, which may be empty.
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/tennis/+", "sport/tennis", false},
      {"sport/+", "sport/", true},
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"+/tennis/#", "sport/tennis", true},
      {"+/+/+", "a/b/c", true},
      {"+/+/+", "a/b", false},
      // Empty levels are levels.
      {"a//b", "a//b", true},
      {"a/+/b", "a//b", true},
      {"a/b", "a//b", false},
      // '$' topics are not matched by a leading wildcard, but are by explicit levels.
      {"#", "$SYS/broker/uptime", false},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"$SYS/#", "$SYS/broker/uptime", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"$aws/things/+/jobs/notify", "$aws/things/t1/jobs/notify", true},
      {"$aws/#", "$aws/certificates/create/json/accepted", true},
      {"a/#", "a/$b", true},  // only the first level is special
      // Invalid arguments never match.
      {"a/#/b", "a/x/b", false},
      {"a+", "a+", false},
      {"a", "a/+", false},
      {"", "", false},
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(topic_matches_filter(c.filter, c.topic), c.matches)
        << "filter \"" << c.filter << "\" topic \"" << c.topic << "\"";
  }
}

TEST(ValidateTopicName, AcceptsWhatCanBePublishedTo) {
  for (const char* topic : {"a", "/", "a/b/c", "$aws/things/t1/shadow/update", "a//b", " ",
                            "caf\xC3\xA9/\xE2\x82\xAC", "emoji/\xF0\x9F\x98\x80"}) {
    EXPECT_TRUE(validate_topic_name(topic)) << topic;
  }
  EXPECT_TRUE(validate_topic_name(std::string(kMaxTopicBytes, 'x')));
}

TEST(ValidateTopicName, RefusesWildcardsBadUtf8AndBadLengths) {
  struct Bad {
    std::string topic;
    const char* why;
  };
  const Bad cases[] = {
      {"", "is empty"},
      {std::string(kMaxTopicBytes + 1, 'x'), "more than MQTT's 65535"},
      {"a/+/b", "wildcard '+' at byte 2"},
      {"a/#", "wildcard '#' at byte 2"},
      {"sport+", "wildcard '+'"},
      {std::string("a\0b", 3), "U+0000 at byte 1"},
      {"a\x1b", "control character U+001B at byte 1"},
      {"a\xC2\x85", "control character U+0085"},
      {"a\xFF", "invalid UTF-8 at byte 1"},
      {"a\xC3", "truncated UTF-8 sequence at byte 1"},
      {"\xC0\xAF", "invalid UTF-8 at byte 0"},        // overlong '/'
      {"\xE0\x80\xAF", "overlong UTF-8 sequence"},    // overlong '/'
      {"\xED\xA0\x80", "invalid code point U+D800"},  // surrogate
      {"\xF4\x90\x80\x80", "invalid code point U+110000"},
  };
  for (const Bad& c : cases) {
    auto ok = validate_topic_name(c.topic);
    ASSERT_FALSE(ok) << c.why;
    EXPECT_THAT(ok.error().message, HasSubstr(c.why));
  }
}

TEST(ValidateTopicFilter, AcceptsWholeLevelWildcards) {
  for (const char* filter :
       {"#", "+", "+/+", "/#", "a/+/c", "a/#", "+/#", "$aws/things/+/jobs/#", "a//+", "a/b"}) {
    EXPECT_TRUE(validate_topic_filter(filter)) << filter;
  }
}

TEST(ValidateTopicFilter, RefusesMisplacedWildcards) {
  struct Bad {
    const char* filter;
    const char* why;
  };
  const Bad cases[] = {
      {"", "is empty"},
      {"a/#/c", "'#' at byte 2 that is not the whole last level"},
      {"a#", "'#' at byte 1"},
      {"#/a", "'#' at byte 0"},
      {"##", "'#' at byte 0"},
      {"a+/c", "'+' at byte 1 that is not a whole level"},
      {"a/b+", "'+' at byte 3"},
      {"a/++", "'+' at byte 2"},
      {"a/\x01", "control character U+0001"},
  };
  for (const Bad& c : cases) {
    auto ok = validate_topic_filter(c.filter);
    ASSERT_FALSE(ok) << c.filter;
    EXPECT_THAT(ok.error().message, HasSubstr(c.why)) << c.filter;
  }
}

}  // namespace
}  // namespace ironroot::policy

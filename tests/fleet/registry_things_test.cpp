// Things and thing groups in a real registry file.
#include <gtest/gtest.h>

#include "ironroot/fleet/names.hpp"
#include "registry_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

using Code = RegistryErrorCode;

NewThing lamp(std::string name, std::string color = "red") {
  return NewThing{std::move(name), "lamp", {{"color", std::move(color)}, {"rev", "3"}}, "1.2.0"};
}

TEST_F(RegistryTest, CreatesAndDescribesAThing) {
  auto created = registry().create_thing("alice", lamp("lamp-1"));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->version, 1);
  EXPECT_EQ(created->created_at, kStart);
  auto described = registry().describe_thing("lamp-1");
  ASSERT_TRUE(described) << described.error().message;
  EXPECT_EQ(*described, *created);
  EXPECT_EQ(described->attributes.at("color"), "red");
  EXPECT_EQ(described->firmware_version, "1.2.0");
}

TEST_F(RegistryTest, RefusesInvalidThings) {
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{"has space", {}, {}, {}}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{"a/b", {}, {}, {}}), Code::invalid);
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{std::string(65, 'a'), {}, {}, {}}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{"t", "bad type!", {}, {}}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{"t", {}, {{"bad name", "x"}}, {}}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{"t", {}, {{"k", "no spaces"}}, {}}),
                 Code::invalid);
  EXPECT_REFUSED(
      registry().create_thing(
          "alice", NewThing{"t", {}, {{"k", std::string(kMaxAttributeValueLength + 1, 'v')}}, {}}),
      Code::invalid);
  EXPECT_REFUSED(
      registry().create_thing(
          "alice", NewThing{"t", {}, {{std::string(kMaxAttributeNameLength + 1, 'k'), "v"}}, {}}),
      Code::invalid);
  Attributes many;
  for (std::size_t i = 0; i <= kMaxAttributes; ++i) many["a" + std::to_string(i)] = "v";
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{"t", {}, many, {}}), Code::invalid);
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{"t", {}, {}, "1.0 beta"}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_thing("", lamp("t")), Code::invalid);  // no actor
  EXPECT_REFUSED(registry().describe_thing("t"), Code::not_found);
  EXPECT_TRUE(audit().empty());
}

TEST_F(RegistryTest, AcceptsAwsAttributeAlphabetAndLimits) {
  Attributes many;
  for (std::size_t i = 0; i < kMaxAttributes; ++i) many["a" + std::to_string(i)] = "v";
  many["a0"] = "x_.,@/:#=[]-" + std::string(kMaxAttributeValueLength - 12, 'y');
  many["a1"] = "";
  many[std::string(kMaxAttributeNameLength - 9, 'k') + "_.,@/:#-"] = "v";
  many.erase("a2");
  auto created = registry().create_thing("alice", NewThing{"aws:Name_1-x", "t:y_z-1", many, {}});
  EXPECT_TRUE(created) << created.error().message;
}

TEST_F(RegistryTest, RefusesADuplicateThing) {
  ASSERT_TRUE(registry().create_thing("alice", lamp("lamp-1")));
  EXPECT_REFUSED(registry().create_thing("bob", lamp("lamp-1", "blue")), Code::already_exists);
  EXPECT_EQ(registry().describe_thing("lamp-1")->attributes.at("color"), "red");
  EXPECT_EQ(audit().size(), 1u);
}

TEST_F(RegistryTest, ListsThingsInPages) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(registry().create_thing("alice", lamp("lamp-" + std::to_string(i))));
  }
  std::vector<std::string> seen;
  Page page{3, ""};
  int pages = 0;
  for (;; ++pages) {
    auto listing = registry().list_things(page);
    ASSERT_TRUE(listing) << listing.error().message;
    for (const Thing& thing : listing->items) seen.push_back(thing.name);
    if (listing->next_token.empty()) break;
    page.next_token = listing->next_token;
  }
  EXPECT_EQ(pages, 2);  // 3 + 3 + 1
  EXPECT_EQ(seen, (std::vector<std::string>{"lamp-0", "lamp-1", "lamp-2", "lamp-3", "lamp-4",
                                            "lamp-5", "lamp-6"}));
  EXPECT_REFUSED(registry().list_things(Page{0, ""}), Code::invalid);
  EXPECT_REFUSED(registry().list_things(Page{kMaxPageLimit + 1, ""}), Code::invalid);
}

TEST_F(RegistryTest, UpdatesMergeOrReplaceAttributesAndCountVersions) {
  ASSERT_TRUE(registry().create_thing("alice", lamp("lamp-1")));
  now_ += 1h;
  ThingUpdate merge;
  merge.attributes = Attributes{{"color", "blue"}, {"rev", ""}, {"site", "hall-b"}};
  merge.firmware_version = "1.3.0";
  auto merged = registry().update_thing("device", "lamp-1", merge);
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ(merged->version, 2);
  EXPECT_EQ(merged->attributes, (Attributes{{"color", "blue"}, {"site", "hall-b"}}));
  EXPECT_EQ(merged->firmware_version, "1.3.0");
  EXPECT_EQ(merged->updated_at, kStart + 1h);
  EXPECT_EQ(merged->created_at, kStart);

  ThingUpdate replace;
  replace.attributes = Attributes{{"owner", "ops"}};
  replace.merge_attributes = false;
  replace.remove_thing_type = true;
  replace.expected_version = 2;
  auto replaced = registry().update_thing("alice", "lamp-1", replace);
  ASSERT_TRUE(replaced) << replaced.error().message;
  EXPECT_EQ(replaced->attributes, (Attributes{{"owner", "ops"}}));
  EXPECT_FALSE(replaced->thing_type);
  EXPECT_EQ(replaced->version, 3);
  EXPECT_EQ(*registry().describe_thing("lamp-1"), *replaced);
}

TEST_F(RegistryTest, RefusesAStaleUpdateOrDelete) {
  ASSERT_TRUE(registry().create_thing("alice", lamp("lamp-1")));
  ThingUpdate update;
  update.thing_type = "bulb";
  update.expected_version = 1;
  ASSERT_TRUE(registry().update_thing("alice", "lamp-1", update));
  auto stale = registry().update_thing("bob", "lamp-1", update);  // still expects 1
  EXPECT_REFUSED(stale, Code::conflict);
  EXPECT_NE(stale.error().message.find("version 2, not 1"), std::string::npos);
  EXPECT_REFUSED(registry().delete_thing("bob", "lamp-1", 1), Code::conflict);
  EXPECT_REFUSED(registry().update_thing("bob", "nope", update), Code::not_found);
  ThingUpdate both;
  both.thing_type = "x";
  both.remove_thing_type = true;
  EXPECT_REFUSED(registry().update_thing("bob", "lamp-1", both), Code::invalid);
  ThingUpdate too_many;
  too_many.attributes.emplace();
  for (std::size_t i = 0; i < kMaxAttributes; ++i)
    (*too_many.attributes)["x" + std::to_string(i)] = "v";
  EXPECT_REFUSED(registry().update_thing("bob", "lamp-1", too_many), Code::invalid);  // 52 merged
  EXPECT_EQ(registry().describe_thing("lamp-1")->version, 2);
  EXPECT_EQ(audit().size(), 2u);
  EXPECT_TRUE(registry().delete_thing("bob", "lamp-1", 2));
  EXPECT_REFUSED(registry().describe_thing("lamp-1"), Code::not_found);
  EXPECT_REFUSED(registry().delete_thing("bob", "lamp-1"), Code::not_found);
}

TEST_F(RegistryTest, StaticGroupsHoldMembersAddedByHand) {
  ASSERT_TRUE(registry().create_thing("alice", lamp("lamp-1")));
  ASSERT_TRUE(registry().create_thing("alice", lamp("lamp-2")));
  auto group = registry().create_group("alice", NewThingGroup{"hall", "Hall lamps", std::nullopt});
  ASSERT_TRUE(group) << group.error().message;
  EXPECT_FALSE(group->is_dynamic());
  ASSERT_TRUE(registry().add_to_group("alice", "hall", "lamp-2"));
  EXPECT_REFUSED(registry().add_to_group("alice", "hall", "lamp-2"), Code::already_exists);
  EXPECT_REFUSED(registry().add_to_group("alice", "hall", "nope"), Code::not_found);
  EXPECT_REFUSED(registry().add_to_group("alice", "nope", "lamp-1"), Code::not_found);
  auto members = registry().members("hall", Page{});
  ASSERT_TRUE(members) << members.error().message;
  EXPECT_EQ(members->items, std::vector<std::string>{"lamp-2"});
  EXPECT_EQ(registry().groups_of("lamp-2").value(), std::vector<std::string>{"hall"});
  EXPECT_TRUE(registry().groups_of("lamp-1").value().empty());
  EXPECT_REFUSED(registry().groups_of("nope"), Code::not_found);

  ASSERT_TRUE(registry().remove_from_group("alice", "hall", "lamp-2"));
  EXPECT_REFUSED(registry().remove_from_group("alice", "hall", "lamp-2"), Code::not_found);
  ASSERT_TRUE(registry().add_to_group("alice", "hall", "lamp-1"));
  ASSERT_TRUE(registry().delete_thing("alice", "lamp-1"));  // leaves the group with it
  EXPECT_TRUE(registry().members("hall", Page{}).value().items.empty());
}

TEST_F(RegistryTest, DynamicGroupsFollowTheirQuery) {
  ASSERT_TRUE(registry().create_thing("alice", lamp("lamp-1", "red")));
  ASSERT_TRUE(registry().create_thing("alice", lamp("lamp-2", "blue")));
  ASSERT_TRUE(registry().create_thing("alice", NewThing{"gw-1", "gateway", {}, "1.10.0"}));
  ASSERT_TRUE(registry().create_group(
      "alice", NewThingGroup{"old-red", "", "attributes.color:red AND firmwareVersion<1.10.0"}));
  ASSERT_TRUE(registry().create_group("alice", NewThingGroup{"new", "", "firmwareVersion>=1.10"}));
  EXPECT_EQ(registry().members("old-red", Page{}).value().items,
            std::vector<std::string>{"lamp-1"});
  EXPECT_EQ(registry().members("new", Page{}).value().items, std::vector<std::string>{"gw-1"});
  EXPECT_EQ(registry().groups_of("lamp-1").value(), std::vector<std::string>{"old-red"});

  ThingUpdate upgrade;
  upgrade.firmware_version = "1.10.2";
  ASSERT_TRUE(registry().update_thing("device", "lamp-1", upgrade));
  EXPECT_TRUE(registry().members("old-red", Page{}).value().items.empty());
  EXPECT_EQ(registry().groups_of("lamp-1").value(), std::vector<std::string>{"new"});

  EXPECT_REFUSED(registry().add_to_group("alice", "new", "lamp-2"), Code::invalid);
  auto bad = registry().create_group("alice", NewThingGroup{"bad", "", "color:red"});
  EXPECT_REFUSED(bad, Code::invalid);
  EXPECT_NE(bad.error().message.find("character 1"), std::string::npos);
}

TEST_F(RegistryTest, PagesThroughADynamicGroup) {
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(registry().create_thing(
        "alice", lamp("lamp-" + std::to_string(i), i % 2 == 0 ? "red" : "blue")));
  }
  ASSERT_TRUE(registry().create_group("alice", NewThingGroup{"red", "", "attributes.color:red"}));
  std::vector<std::string> seen;
  Page page{2, ""};
  for (;;) {
    auto listing = registry().members("red", page);
    ASSERT_TRUE(listing) << listing.error().message;
    EXPECT_LE(listing->items.size(), 2u);
    seen.insert(seen.end(), listing->items.begin(), listing->items.end());
    if (listing->next_token.empty()) break;
    page.next_token = listing->next_token;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"lamp-0", "lamp-2", "lamp-4", "lamp-6", "lamp-8"}));
}

TEST_F(RegistryTest, GroupsRefuseBadNamesAndDuplicates) {
  EXPECT_REFUSED(registry().create_group("alice", NewThingGroup{"a b", "", {}}), Code::invalid);
  EXPECT_REFUSED(registry().create_group("alice", NewThingGroup{std::string(129, 'g'), "", {}}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_group("alice", NewThingGroup{"g", "tab\there", {}}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_group("alice", NewThingGroup{"g", "bad \xc3\x28 utf-8", {}}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_group("alice", NewThingGroup{"g", "overlong \xc0\xaf", {}}),
                 Code::invalid);
  EXPECT_REFUSED(registry().create_group("alice", NewThingGroup{"g", "surrogate \xed\xa0\x80", {}}),
                 Code::invalid);
  auto unicode = registry().create_group(
      "alice", NewThingGroup{"u", "Halle \xc3\xa9t\xc3\xa9 \xf0\x9f\x92\xa1", {}});
  EXPECT_TRUE(unicode) << unicode.error().message;
  // A query's quoted value may hold any bytes; the audit row still records it.
  EXPECT_TRUE(registry().create_group("alice", NewThingGroup{"q", "", "attributes.x:\"\xff\""}));
  EXPECT_NE(audit().back().details.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
  ASSERT_TRUE(registry().create_group("alice", NewThingGroup{"g", "d", {}}));
  EXPECT_REFUSED(registry().create_group("alice", NewThingGroup{"g", "other", {}}),
                 Code::already_exists);
  EXPECT_EQ(registry().describe_group("g")->description, "d");
  EXPECT_EQ(registry().list_groups(Page{}).value().items.size(), 3u);
  ASSERT_TRUE(registry().delete_group("alice", "g"));
  EXPECT_REFUSED(registry().describe_group("g"), Code::not_found);
  EXPECT_REFUSED(registry().delete_group("alice", "g"), Code::not_found);
}

}  // namespace
}  // namespace ironroot::fleet::testing

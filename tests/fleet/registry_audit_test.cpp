// The audit log: one row per committed change, in the change's own transaction; and persistence
// across reopening the file.
#include <gtest/gtest.h>

#include "registry_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

using Code = RegistryErrorCode;

TEST_F(RegistryTest, EveryChangeIsAuditedWithWhoWhatAndWhen) {
  ASSERT_TRUE(registry().create_thing("alice", NewThing{"lamp-1", "lamp", {{"color", "red"}}, {}}));
  now_ += 1h;
  ThingUpdate update;
  update.firmware_version = "2.0.0";
  ASSERT_TRUE(registry().update_thing("device:lamp-1", "lamp-1", update));
  now_ += 1h;
  ASSERT_TRUE(registry().delete_thing("bob", "lamp-1"));

  auto entries = audit();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].actor, "alice");
  EXPECT_EQ(entries[0].action, "thing.create");
  EXPECT_EQ(entries[0].target_type, "thing");
  EXPECT_EQ(entries[0].target_id, "lamp-1");
  EXPECT_EQ(entries[0].at, kStart);
  EXPECT_EQ(entries[0].details,
            R"({"attributes":{"color":"red"},"firmwareVersion":"","thingType":"lamp"})");
  EXPECT_EQ(entries[1].actor, "device:lamp-1");
  EXPECT_EQ(entries[1].at, kStart + 1h);
  EXPECT_EQ(entries[2].action, "thing.delete");
  EXPECT_LT(entries[0].id, entries[1].id);
  EXPECT_LT(entries[1].id, entries[2].id);

  EXPECT_EQ(audit(AuditFilter{{}, {}, kStart + 1h}).size(), 2u);
  EXPECT_EQ(audit(AuditFilter{"thing", "lamp-1", {}}).size(), 3u);
  EXPECT_TRUE(audit(AuditFilter{"thing", "lamp-2", {}}).empty());
  EXPECT_TRUE(audit(AuditFilter{"policy", {}, {}}).empty());
}

TEST_F(RegistryTest, AuditPagesAndRefusesForeignTokens) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(registry().create_thing("alice", NewThing{"t" + std::to_string(i), {}, {}, {}}));
  }
  auto first = registry().list_audit({}, Page{2, ""});
  ASSERT_TRUE(first);
  ASSERT_EQ(first->items.size(), 2u);
  ASSERT_FALSE(first->next_token.empty());
  auto second = registry().list_audit({}, Page{10, first->next_token});
  ASSERT_TRUE(second);
  ASSERT_EQ(second->items.size(), 3u);
  EXPECT_EQ(second->items[0].target_id, "t2");
  EXPECT_TRUE(second->next_token.empty());
  EXPECT_REFUSED(registry().list_audit({}, Page{2, "lamp"}), Code::invalid);
  EXPECT_REFUSED(registry().list_audit({}, Page{2, "-1"}), Code::invalid);
}

TEST_F(RegistryTest, ARefusedChangeLeavesNoAuditRow) {
  ASSERT_TRUE(registry().create_thing("alice", NewThing{"lamp-1", {}, {}, {}}));
  EXPECT_REFUSED(registry().create_thing("alice", NewThing{"lamp-1", {}, {}, {}}),
                 Code::already_exists);
  EXPECT_REFUSED(registry().delete_thing("alice", "lamp-9"), Code::not_found);
  EXPECT_REFUSED(registry().create_thing(std::string(200, 'a'), NewThing{"lamp-2", {}, {}, {}}),
                 Code::invalid);
  EXPECT_EQ(audit().size(), 1u);
}

// The audit row is written in the change's transaction: when writing it fails (here a trigger in
// the file refuses it), the change itself is rolled back.
TEST_F(RegistryTest, AFailedAuditWriteUndoesTheChange) {
  {
    auto db = Database::open(path(), registry_migrations());
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE(
        db->execute("CREATE TRIGGER refuse_doomed BEFORE INSERT ON audit_log "
                    "WHEN NEW.target_id = 'doomed' OR NEW.action = 'thing.update' "
                    "BEGIN SELECT RAISE(ABORT, 'audit refused'); END;"));
  }
  ASSERT_TRUE(registry().create_thing("alice", NewThing{"kept", {}, {}, {}}));
  auto failed = registry().create_thing("alice", NewThing{"doomed", {}, {}, {}});
  EXPECT_REFUSED(failed, Code::internal);
  EXPECT_NE(failed.error().message.find("audit refused"), std::string::npos)
      << failed.error().message;
  EXPECT_NE(failed.error().message.find("registry.db"), std::string::npos);
  EXPECT_REFUSED(registry().describe_thing("doomed"), Code::not_found);
  EXPECT_EQ(audit().size(), 1u);

  // The same for an update of an existing thing: its version and attributes stay as they were.
  ThingUpdate update;
  update.attributes = Attributes{{"color", "red"}};
  EXPECT_REFUSED(registry().update_thing("alice", "kept", update), Code::internal);
  auto kept = registry().describe_thing("kept");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->version, 1);
  EXPECT_TRUE(kept->attributes.empty());
  EXPECT_REFUSED(registry().create_policy("alice", "doomed", "{}"), Code::internal);
  EXPECT_REFUSED(registry().describe_policy("doomed"), Code::not_found);
  EXPECT_EQ(audit().size(), 1u);
}

TEST_F(RegistryTest, ReopeningKeepsEverything) {
  ASSERT_TRUE(registry().create_thing("alice", NewThing{"lamp-1", "lamp", {{"c", "r"}}, "1.0"}));
  ASSERT_TRUE(registry().create_group("alice", NewThingGroup{"g", "d", "thingTypeName:lamp"}));
  ASSERT_TRUE(registry().create_policy("alice", "p", "{}"));
  ASSERT_TRUE(registry().attach_policy_to_group("alice", "p", "g"));
  ASSERT_TRUE(
      registry().create_template("alice", NewProvisioningTemplate{"t", "", "{}", false, {}}));
  const Thing before = *registry().describe_thing("lamp-1");
  const auto audit_before = audit();

  reopen();
  EXPECT_EQ(*registry().describe_thing("lamp-1"), before);
  EXPECT_EQ(registry().members("g", Page{}).value().items, std::vector<std::string>{"lamp-1"});
  EXPECT_REFUSED(registry().delete_policy("alice", "p"), Code::conflict);
  EXPECT_FALSE(registry().describe_template("t")->enabled);
  EXPECT_EQ(audit(), audit_before);
  EXPECT_EQ(audit_before.size(), 5u);
}

}  // namespace
}  // namespace ironroot::fleet::testing

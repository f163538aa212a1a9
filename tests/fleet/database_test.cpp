// The SQLite layer: durability settings, migrations, transactions and errors, on real files.
#include "ironroot/fleet/database.hpp"

#include <gtest/gtest.h>

#include <array>
#include <fstream>

#include "support/temp_dir.hpp"

namespace ironroot::fleet {
namespace {

using ironroot::testing::TempDir;

constexpr std::array<Migration, 2> kTwo{
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);",
    "ALTER TABLE notes ADD COLUMN author TEXT;",
};

std::int64_t count_notes(Database& db) {
  auto stmt = db.prepare("SELECT count(*) FROM notes");
  EXPECT_TRUE(stmt) << stmt.error().message;
  auto row = stmt->step();
  EXPECT_TRUE(row && *row);
  return stmt->integer(0);
}

std::string pragma(Database& db, const std::string& name) {
  auto stmt = db.prepare("PRAGMA " + name);
  EXPECT_TRUE(stmt) << stmt.error().message;
  auto row = stmt->step();
  EXPECT_TRUE(row && *row);
  return stmt->text(0);
}

TEST(Database, OpensInWalModeWithFullSyncAndForeignKeys) {
  TempDir dir;
  auto db = Database::open(dir / "a.db", kTwo);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(pragma(*db, "journal_mode"), "wal");
  EXPECT_EQ(pragma(*db, "synchronous"), "2");  // FULL
  EXPECT_EQ(pragma(*db, "foreign_keys"), "1");
  EXPECT_EQ(db->schema_version().value(), 2);
}

TEST(Database, AppliesOnlyMissingMigrationsInOrder) {
  TempDir dir;
  {
    auto db = Database::open(dir / "a.db", std::span(kTwo).first(1));
    ASSERT_TRUE(db) << db.error().message;
    EXPECT_EQ(db->schema_version().value(), 1);
    ASSERT_TRUE(db->execute("INSERT INTO notes (text) VALUES ('kept')"));
  }
  auto db = Database::open(dir / "a.db", kTwo);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version().value(), 2);
  auto stmt = db->prepare("SELECT text, author FROM notes");
  ASSERT_TRUE(stmt);
  ASSERT_TRUE(stmt->step().value());
  EXPECT_EQ(stmt->text(0), "kept");
  EXPECT_FALSE(stmt->optional_text(1));
}

TEST(Database, AFailingMigrationChangesNothing) {
  TempDir dir;
  constexpr std::array<Migration, 2> broken{
      "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
      "CREATE TABLE more (x); CREATE TABLE notes (y);",  // the second statement fails
  };
  auto db = Database::open(dir / "a.db", broken);
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message.find("migration 2"), std::string::npos) << db.error().message;
  EXPECT_NE(db.error().message.find("a.db"), std::string::npos) << db.error().message;
  auto again = Database::open(dir / "a.db", std::span(broken).first(1));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->schema_version().value(), 1);
  EXPECT_FALSE(again->prepare("SELECT * FROM more"));  // migration 2 left nothing behind
}

TEST(Database, RefusesASchemaNewerThanItKnows) {
  TempDir dir;
  ASSERT_TRUE(Database::open(dir / "a.db", kTwo));
  auto db = Database::open(dir / "a.db", std::span(kTwo).first(1));
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message.find("schema is version 2, newer than this program knows (1)"),
            std::string::npos)
      << db.error().message;
}

TEST(Database, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  std::ofstream(dir / "junk.db") << std::string(4096, 'x');
  auto db = Database::open(dir / "junk.db", kTwo);
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message.find("junk.db"), std::string::npos) << db.error().message;
  EXPECT_NE(db.error().message.find("not a database"), std::string::npos) << db.error().message;
}

TEST(Database, FailsToOpenInAMissingFolder) {
  TempDir dir;
  auto db = Database::open(dir / "missing" / "a.db", kTwo);
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message.find("cannot open"), std::string::npos) << db.error().message;
}

TEST(Database, TransactionRollsBackUnlessCommitted) {
  TempDir dir;
  auto db = Database::open(dir / "a.db", kTwo);
  ASSERT_TRUE(db);
  {
    auto txn = db->begin_write();
    ASSERT_TRUE(txn) << txn.error().message;
    ASSERT_TRUE(db->execute("INSERT INTO notes (text) VALUES ('dropped')"));
  }
  EXPECT_EQ(count_notes(*db), 0);
  {
    auto txn = db->begin_write();
    ASSERT_TRUE(txn);
    ASSERT_TRUE(db->execute("INSERT INTO notes (text) VALUES ('kept')"));
    ASSERT_TRUE(txn->commit());
    EXPECT_FALSE(txn->commit());  // once only
  }
  EXPECT_EQ(count_notes(*db), 1);
}

TEST(Database, StatementsBindStepAndReportErrors) {
  TempDir dir;
  auto db = Database::open(dir / "a.db", kTwo);
  ASSERT_TRUE(db);
  auto insert = db->prepare("INSERT INTO notes (id, text, author) VALUES (?1, ?2, ?3)");
  ASSERT_TRUE(insert);
  ASSERT_TRUE(insert->bind(1, std::int64_t{7}).bind(2, "seven").bind(3, std::nullopt).run());
  EXPECT_EQ(db->changes(), 1);
  insert->reset();
  auto duplicate = insert->run();  // same id again
  ASSERT_FALSE(duplicate);
  EXPECT_NE(duplicate.error().message.find("UNIQUE constraint failed"), std::string::npos)
      << duplicate.error().message;

  auto bad = db->prepare("SELECT x FROM nowhere");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("no such table: nowhere"), std::string::npos)
      << bad.error().message;

  auto out_of_range = db->prepare("SELECT ?1");
  ASSERT_TRUE(out_of_range);
  auto step = out_of_range->bind(5, "x").step();
  ASSERT_FALSE(step);
  EXPECT_NE(step.error().message.find("cannot bind parameter 5"), std::string::npos);
}

TEST(Database, WaitsForAnotherWriterUpToTheBusyTimeout) {
  TempDir dir;
  auto first = Database::open(dir / "a.db", kTwo);
  ASSERT_TRUE(first);
  auto second = Database::open(dir / "a.db", kTwo, DatabaseOptions{std::chrono::milliseconds(1)});
  ASSERT_TRUE(second) << second.error().message;
  auto holding = first->begin_write();
  ASSERT_TRUE(holding);
  auto blocked = second->begin_write();
  ASSERT_FALSE(blocked);
  EXPECT_NE(blocked.error().message.find("locked"), std::string::npos) << blocked.error().message;
  ASSERT_TRUE(holding->commit());
  EXPECT_TRUE(second->begin_write());
}

}  // namespace
}  // namespace ironroot::fleet

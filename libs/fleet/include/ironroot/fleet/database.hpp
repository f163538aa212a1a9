// An embedded SQLite database for the fleet service's state: one file in the data folder, in WAL
// mode with synchronous=FULL (a committed transaction survives a power cut), foreign keys
// enforced, and a schema brought up to date by numbered migrations (PRAGMA user_version).
// Every SQLite handle is owned by RAII; errors are values naming the file and SQLite's reason.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"

struct sqlite3;       // SQLite's connection
struct sqlite3_stmt;  // SQLite's prepared statement

namespace ironroot::fleet {

namespace detail {
struct ConnectionClose {
  void operator()(sqlite3* db) const;
};
struct StatementFinalize {
  void operator()(sqlite3_stmt* stmt) const;
};
}  // namespace detail

// One prepared SQL statement. Bind parameters (1-based, as SQLite numbers them), then step().
// A bind failure is remembered and reported by the next step(). Not thread-safe; must not outlive
// the Database that prepared it.
class Statement {
 public:
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const std::string& text) {
    return bind(index, std::string_view(text));
  }
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, const std::optional<std::string>& text);  // NULL when absent
  Statement& bind_null(int index);

  // Runs the statement to its next row. true: a row is available through the column accessors;
  // false: the statement is done.
  Result<bool> step();
  // Runs a statement that returns no rows to completion.
  Status run();
  // Makes the statement ready to run again; bindings are kept.
  void reset();

  // Column accessors, 0-based. REQUIRES: the last step() returned true.
  bool is_null(int column) const;
  std::int64_t integer(int column) const;
  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;  // nullopt for NULL

 private:
  friend class Database;
  Statement(sqlite3* db, std::shared_ptr<const std::string> where, sqlite3_stmt* stmt)
      : db_(db), where_(std::move(where)), stmt_(stmt) {}
  void note_bind(int rc, int index);
  Error error(std::string_view what) const;

  sqlite3* db_;
  std::shared_ptr<const std::string> where_;
  std::unique_ptr<sqlite3_stmt, detail::StatementFinalize> stmt_;
  std::optional<Error> bind_error_;
};

// An open transaction. commit() makes it durable; a transaction destroyed without a successful
// commit is rolled back, so an early return on an error undoes everything done so far. Must not
// outlive the Database that began it; one at a time per Database (SQLite does not nest them).
class Transaction {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  // Durable on return (synchronous=FULL). After a failure the transaction is rolled back.
  Status commit();

 private:
  friend class Database;
  Transaction(sqlite3* db, std::shared_ptr<const std::string> where)
      : db_(db), where_(std::move(where)) {}

  sqlite3* db_;
  std::shared_ptr<const std::string> where_;
  bool open_ = true;
};

struct DatabaseOptions {
  // How long a statement waits for another connection's write lock before failing with "busy".
  std::chrono::milliseconds busy_timeout{5000};
};

// A migration brings the schema from version N to N + 1, where N is its index in the list given
// to Database::open. Migrations are SQL scripts; once released they are never edited, only
// appended to.
using Migration = std::string_view;

// A connection to one database file. Movable, not copyable; one thread at a time.
class Database {
 public:
  // Opens `path`, creating it (and nothing else: the folder must exist) when missing, and applies
  // each migration the file has not had yet, in order, each in its own transaction together with
  // the new user_version. Fails when the file's schema is newer than `migrations` knows (an older
  // ironrootd on a newer data folder), when it is not a SQLite database, or when WAL cannot be
  // enabled.
  static Result<Database> open(const std::filesystem::path& path,
                               std::span<const Migration> migrations,
                               const DatabaseOptions& options = {});

  const std::filesystem::path& path() const { return path_; }
  // PRAGMA user_version: how many migrations the file has had.
  Result<std::int64_t> schema_version();

  // Runs one or more statements without parameters (schema changes, pragmas).
  Status execute(std::string_view sql);
  // Compiles one statement. Fails on SQL errors, naming the database and SQLite's message.
  Result<Statement> prepare(std::string_view sql);

  // BEGIN IMMEDIATE: takes the write lock now (waiting up to the busy timeout), so that reads made
  // inside the transaction cannot be invalidated by another writer before it commits.
  Result<Transaction> begin_write();
  // BEGIN (deferred): a consistent snapshot for several reads.
  Result<Transaction> begin_read();

  // How many rows the last INSERT, UPDATE or DELETE on this connection changed.
  std::int64_t changes() const;

  // The underlying connection. Never null.
  sqlite3* native() const { return db_.get(); }

 private:
  Database(std::filesystem::path path, sqlite3* db);
  Status migrate(std::span<const Migration> migrations);
  Result<Transaction> begin(std::string_view sql);
  Error error(std::string_view what) const;

  std::filesystem::path path_;
  std::shared_ptr<const std::string> where_;  // "database <path>", shared with statements
  std::unique_ptr<sqlite3, detail::ConnectionClose> db_;
};

}  // namespace ironroot::fleet

#include "ironroot/fleet/database.hpp"

#include <sqlite3.h>

#include <limits>
#include <utility>

namespace ironroot::fleet {

namespace detail {
void ConnectionClose::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}
void StatementFinalize::operator()(sqlite3_stmt* stmt) const {
  sqlite3_finalize(stmt);
}
}  // namespace detail

namespace {

// "<where>: <what>: <SQLite's message> (<extended code>)".
Error sqlite_error(sqlite3* db, const std::string& where, std::string_view what) {
  std::string message = where + ": " + std::string(what);
  if (db != nullptr) {
    message += ": ";
    message += sqlite3_errmsg(db);
    message += " (SQLite code " + std::to_string(sqlite3_extended_errcode(db)) + ")";
  }
  return Error{std::move(message)};
}

int checked_size(std::string_view text) {
  return text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())
             ? -1
             : static_cast<int>(text.size());
}

}  // namespace

// --- Statement ---

void Statement::note_bind(int rc, int index) {
  if (rc != SQLITE_OK && !bind_error_) {
    bind_error_ = error("cannot bind parameter " + std::to_string(index));
  }
}

Statement& Statement::bind(int index, std::string_view text) {
  int size = checked_size(text);
  if (size < 0) {
    if (!bind_error_)
      bind_error_ = Error{*where_ + ": parameter " + std::to_string(index) + " is too large"};
    return *this;
  }
  note_bind(sqlite3_bind_text(stmt_.get(), index, text.data(), size, SQLITE_TRANSIENT), index);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_.get(), index, value), index);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
  return text ? bind(index, std::string_view(*text)) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  note_bind(sqlite3_bind_null(stmt_.get(), index), index);
  return *this;
}

Result<bool> Statement::step() {
  if (bind_error_) return tl::unexpected(*bind_error_);
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error failure = error("statement failed");
  sqlite3_reset(stmt_.get());
  return tl::unexpected(std::move(failure));
}

Status Statement::run() {
  for (;;) {
    auto row = step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return {};
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_.get());
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

std::int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

std::string Statement::text(int column) const {
  const unsigned char* data = sqlite3_column_text(stmt_.get(), column);
  int size = sqlite3_column_bytes(stmt_.get(), column);
  if (data == nullptr || size <= 0) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::optional<std::string> Statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

Error Statement::error(std::string_view what) const {
  std::string context(what);
  if (const char* sql = sqlite3_sql(stmt_.get()); sql != nullptr) {
    std::string_view text(sql);
    context += " [" + std::string(text.substr(0, 60)) + (text.size() > 60 ? "...]" : "]");
  }
  return sqlite_error(db_, *where_, context);
}

// --- Transaction ---

Transaction::Transaction(Transaction&& other) noexcept
    : db_(other.db_), where_(std::move(other.where_)), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  // A failed COMMIT may leave the transaction open; ROLLBACK then ends it. ROLLBACK outside a
  // transaction (SQLite already rolled back after an I/O error) fails harmlessly.
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::commit() {
  if (!open_) return fail(*where_ + ": the transaction is no longer open");
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return tl::unexpected(sqlite_error(db_, *where_, "commit failed"));
  }
  open_ = false;
  return {};
}

// --- Database ---

Database::Database(std::filesystem::path path, sqlite3* db)
    : path_(std::move(path)),
      where_(std::make_shared<const std::string>("database " + path_.string())),
      db_(db) {}

Error Database::error(std::string_view what) const {
  return sqlite_error(db_.get(), *where_, what);
}

Result<Database> Database::open(const std::filesystem::path& path,
                                std::span<const Migration> migrations,
                                const DatabaseOptions& options) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(path, raw);  // owns `raw` even when opening failed
  if (rc != SQLITE_OK) return tl::unexpected(db.error("cannot open"));
  sqlite3_extended_result_codes(raw, 1);
  auto timeout = options.busy_timeout.count();
  sqlite3_busy_timeout(raw, timeout > std::numeric_limits<int>::max()
                                ? std::numeric_limits<int>::max()
                                : static_cast<int>(timeout));

  // journal_mode answers with the mode in force: anything but "wal" means WAL is unavailable.
  auto mode = db.prepare("PRAGMA journal_mode=WAL");
  if (!mode) return tl::unexpected(mode.error());
  auto row = mode->step();
  if (!row) return tl::unexpected(row.error());
  if (!*row || mode->text(0) != "wal") {
    return fail(*db.where_ + ": cannot switch to WAL mode (the journal mode stays '" +
                (*row ? mode->text(0) : std::string("?")) + "')");
  }
  mode->reset();
  if (auto ok = db.execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (auto ok = db.migrate(migrations); !ok) return tl::unexpected(ok.error());
  return db;
}

Result<std::int64_t> Database::schema_version() {
  auto stmt = prepare("PRAGMA user_version");
  if (!stmt) return tl::unexpected(stmt.error());
  auto row = stmt->step();
  if (!row) return tl::unexpected(row.error());
  return *row ? stmt->integer(0) : 0;
}

Status Database::migrate(std::span<const Migration> migrations) {
  auto version = schema_version();
  if (!version) return tl::unexpected(version.error());
  const auto known = static_cast<std::int64_t>(migrations.size());
  if (*version > known) {
    return fail(*where_ + ": its schema is version " + std::to_string(*version) +
                ", newer than this program knows (" + std::to_string(known) +
                "): use the ironroot release that wrote it, or a later one");
  }
  for (std::int64_t next = *version; next < known; ++next) {
    auto txn = begin_write();
    if (!txn) return tl::unexpected(txn.error());
    // Another process may have migrated between our read of user_version and the write lock.
    auto current = schema_version();
    if (!current) return tl::unexpected(current.error());
    if (*current > next) continue;
    const std::string step = "migration " + std::to_string(next + 1);
    if (auto ok = execute(migrations[static_cast<std::size_t>(next)]); !ok) {
      return fail(ok.error().message + " (in " + step + ")");
    }
    if (auto ok = execute("PRAGMA user_version=" + std::to_string(next + 1)); !ok) {
      return tl::unexpected(ok.error());
    }
    if (auto ok = txn->commit(); !ok) return tl::unexpected(ok.error());
  }
  return {};
}

Status Database::execute(std::string_view sql) {
  std::string text(sql);  // sqlite3_exec needs a terminated string
  char* message = nullptr;
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &message);
  std::string reason = message != nullptr ? message : "";
  sqlite3_free(message);
  if (rc != SQLITE_OK) {
    return fail(*where_ + ": " + (reason.empty() ? sqlite3_errstr(rc) : reason) + " (SQLite code " +
                std::to_string(rc) + ")");
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) {
  int size = checked_size(sql);
  if (size < 0) return fail(*where_ + ": SQL text too large");
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql.data(), size, &stmt, nullptr) != SQLITE_OK) {
    Error failure = error("cannot prepare [" + std::string(sql.substr(0, 60)) + "]");
    sqlite3_finalize(stmt);
    return tl::unexpected(std::move(failure));
  }
  return Statement(db_.get(), where_, stmt);
}

std::int64_t Database::changes() const {
  return sqlite3_changes64(db_.get());
}

Result<Transaction> Database::begin(std::string_view sql) {
  if (auto ok = execute(sql); !ok) return tl::unexpected(ok.error());
  return Transaction(db_.get(), where_);
}

Result<Transaction> Database::begin_write() {
  return begin("BEGIN IMMEDIATE");
}
Result<Transaction> Database::begin_read() {
  return begin("BEGIN");
}

}  // namespace ironroot::fleet

// The firmware repository's code-signing keys: registration, listing and revocation.
#include "firmware_internal.hpp"

namespace ironroot::fleet {

using namespace firmware_detail;

std::string_view code_signing_key_status_name(CodeSigningKeyStatus status) {
  return status == CodeSigningKeyStatus::revoked ? "REVOKED" : "ACTIVE";
}

std::optional<CodeSigningKeyStatus> parse_code_signing_key_status(std::string_view name) {
  if (name == "ACTIVE") return CodeSigningKeyStatus::active;
  if (name == "REVOKED") return CodeSigningKeyStatus::revoked;
  return std::nullopt;
}

namespace firmware_detail {

namespace {

constexpr std::string_view kKeyColumns = "id, name, key_type, pem, status, created_at, revoked_at";

RegistryResult<CodeSigningKey> read_key(Statement& row) {
  CodeSigningKey key;
  key.id = row.text(0);
  key.name = row.text(1);
  auto type = crypto::parse_key_type(row.text(2));
  auto status = parse_code_signing_key_status(row.text(4));
  if (!type || !status) {
    return internal(Error{"code-signing key " + key.id + ": unknown stored type or status"});
  }
  key.type = *type;
  key.pem = row.text(3);
  key.status = *status;
  key.created_at = from_db(row.integer(5));
  if (!row.is_null(6)) key.revoked_at = from_db(row.integer(6));
  return key;
}

}  // namespace

Status check_label(std::string_view what, std::string_view text, std::size_t max) {
  const std::string shown = std::string(what) + " '" + std::string(text.substr(0, 64)) + "'";
  if (text.empty() || text.size() > max) {
    return fail(shown + " must be 1 to " + std::to_string(max) + " characters long");
  }
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '+' || c == '-';
    if (!ok) return fail(shown + " may contain only letters, digits and . _ + -");
  }
  return {};
}

Result<std::string> normalize_sha256_id(std::string_view what, std::string_view id) {
  auto bytes = from_hex(id.substr(0, 65));
  if (!bytes || bytes->size() != crypto::Sha256Digest{}.size()) {
    return fail(std::string(what) + " id '" + std::string(id.substr(0, 80)) +
                "' must be 64 hex digits (a SHA-256)");
  }
  return to_hex(*bytes);
}

RegistryResult<std::optional<CodeSigningKey>> load_key(Database& db, std::string_view id) {
  auto stmt =
      db.prepare("SELECT " + std::string(kKeyColumns) + " FROM code_signing_keys WHERE id = ?1");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->bind(1, id).step();
  if (!row) return internal(row.error());
  if (!*row) return std::optional<CodeSigningKey>();
  auto key = read_key(*stmt);
  if (!key) return tl::unexpected(key.error());
  return std::optional<CodeSigningKey>(std::move(*key));
}

}  // namespace firmware_detail

namespace {

// Exactly one PEM "PUBLIC KEY" block of a key type libs/image verifies. A private key is refused
// rather than reduced to its public half: it has no business on the fleet service.
Result<crypto::PublicKey> parse_public_key(std::string_view pem) {
  if (pem.size() > kMaxPemLength) {
    return fail("the public key PEM is " + std::to_string(pem.size()) + " bytes; at most " +
                std::to_string(kMaxPemLength) + " are accepted");
  }
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    return fail(
        "this PEM holds a private key: register only its public half (`ironroot image getpub "
        "-k KEY -e pem`), the private key must stay with the signer");
  }
  std::size_t blocks = 0;
  for (std::size_t at = pem.find("-----BEGIN "); at != std::string_view::npos;
       at = pem.find("-----BEGIN ", at + 1)) {
    ++blocks;
  }
  if (blocks != 1 || pem.find("-----BEGIN PUBLIC KEY-----") == std::string_view::npos) {
    return fail("a code-signing key must be exactly one PEM \"PUBLIC KEY\" block");
  }
  auto key = crypto::PublicKey::from_pem(as_bytes(pem));
  if (!key) return prefixed(key.error(), "code-signing key");
  return key;
}

}  // namespace

RegistryResult<CodeSigningKey> FirmwareStore::register_key(std::string_view actor,
                                                           const NewCodeSigningKey& spec) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  if (auto ok = check_label("code-signing key name", spec.name, kMaxCodeSigningKeyNameLength);
      !ok) {
    return invalid(ok.error());
  }
  auto public_key = parse_public_key(spec.public_key_pem);
  if (!public_key) return invalid(public_key.error());
  CodeSigningKey key;
  key.id = to_hex(public_key->key_hash());
  key.name = spec.name;
  key.type = public_key->type();
  key.pem = public_key->pem();
  key.status = CodeSigningKeyStatus::active;
  return jobs_detail::in_write<CodeSigningKey>(db_, [&]() -> RegistryResult<CodeSigningKey> {
    auto existing = load_key(db_, key.id);
    if (!existing) return tl::unexpected(existing.error());
    if (*existing) {
      return already_exists("code-signing key " + key.id + " is already registered, as '" +
                            (*existing)->name + "'");
    }
    auto named = exists(db_, "SELECT 1 FROM code_signing_keys WHERE name = ?1", key.name);
    if (!named) return tl::unexpected(named.error());
    if (*named) return already_exists("a code-signing key named '" + key.name + "' exists");
    key.created_at = clock_();
    auto stmt = db_.prepare(
        "INSERT INTO code_signing_keys (id, name, key_type, pem, status, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!stmt) return internal(stmt.error());
    stmt->bind(1, key.id)
        .bind(2, key.name)
        .bind(3, crypto::key_type_name(key.type))
        .bind(4, key.pem)
        .bind(5, code_signing_key_status_name(key.status))
        .bind(6, to_db(key.created_at));
    if (auto ok = stmt->run(); !ok) return internal(ok.error());
    Change change{"code-signing-key.register",
                  "code-signing-key",
                  key.id,
                  {{"name", key.name}, {"type", crypto::key_type_name(key.type)}}};
    if (auto ok = record(db_, key.created_at, actor, change); !ok) {
      return tl::unexpected(ok.error());
    }
    return key;
  });
}

RegistryResult<CodeSigningKey> FirmwareStore::describe_key(std::string_view id) {
  auto normalized = normalize_sha256_id("code-signing key", id);
  if (!normalized) return invalid(normalized.error());
  auto key = load_key(db_, *normalized);
  if (!key) return tl::unexpected(key.error());
  if (!*key) return not_found("no code-signing key " + *normalized);
  return std::move(**key);
}

RegistryResult<Listing<CodeSigningKey>> FirmwareStore::list_keys(const Page& page) {
  auto limit = page_limit(page);
  if (!limit) return tl::unexpected(limit.error());
  auto stmt = db_.prepare("SELECT " + std::string(kKeyColumns) +
                          " FROM code_signing_keys WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!stmt) return internal(stmt.error());
  stmt->bind(1, page.next_token).bind(2, static_cast<std::int64_t>(*limit + 1));
  return collect<CodeSigningKey>(*stmt, *limit, read_key,
                                 [](const CodeSigningKey& key) { return key.id; });
}

RegistryResult<CodeSigningKey> FirmwareStore::revoke_key(std::string_view actor,
                                                         std::string_view id) {
  if (auto ok = check_actor(actor); !ok) return invalid(ok.error());
  auto normalized = normalize_sha256_id("code-signing key", id);
  if (!normalized) return invalid(normalized.error());
  return jobs_detail::in_write<CodeSigningKey>(db_, [&]() -> RegistryResult<CodeSigningKey> {
    auto key = load_key(db_, *normalized);
    if (!key) return tl::unexpected(key.error());
    if (!*key) return not_found("no code-signing key " + *normalized);
    if ((*key)->status == CodeSigningKeyStatus::revoked) return std::move(**key);
    const Time now = clock_();
    auto stmt = db_.prepare(
        "UPDATE code_signing_keys SET status = 'REVOKED', revoked_at = ?2 WHERE id = ?1");
    if (!stmt) return internal(stmt.error());
    if (auto ok = stmt->bind(1, *normalized).bind(2, to_db(now)).run(); !ok) {
      return internal(ok.error());
    }
    Change change{
        "code-signing-key.revoke", "code-signing-key", *normalized, {{"name", (*key)->name}}};
    if (auto ok = record(db_, now, actor, change); !ok) return tl::unexpected(ok.error());
    (*key)->status = CodeSigningKeyStatus::revoked;
    (*key)->revoked_at = now;
    return std::move(**key);
  });
}

}  // namespace ironroot::fleet

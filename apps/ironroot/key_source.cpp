#include "key_source.hpp"

#include <cstdlib>
#include <filesystem>

#include "ironroot/core/file.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"

namespace ironroot::cli {

namespace {

constexpr std::uintmax_t kMaxKeyFileSize = 64 * 1024;

std::optional<std::string> passphrase_from_env() {
  const char* pass = std::getenv("IRONROOT_KEY_PASSPHRASE");
  if (pass == nullptr) return std::nullopt;
  return std::string(pass);
}

Result<std::unique_ptr<keystore::TokenKey>> open_token_key(const std::string& key) {
  auto uri = keystore::Pkcs11Uri::parse(key);
  if (!uri) return prefixed(uri.error(), "key " + key);
  auto token_key = keystore::TokenKey::open(*uri, keystore::TokenOptions{});
  if (!token_key) return prefixed(token_key.error(), uri->to_string());
  return std::move(*token_key);
}

}  // namespace

Result<std::unique_ptr<crypto::Signer>> open_signer(const std::string& key) {
  if (keystore::is_pkcs11_uri(key)) {
    auto token_key = open_token_key(key);
    if (!token_key) return tl::unexpected(token_key.error());
    return std::unique_ptr<crypto::Signer>(std::move(*token_key));
  }
  auto pem = read_file(key, kMaxKeyFileSize);
  if (!pem) return tl::unexpected(pem.error());
  auto priv = crypto::PrivateKey::from_pem(*pem, passphrase_from_env());
  if (!priv) return prefixed(priv.error(), key);
  return std::unique_ptr<crypto::Signer>(std::make_unique<crypto::PrivateKey>(std::move(*priv)));
}

Result<crypto::PublicKey> open_public_key(const std::string& key) {
  if (keystore::is_pkcs11_uri(key)) {
    auto token_key = open_token_key(key);
    if (!token_key) return tl::unexpected(token_key.error());
    return (*token_key)->public_key();
  }
  auto pem = read_file(key, kMaxKeyFileSize);
  if (!pem) return tl::unexpected(pem.error());
  if (auto pub = crypto::PublicKey::from_pem(*pem)) return *pub;
  // An encrypted private key: its public half needs the passphrase.
  auto priv = crypto::PrivateKey::from_pem(*pem, passphrase_from_env());
  if (!priv) return prefixed(priv.error(), key);
  return priv->public_key();
}

Result<crypto::PublicKey> generate_key(const std::string& key, const KeygenOptions& options) {
  if (keystore::is_pkcs11_uri(key)) {
    auto uri = keystore::Pkcs11Uri::parse(key);
    if (!uri) return prefixed(uri.error(), "key " + key);
    auto token_key = keystore::TokenKey::generate(*uri, options.type, keystore::TokenOptions{});
    if (!token_key) return prefixed(token_key.error(), uri->to_string());
    return (*token_key)->public_key();
  }
  std::error_code ec;
  if (!options.overwrite && std::filesystem::exists(key, ec)) {
    return fail(key + " already exists; refusing to overwrite a key (use --force to replace it)");
  }
  std::optional<std::string> passphrase;
  if (options.encrypt) {
    passphrase = passphrase_from_env();
    if (!passphrase || passphrase->empty()) {
      return fail("--password needs the passphrase in IRONROOT_KEY_PASSPHRASE");
    }
  }
  auto priv = crypto::PrivateKey::generate(options.type);
  if (!priv) return tl::unexpected(priv.error());
  auto pem = priv->pem(passphrase);
  if (!pem) return tl::unexpected(pem.error());
  if (auto written = write_file_atomic(key, as_bytes(*pem), 0600); !written) {
    return tl::unexpected(written.error());
  }
  return priv->public_key();
}

}  // namespace ironroot::cli

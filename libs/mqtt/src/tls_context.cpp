#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <array>
#include <optional>

#include "engine_key.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "ironroot/mqtt/tls.hpp"
#include "openssl_handles.hpp"

namespace ironroot::mqtt {

namespace {

constexpr std::uintmax_t kMaxKeyFileSize = 64 * 1024;
constexpr std::size_t kChallengeSize = 32;

using UniqueBio = std::unique_ptr<BIO, OpensslFree<BIO_free_all>>;

bool is_ip_address(const std::string& name) {
  std::array<unsigned char, sizeof(in6_addr)> buffer{};
  return inet_pton(AF_INET, name.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buffer.data()) == 1;
}

// A PEM private key file, unencrypted (a device's key belongs in its token; a file key is for
// services and tests).
Result<UniquePkey> load_key_file(const std::string& path) {
  auto pem = read_file(path, kMaxKeyFileSize);
  if (!pem) return prefixed(pem.error(), "client key");
  UniqueBio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  if (!bio) return openssl_fail("cannot read " + path);
  // A callback that gives no passphrase: an encrypted key fails instead of prompting.
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  UniquePkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return openssl_fail("client key " + path +
                        " is not an unencrypted PEM private key (keep device keys in a token)");
  }
  return key;
}

// The key signs a random challenge that must verify with the certificate's public key: a proof of
// possession that also catches a token whose public-key object claims someone else's key.
Status check_possession(EVP_PKEY* key, const crypto::Certificate& cert,
                        const std::string& key_name) {
  std::array<unsigned char, kChallengeSize> challenge{};
  if (RAND_bytes(challenge.data(), challenge.size()) != 1) {
    return openssl_fail("cannot make a random challenge");
  }
  const EVP_MD* md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  UniqueMdCtx sign_ctx(EVP_MD_CTX_new());
  std::size_t length = 0;
  if (!sign_ctx || EVP_DigestSignInit(sign_ctx.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(sign_ctx.get(), nullptr, &length, challenge.data(), challenge.size()) != 1) {
    return openssl_fail(key_name + " cannot sign");
  }
  std::vector<unsigned char> signature(length);
  if (EVP_DigestSign(sign_ctx.get(), signature.data(), &length, challenge.data(),
                     challenge.size()) != 1) {
    return openssl_fail(key_name + " cannot sign");
  }
  signature.resize(length);
  EVP_PKEY* cert_key = X509_get0_pubkey(cert.native());
  UniqueMdCtx verify_ctx(EVP_MD_CTX_new());
  if (cert_key == nullptr || !verify_ctx ||
      EVP_DigestVerifyInit(verify_ctx.get(), nullptr, md, nullptr, cert_key) != 1) {
    return openssl_fail("cannot read the public key of client certificate " + cert.subject());
  }
  if (EVP_DigestVerify(verify_ctx.get(), signature.data(), signature.size(), challenge.data(),
                       challenge.size()) != 1) {
    ERR_clear_error();
    auto cert_public = cert.public_key();
    return fail(key_name + " is not the key of client certificate " + cert.subject() +
                (cert_public ? " (certificate key hash " + to_hex(cert_public->key_hash()) + ")"
                             : std::string()) +
                ": its signature does not verify with the certificate's key; use the key the "
                "certificate was issued for");
  }
  return {};
}

}  // namespace

struct TlsContext::State {
  std::optional<EngineKey> engine_key;  // declared before ctx: the context goes first
  UniqueSslCtx ctx;
  std::string server_name;
  std::string client_identity;
};

TlsContext::TlsContext(std::unique_ptr<State> state) : state_(std::move(state)) {}
TlsContext::~TlsContext() = default;

ssl_ctx_st* TlsContext::native() const {
  return state_->ctx.get();
}
const std::string& TlsContext::server_name() const {
  return state_->server_name;
}
const std::string& TlsContext::client_identity() const {
  return state_->client_identity;
}

Result<std::shared_ptr<const TlsContext>> TlsContext::create(const TlsSettings& settings) {
  if (settings.trusted.empty()) {
    return fail("no trusted CA certificate to check the broker with (the device's 'Root Cert')");
  }
  if (settings.server_name.empty()) {
    return fail("the broker's name (host name or IP address its certificate carries) is needed");
  }
  if (auto ok = crypto::check_server_name(settings.server_name); !ok) {
    return prefixed(ok.error(), "broker name");
  }
  if (settings.client_chain.empty() != settings.client_key.empty()) {
    return fail(settings.client_chain.empty()
                    ? "a client key was given without its certificate"
                    : "the client certificate " + settings.client_chain.front().subject() +
                          " was given without its key");
  }

  auto state = std::make_unique<State>();
  state->server_name = settings.server_name;
  state->ctx.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = state->ctx.get();
  if (ctx == nullptr) return openssl_fail("cannot create a TLS context");
  const int min_version =
      settings.min_version == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) {
    return openssl_fail("cannot set the minimum TLS version");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const crypto::Certificate& ca : settings.trusted) {
    if (X509_STORE_add_cert(store, ca.native()) != 1) {
      return openssl_fail("cannot trust " + ca.subject());
    }
  }
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int name_set = is_ip_address(settings.server_name)
                           ? X509_VERIFY_PARAM_set1_ip_asc(param, settings.server_name.c_str())
                           : X509_VERIFY_PARAM_set1_host(param, settings.server_name.c_str(), 0);
  if (name_set != 1) return openssl_fail("cannot check for broker name " + settings.server_name);

  if (settings.client_chain.empty()) {
    state->client_identity = "no client certificate";
    return std::shared_ptr<const TlsContext>(new TlsContext(std::move(state)));
  }
  const crypto::Certificate& leaf = settings.client_chain.front();
  if (SSL_CTX_use_certificate(ctx, leaf.native()) != 1) {
    return openssl_fail("cannot use client certificate " + leaf.subject());
  }
  for (std::size_t i = 1; i < settings.client_chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, settings.client_chain[i].native()) != 1) {
      return openssl_fail("cannot add " + settings.client_chain[i].subject() +
                          " to the client chain");
    }
  }

  EVP_PKEY* key = nullptr;
  UniquePkey file_key;
  if (keystore::is_pkcs11_uri(settings.client_key)) {
    auto uri = keystore::Pkcs11Uri::parse(settings.client_key);
    if (!uri) return prefixed(uri.error(), "client key");
    auto loaded = EngineKey::load(*uri, settings.token_options);
    if (!loaded) return tl::unexpected(loaded.error());
    state->engine_key.emplace(std::move(*loaded));
    key = state->engine_key->pkey();
    state->client_identity = "token key " + uri->to_string();
  } else {
    auto loaded = load_key_file(settings.client_key);
    if (!loaded) return tl::unexpected(loaded.error());
    file_key = std::move(*loaded);
    key = file_key.get();
    state->client_identity = "key file " + settings.client_key;
  }
  if (settings.check_key_possession) {
    if (auto ok = check_possession(key, leaf, state->client_identity); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  // SSL_CTX_use_PrivateKey compares the key's public half with the certificate's (and drops the
  // certificate on a mismatch), so this check stays on even without check_key_possession.
  if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return openssl_fail(state->client_identity + " does not match client certificate " +
                        leaf.subject());
  }
  return std::shared_ptr<const TlsContext>(new TlsContext(std::move(state)));
}

Result<TlsSettings> tls_settings_from_token(const keystore::Pkcs11Uri& token,
                                            std::string server_name,
                                            const keystore::TokenOptions& options) {
  auto access = keystore::resolve_token_access(token, options);
  if (!access) return tl::unexpected(access.error());
  keystore::TokenOptions resolved{access->module_path, access->pin};
  auto identity = keystore::read_device_identity(token, resolved);
  if (!identity) return tl::unexpected(identity.error());
  TlsSettings settings;
  settings.trusted = std::move(identity->trusted);
  settings.server_name = std::move(server_name);
  settings.client_chain = {std::move(identity->certificate)};
  settings.client_key = identity->key.to_string();
  settings.token_options = std::move(resolved);
  return settings;
}

}  // namespace ironroot::mqtt

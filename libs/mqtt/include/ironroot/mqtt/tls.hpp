// The TLS side of an MQTT connection, as ironroot builds it: an OpenSSL SSL_CTX that checks the
// broker's certificate chain and name, and presents a client certificate whose private key is a
// PEM file or stays inside a PKCS#11 token (through libp11's OpenSSL engine). libmosquitto gets
// this context with MOSQ_OPT_SSL_CTX and adds nothing to it (MOSQ_OPT_SSL_CTX_WITH_DEFAULTS 0).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "ironroot/keystore/token_key.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace ironroot::mqtt {

enum class TlsVersion { tls1_2, tls1_3 };

struct TlsSettings {
  // The CA certificates the broker's chain must end at (a device's "Root Cert"). At least one.
  std::vector<crypto::Certificate> trusted;
  // The name the broker's certificate must carry in its subjectAltName: an IP address (matched
  // as an address) or a DNS name. Required: a broker is never accepted on its chain alone.
  std::string server_name;
  // The client certificate, then any intermediates to send with it. Empty: no client
  // certificate, which an mTLS broker refuses.
  std::vector<crypto::Certificate> client_chain;
  // The client certificate's private key: a PEM file, or a pkcs11: URI naming a key in a token
  // (module and PIN resolved as keystore::TokenOptions says). Required with client_chain.
  std::string client_key;
  keystore::TokenOptions token_options;
  // The lowest protocol version offered; TLS 1.3 is always offered too.
  TlsVersion min_version = TlsVersion::tls1_2;
  // Before the context is handed out, the key signs a random challenge that must verify with the
  // certificate's public key, so that a certificate paired with the wrong key (for a token key,
  // even one whose public-key object claims the certificate's key) is caught here, not by the
  // broker. Turn off only to watch how a broker reacts to such a client.
  bool check_key_possession = true;
};

// A device's settings from its token (keystore::read_device_identity): the stored "Root Cert"
// certificates as `trusted`, "Device Cert" as the client certificate, and the token's
// "Device Priv TLS Key" as the key. `token` selects the token and may carry the PIN and module.
Result<TlsSettings> tls_settings_from_token(const keystore::Pkcs11Uri& token,
                                            std::string server_name,
                                            const keystore::TokenOptions& options = {});

// A configured client SSL_CTX. Immutable once created; one context may serve any number of
// connections at once (OpenSSL allows concurrent SSL objects on one SSL_CTX). Shared by the
// clients that use it: keep it in a shared_ptr.
//
// A token key is loaded through OpenSSL's process-wide "pkcs11" ENGINE (libp11). The engine binds
// to one PKCS#11 module per process: a context for a key in another module is refused while
// contexts for the first module exist. Once used, libp11 0.4.12 keeps its module initialised
// until the process exits, so SoftHSM2 tokens created by other processes after that are not seen
// by this one (SoftHSM2 reads its token store at C_Initialize). Thread-safe to create.
class TlsContext {
 public:
  // Checks the settings and builds the context: TLS 1.2 or 1.3 minimum, peer verification
  // against `trusted` with the hostname or IP check, the client chain and key. Fails, saying
  // which setting is wrong, on a missing trust anchor or server name, a key file or token key
  // that cannot be loaded, or a key that is not the certificate's (see check_key_possession).
  // The client certificate's validity period is left to the broker to judge: a device's clock
  // may be wrong, the broker's is the one that counts.
  static Result<std::shared_ptr<const TlsContext>> create(const TlsSettings& settings);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The SSL_CTX, for libmosquitto. Never null; owned by this object.
  ssl_ctx_st* native() const;
  const std::string& server_name() const;
  // "token key pkcs11:..." or "key file PATH" or "no client certificate", for messages.
  const std::string& client_identity() const;

 private:
  struct State;
  explicit TlsContext(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ironroot::mqtt

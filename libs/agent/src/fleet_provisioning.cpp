#include "ironroot/agent/fleet_provisioning.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/token_certificates.hpp"
#include "ironroot/mqtt/client.hpp"

namespace ironroot::agent {

namespace {

using std::chrono::milliseconds;
using Failure = tl::unexpected<ProvisioningFailure>;

constexpr milliseconds kMinTimeout{100};
constexpr milliseconds kMaxTimeout{std::chrono::minutes(10)};
constexpr std::size_t kMaxClientIdLength = 128;

ProvisioningFailure make_failure(ProvisioningStep step, const std::string& why,
                                 bool timed_out = false) {
  return ProvisioningFailure{step, std::string(step_name(step)) + ": " + why, {}, timed_out};
}

Failure failure(ProvisioningStep step, const std::string& why, bool timed_out = false) {
  return Failure(make_failure(step, why, timed_out));
}

std::string describe(milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
}

std::optional<std::string> parameter(const ClaimProvisioningSettings& s, std::string_view name) {
  auto it = s.parameters.find(std::string(name));
  if (it == s.parameters.end()) return std::nullopt;
  return it->second;
}

Status check_settings(const ClaimProvisioningSettings& s) {
  if (s.host.empty()) return fail("the broker host is empty");
  if (s.port == 0) return fail("the broker port is 0");
  if (s.client_id.empty() || s.client_id.size() > kMaxClientIdLength) {
    return fail("the client id must have 1 to 128 characters");
  }
  for (char c : s.client_id) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return fail("the client id contains a control character");
    }
  }
  if (!protocol::is_valid_template_name(s.template_name)) {
    return fail("template name '" + s.template_name +
                "' is not 1 to 36 characters of letters, digits, '_' and '-'");
  }
  for (const auto& [name, value] : s.parameters) {
    if (name.empty()) return fail("a template parameter has an empty name");
  }
  const std::string common_name = parameter(s, kThingNameParameter).value_or(s.client_id);
  if (auto ok = crypto::check_thing_name(common_name); !ok) {
    return prefixed(ok.error(), "the certificate's CN ('" + common_name + "', from " +
                                    (parameter(s, kThingNameParameter)
                                         ? "parameter " + std::string(kThingNameParameter)
                                         : std::string("the client id")) +
                                    ")");
  }
  if (auto serial = parameter(s, kSerialNumberParameter)) {
    if (auto ok = crypto::check_device_serial(*serial); !ok) {
      return prefixed(ok.error(), "parameter " + std::string(kSerialNumberParameter));
    }
  }
  if (s.reply_timeout < kMinTimeout || s.reply_timeout > kMaxTimeout) {
    return fail("the reply timeout must be 100 ms to 10 min");
  }
  if (s.connect_timeout < kMinTimeout || s.connect_timeout > kMaxTimeout) {
    return fail("the connect timeout must be 100 ms to 10 min");
  }
  return mqtt::check_backoff_policy(s.backoff);
}

const std::string& server_name_of(const ClaimProvisioningSettings& s) {
  return s.server_name.empty() ? s.host : s.server_name;
}

// ---- the device key and its CSR ------------------------------------------------------------

struct DeviceKey {
  std::unique_ptr<keystore::TokenKey> key;
  bool reused = false;
};

// The key an interrupted attempt left behind, or a new one.
Result<DeviceKey> open_or_generate_device_key(const ClaimProvisioningSettings& s) {
  keystore::Pkcs11Uri uri = keystore::token_part(s.token);
  uri.object = std::string(keystore::kDeviceKeyLabel);
  uri.type = "private";
  DeviceKey result;
  if (auto existing = keystore::TokenKey::open(uri, s.token_options)) {
    result.key = std::move(*existing);
    result.reused = true;
  } else {
    auto generated =
        keystore::TokenKey::generate(uri, crypto::KeyType::ecdsa_p256, s.token_options);
    if (!generated) {
      return fail("cannot generate '" + std::string(keystore::kDeviceKeyLabel) +
                  "' in the token: " + generated.error().message +
                  " (opening an existing one failed too: " + existing.error().message + ")");
    }
    result.key = std::move(*generated);
  }
  if (result.key->public_key().type() != crypto::KeyType::ecdsa_p256) {
    return fail("the token's '" + std::string(keystore::kDeviceKeyLabel) + "' is " +
                std::string(crypto::key_type_name(result.key->public_key().type())) +
                ", and a device certificate needs an ECDSA P-256 key; remove it from the token");
  }
  return result;
}

crypto::DistinguishedName csr_subject(const ClaimProvisioningSettings& s) {
  crypto::DistinguishedName subject;
  subject.common_name = parameter(s, kThingNameParameter).value_or(s.client_id);
  subject.serial_number = parameter(s, kSerialNumberParameter).value_or("");
  return subject;
}

// ---- one MQTT connection and its request/reply exchanges ------------------------------------

// The one reply a request waits for: the first message on its /accepted or /rejected topic that
// arrives, not retained, after the request is armed. Everything else is dropped on arrival, so
// stray messages cost no memory.
class ReplySlot {
 public:
  void arm(std::string accepted, std::string rejected) {
    std::lock_guard lock(mutex_);
    accepted_ = std::move(accepted);
    rejected_ = std::move(rejected);
    reply_.reset();
  }

  void offer(const mqtt::Message& message) {
    std::lock_guard lock(mutex_);
    if (reply_ || message.retain) return;
    if (accepted_.empty() || (message.topic != accepted_ && message.topic != rejected_)) return;
    reply_ = message;
    arrived_.notify_all();
  }

  std::optional<mqtt::Message> wait(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    arrived_.wait_for(lock, timeout, [&] { return reply_.has_value(); });
    std::optional<mqtt::Message> reply = std::move(reply_);
    accepted_.clear();
    rejected_.clear();
    reply_.reset();
    return reply;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::string accepted_;
  std::string rejected_;
  std::optional<mqtt::Message> reply_;
};

struct Connection {
  std::shared_ptr<ReplySlot> replies = std::make_shared<ReplySlot>();
  std::unique_ptr<mqtt::Client> client;

  Connection() = default;
  Connection(Connection&&) = default;
  Connection& operator=(Connection&&) = default;
  ~Connection() {
    if (client) client->stop();
  }
};

// Connects with `tls` as `client_id`, with a clean session that the broker forgets at once.
// Failures are `step`'s, prefixed with `context`.
Result<Connection, ProvisioningFailure> connect(const ClaimProvisioningSettings& s,
                                                mqtt::TlsSettings settings,
                                                const std::string& client_id, ProvisioningStep step,
                                                const std::string& context) {
  auto tls = mqtt::TlsContext::create(settings);
  if (!tls) return failure(step, context + tls.error().message);
  Connection connection;
  mqtt::ClientOptions options;
  options.host = s.host;
  options.port = s.port;
  options.client_id = client_id;
  options.clean_start = true;
  options.session_expiry = std::chrono::seconds(0);
  options.backoff = s.backoff;
  options.tls = std::move(*tls);
  options.on_message = [replies = connection.replies](const mqtt::Message& m) {
    replies->offer(m);
  };
  auto client = mqtt::Client::create(std::move(options));
  if (!client) return failure(step, context + client.error().message);
  connection.client = std::move(*client);
  connection.client->start();
  if (auto ok = connection.client->wait_connected(s.connect_timeout); !ok) {
    return failure(step, context + ok.error().message, true);
  }
  return connection;
}

struct Exchange {
  ProvisioningStep step;
  protocol::ProvisioningTopic request;
  Bytes payload;
};

// Subscribes to the request's /accepted and /rejected, publishes it (QoS 1) and waits for the
// reply. Returns the accepted payload; a rejection, a refusal by the broker or silence is the
// step's failure.
Result<Bytes, ProvisioningFailure> exchange(const ClaimProvisioningSettings& s,
                                            Connection& connection, const Exchange& x) {
  auto request = protocol::provisioning_topic(s.topic_prefix, x.request);
  auto accepted = protocol::provisioning_topic(
      s.topic_prefix, protocol::reply_topic(x.request, protocol::Reply::accepted));
  auto rejected = protocol::provisioning_topic(
      s.topic_prefix, protocol::reply_topic(x.request, protocol::Reply::rejected));
  if (!request || !accepted || !rejected) {
    return failure(x.step, !request    ? request.error().message
                           : !accepted ? accepted.error().message
                                       : rejected.error().message);
  }
  mqtt::Client& client = *connection.client;
  const mqtt::ClientStats before = client.stats();
  for (const std::string* filter : {&*accepted, &*rejected}) {
    if (auto ok = client.subscribe(*filter, 1); !ok) return failure(x.step, ok.error().message);
  }
  const bool subscribed = client.wait_until(
      [&](const mqtt::ClientStats& st) {
        return st.subscriptions_acknowledged >= before.subscriptions_acknowledged + 2;
      },
      s.reply_timeout);
  const mqtt::ClientStats after = client.stats();
  if (!subscribed) {
    return failure(x.step,
                   "the broker did not acknowledge the subscriptions to " + *accepted + " and " +
                       *rejected + " within " + describe(s.reply_timeout) +
                       "; last error: " + after.last_error,
                   true);
  }
  if (after.last_error != before.last_error &&
      after.last_error.find("refused a subscription") != std::string::npos) {
    return failure(x.step, after.last_error + " (subscribing to " + *accepted + " and " +
                               *rejected + "; may this identity use them?)");
  }

  connection.replies->arm(*accepted, *rejected);
  if (auto queued = client.publish(*request, x.payload, 1); !queued) {
    connection.replies->wait(milliseconds(0));  // disarms
    return failure(x.step, "cannot publish to " + *request + ": " + queued.error().message);
  }
  std::optional<mqtt::Message> reply = connection.replies->wait(s.reply_timeout);
  if (!reply) {
    const std::string last_error = client.stats().last_error;
    return failure(x.step,
                   "no reply on " + *accepted + " or " + *rejected + " within " +
                       describe(s.reply_timeout) + " after publishing to " + *request +
                       (last_error != before.last_error && !last_error.empty()
                            ? " (the connection reported: " + last_error + ")"
                            : std::string()),
                   true);
  }
  if (reply->topic == *accepted) return std::move(reply->payload);

  auto error = protocol::decode_message<protocol::ErrorResponse>(reply->payload, s.format);
  if (!error) {
    return failure(x.step, "the fleet service rejected the request on " + *rejected +
                               " with a reply that cannot be read: " + error.error().message);
  }
  ProvisioningFailure f = make_failure(
      x.step, "the fleet service rejected the request: statusCode " +
                  std::to_string(error->status_code) + ", errorCode " + error->error_code +
                  (error->error_message.empty() ? std::string() : ": " + error->error_message));
  f.rejection = std::move(*error);
  return tl::unexpected(std::move(f));
}

struct IssuedCertificate {
  std::string id;
  crypto::Certificate certificate;
  std::string ownership_token;
};

Result<IssuedCertificate, ProvisioningFailure> create_certificate(
    const ClaimProvisioningSettings& s, Connection& connection,
    const crypto::CertificateRequest& csr, const crypto::PublicKey& device_key) {
  constexpr ProvisioningStep step = ProvisioningStep::create_certificate;
  protocol::CreateCertificateFromCsrRequest request{csr.pem()};
  auto payload = exchange(s, connection,
                          {step,
                           {protocol::ProvisioningApi::create_certificate_from_csr, "", s.format,
                            protocol::Reply::none},
                           protocol::encode_message(request, s.format)});
  if (!payload) return tl::unexpected(payload.error());
  auto response =
      protocol::decode_message<protocol::CreateCertificateFromCsrResponse>(*payload, s.format);
  if (!response) return failure(step, "the accepted reply is invalid: " + response.error().message);
  auto chain = crypto::Certificate::all_from_pem(as_bytes(response->certificate_pem));
  if (!chain) {
    return failure(
        step, "the accepted reply's certificatePem is not a certificate: " + chain.error().message);
  }
  crypto::Certificate& leaf = chain->front();
  auto key = leaf.public_key();
  if (!key || key->der() != device_key.der()) {
    return failure(step, "the certificate the fleet service issued (" + leaf.subject() +
                             ") is not for the device key's public key");
  }
  return IssuedCertificate{std::move(response->certificate_id), std::move(leaf),
                           std::move(response->certificate_ownership_token)};
}

Result<protocol::RegisterThingResponse, ProvisioningFailure> register_thing(
    const ClaimProvisioningSettings& s, Connection& connection,
    const std::string& ownership_token) {
  constexpr ProvisioningStep step = ProvisioningStep::register_thing;
  protocol::RegisterThingRequest request{ownership_token, s.parameters};
  auto payload = exchange(s, connection,
                          {step,
                           {protocol::ProvisioningApi::register_thing, s.template_name, s.format,
                            protocol::Reply::none},
                           protocol::encode_message(request, s.format)});
  if (!payload) return tl::unexpected(payload.error());
  auto response = protocol::decode_message<protocol::RegisterThingResponse>(*payload, s.format);
  if (!response) return failure(step, "the accepted reply is invalid: " + response.error().message);
  return std::move(*response);
}

}  // namespace

std::string_view step_name(ProvisioningStep step) {
  switch (step) {
    case ProvisioningStep::check_settings:
      return "check settings";
    case ProvisioningStep::device_key:
      return "device key";
    case ProvisioningStep::claim_connection:
      return "claim connection";
    case ProvisioningStep::create_certificate:
      return "create certificate from CSR";
    case ProvisioningStep::register_thing:
      return "register thing";
    case ProvisioningStep::store_certificate:
      return "store certificate";
    case ProvisioningStep::device_connection:
      return "device connection";
  }
  return "unknown step";
}

Result<mqtt::TlsSettings> claim_tls_settings(const keystore::Pkcs11Uri& token,
                                             std::string server_name,
                                             const keystore::TokenOptions& options) {
  auto access = keystore::resolve_token_access(token, options);
  if (!access) return tl::unexpected(access.error());
  keystore::TokenOptions resolved{access->module_path, access->pin};
  keystore::Pkcs11Uri key = keystore::token_part(token);
  key.pin_value.reset();
  key.pin_source.reset();
  key.object = std::string(keystore::kClaimKeyLabel);
  key.type = "private";

  mqtt::TlsSettings settings;
  auto trusted = keystore::read_certificates(token, keystore::kRootCertificateLabel, resolved);
  if (!trusted) return tl::unexpected(trusted.error());
  auto chain = keystore::read_certificates(token, keystore::kClaimCertificateLabel, resolved);
  if (!chain) return tl::unexpected(chain.error());
  settings.trusted = std::move(*trusted);
  settings.client_chain = std::move(*chain);
  settings.server_name = std::move(server_name);
  settings.client_key = key.to_string();
  settings.token_options = std::move(resolved);
  return settings;
}

bool has_device_identity(const keystore::Pkcs11Uri& token, const keystore::TokenOptions& options) {
  return keystore::read_device_identity(token, options).has_value();
}

Result<ProvisioningReport, ProvisioningFailure> provision_by_claim(
    const ClaimProvisioningSettings& s) {
  using Step = ProvisioningStep;
  if (auto ok = check_settings(s); !ok) return failure(Step::check_settings, ok.error().message);

  // The device key first: it needs no network, and an attempt cut short after this point finds
  // the key again.
  if (has_device_identity(s.token, s.token_options)) {
    return failure(Step::device_key, "the token already holds a device identity ('" +
                                         std::string(keystore::kDeviceKeyLabel) + "' with its '" +
                                         std::string(keystore::kDeviceCertificateLabel) +
                                         "'); provisioning by claim is for a device without one");
  }
  auto device_key = open_or_generate_device_key(s);
  if (!device_key) return failure(Step::device_key, device_key.error().message);
  auto csr = crypto::CertificateRequest::create(csr_subject(s), *device_key->key);
  if (!csr) return failure(Step::device_key, "cannot sign the CSR: " + csr.error().message);
  const crypto::PublicKey device_public_key = device_key->key->public_key();
  const bool reused_device_key = device_key->reused;
  // Closed before TLS uses the token: libs/keystore finalises the PKCS#11 module when its last
  // handle closes, even if libp11's engine (TLS) has joined it since (see the header).
  device_key->key.reset();

  auto claim_settings = claim_tls_settings(s.token, server_name_of(s), s.token_options);
  if (!claim_settings) return failure(Step::claim_connection, claim_settings.error().message);
  // The broker's CAs, stored again with the device certificate.
  const std::vector<crypto::Certificate> trusted = claim_settings->trusted;
  std::optional<IssuedCertificate> issued;
  std::optional<protocol::RegisterThingResponse> thing;
  {
    auto connection =
        connect(s, std::move(*claim_settings), s.client_id, Step::claim_connection, "");
    if (!connection) return tl::unexpected(connection.error());
    auto certificate = create_certificate(s, *connection, *csr, device_public_key);
    if (!certificate) return tl::unexpected(certificate.error());
    issued = std::move(*certificate);
    auto registered = register_thing(s, *connection, issued->ownership_token);
    if (!registered) return tl::unexpected(registered.error());
    thing = std::move(*registered);
  }  // disconnects

  if (auto ok =
          keystore::store_device_identity(s.token, issued->certificate, trusted, s.token_options);
      !ok) {
    return failure(Step::store_certificate, ok.error().message);
  }

  auto device_settings = mqtt::tls_settings_from_token(s.token, server_name_of(s), s.token_options);
  if (!device_settings) return failure(Step::device_connection, device_settings.error().message);
  auto device =
      connect(s, std::move(*device_settings), thing->thing_name, Step::device_connection,
              "the certificate is stored, but connecting as '" + thing->thing_name + "' failed: ");
  if (!device) return tl::unexpected(device.error());

  ProvisioningReport report;
  report.thing_name = std::move(thing->thing_name);
  report.certificate_id = std::move(issued->id);
  report.device_configuration = std::move(thing->device_configuration);
  report.reused_device_key = reused_device_key;
  return report;
}

}  // namespace ironroot::agent

#include "support/claim_device.hpp"

#include "ironroot/core/file.hpp"
#include "ironroot/mqtt/tls.hpp"

namespace ironroot::testing {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string format_name(protocol::PayloadFormat format) {
  return format == protocol::PayloadFormat::cbor ? "cbor" : "json";
}

// "<step> rejected: 400 InvalidPayload: ..." from a rejection's payload.
Error rejection(const std::string& step, const DeviceReply& reply, protocol::PayloadFormat format) {
  auto error = protocol::decode_message<protocol::ErrorResponse>(reply.payload, format);
  if (!error) return Error{step + " rejected with an unreadable reply: " + error.error().message};
  return Error{step + " rejected: " + std::to_string(error->status_code) + " " + error->error_code +
               ": " + error->error_message};
}

Result<std::shared_ptr<const mqtt::TlsContext>> tls_for(const BrokerAccess& broker,
                                                        const FileIdentity& identity) {
  mqtt::TlsSettings tls;
  tls.trusted = broker.trusted;
  tls.server_name = broker.server_name;
  tls.client_chain = {identity.certificate};
  tls.client_key = identity.key_file.string();
  return mqtt::TlsContext::create(tls);
}

}  // namespace

Status write_key_file(const crypto::PrivateKey& key, const std::filesystem::path& path) {
  auto pem = key.pem();
  if (!pem) return tl::unexpected(pem.error());
  return write_file_atomic(path, as_bytes(*pem), 0600);
}

Result<mqtt::ClientOptions> device_client_options(const BrokerAccess& broker,
                                                  const FileIdentity& identity,
                                                  const std::string& client_id) {
  auto tls = tls_for(broker, identity);
  if (!tls) return tl::unexpected(tls.error());
  mqtt::ClientOptions options;
  options.host = broker.host;
  options.port = broker.port;
  options.client_id = client_id;
  options.tls = *tls;
  options.backoff = {50ms, 500ms, 2.0, 0.5};
  return options;
}

Result<std::unique_ptr<mqtt::Client>> connect_device(
    const BrokerAccess& broker, const FileIdentity& identity, const std::string& client_id,
    std::chrono::milliseconds timeout, std::function<void(const mqtt::Message&)> on_message) {
  auto made = device_client_options(broker, identity, client_id);
  if (!made) return tl::unexpected(made.error());
  mqtt::ClientOptions options = std::move(*made);
  options.on_message = std::move(on_message);
  auto client = mqtt::Client::create(std::move(options));
  if (!client) return tl::unexpected(client.error());
  (*client)->start();
  if (auto ok = (*client)->wait_connected(timeout); !ok) {
    return prefixed(ok.error(), client_id + " cannot connect");
  }
  return std::move(*client);
}

Result<std::unique_ptr<RequestSession>> RequestSession::open(
    const BrokerAccess& broker, const FileIdentity& identity, const std::string& client_id,
    std::function<void(const mqtt::Message&)> on_message) {
  std::unique_ptr<RequestSession> session(new RequestSession());
  RequestSession* self = session.get();
  auto client = connect_device(broker, identity, client_id, 30s,
                               [self, on_message = std::move(on_message)](const mqtt::Message& m) {
                                 if (on_message) on_message(m);
                                 std::lock_guard lock(self->mutex_);
                                 self->replies_[m.topic] = m.payload;
                                 self->arrived_.notify_all();
                               });
  if (!client) return tl::unexpected(client.error());
  session->client_ = std::move(*client);
  return session;
}

RequestSession::~RequestSession() {
  if (client_) client_->stop();
}

Result<DeviceReply> RequestSession::ask(const std::string& topic, ByteView payload,
                                        std::chrono::milliseconds timeout) {
  const std::string accepted = topic + "/accepted", rejected = topic + "/rejected";
  {
    std::lock_guard lock(mutex_);
    replies_.erase(accepted);
    replies_.erase(rejected);
  }
  const auto start = Clock::now();
  if (auto sent = client_->publish(topic, payload, 1); !sent) {
    return fail("cannot publish on " + topic + ": " + sent.error().message);
  }
  std::unique_lock lock(mutex_);
  if (!arrived_.wait_for(lock, timeout, [&] {
        return replies_.contains(accepted) || replies_.contains(rejected);
      })) {
    return fail("no reply to " + topic + " within " + std::to_string(timeout.count()) + " ms");
  }
  DeviceReply reply;
  reply.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  reply.accepted = replies_.contains(accepted);
  reply.payload = std::move(replies_[reply.accepted ? accepted : rejected]);
  return reply;
}

Result<ClaimedIdentity> provision_by_claim(const BrokerAccess& broker, const FileIdentity& claim,
                                           const ClaimRequest& request,
                                           const std::filesystem::path& key_dir) {
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  if (!key) return tl::unexpected(key.error());
  auto csr = crypto::CertificateRequest::create({request.thing_name, request.serial, ""}, *key);
  if (!csr) return prefixed(csr.error(), "the CSR");
  auto session = RequestSession::open(broker, claim, request.thing_name);
  if (!session) return tl::unexpected(session.error());
  const std::string format = format_name(request.format);

  protocol::CreateCertificateFromCsrRequest create{csr->pem()};
  auto created = (*session)->ask("$aws/certificates/create-from-csr/" + format,
                                 protocol::encode_message(create, request.format));
  if (!created) return tl::unexpected(created.error());
  if (!created->accepted) {
    return tl::unexpected(rejection("CreateCertificateFromCsr", *created, request.format));
  }
  auto certificate = protocol::decode_message<protocol::CreateCertificateFromCsrResponse>(
      created->payload, request.format);
  if (!certificate) return prefixed(certificate.error(), "CreateCertificateFromCsr's reply");

  protocol::RegisterThingRequest register_thing;
  register_thing.certificate_ownership_token = certificate->certificate_ownership_token;
  register_thing.parameters = request.parameters;
  register_thing.parameters["ThingName"] = request.thing_name;
  register_thing.parameters["SerialNumber"] = request.serial;
  auto registered = (*session)->ask(
      "$aws/provisioning-templates/" + request.template_name + "/provision/" + format,
      protocol::encode_message(register_thing, request.format));
  if (!registered) return tl::unexpected(registered.error());
  if (!registered->accepted) {
    return tl::unexpected(rejection("RegisterThing", *registered, request.format));
  }
  auto thing = protocol::decode_message<protocol::RegisterThingResponse>(registered->payload,
                                                                         request.format);
  if (!thing) return prefixed(thing.error(), "RegisterThing's reply");

  auto parsed = crypto::Certificate::from_pem(as_bytes(certificate->certificate_pem));
  if (!parsed) return prefixed(parsed.error(), "the issued certificate");
  const std::filesystem::path key_file = key_dir / (request.thing_name + ".key");
  if (auto ok = write_key_file(*key, key_file); !ok) return tl::unexpected(ok.error());
  return ClaimedIdentity{FileIdentity{*parsed, key_file}, certificate->certificate_id,
                         thing->thing_name, created->latency, registered->latency};
}

}  // namespace ironroot::testing

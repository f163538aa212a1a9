#include "provisioning_responder.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/random.hpp"

namespace ironroot::testing {

namespace {

using namespace std::chrono_literals;
namespace errors = protocol::provisioning_errors;

Result<crypto::CertificateAuthority> open_device_ca(const std::filesystem::path& dir) {
  auto cert_pem = read_file(dir / "device-ca.crt", 1 << 20);
  if (!cert_pem) return tl::unexpected(cert_pem.error());
  auto key_pem = read_file(dir / "device-ca.key", 1 << 20);
  if (!key_pem) return tl::unexpected(key_pem.error());
  auto cert = crypto::Certificate::from_pem(*cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  auto key = crypto::PrivateKey::from_pem(*key_pem);
  if (!key) return tl::unexpected(key.error());
  return crypto::CertificateAuthority::open(*cert,
                                            std::make_unique<crypto::PrivateKey>(std::move(*key)));
}

crypto::Time now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

std::unique_ptr<ProvisioningResponder> ProvisioningResponder::start(Options options) {
  auto ca = open_device_ca(options.ca_dir);
  EXPECT_TRUE(ca) << ca.error().message;
  if (!ca) return nullptr;
  std::unique_ptr<ProvisioningResponder> r(
      new ProvisioningResponder(std::move(options), std::move(*ca)));
  mqtt::ClientOptions client_options = r->options_.client;
  client_options.on_message = [raw = r.get()](const mqtt::Message& m) { raw->on_message(m); };
  auto client = mqtt::Client::create(std::move(client_options));
  EXPECT_TRUE(client) << client.error().message;
  if (!client) return nullptr;
  r->client_ = std::move(*client);
  const auto filters = protocol::provisioning_request_filters(protocol::TopicPrefix());
  for (const std::string& filter : filters) EXPECT_TRUE(r->client_->subscribe(filter, 1));
  r->client_->start();
  const bool ready = r->client_->wait_until(
      [&](const mqtt::ClientStats& st) { return st.subscriptions_acknowledged >= filters.size(); },
      20s);
  EXPECT_TRUE(ready) << "responder: " << r->client_->stats().last_error;
  return ready ? std::move(r) : nullptr;
}

ProvisioningResponder::~ProvisioningResponder() {
  if (client_) client_->stop();
}

bool ProvisioningResponder::publish_retained(const std::string& topic, const std::string& payload) {
  const auto acknowledged = client_->stats().acknowledged;
  if (!client_->publish(topic, as_bytes(payload), 1, true)) return false;
  return client_->wait_until(
      [&](const mqtt::ClientStats& st) { return st.acknowledged > acknowledged; }, 20s);
}

ProvisioningResponder::Seen ProvisioningResponder::seen() const {
  std::lock_guard lock(mutex_);
  return seen_;
}

void ProvisioningResponder::reply(const protocol::ProvisioningTopic& request, protocol::Reply kind,
                                  const nlohmann::json& document) {
  auto topic =
      protocol::provisioning_topic(protocol::TopicPrefix(), protocol::reply_topic(request, kind));
  if (!topic) {
    ADD_FAILURE() << "responder: " << topic.error().message;
    return;
  }
  auto queued = client_->publish(*topic, protocol::encode_payload(document, request.format), 1);
  if (!queued) ADD_FAILURE() << "responder: " << queued.error().message;
}

void ProvisioningResponder::on_message(const mqtt::Message& message) {
  auto topic = protocol::parse_provisioning_topic(protocol::TopicPrefix(), message.topic);
  if (!topic || topic->reply != protocol::Reply::none) return;
  {
    std::lock_guard lock(mutex_);
    seen_.requests.push_back(*topic);
  }
  if (topic->kind == protocol::ProvisioningApi::create_certificate_from_csr) {
    answer_csr(*topic, message);
  } else if (topic->kind == protocol::ProvisioningApi::register_thing) {
    answer_register(*topic, message);
  }
}

void ProvisioningResponder::answer_csr(const protocol::ProvisioningTopic& topic,
                                       const mqtt::Message& message) {
  using protocol::Reply;
  auto request = protocol::decode_message<protocol::CreateCertificateFromCsrRequest>(
      message.payload, topic.format);
  if (!request) {
    reply(topic, Reply::rejected,
          protocol::ErrorResponse::make(errors::kInvalidPayload, request.error().message).encode());
    return;
  }
  auto csr = crypto::CertificateRequest::from_pem(as_bytes(request->certificate_signing_request));
  auto key = csr ? csr->public_key() : Result<crypto::PublicKey>(tl::unexpected(csr.error()));
  if (key) {
    std::lock_guard lock(mutex_);
    seen_.csr_keys.push_back(key->der());
  }
  const Behaviour behaviour = create_certificate_;
  if (behaviour == Behaviour::silent) return;
  if (behaviour == Behaviour::reject) {
    reply(topic, Reply::rejected,
          protocol::ErrorResponse::make(errors::kAccessDenied,
                                        "this claim certificate may not provision devices")
              .encode());
    return;
  }
  auto certificate = csr ? ca_.issue_device_certificate(
                               *csr, crypto::validity_from_now(std::chrono::days(30), now()))
                         : Result<crypto::Certificate>(tl::unexpected(csr.error()));
  if (!certificate) {
    reply(topic, Reply::rejected,
          protocol::ErrorResponse::make(errors::kInvalidPayload, certificate.error().message)
              .encode());
    return;
  }
  auto token = crypto::random_bytes(32);
  auto subject = certificate->subject_name();
  protocol::CreateCertificateFromCsrResponse response;
  response.certificate_id = to_hex(certificate->fingerprint());
  response.certificate_pem = certificate->pem();
  response.certificate_ownership_token = to_hex(*token);
  {
    std::lock_guard lock(mutex_);
    tokens_[response.certificate_ownership_token] = subject ? subject->common_name : "";
  }
  reply(topic, Reply::accepted, response.encode());
}

void ProvisioningResponder::answer_register(const protocol::ProvisioningTopic& topic,
                                            const mqtt::Message& message) {
  using protocol::Reply;
  auto request =
      protocol::decode_message<protocol::RegisterThingRequest>(message.payload, topic.format);
  if (!request) {
    reply(topic, Reply::rejected,
          protocol::ErrorResponse::make(errors::kInvalidPayload, request.error().message).encode());
    return;
  }
  std::string common_name;
  {
    std::lock_guard lock(mutex_);
    seen_.parameters.push_back(request->parameters);
    auto it = tokens_.find(request->certificate_ownership_token);
    if (it != tokens_.end()) {
      common_name = it->second;
      if (register_thing_ == Behaviour::answer) tokens_.erase(it);  // one use
    }
  }
  const Behaviour behaviour = register_thing_;
  if (behaviour == Behaviour::silent) return;
  if (stray_) {
    protocol::ProvisioningTopic csr_reply{protocol::ProvisioningApi::create_certificate_from_csr,
                                          "", topic.format, Reply::none};
    reply(csr_reply, Reply::accepted, nlohmann::json{{"stray", true}});
  }
  if (behaviour == Behaviour::reject || topic.template_name != options_.template_name) {
    reply(topic, Reply::rejected,
          protocol::ErrorResponse::make(errors::kResourceNotFound,
                                        "no provisioning template named " + topic.template_name)
              .encode());
    return;
  }
  if (common_name.empty()) {
    reply(topic, Reply::rejected,
          protocol::ErrorResponse::make(errors::kInvalidCertificateOwnershipToken,
                                        "unknown or used ownership token")
              .encode());
    return;
  }
  auto thing = request->parameters.find("ThingName");
  protocol::RegisterThingResponse response;
  response.thing_name = thing != request->parameters.end() ? thing->second : common_name;
  response.device_configuration = options_.device_configuration;
  reply(topic, Reply::accepted, response.encode());
}

}  // namespace ironroot::testing

#include "device_api.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "ironroot/crypto/x509.hpp"
#include "ironroot/protocol/provisioning.hpp"

namespace ironroot::service {

namespace {

namespace errors = protocol::provisioning_errors;

// A notice carries one certificate and a few short fields.
constexpr std::size_t kMaxNoticeSize = 64 * 1024;

// Decodes a request's payload, or the ErrorResponse that refuses it.
template <class Request>
Result<Request, protocol::ErrorResponse> decode(ByteView payload, protocol::PayloadFormat format) {
  auto request = protocol::decode_message<Request>(payload, format);
  if (!request) {
    return tl::unexpected(
        protocol::ErrorResponse::make(errors::kInvalidPayload, request.error().message));
  }
  return std::move(*request);
}

}  // namespace

std::optional<DeviceRequest> parse_device_request_topic(std::string_view topic) {
  if (!topic.starts_with(kFromPrefix)) return std::nullopt;
  topic.remove_prefix(kFromPrefix.size());
  const auto client_end = topic.find('/');
  if (client_end == std::string_view::npos || client_end == 0) return std::nullopt;
  const auto certificate_end = topic.find('/', client_end + 1);
  if (certificate_end == std::string_view::npos || certificate_end == client_end + 1) {
    return std::nullopt;
  }
  DeviceRequest request{std::string(topic.substr(0, client_end)),
                        std::string(topic.substr(client_end + 1, certificate_end - client_end - 1)),
                        std::string(topic.substr(certificate_end + 1))};
  if (request.topic.empty()) return std::nullopt;
  return request;
}

DeviceApi::DeviceApi(fleet::Registry& registry, crypto::CertificateAuthority& ca,
                     mqtt::Client& fleet, protocol::TopicPrefix prefix,
                     fleet::ProvisioningOptions options)
    : provisioning_(registry, ca, nullptr, std::move(options)),
      fleet_(fleet),
      prefix_(std::move(prefix)),
      worker_("device requests", [this](const mqtt::Message& m) { handle(m); }) {}

std::vector<std::string> DeviceApi::subscriptions() const {
  return {std::string(kFromPrefix) + "+/+/" + prefix_.str() + "/certificates/#",
          std::string(kFromPrefix) + "+/+/" + prefix_.str() + "/provisioning-templates/#",
          std::string(kJustInTimeNoticePrefix) + "+"};
}

void DeviceApi::reply(const DeviceRequest& to, const std::string& topic, const Bytes& payload) {
  const std::string relay = std::string(kToPrefix) + to.client_id + "/" + topic;
  if (auto sent = fleet_.publish_or_wait(relay, payload, kPublishWait, 1); !sent) {
    spdlog::error("cannot reply to {} on {}: {}", to.client_id, topic, sent.error().message);
  }
}

void DeviceApi::register_just_in_time(const mqtt::Message& notice) {
  if (notice.payload.size() > kMaxNoticeSize) {
    spdlog::warn("ignoring a just-in-time notice of {} bytes", notice.payload.size());
    return;
  }
  auto fields = nlohmann::json::parse(notice.payload.begin(), notice.payload.end(), nullptr, false);
  auto pem = fields.is_object() ? fields.find("certificatePem") : fields.end();
  if (pem == fields.end() || !pem->is_string()) {
    spdlog::warn("ignoring a just-in-time notice without a certificate on {}", notice.topic);
    return;
  }
  const std::string client_id =
      fields.contains("clientId") && fields["clientId"].is_string() ? fields["clientId"] : "?";
  auto certificate = crypto::Certificate::from_pem(as_bytes(pem->get_ref<const std::string&>()));
  if (!certificate) {
    spdlog::warn("ignoring a just-in-time notice for {}: {}", client_id,
                 certificate.error().message);
    return;
  }
  auto registered = provisioning_.register_just_in_time({*certificate});
  if (!registered) {
    spdlog::warn("just-in-time registration of {} (client {}) refused: {}",
                 to_hex(certificate->fingerprint()), client_id, registered.error().message);
    return;
  }
  if (!*registered) return;  // registered and usable already: the device reconnects
  const fleet::JustInTimeRegistration& done = **registered;
  if (done.thing_name) {
    spdlog::info("just-in-time provisioned thing {} with certificate {} of CA {} (client {})",
                 *done.thing_name, done.event.certificate_id, done.event.ca_certificate_id,
                 client_id);
  } else {
    spdlog::info("just-in-time registered certificate {} of CA {} as {} (client {})",
                 done.event.certificate_id, done.event.ca_certificate_id,
                 done.event.certificate_status, client_id);
  }
  auto topic = protocol::certificate_registered_topic(prefix_, done.event.ca_certificate_id);
  if (!topic) {
    spdlog::error("no event topic for CA {}: {}", done.event.ca_certificate_id,
                  topic.error().message);
    return;
  }
  const std::string payload = done.event.encode().dump();
  if (auto sent = fleet_.publish_or_wait(*topic, as_bytes(payload), kPublishWait, 1); !sent) {
    spdlog::error("cannot publish {}: {}", *topic, sent.error().message);
  }
}

void DeviceApi::handle(const mqtt::Message& message) {
  if (message.topic.starts_with(kJustInTimeNoticePrefix)) return register_just_in_time(message);
  auto request = parse_device_request_topic(message.topic);
  if (!request) {
    spdlog::warn("ignoring a message on {}: not a device request", message.topic);
    return;
  }
  auto topic = protocol::parse_provisioning_topic(prefix_, request->topic);
  if (!topic || topic->reply != protocol::Reply::none) {
    spdlog::warn("ignoring {} from {}: not a provisioning request", request->topic,
                 request->client_id);
    return;
  }
  const protocol::PayloadFormat format = topic->format;
  auto send = [&](const auto& outcome) {
    const bool accepted = outcome.has_value();
    auto reply_name = protocol::provisioning_topic(
        prefix_, protocol::reply_topic(
                     *topic, accepted ? protocol::Reply::accepted : protocol::Reply::rejected));
    if (!reply_name) {
      spdlog::error("no reply topic for {}: {}", request->topic, reply_name.error().message);
      return;
    }
    if (accepted) {
      this->reply(*request, *reply_name, protocol::encode_message(*outcome, format));
      spdlog::info("{} for {} (certificate {}): accepted", request->topic, request->client_id,
                   request->certificate_id);
    } else {
      this->reply(*request, *reply_name, protocol::encode_message(outcome.error(), format));
      spdlog::warn("{} for {} (certificate {}): rejected, {} {}: {}", request->topic,
                   request->client_id, request->certificate_id, outcome.error().status_code,
                   outcome.error().error_code, outcome.error().error_message);
    }
  };

  switch (topic->kind) {
    case protocol::ProvisioningApi::create_certificate_from_csr: {
      auto decoded = decode<protocol::CreateCertificateFromCsrRequest>(message.payload, format);
      if (!decoded) return send(decoded);
      return send(provisioning_.create_certificate_from_csr(request->certificate_id, *decoded));
    }
    case protocol::ProvisioningApi::create_keys_and_certificate: {
      auto decoded = decode<protocol::CreateKeysAndCertificateRequest>(message.payload, format);
      if (!decoded) return send(decoded);
      return send(provisioning_.create_keys_and_certificate(request->certificate_id));
    }
    case protocol::ProvisioningApi::register_thing: {
      auto decoded = decode<protocol::RegisterThingRequest>(message.payload, format);
      if (!decoded) return send(decoded);
      return send(provisioning_.register_thing(request->certificate_id, topic->template_name,
                                               *decoded, request->client_id));
    }
  }
}

}  // namespace ironroot::service

// The payloads of AWS IoT's fleet provisioning MQTT API (developer guide: "Device provisioning
// MQTT API", fleet-provision-api), used by the fleet service to read requests and write replies
// and by the device provisioning client to write requests and read replies; and the event AWS IoT
// publishes when it registers a certificate just in time (auto-register-device-cert).
//
// Every message has `decode` (from a decoded payload, see decode_payload) and `encode` (to a
// document for encode_payload); decode_message and encode_message do both steps. Members are the
// API's keys in snake_case. Decoders ignore keys they do not know, as AWS's clients do, and fail
// with "<key>: <what is wrong>"; the fleet service answers such a request with
// ErrorResponse::make(provisioning_errors::kInvalidPayload, error.message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/protocol/payload_format.hpp"

namespace ironroot::protocol {

// Bounds on the fields of the API, in bytes.
inline constexpr std::size_t kMaxCsrPemSize = 8 * 1024;
inline constexpr std::size_t kMaxCertificatePemSize = 64 * 1024;  // AWS's certificatePem limit
inline constexpr std::size_t kMaxPrivateKeyPemSize = 16 * 1024;
inline constexpr std::size_t kMaxOwnershipTokenSize = 2048;
inline constexpr std::size_t kMaxThingNameSize = 128;  // AWS's thing name limit

// A certificate id as AWS IoT makes them: the SHA-256 of the DER certificate in 64 lower-case hex
// digits.
bool is_certificate_id(std::string_view id);
// A thing name as AWS IoT allows it: 1 to 128 characters of [a-zA-Z0-9:_-].
bool is_valid_thing_name(std::string_view name);

// $aws/certificates/create/<format>: no fields. Devices send an empty payload (AWS's guide) or an
// empty object (AWS's SDKs); decode_message accepts both, and any keys are ignored.
struct CreateKeysAndCertificateRequest {
  static Result<CreateKeysAndCertificateRequest> decode(const nlohmann::json& document);
  nlohmann::json encode() const;  // {}
  bool operator==(const CreateKeysAndCertificateRequest&) const = default;
};

// .../create/<format>/accepted. The private key is PEM (PKCS#8 or traditional RSA/EC).
struct CreateKeysAndCertificateResponse {
  std::string certificate_id;               // certificateId: is_certificate_id
  std::string certificate_pem;              // certificatePem: a PEM certificate (chain)
  std::string private_key;                  // privateKey: a PEM private key
  std::string certificate_ownership_token;  // certificateOwnershipToken: 1 to 2048 bytes

  static Result<CreateKeysAndCertificateResponse> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const CreateKeysAndCertificateResponse&) const = default;
};

// $aws/certificates/create-from-csr/<format>.
struct CreateCertificateFromCsrRequest {
  // certificateSigningRequest: one PEM block labelled CERTIFICATE REQUEST (or NEW CERTIFICATE
  // REQUEST), at most kMaxCsrPemSize bytes. Decoding checks the framing only; the CA parses and
  // verifies the CSR itself.
  std::string certificate_signing_request;

  static Result<CreateCertificateFromCsrRequest> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const CreateCertificateFromCsrRequest&) const = default;
};

// .../create-from-csr/<format>/accepted.
struct CreateCertificateFromCsrResponse {
  std::string certificate_id;               // certificateId: is_certificate_id
  std::string certificate_pem;              // certificatePem: a PEM certificate (chain)
  std::string certificate_ownership_token;  // certificateOwnershipToken: 1 to 2048 bytes

  static Result<CreateCertificateFromCsrResponse> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const CreateCertificateFromCsrResponse&) const = default;
};

// $aws/provisioning-templates/<template>/provision/<format>.
struct RegisterThingRequest {
  std::string certificate_ownership_token;  // certificateOwnershipToken: required, 1 to 2048 bytes
  // parameters: optional; an object whose values are all strings (keys not empty). Encoded only
  // when not empty.
  std::map<std::string, std::string> parameters;

  static Result<RegisterThingRequest> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const RegisterThingRequest&) const = default;
};

// .../provision/<format>/accepted.
struct RegisterThingResponse {
  // deviceConfiguration: the template's DeviceConfiguration, strings only; optional when decoding
  // (devices built on AWS's SDK ignore it), always encoded.
  std::map<std::string, std::string> device_configuration;
  std::string thing_name;  // thingName: is_valid_thing_name

  static Result<RegisterThingResponse> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const RegisterThingResponse&) const = default;
};

// An error code of the provisioning API with the HTTP status AWS pairs with it.
struct ProvisioningError {
  int status_code;
  std::string_view error_code;
};

// AWS documents the shape of rejections ({statusCode, errorCode, errorMessage}) but not the list
// of codes. InvalidCertificateOwnershipToken/400 is what AWS IoT sends for a bad ownership token
// (reported in aws/aws-iot-device-sdk-js-v2#69). The other codes are ironroot's; where the Jobs
// device API has a matching code (ResourceNotFound, RequestThrottled, InternalError), its name is
// reused.
namespace provisioning_errors {
// The payload does not decode, or a field is missing or wrong (the message names it); also a CSR
// that the CA cannot parse.
inline constexpr ProvisioningError kInvalidPayload{400, "InvalidPayload"};
// The ownership token is unknown, expired (1 hour), already used, or for another certificate.
inline constexpr ProvisioningError kInvalidCertificateOwnershipToken{
    400, "InvalidCertificateOwnershipToken"};
// The claim certificate may not use this template, or the pre-provisioning hook refused.
inline constexpr ProvisioningError kAccessDenied{403, "AccessDenied"};
// No enabled provisioning template has this name.
inline constexpr ProvisioningError kResourceNotFound{404, "ResourceNotFound"};
// The device sends requests faster than the fleet allows.
inline constexpr ProvisioningError kRequestThrottled{429, "RequestThrottled"};
// The fleet service failed (storage, CA); the device may retry later.
inline constexpr ProvisioningError kInternalError{500, "InternalError"};
}  // namespace provisioning_errors

// .../rejected of every provisioning API.
struct ErrorResponse {
  int status_code = 0;        // statusCode: an HTTP status, 100 to 599
  std::string error_code;     // errorCode: 1 to 256 bytes
  std::string error_message;  // errorMessage: optional when decoding, at most 4096 bytes

  static ErrorResponse make(const ProvisioningError& error, std::string message);
  static Result<ErrorResponse> decode(const nlohmann::json& document);
  nlohmann::json encode() const;
  bool operator==(const ErrorResponse&) const = default;
};

// The payload AWS IoT publishes on <prefix>/events/certificates/registered/<caCertificateId>
// (certificate_registered_topic) when a certificate issued by a CA registered for automatic
// registration first connects, or connects while still PENDING_ACTIVATION. Encode only.
struct CertificateRegisteredEvent {
  std::string certificate_id;     // certificateId
  std::string ca_certificate_id;  // caCertificateId
  std::int64_t timestamp = 0;     // timestamp: when the event was published, ms since the epoch
  std::string certificate_status = "PENDING_ACTIVATION";  // certificateStatus
  std::string aws_account_id;                             // awsAccountId
  // certificateRegistrationTimestamp: AWS's guide shows it as a string (unlike `timestamp`), so
  // it is encoded as the decimal milliseconds, or "null" when unknown.
  std::optional<std::int64_t> certificate_registration_timestamp;

  nlohmann::json encode() const;
};

// Decodes a payload (decode_payload with `max_size`) and then the message. An empty payload is
// a CreateKeysAndCertificateRequest, as AWS's guide has devices send it.
template <class Message>
Result<Message> decode_message(ByteView payload, PayloadFormat format,
                               std::size_t max_size = kMaxPayloadSize) {
  if constexpr (std::is_same_v<Message, CreateKeysAndCertificateRequest>) {
    if (payload.empty()) return Message{};
  }
  auto document = decode_payload(payload, format, max_size);
  if (!document) return tl::unexpected(document.error());
  return Message::decode(*document);
}

template <class Message>
Bytes encode_message(const Message& message, PayloadFormat format) {
  return encode_payload(message.encode(), format);
}

}  // namespace ironroot::protocol

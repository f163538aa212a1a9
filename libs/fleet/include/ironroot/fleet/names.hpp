// The shapes names and values in the registry must have: AWS IoT's documented patterns and
// limits, so that anything ironroot accepts AWS IoT accepts too. Each check's error says what is
// allowed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"
#include "ironroot/fleet/records.hpp"

namespace ironroot::fleet {

inline constexpr std::size_t kMaxAttributes = 50;
inline constexpr std::size_t kMaxAttributeNameLength = 128;
inline constexpr std::size_t kMaxAttributeValueLength = 800;
inline constexpr std::size_t kMaxGroupDescriptionLength = 2028;
inline constexpr std::size_t kMaxQueryLength = 1000;           // a dynamic group's queryString
inline constexpr std::size_t kMaxPolicyDocumentLength = 2048;  // not counting whitespace
inline constexpr std::size_t kMaxTemplateBodyLength = 10240;
inline constexpr std::size_t kMaxTemplateDescriptionLength = 500;
inline constexpr std::size_t kMaxHookLength = 2048;
inline constexpr std::size_t kMaxActorLength = 128;
inline constexpr std::size_t kMaxPemLength = 16384;

// Thing type and thing group names: 1 to 128 of [a-zA-Z0-9:_-]. (Thing names: see
// crypto::check_thing_name, which is stricter because a thing name is a certificate CN.)
Status check_thing_type_name(std::string_view name);
Status check_group_name(std::string_view name);
// Attribute names: 1 to 128 of [a-zA-Z0-9_.,@/:#-]; values: 0 to 800 of [a-zA-Z0-9_.,@/:#=[]-];
// at most 50 attributes.
Status check_attribute_name(std::string_view name);
Status check_attribute_value(std::string_view name, std::string_view value);
Status check_attributes(const Attributes& attributes);
// A firmware version as a device reports it: 1 to 64 of [a-zA-Z0-9._+-].
Status check_firmware_version(std::string_view version);
// Policy names: 1 to 128 of [a-zA-Z0-9_+=,.@-].
Status check_policy_name(std::string_view name);
// Provisioning template names: 1 to 36 of [a-zA-Z0-9_-].
Status check_template_name(std::string_view name);
// Descriptions and hooks: valid UTF-8 without control characters, at most `max` bytes.
Status check_text(std::string_view what, std::string_view text, std::size_t max);
// Who makes a change: 1 to 128 printable characters.
Status check_actor(std::string_view actor);
// A certificate or CA id: 64 hex digits. Returns it in lower case.
Result<std::string> normalize_certificate_id(std::string_view id);
// Text that parses as one JSON object, at most `max_length` bytes. The error gives the parser's
// position.
Status check_json_object(std::string_view what, std::string_view text, std::size_t max_length);
// A policy document: a JSON object of at most kMaxPolicyDocumentLength characters besides
// whitespace (AWS IoT's limit). Its statements are libs/policy's business.
Status check_policy_document(std::string_view document);

}  // namespace ironroot::fleet

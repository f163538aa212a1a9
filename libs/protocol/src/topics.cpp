#include "ironroot/protocol/topics.hpp"

#include <algorithm>

#include "ironroot/protocol/provisioning.hpp"

namespace ironroot::protocol {
namespace {

constexpr std::size_t kMaxPrefixSize = 256;

constexpr std::string_view kCreate = "/certificates/create/";
constexpr std::string_view kCreateFromCsr = "/certificates/create-from-csr/";
constexpr std::string_view kTemplates = "/provisioning-templates/";
constexpr std::string_view kProvision = "/provision/";

// "<format>" or "<format>/accepted" or "<format>/rejected": the tail every provisioning topic
// ends with.
std::optional<std::pair<PayloadFormat, Reply>> parse_tail(std::string_view tail) {
  Reply reply = Reply::none;
  if (auto slash = tail.find('/'); slash != std::string_view::npos) {
    std::string_view suffix = tail.substr(slash + 1);
    if (suffix == "accepted") {
      reply = Reply::accepted;
    } else if (suffix == "rejected") {
      reply = Reply::rejected;
    } else {
      return std::nullopt;
    }
    tail = tail.substr(0, slash);
  }
  auto format = parse_payload_format(tail);
  if (!format) return std::nullopt;
  return std::make_pair(*format, reply);
}

std::string_view reply_suffix(Reply reply) {
  switch (reply) {
    case Reply::accepted:
      return "/accepted";
    case Reply::rejected:
      return "/rejected";
    case Reply::none:
      break;
  }
  return "";
}

}  // namespace

Result<TopicPrefix> TopicPrefix::create(std::string_view prefix) {
  if (prefix.empty()) return fail("the topic prefix is empty");
  if (prefix.size() > kMaxPrefixSize) {
    return fail("the topic prefix is " + std::to_string(prefix.size()) + " bytes, more than " +
                std::to_string(kMaxPrefixSize));
  }
  auto bad = std::find_if(prefix.begin(), prefix.end(), [](char c) {
    return c == '+' || c == '#' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (bad != prefix.end()) {
    return fail("the topic prefix \"" + std::string(prefix) +
                "\" contains a wildcard ('+' or '#') or a control character");
  }
  if (prefix.back() == '/') {
    return fail("the topic prefix \"" + std::string(prefix) + "\" must not end with '/'");
  }
  return TopicPrefix(std::string(prefix));
}

bool is_valid_template_name(std::string_view name) {
  return !name.empty() && name.size() <= 36 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == '-';
  });
}

Result<std::string> provisioning_topic(const TopicPrefix& prefix, const ProvisioningTopic& topic) {
  std::string out = prefix.str();
  switch (topic.kind) {
    case ProvisioningApi::create_keys_and_certificate:
    case ProvisioningApi::create_certificate_from_csr:
      if (!topic.template_name.empty()) {
        return fail("only RegisterThing topics name a provisioning template");
      }
      out += topic.kind == ProvisioningApi::create_keys_and_certificate ? kCreate : kCreateFromCsr;
      break;
    case ProvisioningApi::register_thing:
      if (!is_valid_template_name(topic.template_name)) {
        return fail("invalid provisioning template name \"" + topic.template_name +
                    "\": use 1 to 36 characters among 0-9, A-Z, a-z, '_' and '-'");
      }
      out += kTemplates;
      out += topic.template_name;
      out += kProvision;
      break;
  }
  out += to_string(topic.format);
  out += reply_suffix(topic.reply);
  return out;
}

std::optional<ProvisioningTopic> parse_provisioning_topic(const TopicPrefix& prefix,
                                                          std::string_view topic) {
  const std::string& p = prefix.str();
  if (topic.size() <= p.size() || topic.substr(0, p.size()) != p) return std::nullopt;
  std::string_view rest = topic.substr(p.size());

  ProvisioningTopic out;
  if (rest.starts_with(kCreate)) {
    out.kind = ProvisioningApi::create_keys_and_certificate;
    rest.remove_prefix(kCreate.size());
  } else if (rest.starts_with(kCreateFromCsr)) {
    out.kind = ProvisioningApi::create_certificate_from_csr;
    rest.remove_prefix(kCreateFromCsr.size());
  } else if (rest.starts_with(kTemplates)) {
    rest.remove_prefix(kTemplates.size());
    const auto end = rest.find('/');
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view name = rest.substr(0, end);
    if (!is_valid_template_name(name)) return std::nullopt;
    rest.remove_prefix(end);
    if (!rest.starts_with(kProvision)) return std::nullopt;
    rest.remove_prefix(kProvision.size());
    out.kind = ProvisioningApi::register_thing;
    out.template_name = std::string(name);
  } else {
    return std::nullopt;
  }
  auto tail = parse_tail(rest);
  if (!tail) return std::nullopt;
  out.format = tail->first;
  out.reply = tail->second;
  return out;
}

ProvisioningTopic reply_topic(const ProvisioningTopic& request, Reply reply) {
  ProvisioningTopic out = request;
  out.reply = reply;
  return out;
}

std::vector<std::string> provisioning_request_filters(const TopicPrefix& prefix) {
  const std::string& p = prefix.str();
  return {p + std::string(kCreate) + "+", p + std::string(kCreateFromCsr) + "+",
          p + std::string(kTemplates) + "+" + std::string(kProvision) + "+"};
}

Result<std::string> certificate_registered_topic(const TopicPrefix& prefix,
                                                 std::string_view ca_certificate_id) {
  if (!is_certificate_id(ca_certificate_id)) {
    return fail("invalid CA certificate id \"" + std::string(ca_certificate_id) +
                "\": expected 64 lower-case hex digits");
  }
  return prefix.str() + "/events/certificates/registered/" + std::string(ca_certificate_id);
}

}  // namespace ironroot::protocol

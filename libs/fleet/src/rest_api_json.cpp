// The REST API's JSON: reading request fields with their types checked, and each record's form.
#include <charconv>

#include "ironroot/crypto/x509.hpp"
#include "rest_api_internal.hpp"

namespace ironroot::fleet::rest {

namespace {

using nlohmann::json;

// The largest next token the API passes on (the registry's own are far shorter).
constexpr std::size_t kMaxNextTokenLength = 512;

int http_status(RegistryErrorCode code) {
  switch (code) {
    case RegistryErrorCode::invalid:
      return 400;
    case RegistryErrorCode::not_found:
      return 404;
    case RegistryErrorCode::already_exists:
    case RegistryErrorCode::conflict:
      return 409;
    case RegistryErrorCode::internal:
      return 500;
  }
  return 500;
}

// A stored JSON text as a value; stored texts were checked on the way in, but a damaged one is
// passed on as text rather than failing the whole answer.
json stored_json(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? json(text) : value;
}

}  // namespace

tl::unexpected<ApiError> bad_request(std::string message) {
  return tl::unexpected(ApiError{400, "invalid", std::move(message)});
}

tl::unexpected<ApiError> refused(const RegistryError& error) {
  return tl::unexpected(ApiError{http_status(error.code),
                                 std::string(registry_error_code_name(error.code)), error.message});
}

tl::unexpected<ApiError> unavailable(const std::string& what) {
  return tl::unexpected(ApiError{501, "unavailable", what + " is not available on this server"});
}

Answer no_content(RegistryResult<void>&& result) {
  if (!result) return refused(result.error());
  return Reply{204, nullptr};
}

// ---- request fields ---------------------------------------------------------------------------

Fields::Fields(const json& body, std::initializer_list<std::string_view> known,
               std::string_view path)
    : body_(body), path_(path) {
  if (body_.is_null()) return;
  if (!body_.is_object()) {
    error_ = ApiError{400, "invalid",
                      path_.empty() ? std::string("the request body must be a JSON object")
                                    : "field '" + path_ + "' must be an object"};
    return;
  }
  for (const auto& [name, value] : body_.items()) {
    bool is_known = false;
    for (std::string_view k : known) is_known = is_known || k == name;
    if (!is_known) {
      std::string allowed;
      for (std::string_view k : known) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
      error_ = ApiError{400, "invalid",
                        "unknown field '" + full_name(name.substr(0, 64)) + "'" +
                            (allowed.empty() ? " (this request takes no body fields)"
                                             : " (expected: " + allowed + ")")};
      return;
    }
  }
}

const json* Fields::find(std::string_view name, bool required) {
  if (error_) return nullptr;
  if (body_.is_object()) {
    auto it = body_.find(name);
    if (it != body_.end()) return &*it;
  }
  if (required) {
    error_ = ApiError{400, "invalid", "field '" + full_name(name) + "' is required"};
  }
  return nullptr;
}

void Fields::wrong_type(std::string_view name, std::string_view expected) {
  if (!error_) {
    error_ = ApiError{400, "invalid",
                      "field '" + full_name(name) + "' must be " + std::string(expected)};
  }
}

std::string Fields::full_name(std::string_view name) const {
  return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
}

void Fields::refuse(std::string_view name, std::string_view problem) {
  if (!error_) {
    error_ = ApiError{400, "invalid", "field '" + full_name(name) + "' " + std::string(problem)};
  }
}

void Fields::take_error(const Fields& inner) {
  if (!error_ && inner.error_) error_ = inner.error_;
}

const json* Fields::value(std::string_view name, bool required) {
  return find(name, required);
}

std::optional<std::vector<std::string>> Fields::strings(std::string_view name, bool required) {
  const json* value = find(name, required);
  if (value == nullptr) return std::nullopt;
  if (!value->is_array()) {
    wrong_type(name, "an array of strings");
    return std::nullopt;
  }
  std::vector<std::string> items;
  for (const json& item : *value) {
    if (!item.is_string()) {
      wrong_type(name, "an array of strings");
      return std::nullopt;
    }
    items.push_back(item.get<std::string>());
  }
  return items;
}

std::optional<std::string> Fields::text(std::string_view name, bool required) {
  const json* value = find(name, required);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    wrong_type(name, "a string");
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::optional<std::optional<std::string>> Fields::nullable_text(std::string_view name) {
  const json* value = find(name, false);
  if (value == nullptr) return std::nullopt;
  if (value->is_null()) return std::optional<std::string>{};
  if (!value->is_string()) {
    wrong_type(name, "a string or null");
    return std::nullopt;
  }
  return std::optional<std::string>{value->get<std::string>()};
}

std::optional<bool> Fields::boolean(std::string_view name) {
  const json* value = find(name, false);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) {
    wrong_type(name, "true or false");
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<std::int64_t> Fields::integer(std::string_view name) {
  const json* value = find(name, false);
  if (value == nullptr) return std::nullopt;
  if (value->is_number_unsigned()) {
    auto n = value->get<std::uint64_t>();
    if (n <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(n);
  } else if (value->is_number_integer()) {
    return value->get<std::int64_t>();
  }
  wrong_type(name, "a whole number");
  return std::nullopt;
}

std::optional<Attributes> Fields::attributes(std::string_view name) {
  const json* value = find(name, false);
  if (value == nullptr) return std::nullopt;
  if (!value->is_object()) {
    wrong_type(name, "an object of strings");
    return std::nullopt;
  }
  Attributes attributes;
  for (const auto& [key, item] : value->items()) {
    if (!item.is_string()) {
      wrong_type(std::string(name) + "." + key.substr(0, 64), "a string");
      return std::nullopt;
    }
    attributes.emplace(key, item.get<std::string>());
  }
  return attributes;
}

std::optional<std::string> Fields::document(std::string_view name, bool required) {
  const json* value = find(name, required);
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) return value->get<std::string>();
  if (value->is_object()) return value->dump();
  wrong_type(name, "a JSON object, or a string holding one");
  return std::nullopt;
}

// ---- query strings ----------------------------------------------------------------------------

std::optional<std::string> query_value(const Call& call, const std::string& name) {
  auto [first, last] = call.query.equal_range(name);
  if (first == last) return std::nullopt;
  return std::prev(last)->second;
}

Result<std::optional<std::int64_t>, ApiError> integer_query(const Call& call,
                                                            const std::string& name) {
  auto text = query_value(call, name);
  if (!text) return std::optional<std::int64_t>{};
  std::int64_t n = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, n);
  if (ec != std::errc() || ptr != end) {
    return bad_request("query parameter '" + name + "' must be a whole number");
  }
  return std::optional<std::int64_t>{n};
}

Result<Page, ApiError> page_of(const Call& call) {
  Page page;
  if (auto limit = query_value(call, "limit")) {
    std::size_t n = 0;
    const char* end = limit->data() + limit->size();
    auto [ptr, ec] = std::from_chars(limit->data(), end, n);
    if (ec != std::errc() || ptr != end || n == 0 || n > kMaxPageLimit) {
      return bad_request("query parameter 'limit' must be a whole number from 1 to " +
                         std::to_string(kMaxPageLimit));
    }
    page.limit = n;
  }
  if (auto next = query_value(call, "next")) {
    if (next->size() > kMaxNextTokenLength) {
      return bad_request("query parameter 'next' is not a token this API gave");
    }
    page.next_token = *next;
  }
  return page;
}

// ---- records ----------------------------------------------------------------------------------

std::string time_text(Time time) {
  return crypto::format_time(time);
}

json names_json(const std::vector<std::string>& names) {
  return {{"items", names}};
}

json thing_json(const Thing& thing) {
  json attributes = json::object();
  for (const auto& [name, value] : thing.attributes) attributes[name] = value;
  json out = {{"thingName", thing.name},
              {"attributes", std::move(attributes)},
              {"version", thing.version},
              {"createdAt", time_text(thing.created_at)},
              {"updatedAt", time_text(thing.updated_at)}};
  if (thing.thing_type) out["thingTypeName"] = *thing.thing_type;
  if (thing.firmware_version) out["firmwareVersion"] = *thing.firmware_version;
  return out;
}

json group_json(const ThingGroup& group) {
  json out = {{"groupName", group.name},
              {"description", group.description},
              {"dynamic", group.is_dynamic()},
              {"createdAt", time_text(group.created_at)}};
  if (group.query) out["queryString"] = *group.query;
  return out;
}

json certificate_json(const CertificateRecord& cert, bool with_pem) {
  json out = {{"certificateId", cert.id},
              {"status", std::string(certificate_status_name(cert.status))},
              {"subject", cert.subject},
              {"commonName", cert.common_name},
              {"serialNumber", cert.serial_hex},
              {"notBefore", time_text(cert.not_before)},
              {"notAfter", time_text(cert.not_after)},
              {"createdAt", time_text(cert.created_at)}};
  if (cert.ca_id) out["caCertificateId"] = *cert.ca_id;
  if (with_pem) out["certificatePem"] = cert.pem;
  return out;
}

json ca_json(const CaRecord& ca, bool with_pem) {
  json out = {{"caCertificateId", ca.id},
              {"status", std::string(ca_status_name(ca.status))},
              {"subject", ca.subject},
              {"notBefore", time_text(ca.not_before)},
              {"notAfter", time_text(ca.not_after)},
              {"autoRegistration", ca.auto_registration},
              {"createdAt", time_text(ca.created_at)}};
  if (ca.provisioning_template) out["templateName"] = *ca.provisioning_template;
  if (with_pem) out["caCertificatePem"] = ca.pem;
  return out;
}

json policy_json(const Policy& policy) {
  return {{"policyName", policy.name},
          {"policyDocument", policy.document},
          {"version", policy.version},
          {"createdAt", time_text(policy.created_at)},
          {"updatedAt", time_text(policy.updated_at)}};
}

json template_json(const ProvisioningTemplate& spec, bool with_body) {
  json out = {{"templateName", spec.name},
              {"description", spec.description},
              {"enabled", spec.enabled},
              {"version", spec.version},
              {"createdAt", time_text(spec.created_at)},
              {"updatedAt", time_text(spec.updated_at)}};
  if (spec.pre_provisioning_hook) out["preProvisioningHook"] = *spec.pre_provisioning_hook;
  if (with_body) out["templateBody"] = spec.body;
  return out;
}

json audit_json(const AuditEntry& entry) {
  return {{"id", entry.id},
          {"at", time_text(entry.at)},
          {"actor", entry.actor},
          {"action", entry.action},
          {"targetType", entry.target_type},
          {"targetId", entry.target_id},
          {"details", stored_json(entry.details)}};
}

}  // namespace ironroot::fleet::rest

// What the REST API's source files share: the answer and error types, the checked reading of
// request bodies and query strings, the JSON form of each registry record, and the route tables
// (one function per resource, in rest_api_<resource>.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/fleet/jobs.hpp"
#include "ironroot/fleet/registry.hpp"

namespace ironroot::fleet {
class ProvisioningService;
class FirmwareStore;
}  // namespace ironroot::fleet

namespace ironroot::fleet::rest {

// An error answer: HTTP status, the error code clients switch on, and a message for people.
struct ApiError {
  int status = 500;
  std::string code;
  std::string message;
};

// A successful answer. A null body is sent as 204 No Content.
struct Reply {
  int status = 200;
  nlohmann::json body;
};

using Answer = Result<Reply, ApiError>;

tl::unexpected<ApiError> bad_request(std::string message);     // 400 invalid
tl::unexpected<ApiError> refused(const RegistryError& error);  // 400/404/409/500 by its code
// 501 unavailable: "<what> is not available on this server".
tl::unexpected<ApiError> unavailable(const std::string& what);

// One authenticated request as a handler sees it. The registry is held exclusively for the
// duration of the call.
struct Call {
  Registry& registry;
  std::string actor;                  // the operator token's name
  std::vector<std::string> segments;  // the values of the route path's '*' segments, in order
  std::multimap<std::string, std::string> query;  // decoded query parameters
  nlohmann::json body;                            // null when the request had no body
  ProvisioningService* provisioning = nullptr;    // RestApiOptions::provisioning
  std::string_view device_trust_pem = {};         // RestApiOptions::device_trust_pem
  JobStore* jobs = nullptr;                       // RestApiOptions::jobs
  FirmwareStore* firmware = nullptr;              // RestApiOptions::firmware
  // The request body as sent, for a route that takes a binary body (its `body` is then null).
  std::string content = {};
  std::string content_type = {};  // the request's Content-Type header
  // What the handler's change means for devices (jobs: notify-next, notify), passed on to
  // RestApiOptions::on_job_notifications after the lock is released.
  JobNotifications notifications = {};
};

struct Route {
  std::string method;  // "GET", "POST", "PUT", "PATCH", "DELETE"
  std::string path;    // the decoded path, where each '*' is one segment: "/v1/things/*"
  std::vector<std::string> query_parameters;  // the ones allowed; any other is refused (400)
  // What the request's body is. kNoBody: a body other than {} is refused (400). kBinaryBody:
  // bytes passed on unparsed in Call::content, up to RestApi's binary body limit.
  enum class BodyKind { none, json, binary };
  BodyKind takes_body = BodyKind::none;
  std::function<Answer(Call&)> handler;
};
inline constexpr Route::BodyKind kBody = Route::BodyKind::json;
inline constexpr Route::BodyKind kNoBody = Route::BodyKind::none;
inline constexpr Route::BodyKind kBinaryBody = Route::BodyKind::binary;

std::vector<Route> thing_routes();
std::vector<Route> group_routes();
std::vector<Route> certificate_routes();
std::vector<Route> ca_routes();
std::vector<Route> policy_routes();
std::vector<Route> template_routes();
std::vector<Route> audit_routes();
std::vector<Route> provisioning_routes();
std::vector<Route> job_routes();
std::vector<Route> firmware_routes();
std::vector<Route> code_signing_key_routes();

// Reads the fields of a JSON object request body, checking each one's type. The first problem is
// remembered (naming the field) and later reads return nothing; handlers check error() once,
// before they change anything.
class Fields {
 public:
  // `known`: every field the request may carry; any other is an error. A null body (no body at
  // all) reads as an empty object.
  // `path`: where this object is in the request ("targets"), for the messages; empty for the
  // body itself.
  Fields(const nlohmann::json& body, std::initializer_list<std::string_view> known,
         std::string_view path = {});

  std::optional<std::string> text(std::string_view name, bool required = false);
  // Absent: nullopt. null: an empty inner optional (the field is to be removed).
  std::optional<std::optional<std::string>> nullable_text(std::string_view name);
  std::optional<bool> boolean(std::string_view name);
  std::optional<std::int64_t> integer(std::string_view name);
  // An object whose values are all strings.
  std::optional<Attributes> attributes(std::string_view name);
  // A JSON document given either as an object or as a string holding its text; returns the text.
  std::optional<std::string> document(std::string_view name, bool required = false);
  // An array whose items are all strings.
  std::optional<std::vector<std::string>> strings(std::string_view name, bool required = false);
  // The field's value as it is (nullptr when absent), for a reader of its own, which reports a
  // problem through refuse().
  const nlohmann::json* value(std::string_view name, bool required = false);
  // Remembers "field '<path>.<name>' <problem>" as the error, unless there is one already.
  void refuse(std::string_view name, std::string_view problem);
  // Takes the error of a reader of a nested object, unless there is one already.
  void take_error(const Fields& inner);

  const std::optional<ApiError>& error() const { return error_; }

 private:
  const nlohmann::json* find(std::string_view name, bool required);
  void wrong_type(std::string_view name, std::string_view expected);
  std::string full_name(std::string_view name) const;

  const nlohmann::json& body_;
  std::string path_;
  std::optional<ApiError> error_;
};

// `limit` (1 to kMaxPageLimit, default 100) and `next` from the query string.
Result<Page, ApiError> page_of(const Call& call);
// The last value of a query parameter, if given.
std::optional<std::string> query_value(const Call& call, const std::string& name);
// A query parameter that must be a whole number, if given.
Result<std::optional<std::int64_t>, ApiError> integer_query(const Call& call,
                                                            const std::string& name);

// {"items": [...], "next": "..."} (next only when there is more).
template <class T, class ToJson>
nlohmann::json listing_json(const Listing<T>& listing, ToJson to_json) {
  nlohmann::json items = nlohmann::json::array();
  for (const T& item : listing.items) items.push_back(to_json(item));
  nlohmann::json out = {{"items", std::move(items)}};
  if (!listing.next_token.empty()) out["next"] = listing.next_token;
  return out;
}
nlohmann::json names_json(const std::vector<std::string>& names);  // {"items": [...]}

// The JSON form of each record (docs/rest-api.md). Times are RFC 3339 UTC; absent optional
// fields are left out.
std::string time_text(Time time);
nlohmann::json thing_json(const Thing& thing);
nlohmann::json group_json(const ThingGroup& group);
nlohmann::json certificate_json(const CertificateRecord& cert, bool with_pem);
nlohmann::json ca_json(const CaRecord& ca, bool with_pem);
nlohmann::json policy_json(const Policy& policy);
nlohmann::json template_json(const ProvisioningTemplate& spec, bool with_body);
nlohmann::json audit_json(const AuditEntry& entry);

// A registry result as an answer: `status` and to_json(value), or the refusal.
template <class T, class ToJson>
Answer answer(RegistryResult<T>&& result, int status, ToJson to_json) {
  if (!result) return refused(result.error());
  return Reply{status, to_json(*result)};
}
// A registry result without a value as 204 No Content.
Answer no_content(RegistryResult<void>&& result);

}  // namespace ironroot::fleet::rest

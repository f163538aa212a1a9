// The `$ironroot/...` topics: how the fleet service and the broker plugin talk to each other
// through the broker, and which device topics are requests to the reserved (AWS IoT) API. Devices
// can neither publish, subscribe nor receive anything under `$ironroot`; the fleet listener's
// clients (the fleet service) can publish there and receive only the plugin's events and the
// devices' API requests. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ironroot/core/result.hpp"

namespace ironroot::broker {

inline constexpr std::string_view kReservedRoot = "$ironroot";
// `$ironroot/to/<client id>/<topic>`: the fleet service's message for one client only. The
// plugin delivers the payload to that client on <topic>, whether or not it subscribed (as AWS
// IoT delivers replies on reserved topics), and nobody receives the original.
inline constexpr std::string_view kRelayPrefix = "$ironroot/to/";
// Published (any payload) by the fleet service after a registry change that can take a
// permission away (revocation, deactivation, a policy or attachment change): the plugin then
// re-checks every connected device and disconnects those that may no longer connect. Nobody
// receives it.
inline constexpr std::string_view kRegistryChangedTopic = "$ironroot/registry/changed";
// The plugin's notices to the fleet service (only fleet-listener clients receive them):
// `$ironroot/events/certificates/registered/<ca id>` when a certificate that is unknown or
// PENDING_ACTIVATION, issued by a registered ACTIVE CA with auto-registration, tries to connect
// (AWS IoT's just-in-time registration event keys, plus `clientId` and `certificatePem`, which
// the fleet service registers; it then publishes AWS's event itself).
inline constexpr std::string_view kEventsPrefix = "$ironroot/events/";
inline constexpr std::string_view kJustInTimeEventPrefix =
    "$ironroot/events/certificates/registered/";
// `$ironroot/from/<client id>/<certificate id>/<topic>`: a device's request to the reserved API
// (is_api_request), rewritten by the plugin so that only the fleet listener's clients receive it
// and know who sent it: the MQTT client id, and the lower-case hex SHA-256 of the client's DER
// certificate. Nobody receives the original topic.
inline constexpr std::string_view kFromPrefix = "$ironroot/from/";
// The reserved API's topic prefix unless plugin_opt_topic_prefix says otherwise.
inline constexpr std::string_view kDefaultApiPrefix = "$aws";

// True for "$ironroot" and anything under "$ironroot/" (topic names and filters alike).
bool is_reserved(std::string_view topic);

// A filter without its shared-subscription prefix: "$share/<group>/a/b" -> "a/b". Other
// filters unchanged. A "$share/<group>" without a filter stays as it is (it is invalid).
std::string_view without_share_prefix(std::string_view filter);

struct RelayTarget {
  std::string client_id;
  std::string topic;
};

// Reads `$ironroot/to/<client id>/<topic>`. nullopt when `topic` does not start with
// kRelayPrefix; an error when the client id is empty or <topic> is not a valid topic name or is
// itself reserved. Client ids containing '/' cannot be addressed this way.
std::optional<Result<RelayTarget>> parse_relay_topic(std::string_view topic);

// Checks a plugin_opt_topic_prefix value: one or more topic levels ("$aws", "acme/$aws") that
// form a valid topic name, with no empty level and nothing under `$ironroot`.
Status validate_api_prefix(std::string_view prefix);

// True when `topic` is a device's request to the reserved API under `prefix` (a valid
// validate_api_prefix value), which only the fleet service answers:
//   <prefix>/certificates/<...>             (fleet provisioning: create, create-from-csr)
//   <prefix>/provisioning-templates/<...>   (fleet provisioning: provision)
//   <prefix>/things/<thing>/jobs/<...>      (jobs: $next/get, start-next, <job id>/update, get...)
//   <prefix>/things/<thing>/streams/<stream>/get/<format>       (MQTT file streams: GetStream)
//   <prefix>/things/<thing>/streams/<stream>/describe/<format>  (DescribeStream)
// with at least one level after `certificates`, `provisioning-templates` or `jobs`; replies
// (last level `accepted` or `rejected`), the jobs notices (`jobs/notify`, `jobs/notify-next`) and
// the streams' replies (`.../data/<format>`, `.../description/<format>`,
// `.../rejected/<format>`) are not requests. Any other topic (shadows, events, a device's own
// topics) is not.
bool is_api_request(std::string_view topic, std::string_view prefix);

// `$ironroot/from/<client id>/<certificate id>/<topic>`. Fails, saying why, when the client id
// is empty or contains '/' (the fleet service could not tell where it ends), or when the result
// is not a valid topic name (a wildcard or control character in the client id, too long).
Result<std::string> from_topic(std::string_view client_id, std::string_view certificate_id,
                               std::string_view topic);

}  // namespace ironroot::broker

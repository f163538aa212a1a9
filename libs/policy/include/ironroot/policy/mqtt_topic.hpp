// MQTT topic names and topic filters (MQTT 3.1.1 section 4.7, MQTT 5 section 4.7): what the
// broker must check before asking for an authorization decision, and the one matching rule it
// needs for delivery. Pure functions; no broker library behind them.
#pragma once

#include <cstddef>
#include <string_view>

#include "ironroot/core/result.hpp"

namespace ironroot::policy {

// MQTT encodes a topic as a UTF-8 string with a 16-bit length.
inline constexpr std::size_t kMaxTopicBytes = 65535;

// Succeeds when `topic` can be published to: 1 to kMaxTopicBytes bytes of well-formed UTF-8 with
// no U+0000, no control character (U+0001..U+001F, U+007F..U+009F, which MQTT says SHOULD NOT
// appear and Mosquitto refuses) and no wildcard ('+' or '#'). Otherwise fails saying which byte
// is wrong and why.
Status validate_topic_name(std::string_view topic);

// Succeeds when `filter` can be subscribed to: the same character rules as a topic name, with
// '+' allowed only as a whole level ("a/+/c", not "a+/c") and '#' only as the whole last level
// ("a/#", "#", not "a/#/c" or "a#"). Shared-subscription prefixes ("$share/<group>/...") get no
// special treatment: callers strip them first.
Status validate_topic_filter(std::string_view filter);

// True when a message published to `topic` is delivered to a subscription on `filter`: levels
// compare exactly (case-sensitive), '+' matches any one level (including an empty one), '#'
// matches any number of remaining levels including none ("a/#" matches "a"). A topic that starts
// with '$' is not matched by a filter whose first level is '+' or '#' ("#" does not match
// "$aws/things/x"; "$aws/#" does). False when either argument is not valid (see above).
bool topic_matches_filter(std::string_view filter, std::string_view topic);

}  // namespace ironroot::policy

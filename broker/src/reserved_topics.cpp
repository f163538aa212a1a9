#include "reserved_topics.hpp"

#include <vector>

#include "ironroot/policy/mqtt_topic.hpp"

namespace ironroot::broker {

bool is_reserved(std::string_view topic) {
  if (!topic.starts_with(kReservedRoot)) return false;
  return topic.size() == kReservedRoot.size() || topic[kReservedRoot.size()] == '/';
}

std::string_view without_share_prefix(std::string_view filter) {
  constexpr std::string_view kShare = "$share/";
  if (!filter.starts_with(kShare)) return filter;
  std::string_view rest = filter.substr(kShare.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return filter;
  return rest.substr(slash + 1);
}

std::optional<Result<RelayTarget>> parse_relay_topic(std::string_view topic) {
  if (!topic.starts_with(kRelayPrefix)) return std::nullopt;
  std::string_view rest = topic.substr(kRelayPrefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    return Result<RelayTarget>(fail("relay topic '" + std::string(topic) + "' must be " +
                                    std::string(kRelayPrefix) + "<client id>/<topic>"));
  }
  RelayTarget target{std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
  if (auto valid = policy::validate_topic_name(target.topic); !valid) {
    return Result<RelayTarget>(prefixed(valid.error(), "relay topic '" + std::string(topic) + "'"));
  }
  if (is_reserved(target.topic)) {
    return Result<RelayTarget>(
        fail("relay topic '" + std::string(topic) + "' names a reserved topic"));
  }
  return Result<RelayTarget>(std::move(target));
}

namespace {

// `topic` split at '/', every level kept (empty ones included).
std::vector<std::string_view> levels_of(std::string_view topic) {
  std::vector<std::string_view> levels;
  for (;;) {
    auto slash = topic.find('/');
    levels.push_back(topic.substr(0, slash));
    if (slash == std::string_view::npos) return levels;
    topic.remove_prefix(slash + 1);
  }
}

bool is_reply(std::string_view last_level) {
  return last_level == "accepted" || last_level == "rejected";
}

}  // namespace

Status validate_api_prefix(std::string_view prefix) {
  const std::string quoted = "plugin_opt_topic_prefix '" + std::string(prefix) + "'";
  if (auto valid = policy::validate_topic_name(prefix); !valid) {
    return prefixed(valid.error(), quoted);
  }
  for (std::string_view level : levels_of(prefix)) {
    if (level.empty()) return fail(quoted + " has an empty topic level");
  }
  if (is_reserved(prefix)) return fail(quoted + " is under " + std::string(kReservedRoot));
  return {};
}

bool is_api_request(std::string_view topic, std::string_view prefix) {
  if (!topic.starts_with(prefix) || topic.size() <= prefix.size() || topic[prefix.size()] != '/') {
    return false;
  }
  const std::vector<std::string_view> levels = levels_of(topic.substr(prefix.size() + 1));
  if (is_reply(levels.back())) return false;
  if (levels[0] == "certificates" || levels[0] == "provisioning-templates") {
    return levels.size() >= 2;
  }
  if (levels[0] == "things" && levels.size() >= 4 && levels[2] == "jobs") {
    return !(levels.size() == 4 && (levels[3] == "notify" || levels[3] == "notify-next"));
  }
  // MQTT file streams: things/<thing>/streams/<stream>/<get|describe>/<format>; the replies
  // (data, description, rejected) are not requests.
  if (levels[0] == "things" && levels.size() == 6 && levels[2] == "streams") {
    return levels[4] == "get" || levels[4] == "describe";
  }
  return false;
}

Result<std::string> from_topic(std::string_view client_id, std::string_view certificate_id,
                               std::string_view topic) {
  if (client_id.empty()) return fail("an empty client id cannot be named in a topic");
  if (client_id.find('/') != std::string_view::npos) {
    return fail("client id '" + std::string(client_id) + "' contains '/', so " +
                std::string(kFromPrefix) +
                "<client id>/<certificate id>/<topic> could not name it");
  }
  std::string rewritten = std::string(kFromPrefix) + std::string(client_id) + "/" +
                          std::string(certificate_id) + "/" + std::string(topic);
  if (auto valid = policy::validate_topic_name(rewritten); !valid) {
    return prefixed(valid.error(), "the request's topic with the client id '" +
                                       std::string(client_id) + "' and certificate id");
  }
  return rewritten;
}

}  // namespace ironroot::broker

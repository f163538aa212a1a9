#include "ironroot/policy/mqtt_topic.hpp"

#include <string>
#include <vector>

#include "text.hpp"

namespace ironroot::policy {

namespace {

Status check_characters(std::string_view text, std::string_view what) {
  if (text.empty()) return fail(std::string(what) + " is empty");
  if (text.size() > kMaxTopicBytes) {
    return fail(std::string(what) + " is " + std::to_string(text.size()) +
                " bytes, more than MQTT's " + std::to_string(kMaxTopicBytes));
  }
  if (auto problem = detail::utf8_problem(text)) {
    return fail(std::string(what) + " has " + *problem);
  }
  return {};
}

std::vector<std::string_view> levels(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = text.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace

Status validate_topic_name(std::string_view topic) {
  if (auto ok = check_characters(topic, "the topic name"); !ok) return ok;
  const std::size_t wildcard = topic.find_first_of("+#");
  if (wildcard != std::string_view::npos) {
    return fail(std::string("the topic name has the wildcard '") + topic[wildcard] + "' at byte " +
                std::to_string(wildcard) + " (wildcards belong in topic filters only)");
  }
  return {};
}

Status validate_topic_filter(std::string_view filter) {
  if (auto ok = check_characters(filter, "the topic filter"); !ok) return ok;
  const std::vector<std::string_view> parts = levels(filter);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view level = parts[i];
    const std::size_t hash = level.find('#');
    if (hash != std::string_view::npos && (level != "#" || i + 1 != parts.size())) {
      return fail("the topic filter has '#' at byte " + std::to_string(offset + hash) +
                  " that is not the whole last level");
    }
    const std::size_t plus = level.find('+');
    if (plus != std::string_view::npos && level != "+") {
      return fail("the topic filter has '+' at byte " + std::to_string(offset + plus) +
                  " that is not a whole level");
    }
    offset += level.size() + 1;
  }
  return {};
}

bool topic_matches_filter(std::string_view filter, std::string_view topic) {
  if (!validate_topic_filter(filter) || !validate_topic_name(topic)) return false;
  // "$..." topics (broker and $aws reserved topics) are invisible to leading wildcards.
  if (topic.front() == '$' && (filter.front() == '+' || filter.front() == '#')) return false;
  const std::vector<std::string_view> f = levels(filter);
  const std::vector<std::string_view> t = levels(topic);
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

}  // namespace ironroot::policy

#include "ironroot/policy/authorizer.hpp"

#include <algorithm>

#include "compiled.hpp"
#include "ironroot/policy/mqtt_topic.hpp"
#include "text.hpp"

namespace ironroot::policy {

using detail::CompiledResource;
using detail::CompiledStatement;
using detail::Glob;
using detail::ResourceToken;
using detail::Variable;

std::string_view action_name(Action action) {
  switch (action) {
    case Action::connect:
      return "iot:Connect";
    case Action::publish:
      return "iot:Publish";
    case Action::subscribe:
      return "iot:Subscribe";
    case Action::receive:
      return "iot:Receive";
    case Action::retain_publish:
      return "iot:RetainPublish";
  }
  return "iot:Unknown";
}

namespace {

// Reasons quote the resource; a topic can be 64 KiB, a log line should not.
constexpr std::size_t kMaxResourceInReason = 256;

std::string_view resource_type(Action action) {
  switch (action) {
    case Action::connect:
      return "client";
    case Action::subscribe:
      return "topicfilter";
    case Action::publish:
    case Action::receive:
    case Action::retain_publish:
      return "topic";
  }
  return "unknown";
}

Status check_request(const Request& request) {
  switch (request.action) {
    case Action::connect:
      if (request.resource.empty()) return fail("the client ID is empty");
      if (request.resource.size() > kMaxTopicBytes) {
        return fail("the client ID is longer than " + std::to_string(kMaxTopicBytes) + " bytes");
      }
      if (auto problem = detail::utf8_problem(request.resource)) {
        return fail("invalid client ID: " + *problem);
      }
      return {};
    case Action::subscribe:
      if (auto ok = validate_topic_filter(request.resource); !ok) {
        return prefixed(ok.error(), "invalid topic filter");
      }
      return {};
    case Action::publish:
    case Action::receive:
    case Action::retain_publish:
      if (auto ok = validate_topic_name(request.resource); !ok) {
        return prefixed(ok.error(), "invalid topic name");
      }
      return {};
  }
  return fail("unknown action");
}

const std::optional<std::string>& name_attribute(const DistinguishedName& name, std::size_t field) {
  return name.*(detail::kNameAttributes.at(field).member);
}

// The value of a policy variable for this connection, or nullopt when it has none.
std::optional<std::string_view> resolve(const Variable& variable,
                                        const ConnectionContext& context) {
  const auto value = [](const std::optional<std::string>& field) {
    return field ? std::optional<std::string_view>(*field) : std::nullopt;
  };
  switch (variable.kind) {
    case Variable::Kind::client_id:
      return context.client_id;
    case Variable::Kind::certificate_id:
      return value(context.certificate_id);
    case Variable::Kind::thing_name:
      return value(context.thing_name);
    case Variable::Kind::thing_type_name:
      if (!context.thing_name) return std::nullopt;
      return value(context.thing_type_name);
    case Variable::Kind::thing_attribute: {
      if (!context.thing_name) return std::nullopt;
      const auto found = context.thing_attributes.find(variable.name);
      if (found == context.thing_attributes.end()) return std::nullopt;
      return std::string_view(found->second);
    }
    case Variable::Kind::thing_is_attached:
      return context.thing_name ? "true" : "false";
    case Variable::Kind::subject_attribute:
      return value(name_attribute(context.certificate_subject, variable.field));
    case Variable::Kind::issuer_attribute:
      return value(name_attribute(context.certificate_issuer, variable.field));
  }
  return std::nullopt;
}

// Substitutes the variables (as literal text) and matches the result against `typed`
// ("<type>/<resource>"). A variable without a value makes the resource match nothing.
bool resource_matches(const CompiledResource& resource, const ConnectionContext& context,
                      std::string_view typed) {
  if (resource.any) return true;
  Glob glob;
  for (const ResourceToken& token : resource.tokens) {
    switch (token.kind) {
      case ResourceToken::Kind::literal:
        glob.append_literal(token.text);
        break;
      case ResourceToken::Kind::star:
        glob.append_wildcard('*');
        break;
      case ResourceToken::Kind::question:
        glob.append_wildcard('?');
        break;
      case ResourceToken::Kind::variable: {
        const auto value = resolve(token.variable, context);
        if (!value) return false;
        glob.append_literal(*value);
        break;
      }
    }
  }
  return glob_match(glob, typed);
}

std::string describe(const NamedPolicy& policy, std::size_t index, const Statement& statement) {
  std::string text = "policy '" + policy.name + "' Statement[" + std::to_string(index) + "]";
  if (statement.sid) text += " (Sid \"" + *statement.sid + "\")";
  return text;
}

std::string shorten(std::string_view text) {
  if (text.size() <= kMaxResourceInReason) return std::string(text);
  std::size_t cut = kMaxResourceInReason;
  // Do not cut a UTF-8 character in two.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0u) == 0x80u) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

}  // namespace

Decision evaluate(std::span<const NamedPolicy> policies, const ConnectionContext& context,
                  const Request& request) {
  const std::string action(action_name(request.action));
  if (auto ok = check_request(request); !ok) {
    return Decision{false, "refused " + action + ": " + ok.error().message};
  }
  const std::string action_key = detail::ascii_lower(action);
  const std::string typed = std::string(resource_type(request.action)) + "/" + request.resource;
  const std::string what = action + " on " + shorten(typed);

  std::optional<std::string> allowed_by;
  for (const NamedPolicy& policy : policies) {
    const std::vector<CompiledStatement>& compiled =
        detail::DocumentAccess::compiled(policy.document);
    const std::vector<Statement>& statements = policy.document.statements();
    for (std::size_t i = 0; i < compiled.size(); ++i) {
      const CompiledStatement& statement = compiled[i];
      const bool action_matches =
          std::any_of(statement.actions.begin(), statement.actions.end(),
                      [&](const Glob& pattern) { return glob_match(pattern, action_key); });
      if (!action_matches) continue;
      const bool resource_found =
          std::any_of(statement.resources.begin(), statement.resources.end(),
                      [&](const CompiledResource& resource) {
                        return resource_matches(resource, context, typed);
                      });
      if (!resource_found) continue;
      if (statements[i].effect == Effect::deny) {
        // An explicit Deny wins over every Allow: no need to look further.
        return Decision{false,
                        "explicitly denied by " + describe(policy, i, statements[i]) + ": " + what};
      }
      if (!allowed_by) allowed_by = describe(policy, i, statements[i]);
    }
  }
  if (allowed_by) return Decision{true, *allowed_by + " allows " + what};
  return Decision{false, "no policy allows " + what};
}

}  // namespace ironroot::policy

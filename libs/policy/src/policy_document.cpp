#include "ironroot/policy/policy_document.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "compiled.hpp"
#include "text.hpp"

namespace ironroot::policy {

using detail::CompiledResource;
using detail::CompiledStatement;
using detail::Glob;
using detail::ResourceToken;
using detail::Variable;
using json = nlohmann::json;

namespace {

constexpr std::string_view kVersion = "2012-10-17";

// AWS IoT Core's policy actions (lower case, as compared). Only the first five are ever asked
// about by a broker; the others are accepted so that documents written for AWS IoT Core (shadow,
// jobs, retained-message and role-alias permissions) parse unchanged, and never match anything.
constexpr std::array<std::string_view, 21> kKnownActions{
    "iot:connect",
    "iot:publish",
    "iot:subscribe",
    "iot:receive",
    "iot:retainpublish",
    "iot:deleteconnection",
    "iot:getretainedmessage",
    "iot:listretainedmessages",
    "iot:deletethingshadow",
    "iot:getthingshadow",
    "iot:listnamedshadowsforthing",
    "iot:updatethingshadow",
    "iot:assumerolewithcertificate",
    "iot:describejobexecution",
    "iot:getpendingjobexecutions",
    "iot:startnextpendingjobexecution",
    "iot:updatejobexecution",
    "iotjobsdata:describejobexecution",
    "iotjobsdata:getpendingjobexecutions",
    "iotjobsdata:startnextpendingjobexecution",
    "iotjobsdata:updatejobexecution",
};

// The resource types of AWS IoT Core's data-plane actions.
constexpr std::array<std::string_view, 5> kResourceTypes{"client", "topic", "topicfilter", "thing",
                                                         "rolealias"};

constexpr std::size_t kMaxAttributeNameBytes = 128;  // AWS's bound on thing attribute names

// `text` as a JSON string, for messages; bytes that are not UTF-8 show as U+FFFD.
std::string as_json_string(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The checks every Action or Resource string gets before its own rules.
Status check_entry_text(std::string_view text) {
  if (text.empty()) return fail("is empty");
  if (text.size() > kMaxEntryBytes) {
    return fail("is " + std::to_string(text.size()) + " bytes, more than the " +
                std::to_string(kMaxEntryBytes) + " allowed");
  }
  if (auto problem = detail::utf8_problem(text))
    return fail(as_json_string(text) + ": " + *problem);
  return {};
}

Status compile_action(std::string_view text, CompiledStatement& out) {
  if (auto ok = check_entry_text(text); !ok) return ok;
  Glob glob = detail::glob_from_pattern(detail::ascii_lower(text));
  const bool known = std::any_of(kKnownActions.begin(), kKnownActions.end(),
                                 [&](std::string_view action) { return glob_match(glob, action); });
  if (!known) {
    const bool pattern = text.find_first_of("*?") != std::string_view::npos;
    return fail(
        as_json_string(text) +
        (pattern ? " matches no AWS IoT policy action" : " is not an AWS IoT policy action") +
        " (expected \"*\" or iot:<action>, e.g. iot:Connect, iot:Publish, iot:Subscribe, "
        "iot:Receive, iot:RetainPublish, iot:*)");
  }
  out.actions.push_back(std::move(glob));
  return {};
}

Result<ResourceToken> parse_variable(std::string_view name) {
  ResourceToken token;
  if (name == "*" || name == "?" || name == "$") {
    token.kind = ResourceToken::Kind::literal;
    token.text = std::string(name);
    return token;
  }
  const std::string shown = "${" + std::string(name) + "}";
  if (name.find(',') != std::string_view::npos) {
    return fail("policy variable " + shown +
                ": default values (${key, 'default'}) are not supported");
  }
  token.kind = ResourceToken::Kind::variable;
  token.text = shown;
  Variable& variable = token.variable;
  const std::string lower = detail::ascii_lower(name);
  constexpr std::string_view kAttributes = "iot:connection.thing.attributes[";
  constexpr std::string_view kSubject = "iot:certificate.subject.";
  constexpr std::string_view kIssuer = "iot:certificate.issuer.";
  if (lower == "iot:clientid") {
    variable.kind = Variable::Kind::client_id;
  } else if (lower == "iot:certificateid") {
    variable.kind = Variable::Kind::certificate_id;
  } else if (lower == "iot:connection.thing.thingname") {
    variable.kind = Variable::Kind::thing_name;
  } else if (lower == "iot:connection.thing.thingtypename") {
    variable.kind = Variable::Kind::thing_type_name;
  } else if (lower == "iot:connection.thing.isattached") {
    variable.kind = Variable::Kind::thing_is_attached;
  } else if (starts_with(lower, kAttributes) && lower.back() == ']') {
    std::string_view attribute = name.substr(kAttributes.size());
    attribute.remove_suffix(1);
    if (attribute.empty() || attribute.size() > kMaxAttributeNameBytes ||
        attribute.find_first_of("[]") != std::string_view::npos) {
      return fail("policy variable " + shown + ": the attribute name must be 1 to " +
                  std::to_string(kMaxAttributeNameBytes) + " characters without '[' or ']'");
    }
    variable.kind = Variable::Kind::thing_attribute;
    variable.name = std::string(attribute);
  } else if (starts_with(lower, kSubject) || starts_with(lower, kIssuer)) {
    const bool subject = starts_with(lower, kSubject);
    const std::string_view attribute =
        std::string_view(lower).substr(subject ? kSubject.size() : kIssuer.size());
    const auto found = std::find_if(detail::kNameAttributes.begin(), detail::kNameAttributes.end(),
                                    [&](const detail::NameAttribute& a) {
                                      return detail::ascii_lower(a.aws_name) == attribute;
                                    });
    if (found == detail::kNameAttributes.end()) {
      return fail("policy variable " + shown +
                  ": unknown certificate attribute (expected CommonName, SerialNumber, "
                  "Organization, OrganizationalUnit, Country, State, Title, Surname, GivenName, "
                  "Initials, Pseudonym, GenerationQualifier or DistinguishedNameQualifier)");
    }
    variable.kind = subject ? Variable::Kind::subject_attribute : Variable::Kind::issuer_attribute;
    variable.field = static_cast<std::size_t>(found - detail::kNameAttributes.begin());
  } else {
    return fail("unknown policy variable " + shown +
                " (ironroot supports iot:ClientId, iot:CertificateId, "
                "iot:Connection.Thing.{ThingName,ThingTypeName,IsAttached,Attributes[<name>]}, "
                "iot:Certificate.{Subject,Issuer}.<attribute>, and ${*} ${?} ${$})");
  }
  return token;
}

void append_literal(std::vector<ResourceToken>& tokens, std::string_view text) {
  if (text.empty()) return;
  if (tokens.empty() || tokens.back().kind != ResourceToken::Kind::literal) {
    tokens.push_back(ResourceToken{ResourceToken::Kind::literal, {}, {}});
  }
  tokens.back().text.append(text);
}

Result<std::vector<ResourceToken>> tokenize(std::string_view text) {
  std::vector<ResourceToken> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, 2) == "${") {
      const std::size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        return fail("\"${\" at byte " + std::to_string(i) + " has no closing '}'");
      }
      auto token = parse_variable(text.substr(i + 2, close - i - 2));
      if (!token) return tl::unexpected(token.error());
      if (token->kind == ResourceToken::Kind::literal) {
        append_literal(tokens, token->text);
      } else {
        tokens.push_back(std::move(*token));
      }
      i = close + 1;
    } else if (text[i] == '*' || text[i] == '?') {
      tokens.push_back(ResourceToken{
          text[i] == '*' ? ResourceToken::Kind::star : ResourceToken::Kind::question, {}, {}});
      ++i;
    } else {
      const std::size_t next = std::min(text.find_first_of("*?", i), text.find("${", i));
      const std::size_t end = next == std::string_view::npos ? text.size() : next;
      append_literal(tokens, text.substr(i, end - i));
      i = end;
    }
  }
  return tokens;
}

// How a run of tokens reads in a message.
std::string render(const std::vector<ResourceToken>& tokens) {
  std::string out;
  for (const ResourceToken& token : tokens) {
    switch (token.kind) {
      case ResourceToken::Kind::literal:
      case ResourceToken::Kind::variable:
        out += token.text;
        break;
      case ResourceToken::Kind::star:
        out += '*';
        break;
      case ResourceToken::Kind::question:
        out += '?';
        break;
    }
  }
  return out;
}

// Splits the tokens of an ARN at its first five ':' (outside variables) into partition, service,
// region, account and the resource part, which may itself contain ':' (topic names can).
std::vector<std::vector<ResourceToken>> split_arn(const std::vector<ResourceToken>& tokens) {
  std::vector<std::vector<ResourceToken>> segments(1);
  for (const ResourceToken& token : tokens) {
    if (token.kind != ResourceToken::Kind::literal || segments.size() == 6) {
      segments.back().push_back(token);
      continue;
    }
    std::string_view rest = token.text;
    while (segments.size() < 6) {
      const std::size_t colon = rest.find(':');
      if (colon == std::string_view::npos) break;
      append_literal(segments.back(), rest.substr(0, colon));
      segments.emplace_back();
      rest.remove_prefix(colon + 1);
    }
    append_literal(segments.back(), rest);
  }
  return segments;
}

Result<CompiledResource> compile_resource(std::string_view text) {
  if (auto ok = check_entry_text(text); !ok) return tl::unexpected(ok.error());
  CompiledResource resource;
  if (text == "*") {
    resource.any = true;
    return resource;
  }
  auto tokens = tokenize(text);
  if (!tokens) return prefixed(tokens.error(), as_json_string(text));
  auto segments = split_arn(*tokens);
  const auto not_an_arn = [&] {
    return fail(
        as_json_string(text) +
        " is neither \"*\" nor an ARN arn:<partition>:iot:<region>:<account>:<type>/<name>");
  };
  if (segments.size() < 6 || render(segments[0]) != "arn") {
    return not_an_arn();
  }
  // The service must be iot; partition, region and account are not compared (one account).
  Glob service;
  for (const ResourceToken& token : segments[2]) {
    if (token.kind == ResourceToken::Kind::variable) {
      return fail(as_json_string(text) + ": policy variables are not allowed in the service");
    }
    if (token.kind == ResourceToken::Kind::literal) service.append_literal(token.text);
    if (token.kind == ResourceToken::Kind::star) service.append_wildcard('*');
    if (token.kind == ResourceToken::Kind::question) service.append_wildcard('?');
  }
  if (!glob_match(service, "iot")) {
    return fail(as_json_string(text) + ": service " + as_json_string(render(segments[2])) +
                " is not iot");
  }
  std::vector<ResourceToken>& part = segments[5];
  if (part.empty()) return fail(as_json_string(text) + ": the resource after the account is empty");
  // A literal type must be one AWS IoT knows; a wildcard or variable before the '/' covers it.
  if (part.front().kind == ResourceToken::Kind::literal) {
    const std::string& head = part.front().text;
    const std::size_t slash = head.find('/');
    if (slash != std::string::npos) {
      const std::string_view type = std::string_view(head).substr(0, slash);
      if (std::find(kResourceTypes.begin(), kResourceTypes.end(), type) == kResourceTypes.end()) {
        return fail(as_json_string(text) + ": unknown resource type " + as_json_string(type) +
                    " (expected client, topic, topicfilter, thing or rolealias)");
      }
    } else if (part.size() == 1) {
      return fail(as_json_string(text) + ": " + as_json_string(head) +
                  " has no type: expected <type>/<name>");
    }
  }
  resource.tokens = std::move(part);
  return resource;
}

std::string where(std::string_view field, std::size_t index, bool array) {
  return std::string(field) + (array ? "[" + std::to_string(index) + "]" : "");
}

// Accounts for the bytes of the document's strings, against kMaxDocumentBytes.
class Budget {
 public:
  Status spend(std::size_t bytes) {
    used_ += bytes;
    if (used_ > kMaxDocumentBytes) {
      return fail("policy document is larger than " + std::to_string(kMaxDocumentBytes) + " bytes");
    }
    return {};
  }

 private:
  std::size_t used_ = 0;
};

// Reads an Action or Resource field: a string or a non-empty array of strings.
Result<std::vector<std::string>> read_entries(const json& value, std::string_view field,
                                              Budget& budget) {
  std::vector<std::string> entries;
  if (value.is_string()) {
    entries.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    if (value.empty()) return fail(std::string(field) + " is an empty array");
    if (value.size() > kMaxEntriesPerField) {
      return fail(std::string(field) + " has " + std::to_string(value.size()) +
                  " entries, more than the " + std::to_string(kMaxEntriesPerField) + " allowed");
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_string()) return fail(where(field, i, true) + " must be a string");
      entries.push_back(value[i].get<std::string>());
    }
  } else {
    return fail(std::string(field) + " must be a string or an array of strings");
  }
  for (const std::string& entry : entries) {
    if (auto ok = budget.spend(entry.size()); !ok) return tl::unexpected(ok.error());
  }
  return entries;
}

Result<std::string> read_string(const json& value, std::string_view field, Budget& budget) {
  if (!value.is_string()) return fail(std::string(field) + " must be a string");
  std::string text = value.get<std::string>();
  if (auto ok = budget.spend(text.size()); !ok) return tl::unexpected(ok.error());
  return text;
}

Status read_statement(const json& value, const std::string& at, Budget& budget,
                      Statement& statement, CompiledStatement& compiled) {
  if (!value.is_object()) return fail(at + " must be an object");
  const json* effect = nullptr;
  const json* action = nullptr;
  const json* resource = nullptr;
  for (const auto& [key, field] : value.items()) {
    if (key == "Effect") {
      effect = &field;
    } else if (key == "Action") {
      action = &field;
    } else if (key == "Resource") {
      resource = &field;
    } else if (key == "Sid") {
      auto sid = read_string(field, at + ".Sid", budget);
      if (!sid) return tl::unexpected(sid.error());
      if (sid->size() > kMaxEntryBytes || detail::utf8_problem(*sid)) {
        return fail(at + ".Sid must be at most " + std::to_string(kMaxEntryBytes) +
                    " bytes of printable UTF-8");
      }
      statement.sid = std::move(*sid);
    } else if (key == "Condition" || key == "NotAction" || key == "NotResource" ||
               key == "Principal" || key == "NotPrincipal") {
      return fail(at + "." + key +
                  " is not supported by ironroot (a statement has Sid, Effect, Action and "
                  "Resource)");
    } else {
      return fail(at + ": unknown field " + as_json_string(key) +
                  " (a statement has Sid, Effect, Action and Resource)");
    }
  }
  if (effect == nullptr) return fail(at + ".Effect is missing");
  if (action == nullptr) return fail(at + ".Action is missing");
  if (resource == nullptr) return fail(at + ".Resource is missing");

  auto effect_text = read_string(*effect, at + ".Effect", budget);
  if (!effect_text) return tl::unexpected(effect_text.error());
  if (*effect_text == "Allow") {
    statement.effect = Effect::allow;
  } else if (*effect_text == "Deny") {
    statement.effect = Effect::deny;
  } else {
    return fail(at + ".Effect must be \"Allow\" or \"Deny\", not " + as_json_string(*effect_text));
  }

  auto actions = read_entries(*action, at + ".Action", budget);
  if (!actions) return tl::unexpected(actions.error());
  for (std::size_t i = 0; i < actions->size(); ++i) {
    if (auto ok = compile_action((*actions)[i], compiled); !ok) {
      return prefixed(ok.error(), at + "." + where("Action", i, action->is_array()));
    }
  }
  statement.actions = std::move(*actions);

  auto resources = read_entries(*resource, at + ".Resource", budget);
  if (!resources) return tl::unexpected(resources.error());
  for (std::size_t i = 0; i < resources->size(); ++i) {
    auto compiled_resource = compile_resource((*resources)[i]);
    if (!compiled_resource) {
      return prefixed(compiled_resource.error(),
                      at + "." + where("Resource", i, resource->is_array()));
    }
    compiled.resources.push_back(std::move(*compiled_resource));
  }
  statement.resources = std::move(*resources);
  return {};
}

}  // namespace

Result<PolicyDocument> PolicyDocument::parse(std::string_view json_text) {
  if (json_text.size() > kMaxDocumentBytes) {
    return fail("policy document is " + std::to_string(json_text.size()) +
                " bytes, more than the " + std::to_string(kMaxDocumentBytes) + " allowed");
  }
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::exception& e) {
    return fail(std::string("policy document is not valid JSON: ") + e.what());
  }
  return from_json(document);
}

Result<PolicyDocument> PolicyDocument::from_json(const json& document) {
  if (!document.is_object()) return fail("a policy document must be a JSON object");
  Budget budget;
  const json* version = nullptr;
  const json* statements = nullptr;
  PolicyDocument result;
  for (const auto& [key, field] : document.items()) {
    if (key == "Version") {
      version = &field;
    } else if (key == "Statement") {
      statements = &field;
    } else if (key == "Id") {
      auto id = read_string(field, "Id", budget);
      if (!id) return tl::unexpected(id.error());
      if (id->size() > kMaxEntryBytes || detail::utf8_problem(*id)) {
        return fail("Id must be at most " + std::to_string(kMaxEntryBytes) +
                    " bytes of printable UTF-8");
      }
      result.id_ = std::move(*id);
    } else {
      return fail("unknown field " + as_json_string(key) +
                  " (a policy document has Version, Id and Statement)");
    }
  }
  if (version == nullptr) {
    return fail("Version is missing (ironroot reads \"2012-10-17\" policy documents)");
  }
  auto version_text = read_string(*version, "Version", budget);
  if (!version_text) return tl::unexpected(version_text.error());
  if (*version_text != kVersion) {
    return fail("Version " + as_json_string(*version_text) +
                " is not supported: use \"2012-10-17\", the version with policy variables");
  }
  if (statements == nullptr) return fail("Statement is missing");
  const bool array = statements->is_array();
  if (!array && !statements->is_object()) {
    return fail("Statement must be an object or an array of objects");
  }
  if (array && statements->empty()) return fail("Statement is an empty array");
  if (array && statements->size() > kMaxStatements) {
    return fail("Statement has " + std::to_string(statements->size()) +
                " statements, more than the " + std::to_string(kMaxStatements) + " allowed");
  }
  auto compiled = std::make_shared<std::vector<CompiledStatement>>();
  const std::size_t count = array ? statements->size() : 1;
  for (std::size_t i = 0; i < count; ++i) {
    Statement statement;
    CompiledStatement compiled_statement;
    // Statement[i] even for a lone object, so that messages read the same either way.
    if (auto ok = read_statement(array ? (*statements)[i] : *statements,
                                 "Statement[" + std::to_string(i) + "]", budget, statement,
                                 compiled_statement);
        !ok) {
      return tl::unexpected(ok.error());
    }
    result.statements_.push_back(std::move(statement));
    compiled->push_back(std::move(compiled_statement));
  }
  result.compiled_ = std::move(compiled);
  return result;
}

json PolicyDocument::to_json() const {
  json statements = json::array();
  for (const Statement& statement : statements_) {
    json entry = {{"Effect", statement.effect == Effect::allow ? "Allow" : "Deny"},
                  {"Action", statement.actions},
                  {"Resource", statement.resources}};
    if (statement.sid) entry["Sid"] = *statement.sid;
    statements.push_back(std::move(entry));
  }
  json document = {{"Version", kVersion}, {"Statement", std::move(statements)}};
  if (id_) document["Id"] = *id_;
  return document;
}

Status validate_policy_name(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return fail("policy name " + as_json_string(name) + " must be 1 to 128 characters");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("_+=,.@-").find(c) != std::string_view::npos;
    if (!ok) {
      return fail("policy name " + as_json_string(name) +
                  " may only use letters, digits and _+=,.@-");
    }
  }
  return {};
}

}  // namespace ironroot::policy

// Parsing provisioning templates and evaluating them into a provisioning plan.
#include "ironroot/fleet/provisioning_template.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "ironroot/core/bytes.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/fleet/names.hpp"
#include "ironroot/policy/policy_document.hpp"

namespace ironroot::fleet {

namespace {

using nlohmann::json;

constexpr std::string_view kThingType = "AWS::IoT::Thing";
constexpr std::string_view kCertificateType = "AWS::IoT::Certificate";
constexpr std::string_view kPolicyType = "AWS::IoT::Policy";
constexpr int kMaxExpressionDepth = 32;

Error at(const std::string& where, const std::string& message) {
  return Error{where + ": " + message};
}

// Refuses keys of `object` outside `allowed`.
Status only_keys(const json& object, const std::string& where,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& item : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      std::string list;
      for (std::string_view name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
      return tl::unexpected(at(where, "unknown key '" + item.key() + "' (allowed: " + list + ")"));
    }
  }
  return {};
}

Result<OverrideAction> parse_override(const json& value, const std::string& where,
                                      bool merge_allowed) {
  if (!value.is_string()) return tl::unexpected(at(where, "must be a string"));
  const auto& text = value.get_ref<const std::string&>();
  if (text == "DO_NOTHING") return OverrideAction::do_nothing;
  if (text == "REPLACE") return OverrideAction::replace;
  if (text == "FAIL") return OverrideAction::fail;
  if (text == "MERGE") {
    if (!merge_allowed) {
      return tl::unexpected(at(where, "MERGE is valid only for AttributePayload and ThingGroups"));
    }
    return OverrideAction::merge;
  }
  return tl::unexpected(at(where, "'" + text + "' is not one of DO_NOTHING, REPLACE, FAIL, MERGE"));
}

Status check_parameters(const json& section,
                        std::map<std::string, std::optional<std::string>>& out) {
  if (!section.is_object()) return tl::unexpected(Error{"Parameters: must be an object"});
  for (const auto& [name, declaration] : section.items()) {
    const std::string where = "Parameters." + name;
    if (name.empty()) return tl::unexpected(Error{"Parameters: a parameter name is empty"});
    if (!declaration.is_object()) return tl::unexpected(at(where, "must be an object"));
    if (auto ok = only_keys(declaration, where, {"Type", "Default", "Description"}); !ok) {
      return ok;
    }
    auto type = declaration.find("Type");
    if (type == declaration.end() || *type != "String") {
      return tl::unexpected(at(where, "Type must be \"String\", the only parameter type"));
    }
    std::optional<std::string> default_value;
    if (auto found = declaration.find("Default"); found != declaration.end()) {
      if (!found->is_string()) return tl::unexpected(at(where + ".Default", "must be a string"));
      default_value = found->get<std::string>();
    }
    out.emplace(name, std::move(default_value));
  }
  return {};
}

Status check_mappings(const json& section) {
  if (!section.is_object()) return tl::unexpected(Error{"Mappings: must be an object"});
  for (const auto& [map, keys] : section.items()) {
    if (!keys.is_object()) return tl::unexpected(at("Mappings." + map, "must be an object"));
    for (const auto& [key, values] : keys.items()) {
      const std::string where = "Mappings." + map + "." + key;
      if (!values.is_object()) return tl::unexpected(at(where, "must be an object"));
      for (const auto& [name, value] : values.items()) {
        const bool strings =
            value.is_string() ||
            (value.is_array() && std::all_of(value.begin(), value.end(), [](const json& element) {
               return element.is_string();
             }));
        if (!strings) {
          return tl::unexpected(at(where + "." + name,
                                   "must be a string or a list of strings (no functions in "
                                   "Mappings)"));
        }
      }
    }
  }
  return {};
}

Status check_resource(const std::string& name, const json& resource, std::string_view type) {
  const std::string where = "Resources." + name;
  const json& properties = resource.at("Properties");
  const json* overrides =
      resource.contains("OverrideSettings") ? &resource["OverrideSettings"] : nullptr;
  if (overrides && !overrides->is_object()) {
    return tl::unexpected(at(where + ".OverrideSettings", "must be an object"));
  }
  if (type == kThingType) {
    if (auto ok = only_keys(
            properties, where + ".Properties",
            {"ThingName", "AttributePayload", "ThingTypeName", "ThingGroups", "BillingGroup"});
        !ok) {
      return ok;
    }
    if (!properties.contains("ThingName")) {
      return tl::unexpected(at(where + ".Properties", "ThingName is required"));
    }
    if (overrides) {
      if (auto ok = only_keys(*overrides, where + ".OverrideSettings",
                              {"AttributePayload", "ThingTypeName", "ThingGroups"});
          !ok) {
        return ok;
      }
      for (const auto& [key, value] : overrides->items()) {
        if (auto ok =
                parse_override(value, where + ".OverrideSettings." + key, key != "ThingTypeName");
            !ok) {
          return tl::unexpected(ok.error());
        }
      }
    }
  } else if (type == kCertificateType) {
    for (std::string_view unsupported :
         {"CertificateSigningRequest", "CertificatePem", "CACertificatePem"}) {
      if (properties.contains(unsupported)) {
        return tl::unexpected(at(where + ".Properties." + std::string(unsupported),
                                 "not supported: fleet and just-in-time provisioning templates "
                                 "name the certificate by CertificateId ({\"Ref\": "
                                 "\"AWS::IoT::Certificate::Id\"})"));
      }
    }
    if (auto ok = only_keys(properties, where + ".Properties", {"CertificateId", "Status"}); !ok) {
      return ok;
    }
    if (!properties.contains("CertificateId")) {
      return tl::unexpected(at(where + ".Properties", "CertificateId is required"));
    }
    if (overrides) {
      if (auto ok = only_keys(*overrides, where + ".OverrideSettings", {"Status"}); !ok) return ok;
      if (overrides->contains("Status")) {
        if (auto ok =
                parse_override((*overrides)["Status"], where + ".OverrideSettings.Status", false);
            !ok) {
          return tl::unexpected(ok.error());
        }
      }
    }
  } else {
    if (auto ok = only_keys(properties, where + ".Properties", {"PolicyName", "PolicyDocument"});
        !ok) {
      return ok;
    }
    if (properties.contains("PolicyName") == properties.contains("PolicyDocument")) {
      return tl::unexpected(
          at(where + ".Properties", "give either PolicyName or PolicyDocument (not both)"));
    }
    if (overrides) {
      return tl::unexpected(at(where, "OverrideSettings are not available for policies"));
    }
  }
  return {};
}

// Evaluates expressions with a bound on everything it produces.
class Evaluator {
 public:
  Evaluator(const TemplateParameters& parameters, const json& mappings)
      : parameters_(parameters), mappings_(mappings) {}

  Result<json> value(const json& node, const std::string& where, int depth = 0) {
    if (depth > kMaxExpressionDepth) {
      return tl::unexpected(
          at(where, "nested more than " + std::to_string(kMaxExpressionDepth) + " levels deep"));
    }
    if (node.is_object() && node.size() == 1) {
      const std::string& name = node.begin().key();
      const json& argument = node.begin().value();
      if (name == "Ref") return ref(argument, where);
      if (name == "Fn::Join") return join(argument, where + ".Fn::Join", depth);
      if (name == "Fn::Split") return split(argument, where + ".Fn::Split", depth);
      if (name == "Fn::Select") return select(argument, where + ".Fn::Select", depth);
      if (name == "Fn::FindInMap") return find_in_map(argument, where + ".Fn::FindInMap", depth);
      if (name == "Fn::Sub") return sub(argument, where + ".Fn::Sub", depth);
      if (name.rfind("Fn::", 0) == 0) {
        return tl::unexpected(at(where, "unknown function " + name +
                                            " (known: Ref, Fn::Join, Fn::Split, Fn::Select, "
                                            "Fn::FindInMap, Fn::Sub)"));
      }
    }
    if (node.is_object()) {
      json out = json::object();
      for (const auto& [key, element] : node.items()) {
        auto evaluated = value(element, where + "." + key, depth + 1);
        if (!evaluated) return evaluated;
        out[key] = std::move(*evaluated);
      }
      return out;
    }
    if (node.is_array()) {
      json out = json::array();
      for (std::size_t i = 0; i < node.size(); ++i) {
        auto evaluated = value(node[i], where + "[" + std::to_string(i) + "]", depth + 1);
        if (!evaluated) return evaluated;
        out.push_back(std::move(*evaluated));
      }
      return out;
    }
    if (node.is_string()) return produce(node.get<std::string>(), where);
    return node;
  }

  Result<std::string> string(const json& node, const std::string& where, int depth = 0) {
    auto evaluated = value(node, where, depth);
    if (!evaluated) return tl::unexpected(evaluated.error());
    if (!evaluated->is_string()) {
      return tl::unexpected(at(where, "must be a string, not " + evaluated->dump()));
    }
    return evaluated->get<std::string>();
  }

  Result<std::vector<std::string>> strings(const json& node, const std::string& where,
                                           int depth = 0) {
    auto evaluated = value(node, where, depth);
    if (!evaluated) return tl::unexpected(evaluated.error());
    if (!evaluated->is_array()) return tl::unexpected(at(where, "must be a list of strings"));
    std::vector<std::string> out;
    for (const json& element : *evaluated) {
      if (!element.is_string()) {
        return tl::unexpected(at(where, "must be a list of strings, not " + evaluated->dump()));
      }
      out.push_back(element.get<std::string>());
    }
    return out;
  }

 private:
  Result<json> produce(std::string text, const std::string& where) {
    if (text.size() > kMaxTemplateStringLength) {
      return tl::unexpected(at(where, "gives a string of " + std::to_string(text.size()) +
                                          " characters; the limit is " +
                                          std::to_string(kMaxTemplateStringLength)));
    }
    produced_ += text.size();
    if (produced_ > kMaxTemplateOutput) {
      return tl::unexpected(at(where, "the template gives more than " +
                                          std::to_string(kMaxTemplateOutput) +
                                          " characters in all"));
    }
    return json(std::move(text));
  }

  Result<std::string> lookup(const std::string& name, const std::string& where) {
    auto found = parameters_.find(name);
    if (found == parameters_.end()) {
      if (name.rfind(kPseudoParameterPrefix, 0) == 0) {
        return tl::unexpected(
            at(where, "pseudo-parameter " + name + " has no value for this provisioning"));
      }
      return tl::unexpected(at(where, "'" + name + "' is not a declared parameter"));
    }
    return found->second;
  }

  Result<json> ref(const json& argument, const std::string& where) {
    if (!argument.is_string()) return tl::unexpected(at(where + ".Ref", "must name a parameter"));
    auto found = lookup(argument.get<std::string>(), where + ".Ref");
    if (!found) return tl::unexpected(found.error());
    return produce(*found, where);
  }

  Result<json> join(const json& argument, const std::string& where, int depth) {
    if (!argument.is_array() || argument.size() != 2 || !argument[0].is_string()) {
      return tl::unexpected(at(where, "takes [\"<delimiter>\", [<values>]]"));
    }
    auto values = strings(argument[1], where + "[1]", depth + 1);
    if (!values) return tl::unexpected(values.error());
    std::string out;
    const auto& delimiter = argument[0].get_ref<const std::string&>();
    for (std::size_t i = 0; i < values->size(); ++i) {
      if (i > 0) out += delimiter;
      out += (*values)[i];
      if (out.size() > kMaxTemplateStringLength) break;  // produce() refuses it
    }
    return produce(std::move(out), where);
  }

  Result<json> split(const json& argument, const std::string& where, int depth) {
    if (!argument.is_array() || argument.size() != 2 || !argument[0].is_string() ||
        argument[0].get_ref<const std::string&>().empty()) {
      return tl::unexpected(at(where, "takes [\"<non-empty delimiter>\", <string>]"));
    }
    auto source = string(argument[1], where + "[1]", depth + 1);
    if (!source) return tl::unexpected(source.error());
    const auto& delimiter = argument[0].get_ref<const std::string&>();
    json out = json::array();
    std::size_t start = 0;
    for (;;) {
      const std::size_t found = source->find(delimiter, start);
      auto piece = produce(source->substr(start, found - start), where);
      if (!piece) return piece;
      out.push_back(std::move(*piece));
      if (found == std::string::npos) break;
      start = found + delimiter.size();
    }
    return out;
  }

  Result<json> select(const json& argument, const std::string& where, int depth) {
    if (!argument.is_array() || argument.size() != 2) {
      return tl::unexpected(at(where, "takes [<index>, <list>]"));
    }
    std::size_t index = 0;
    if (argument[0].is_number_unsigned()) {
      index = argument[0].get<std::size_t>();
    } else {
      auto text = string(argument[0], where + "[0]", depth + 1);
      if (!text) return tl::unexpected(text.error());
      auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), index);
      if (ec != std::errc() || end != text->data() + text->size() || text->empty()) {
        return tl::unexpected(at(where + "[0]", "'" + *text + "' is not an index"));
      }
    }
    auto list = value(argument[1], where + "[1]", depth + 1);
    if (!list) return list;
    if (!list->is_array()) return tl::unexpected(at(where + "[1]", "must be a list"));
    if (index >= list->size()) {
      return tl::unexpected(at(where, "index " + std::to_string(index) + " is out of range (" +
                                          std::to_string(list->size()) + " elements)"));
    }
    if ((*list)[index].is_null()) return tl::unexpected(at(where, "selects a null element"));
    return (*list)[index];
  }

  Result<json> find_in_map(const json& argument, const std::string& where, int depth) {
    if (!argument.is_array() || argument.size() != 3) {
      return tl::unexpected(at(where, "takes [<map>, <key>, <key>]"));
    }
    std::string keys[3];
    for (std::size_t i = 0; i < 3; ++i) {
      auto key = string(argument[i], where + "[" + std::to_string(i) + "]", depth + 1);
      if (!key) return tl::unexpected(key.error());
      keys[i] = std::move(*key);
    }
    const json* node = &mappings_;
    for (const std::string& key : keys) {
      if (!node->is_object() || !node->contains(key)) {
        return tl::unexpected(at(where, "Mappings has no " + keys[0] + "." + keys[1] + "." +
                                            keys[2] + " ('" + key + "' is missing)"));
      }
      node = &(*node)[key];
    }
    return *node;
  }

  Result<json> sub(const json& argument, const std::string& where, int depth) {
    const json* text = &argument;
    std::map<std::string, std::string> variables;
    if (argument.is_array()) {
      if (argument.size() != 2 || !argument[1].is_object()) {
        return tl::unexpected(at(where, "takes \"<text>\" or [\"<text>\", {<variables>}]"));
      }
      text = &argument[0];
      for (const auto& [name, node] : argument[1].items()) {
        auto evaluated = string(node, where + "[1]." + name, depth + 1);
        if (!evaluated) return tl::unexpected(evaluated.error());
        variables[name] = std::move(*evaluated);
      }
    }
    if (!text->is_string()) return tl::unexpected(at(where, "the text must be a string"));
    const auto& input = text->get_ref<const std::string&>();
    std::string out;
    std::size_t position = 0;
    for (;;) {
      const std::size_t open = input.find("${", position);
      out += input.substr(position, open - position);
      if (open == std::string::npos) break;
      const std::size_t close = input.find('}', open + 2);
      if (close == std::string::npos) {
        return tl::unexpected(at(where, "'${' without a closing '}'"));
      }
      const std::string name = input.substr(open + 2, close - open - 2);
      if (!name.empty() && name[0] == '!') {
        out += "${" + name.substr(1) + "}";
      } else if (auto variable = variables.find(name); variable != variables.end()) {
        out += variable->second;
      } else {
        auto found = lookup(name, where);
        if (!found) return tl::unexpected(found.error());
        out += *found;
      }
      if (out.size() > kMaxTemplateStringLength) break;  // produce() refuses it
      position = close + 1;
    }
    return produce(std::move(out), where);
  }

  const TemplateParameters& parameters_;
  const json& mappings_;
  std::size_t produced_ = 0;
};

std::optional<CertificateStatus> parse_status(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (text == "ACTIVE") return CertificateStatus::active;
  if (text == "INACTIVE") return CertificateStatus::inactive;
  return std::nullopt;
}

OverrideAction override_of(const json& resource, std::string_view property) {
  auto overrides = resource.find("OverrideSettings");
  if (overrides == resource.end() || !overrides->contains(property)) {
    return OverrideAction::do_nothing;
  }
  const std::string& text = (*overrides)[std::string(property)].get_ref<const std::string&>();
  if (text == "REPLACE") return OverrideAction::replace;
  if (text == "FAIL") return OverrideAction::fail;
  if (text == "MERGE") return OverrideAction::merge;
  return OverrideAction::do_nothing;
}

}  // namespace

Result<ProvisioningTemplateBody> ProvisioningTemplateBody::parse(std::string_view json_text) {
  if (auto ok = check_json_object("provisioning template", json_text, kMaxTemplateBodyLength);
      !ok) {
    return tl::unexpected(ok.error());
  }
  ProvisioningTemplateBody body;
  body.body_ = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!body.body_.is_object()) return fail("provisioning template: not a JSON object");
  if (auto ok = only_keys(body.body_, "template",
                          {"Parameters", "Mappings", "Resources", "DeviceConfiguration"});
      !ok) {
    return tl::unexpected(ok.error());
  }
  if (body.body_.contains("Parameters")) {
    if (auto ok = check_parameters(body.body_["Parameters"], body.parameters_); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  if (body.body_.contains("Mappings")) {
    if (auto ok = check_mappings(body.body_["Mappings"]); !ok) return tl::unexpected(ok.error());
  } else {
    body.body_["Mappings"] = json::object();
  }
  if (body.body_.contains("DeviceConfiguration") &&
      !body.body_["DeviceConfiguration"].is_object()) {
    return fail("DeviceConfiguration: must be an object");
  }
  auto resources = body.body_.find("Resources");
  if (resources == body.body_.end() || !resources->is_object()) {
    return fail("Resources: required, an object of resources");
  }
  for (const auto& [name, resource] : resources->items()) {
    const std::string where = "Resources." + name;
    if (!resource.is_object()) return fail(where + ": must be an object");
    if (auto ok = only_keys(resource, where, {"Type", "Properties", "OverrideSettings"}); !ok) {
      return tl::unexpected(ok.error());
    }
    auto type = resource.find("Type");
    if (type == resource.end() || !type->is_string()) {
      return fail(where + ".Type: required, a string");
    }
    const auto& type_name = type->get_ref<const std::string&>();
    if (type_name != kThingType && type_name != kCertificateType && type_name != kPolicyType) {
      return fail(where + ".Type: '" + type_name +
                  "' is not AWS::IoT::Thing, AWS::IoT::Certificate or AWS::IoT::Policy");
    }
    if (!resource.contains("Properties") || !resource["Properties"].is_object()) {
      return fail(where + ".Properties: required, an object");
    }
    if (auto ok = check_resource(name, resource, type_name); !ok) {
      return tl::unexpected(ok.error());
    }
    std::string& single =
        type_name == kThingType ? body.thing_resource_ : body.certificate_resource_;
    if (type_name == kPolicyType) {
      body.policy_resources_.push_back(name);
    } else if (!single.empty()) {
      return fail("Resources: more than one " + type_name + " (" + single + ", " + name + ")");
    } else {
      single = name;
    }
  }
  if (body.thing_resource_.empty()) return fail("Resources: an AWS::IoT::Thing is required");
  if (body.certificate_resource_.empty()) {
    return fail("Resources: an AWS::IoT::Certificate is required");
  }
  return body;
}

Result<TemplateOutcome> ProvisioningTemplateBody::apply(const TemplateParameters& given) const {
  TemplateParameters values;
  for (const auto& [name, value] : given) {
    if (name.rfind(kPseudoParameterPrefix, 0) == 0) values[name] = value;
  }
  for (const auto& [name, default_value] : parameters_) {
    if (auto found = given.find(name); found != given.end()) {
      values[name] = found->second;
    } else if (default_value) {
      values[name] = *default_value;
    } else {
      return fail("parameter '" + name + "' is required: it has no value and no Default");
    }
  }
  Evaluator evaluate(values, body_["Mappings"]);
  TemplateOutcome outcome;
  ProvisioningPlan& plan = outcome.plan;
  const json& resources = body_["Resources"];

  const json& thing = resources[thing_resource_];
  const json& thing_properties = thing["Properties"];
  const std::string thing_where = "Resources." + thing_resource_ + ".Properties";
  auto thing_name = evaluate.string(thing_properties["ThingName"], thing_where + ".ThingName");
  if (!thing_name) return tl::unexpected(thing_name.error());
  plan.thing.name = std::move(*thing_name);
  if (thing_properties.contains("AttributePayload")) {
    auto payload =
        evaluate.value(thing_properties["AttributePayload"], thing_where + ".AttributePayload");
    if (!payload) return tl::unexpected(payload.error());
    if (!payload->is_object()) return fail(thing_where + ".AttributePayload: must be an object");
    Attributes attributes;
    for (const auto& [name, value] : payload->items()) {
      if (!value.is_string()) {
        return fail(thing_where + ".AttributePayload." + name + ": must be a string");
      }
      attributes[name] = value.get<std::string>();
    }
    plan.thing.attributes = std::move(attributes);
    plan.thing.attributes_override = override_of(thing, "AttributePayload");
  }
  if (thing_properties.contains("ThingTypeName")) {
    auto type = evaluate.string(thing_properties["ThingTypeName"], thing_where + ".ThingTypeName");
    if (!type) return tl::unexpected(type.error());
    plan.thing.thing_type = std::move(*type);
    plan.thing.thing_type_override = override_of(thing, "ThingTypeName");
  }
  if (thing_properties.contains("ThingGroups")) {
    auto groups = evaluate.strings(thing_properties["ThingGroups"], thing_where + ".ThingGroups");
    if (!groups) return tl::unexpected(groups.error());
    plan.thing.groups = std::move(*groups);
    plan.thing.groups_override = override_of(thing, "ThingGroups");
  }
  if (thing_properties.contains("BillingGroup")) {
    // Evaluated so that a wrong expression is still an error; ironroot has no billing groups.
    auto billing = evaluate.string(thing_properties["BillingGroup"], thing_where + ".BillingGroup");
    if (!billing) return tl::unexpected(billing.error());
  }

  const json& certificate = resources[certificate_resource_];
  const std::string certificate_where = "Resources." + certificate_resource_ + ".Properties";
  auto certificate_id = evaluate.string(certificate["Properties"]["CertificateId"],
                                        certificate_where + ".CertificateId");
  if (!certificate_id) return tl::unexpected(certificate_id.error());
  plan.certificate_id = std::move(*certificate_id);
  if (certificate["Properties"].contains("Status")) {
    auto text = evaluate.string(certificate["Properties"]["Status"], certificate_where + ".Status");
    if (!text) return tl::unexpected(text.error());
    auto status = parse_status(*text);
    if (!status)
      return fail(certificate_where + ".Status: '" + *text + "' is not ACTIVE or INACTIVE");
    plan.certificate_status = *status;
  }
  plan.status_override = override_of(certificate, "Status");

  for (const std::string& name : policy_resources_) {
    const json& properties = resources[name]["Properties"];
    const std::string where = "Resources." + name + ".Properties";
    PolicyProvisioning policy;
    if (properties.contains("PolicyName")) {
      auto policy_name = evaluate.string(properties["PolicyName"], where + ".PolicyName");
      if (!policy_name) return tl::unexpected(policy_name.error());
      if (auto ok = check_policy_name(*policy_name); !ok) return prefixed(ok.error(), where);
      policy.name = std::move(*policy_name);
    } else {
      auto document = evaluate.value(properties["PolicyDocument"], where + ".PolicyDocument");
      if (!document) return tl::unexpected(document.error());
      json parsed = *document;
      if (document->is_string()) {
        parsed = json::parse(document->get<std::string>(), nullptr, /*allow_exceptions=*/false);
      }
      if (!parsed.is_object()) {
        return fail(where + ".PolicyDocument: must be a JSON object (or its text)");
      }
      if (auto ok = policy::PolicyDocument::from_json(parsed); !ok) {
        return prefixed(ok.error(), where + ".PolicyDocument");
      }
      policy.document = parsed.dump();
      policy.name = to_hex(crypto::sha256(as_bytes(*policy.document)));
    }
    plan.policies.push_back(std::move(policy));
  }

  if (body_.contains("DeviceConfiguration")) {
    for (const auto& [key, node] : body_["DeviceConfiguration"].items()) {
      auto text = evaluate.string(node, "DeviceConfiguration." + key);
      if (!text) return tl::unexpected(text.error());
      outcome.device_configuration[key] = std::move(*text);
    }
  }
  return outcome;
}

}  // namespace ironroot::fleet

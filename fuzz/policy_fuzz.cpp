// Fuzzes the policy document parser (operator input, and documents arriving through the REST
// API): it must never crash, whatever it accepts must come back unchanged through its canonical
// JSON, and evaluating it must never crash either, whatever the request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ironroot/policy/authorizer.hpp"
#include "ironroot/policy/policy_document.hpp"

namespace {

using namespace ironroot::policy;

const ConnectionContext& context() {
  static const ConnectionContext value = [] {
    ConnectionContext c;
    c.client_id = "dev*?";
    c.thing_name = "dev*?";
    c.thing_type_name = "Lamp";
    c.thing_attributes = {{"floor", "3"}};
    c.certificate_id = "9f86d081";
    c.certificate_subject.common_name = "dev";
    return c;
  }();
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto document = PolicyDocument::parse(text);
  if (!document) return 0;

  auto again = PolicyDocument::from_json(document->to_json());
  if (!again || !(*again == *document)) std::abort();

  const NamedPolicy policies[] = {NamedPolicy{"fuzz", *document}};
  for (const Request& request :
       {Request{Action::connect, "dev*?"}, Request{Action::publish, "dev*?/a/b"},
        Request{Action::subscribe, "$aws/things/dev*?/#"}, Request{Action::receive, "a"},
        Request{Action::retain_publish, "\xC3\xA9/x"}}) {
    const Decision decision = evaluate(policies, context(), request);
    if (decision.reason.empty()) std::abort();
  }
  return 0;
}

// Authorization decisions as AWS IoT Core makes them: AWS's documented example policies, default
// deny, Deny over Allow, wildcards, policy variables (escaped, and unresolved), and requests that
// are not valid MQTT.
#include "ironroot/policy/authorizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ironroot/policy/mqtt_topic.hpp"

namespace ironroot::policy {
namespace {

using ::testing::HasSubstr;

NamedPolicy policy(std::string name, std::string_view text) {
  auto document = PolicyDocument::parse(text);
  if (!document) {
    ADD_FAILURE() << name << ": " << document.error().message;
    return NamedPolicy{std::move(name), PolicyDocument{}};
  }
  return NamedPolicy{std::move(name), std::move(*document)};
}

// A policy with one Allow statement.
NamedPolicy allow(std::string_view action, std::string_view resource) {
  return policy("p", R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ")" +
                         std::string(action) + R"(", "Resource": ")" + std::string(resource) +
                         R"("}]})");
}

ConnectionContext thing_connection(std::string thing) {
  ConnectionContext context;
  context.client_id = thing;
  context.thing_name = thing;
  return context;
}

bool allowed(const std::vector<NamedPolicy>& policies, const ConnectionContext& context,
             Action action, std::string resource) {
  return evaluate(policies, context, Request{action, std::move(resource)}).allowed;
}

// AWS's pattern for a fleet: one policy, each device limited to its own client ID and topics.
constexpr std::string_view kDevicePolicy = R"({
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
    {"Effect": "Allow", "Action": "iot:Publish",
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/dt/${iot:Connection.Thing.ThingName}/*",
                  "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"]},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/cmd/${iot:Connection.Thing.ThingName}/*",
                  "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"]},
    {"Effect": "Allow", "Action": "iot:Receive",
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/cmd/${iot:Connection.Thing.ThingName}/*",
                  "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"]}
  ]})";

TEST(Authorizer, DevicePolicyKeepsEachThingToItsOwnTopics) {
  const std::vector<NamedPolicy> policies{policy("device-policy", kDevicePolicy)};
  const ConnectionContext sensor = thing_connection("sensor-1");

  EXPECT_TRUE(allowed(policies, sensor, Action::connect, "sensor-1"));
  EXPECT_FALSE(allowed(policies, sensor, Action::connect, "sensor-2"));

  EXPECT_TRUE(allowed(policies, sensor, Action::publish, "dt/sensor-1/temperature"));
  EXPECT_TRUE(allowed(policies, sensor, Action::publish, "dt/sensor-1/a/b/c"));
  EXPECT_TRUE(allowed(policies, sensor, Action::publish, "$aws/things/sensor-1/jobs/get"));
  EXPECT_FALSE(allowed(policies, sensor, Action::publish, "dt/sensor-2/temperature"));
  EXPECT_FALSE(allowed(policies, sensor, Action::publish, "dt/sensor-1"));  // "/*" needs a '/'
  EXPECT_FALSE(allowed(policies, sensor, Action::publish, "dt/sensor-10/temperature"));
  EXPECT_FALSE(allowed(policies, sensor, Action::publish, "$aws/things/sensor-2/jobs/get"));

  EXPECT_TRUE(allowed(policies, sensor, Action::subscribe, "cmd/sensor-1/#"));
  EXPECT_TRUE(
      allowed(policies, sensor, Action::subscribe, "$aws/things/sensor-1/jobs/notify-next"));
  EXPECT_FALSE(allowed(policies, sensor, Action::subscribe, "cmd/+/#"));
  EXPECT_FALSE(allowed(policies, sensor, Action::subscribe, "#"));
  EXPECT_TRUE(allowed(policies, sensor, Action::receive, "cmd/sensor-1/reboot"));
  EXPECT_FALSE(allowed(policies, sensor, Action::receive, "cmd/sensor-2/reboot"));

  // A certificate attached to no thing: ThingName has no value, so nothing matches.
  ConnectionContext orphan;
  orphan.client_id = "sensor-1";
  EXPECT_FALSE(allowed(policies, orphan, Action::connect, "sensor-1"));
  EXPECT_FALSE(allowed(policies, orphan, Action::publish, "dt/sensor-1/temperature"));
}

// AWS's fleet-provisioning claim policy: the shared claim certificate may only reach the
// provisioning topics of one template.
constexpr std::string_view kClaimPolicy = R"({
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create/*",
                  "arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create-from-csr/*",
                  "arn:aws:iot:us-east-1:123456789012:topic/$aws/provisioning-templates/FleetTemplate/provision/*"]},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": ["arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/certificates/create/*",
                  "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/certificates/create-from-csr/*",
                  "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/provisioning-templates/FleetTemplate/provision/*"]}
  ]})";

TEST(Authorizer, ClaimPolicyAllowsOnlyProvisioningTopics) {
  const std::vector<NamedPolicy> policies{policy("claim", kClaimPolicy)};
  ConnectionContext claim;  // a claim certificate is attached to no thing
  claim.client_id = "factory-7f3a";

  EXPECT_TRUE(allowed(policies, claim, Action::connect, "factory-7f3a"));
  for (const char* topic : {"$aws/certificates/create/json", "$aws/certificates/create/cbor",
                            "$aws/certificates/create-from-csr/json",
                            "$aws/provisioning-templates/FleetTemplate/provision/json"}) {
    EXPECT_TRUE(allowed(policies, claim, Action::publish, topic)) << topic;
    EXPECT_TRUE(allowed(policies, claim, Action::receive, std::string(topic) + "/accepted"))
        << topic;
    EXPECT_TRUE(allowed(policies, claim, Action::subscribe, std::string(topic) + "/rejected"))
        << topic;
  }
  EXPECT_TRUE(allowed(policies, claim, Action::subscribe, "$aws/certificates/create/json/+"));
  EXPECT_FALSE(allowed(policies, claim, Action::publish,
                       "$aws/provisioning-templates/OtherTemplate/provision/json"));
  EXPECT_FALSE(allowed(policies, claim, Action::publish, "$aws/certificates/create"));
  EXPECT_FALSE(allowed(policies, claim, Action::publish, "$aws/things/t1/jobs/get"));
  EXPECT_FALSE(allowed(policies, claim, Action::subscribe, "#"));
  EXPECT_FALSE(allowed(policies, claim, Action::subscribe, "$aws/#"));
  EXPECT_FALSE(allowed(policies, claim, Action::retain_publish, "$aws/certificates/create/json"));
}

TEST(Authorizer, DefaultDenyAndReasons) {
  const std::vector<NamedPolicy> policies{
      policy("device-policy", R"({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
        {"Sid": "Telemetry", "Effect": "Allow", "Action": "iot:Publish",
         "Resource": "arn:aws:iot:*:*:topic/dt/*"}]})")};
  const ConnectionContext context = thing_connection("t1");

  Decision yes = evaluate(policies, context, Request{Action::publish, "dt/x"});
  EXPECT_TRUE(yes.allowed);
  EXPECT_EQ(yes.reason,
            "policy 'device-policy' Statement[1] (Sid \"Telemetry\") allows iot:Publish on "
            "topic/dt/x");

  Decision connect = evaluate(policies, context, Request{Action::connect, "t1"});
  EXPECT_TRUE(connect.allowed);
  EXPECT_EQ(connect.reason, "policy 'device-policy' Statement[0] allows iot:Connect on client/t1");

  Decision no = evaluate(policies, context, Request{Action::subscribe, "dt/x"});
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.reason, "no policy allows iot:Subscribe on topicfilter/dt/x");

  Decision none = evaluate({}, context, Request{Action::connect, "t1"});
  EXPECT_FALSE(none.allowed);
  EXPECT_EQ(none.reason, "no policy allows iot:Connect on client/t1");

  const std::vector<NamedPolicy> empty{NamedPolicy{"empty", PolicyDocument{}}};
  EXPECT_FALSE(allowed(empty, context, Action::connect, "t1"));
}

TEST(Authorizer, ExplicitDenyOverridesAllowInAnyOrder) {
  const NamedPolicy everything = allow("iot:*", "*");
  const NamedPolicy quarantine = policy("quarantine", R"({"Version": "2012-10-17", "Statement": [
      {"Effect": "Deny", "Action": "iot:Connect", "Resource": "arn:aws:iot:*:*:client/x"},
      {"Sid": "NoSecrets", "Effect": "Deny", "Action": ["iot:Publish", "iot:Receive"],
       "Resource": "arn:aws:iot:*:*:topic/secret/*"}]})");
  const ConnectionContext context = thing_connection("t1");
  for (const auto& policies : {std::vector<NamedPolicy>{everything, quarantine},
                               std::vector<NamedPolicy>{quarantine, everything}}) {
    Decision denied = evaluate(policies, context, Request{Action::publish, "secret/plans"});
    EXPECT_FALSE(denied.allowed);
    EXPECT_EQ(denied.reason,
              "explicitly denied by policy 'quarantine' Statement[1] (Sid \"NoSecrets\"): "
              "iot:Publish on topic/secret/plans");
    EXPECT_FALSE(allowed(policies, context, Action::receive, "secret/plans"));
    EXPECT_TRUE(allowed(policies, context, Action::subscribe, "secret/plans"));
    EXPECT_TRUE(allowed(policies, context, Action::publish, "public/plans"));
  }
  // Deny and Allow in one document.
  const std::vector<NamedPolicy> one{policy("mixed", R"({"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:*:*:topic/*"},
      {"Effect": "Deny", "Action": "iot:Publish", "Resource": "arn:aws:iot:*:*:topic/admin/*"}]})")};
  EXPECT_TRUE(allowed(one, context, Action::publish, "telemetry"));
  EXPECT_FALSE(allowed(one, context, Action::publish, "admin/reset"));
}

TEST(Authorizer, EachActionHasItsOwnPermissionAndResourceType) {
  const ConnectionContext context = thing_connection("t1");
  // iot:Publish does not grant iot:RetainPublish; AWS asks for both on a retained message.
  const std::vector<NamedPolicy> publish{allow("iot:Publish", "arn:aws:iot:*:*:topic/a")};
  EXPECT_TRUE(allowed(publish, context, Action::publish, "a"));
  EXPECT_FALSE(allowed(publish, context, Action::retain_publish, "a"));
  EXPECT_FALSE(allowed(publish, context, Action::receive, "a"));
  const std::vector<NamedPolicy> both{allow("iot:*Publish", "arn:aws:iot:*:*:topic/a")};
  EXPECT_TRUE(allowed(both, context, Action::publish, "a"));
  EXPECT_TRUE(allowed(both, context, Action::retain_publish, "a"));
  // A topic resource does not grant a subscription, a topicfilter resource does not grant a
  // publish, and neither grants a connection.
  const std::vector<NamedPolicy> topics{allow("iot:*", "arn:aws:iot:*:*:topic/*")};
  EXPECT_FALSE(allowed(topics, context, Action::subscribe, "a"));
  EXPECT_FALSE(allowed(topics, context, Action::connect, "t1"));
  const std::vector<NamedPolicy> filters{allow("iot:*", "arn:aws:iot:*:*:topicfilter/*")};
  EXPECT_TRUE(allowed(filters, context, Action::subscribe, "a"));
  EXPECT_FALSE(allowed(filters, context, Action::publish, "a"));
  // Actions compare without regard to case; non-MQTT actions grant nothing here.
  EXPECT_TRUE(allowed({allow("IOT:PUBLISH", "*")}, context, Action::publish, "a"));
  EXPECT_FALSE(allowed({allow("iot:GetThingShadow", "*")}, context, Action::publish, "a"));
  EXPECT_TRUE(allowed({allow("*", "*")}, context, Action::subscribe, "#"));
}

TEST(Authorizer, RegionAndAccountAreNotCompared) {
  const ConnectionContext context = thing_connection("t1");
  for (const char* resource :
       {"arn:aws:iot:us-east-1:123456789012:topic/a", "arn:aws-cn:iot:cn-north-1:999:topic/a",
        "arn:aws:iot:*:*:topic/a", "arn:aws:iot:::topic/a"}) {
    EXPECT_TRUE(allowed({allow("iot:Publish", resource)}, context, Action::publish, "a"))
        << resource;
  }
}

TEST(Authorizer, WildcardsMatchAcrossLevelsAndOneCharacter) {
  const ConnectionContext context = thing_connection("t1");
  const std::vector<NamedPolicy> star{allow("iot:Publish", "arn:aws:iot:*:*:topic/a/*/z")};
  EXPECT_TRUE(allowed(star, context, Action::publish, "a/b/z"));
  EXPECT_TRUE(allowed(star, context, Action::publish, "a/b/c/d/z"));  // '*' is not one level
  EXPECT_TRUE(allowed(star, context, Action::publish, "a//z"));
  EXPECT_FALSE(allowed(star, context, Action::publish, "a/b/zz"));
  EXPECT_FALSE(allowed(star, context, Action::publish, "A/b/z"));  // case-sensitive

  const std::vector<NamedPolicy> question{allow("iot:Publish", "arn:aws:iot:*:*:topic/room??")};
  EXPECT_TRUE(allowed(question, context, Action::publish, "room12"));
  EXPECT_TRUE(allowed(question, context, Action::publish, "room/1"));
  EXPECT_TRUE(allowed(question, context, Action::publish, "room\xC3\xA9\xE2\x82\xAC"));  // "é€"
  EXPECT_FALSE(allowed(question, context, Action::publish, "room1"));
  EXPECT_FALSE(allowed(question, context, Action::publish, "room123"));
  EXPECT_FALSE(allowed(question, context, Action::publish, "room\xC3\xA9"));  // one character

  const std::vector<NamedPolicy> all{allow("iot:Connect", "arn:aws:iot:*:*:client/*")};
  EXPECT_TRUE(allowed(all, context, Action::connect, "anything-at-all"));
  const std::vector<NamedPolicy> anything{allow("iot:Publish", "arn:aws:iot:*:*:*")};
  EXPECT_TRUE(allowed(anything, context, Action::publish, "x/y"));
}

TEST(Authorizer, MqttWildcardsInResourcesAreLiteral) {
  const ConnectionContext context = thing_connection("t1");
  const std::vector<NamedPolicy> plus{allow("iot:Subscribe", "arn:aws:iot:*:*:topicfilter/a/+")};
  EXPECT_TRUE(allowed(plus, context, Action::subscribe, "a/+"));
  EXPECT_FALSE(allowed(plus, context, Action::subscribe, "a/b"));
  const std::vector<NamedPolicy> hash{allow("iot:Subscribe", "arn:aws:iot:*:*:topicfilter/a/#")};
  EXPECT_TRUE(allowed(hash, context, Action::subscribe, "a/#"));
  EXPECT_FALSE(allowed(hash, context, Action::subscribe, "a/b"));
  EXPECT_FALSE(allowed(hash, context, Action::subscribe, "a/+"));
  // A subscription to a wider filter needs a resource that covers that filter's text.
  const std::vector<NamedPolicy> prefix{allow("iot:Subscribe", "arn:aws:iot:*:*:topicfilter/a/*")};
  EXPECT_TRUE(allowed(prefix, context, Action::subscribe, "a/#"));
  EXPECT_FALSE(allowed(prefix, context, Action::subscribe, "#"));
}

TEST(Authorizer, VariableValuesAreNeverWildcards) {
  const std::vector<NamedPolicy> policies{
      allow("iot:Publish", "arn:aws:iot:*:*:topic/${iot:ClientId}/data"),
      allow("iot:Connect", "arn:aws:iot:*:*:client/${iot:ClientId}")};
  ConnectionContext star;
  star.client_id = "dev*";
  EXPECT_TRUE(allowed(policies, star, Action::publish, "dev*/data"));
  EXPECT_FALSE(allowed(policies, star, Action::publish, "devil/data"));
  EXPECT_FALSE(allowed(policies, star, Action::publish, "dev/data"));
  EXPECT_TRUE(allowed(policies, star, Action::connect, "dev*"));
  EXPECT_FALSE(allowed(policies, star, Action::connect, "device-2"));

  ConnectionContext question;
  question.client_id = "d?v";
  EXPECT_TRUE(allowed(policies, question, Action::publish, "d?v/data"));
  EXPECT_FALSE(allowed(policies, question, Action::publish, "dev/data"));

  // ${*} and ${?} write a literal '*' or '?' into a pattern; ${$} a literal '$'.
  const std::vector<NamedPolicy> escaped{
      allow("iot:Publish", "arn:aws:iot:*:*:topic/a${*}b${?}/${$}{x}")};
  const ConnectionContext context = thing_connection("t1");
  EXPECT_TRUE(allowed(escaped, context, Action::publish, "a*b?/${x}"));
  EXPECT_FALSE(allowed(escaped, context, Action::publish, "azzb?/${x}"));
  EXPECT_FALSE(allowed(escaped, context, Action::publish, "a*bc/${x}"));
}

TEST(Authorizer, ThingVariablesResolveOnlyWithAnAttachedThing) {
  const std::vector<NamedPolicy> policies{
      allow("iot:Publish",
            "arn:aws:iot:*:*:topic/building/${iot:Connection.Thing.Attributes[building]}/"
            "${iot:Connection.Thing.ThingTypeName}/${iot:Connection.Thing.ThingName}"),
      allow("iot:Subscribe",
            "arn:aws:iot:*:*:topicfilter/attached/${iot:Connection.Thing.IsAttached}")};
  ConnectionContext context = thing_connection("lamp-7");
  context.thing_type_name = "Lamp";
  context.thing_attributes = {{"building", "B12"}, {"floor", "3"}};
  EXPECT_TRUE(allowed(policies, context, Action::publish, "building/B12/Lamp/lamp-7"));
  EXPECT_FALSE(allowed(policies, context, Action::publish, "building/B13/Lamp/lamp-7"));
  EXPECT_TRUE(allowed(policies, context, Action::subscribe, "attached/true"));
  EXPECT_FALSE(allowed(policies, context, Action::subscribe, "attached/false"));

  // A missing attribute, or a missing thing type, leaves the variable unresolved.
  ConnectionContext no_attribute = context;
  no_attribute.thing_attributes.erase("building");
  EXPECT_FALSE(allowed(policies, no_attribute, Action::publish, "building//Lamp/lamp-7"));
  EXPECT_FALSE(allowed(policies, no_attribute, Action::publish,
                       "building/${iot:Connection.Thing.Attributes[building]}/Lamp/lamp-7"));
  ConnectionContext no_type = context;
  no_type.thing_type_name.reset();
  EXPECT_FALSE(allowed(policies, no_type, Action::publish, "building/B12//lamp-7"));

  // Without a thing, thing type and attributes have no value even if the context holds them.
  ConnectionContext detached = context;
  detached.thing_name.reset();
  EXPECT_FALSE(allowed(policies, detached, Action::publish, "building/B12/Lamp/lamp-7"));
  EXPECT_TRUE(allowed(policies, detached, Action::subscribe, "attached/false"));

  // Attribute names are case-sensitive; variable names are not.
  EXPECT_FALSE(allowed(
      {allow("iot:Publish", "arn:aws:iot:*:*:topic/${iot:Connection.Thing.Attributes[Building]}")},
      context, Action::publish, "B12"));
  EXPECT_TRUE(allowed(
      {allow("iot:Publish", "arn:aws:iot:*:*:topic/${IOT:CONNECTION.THING.ATTRIBUTES[building]}")},
      context, Action::publish, "B12"));
}

TEST(Authorizer, CertificateVariables) {
  const std::vector<NamedPolicy> policies{
      allow("iot:Publish",
            "arn:aws:iot:*:*:topic/${iot:Certificate.Issuer.Organization}/"
            "${iot:Certificate.Subject.CommonName}/${iot:Certificate.Subject.SerialNumber}"),
      allow("iot:Subscribe", "arn:aws:iot:*:*:topicfilter/cert/${iot:CertificateId}/#")};
  ConnectionContext context;
  context.client_id = "c1";
  context.certificate_subject.common_name = "LightBulb";
  context.certificate_subject.serial_number = "123";
  context.certificate_issuer.organization = "IoT Devices";
  context.certificate_id = "9f86d081884c7d65";
  EXPECT_TRUE(allowed(policies, context, Action::publish, "IoT Devices/LightBulb/123"));
  EXPECT_FALSE(allowed(policies, context, Action::publish, "IoT Devices/LightBulb/124"));
  EXPECT_TRUE(allowed(policies, context, Action::subscribe, "cert/9f86d081884c7d65/#"));
  EXPECT_FALSE(allowed(policies, context, Action::subscribe, "cert/0000/#"));

  // A certificate without the attribute: the resource matches nothing.
  ConnectionContext no_serial = context;
  no_serial.certificate_subject.serial_number.reset();
  EXPECT_FALSE(allowed(policies, no_serial, Action::publish, "IoT Devices/LightBulb/"));
  ConnectionContext no_id = context;
  no_id.certificate_id.reset();
  EXPECT_FALSE(allowed(policies, no_id, Action::subscribe, "cert//#"));
}

TEST(Authorizer, UnresolvedVariableMakesADenyNotApplyEither) {
  // IAM's rule, which AWS IoT Core follows: a resource whose variable has no value matches
  // nothing, so this Deny does not fire for a certificate without a thing.
  const std::vector<NamedPolicy> policies{
      allow("iot:Publish", "*"),
      policy("deny-own", R"({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
          "Action": "iot:Publish",
          "Resource": "arn:aws:iot:*:*:topic/locked/${iot:Connection.Thing.ThingName}"}]})")};
  EXPECT_FALSE(allowed(policies, thing_connection("t1"), Action::publish, "locked/t1"));
  ConnectionContext orphan;
  orphan.client_id = "t1";
  EXPECT_TRUE(allowed(policies, orphan, Action::publish, "locked/t1"));
}

TEST(Authorizer, RefusesRequestsThatAreNotValidMqtt) {
  const std::vector<NamedPolicy> policies{allow("*", "*")};
  const ConnectionContext context = thing_connection("t1");
  struct Bad {
    Action action;
    std::string resource;
    const char* reason;
  };
  const Bad cases[] = {
      {Action::connect, "", "refused iot:Connect: the client ID is empty"},
      {Action::connect, "a\x01", "refused iot:Connect: invalid client ID: control character"},
      {Action::connect, std::string(kMaxTopicBytes + 1, 'c'), "longer than 65535 bytes"},
      {Action::publish, "a/+",
       "refused iot:Publish: invalid topic name: the topic name has the "
       "wildcard '+' at byte 2"},
      {Action::receive, "#", "refused iot:Receive: invalid topic name"},
      {Action::retain_publish, "",
       "refused iot:RetainPublish: invalid topic name: the topic "
       "name is empty"},
      {Action::subscribe, "a/#/b", "refused iot:Subscribe: invalid topic filter"},
      {Action::publish, "a\xFF", "invalid UTF-8 at byte 1"},
  };
  for (const Bad& c : cases) {
    Decision decision = evaluate(policies, context, Request{c.action, c.resource});
    EXPECT_FALSE(decision.allowed) << c.reason;
    EXPECT_THAT(decision.reason, HasSubstr(c.reason));
  }
}

TEST(Authorizer, ReasonsQuoteLongResourcesShortened) {
  const std::vector<NamedPolicy> policies{allow("iot:Publish", "*")};
  const std::string topic = "t/" + std::string(1000, 'x');
  Decision decision = evaluate(policies, thing_connection("t1"), Request{Action::publish, topic});
  EXPECT_TRUE(decision.allowed);
  EXPECT_LT(decision.reason.size(), 400u);
  EXPECT_THAT(decision.reason, HasSubstr("allows iot:Publish on topic/t/xxx"));
  EXPECT_THAT(decision.reason, HasSubstr("..."));
}

TEST(Authorizer, ActionNames) {
  EXPECT_EQ(action_name(Action::connect), "iot:Connect");
  EXPECT_EQ(action_name(Action::publish), "iot:Publish");
  EXPECT_EQ(action_name(Action::subscribe), "iot:Subscribe");
  EXPECT_EQ(action_name(Action::receive), "iot:Receive");
  EXPECT_EQ(action_name(Action::retain_publish), "iot:RetainPublish");
}

}  // namespace
}  // namespace ironroot::policy

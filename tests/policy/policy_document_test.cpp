// Reading AWS IoT Core policy documents: what is accepted, what comes out, and a clear error for
// each way a document can be wrong.
#include "ironroot/policy/policy_document.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace ironroot::policy {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// A one-statement document with the given Action and Resource JSON values.
std::string document_with(const std::string& action, const std::string& resource) {
  return R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": )" + action +
         R"(, "Resource": )" + resource + "}]}";
}

// The error message for `text`, or a failure when it parses.
std::string error_of(std::string_view text) {
  auto document = PolicyDocument::parse(text);
  if (document) return "<parsed>";
  return document.error().message;
}

TEST(PolicyDocument, ParsesAnAwsDevicePolicy) {
  auto document = PolicyDocument::parse(R"({
    "Version": "2012-10-17",
    "Id": "device-policy",
    "Statement": [
      {"Sid": "Connect", "Effect": "Allow", "Action": "iot:Connect",
       "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
      {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
       "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/dt/${iot:Connection.Thing.ThingName}/*"]},
      {"Effect": "Deny", "Action": ["iot:*"], "Resource": ["*"]}
    ]})");
  ASSERT_TRUE(document) << document.error().message;
  EXPECT_EQ(document->id(), "device-policy");
  ASSERT_EQ(document->statements().size(), 3u);
  const Statement& first = document->statements()[0];
  EXPECT_EQ(first.sid, "Connect");
  EXPECT_EQ(first.effect, Effect::allow);
  EXPECT_EQ(first.actions, std::vector<std::string>{"iot:Connect"});
  EXPECT_EQ(first.resources, std::vector<std::string>{"arn:aws:iot:us-east-1:123456789012:client/"
                                                      "${iot:Connection.Thing.ThingName}"});
  EXPECT_EQ(document->statements()[1].actions,
            (std::vector<std::string>{"iot:Publish", "iot:Receive"}));
  EXPECT_FALSE(document->statements()[1].sid);
  EXPECT_EQ(document->statements()[2].effect, Effect::deny);
}

TEST(PolicyDocument, AcceptsALoneStatementObject) {
  auto document = PolicyDocument::parse(
      R"({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iot:Connect",
          "Resource": "*"}})");
  ASSERT_TRUE(document) << document.error().message;
  ASSERT_EQ(document->statements().size(), 1u);
  EXPECT_EQ(document->statements()[0].resources, std::vector<std::string>{"*"});
}

TEST(PolicyDocument, CanonicalJsonParsesBackToTheSameDocument) {
  auto document = PolicyDocument::parse(
      R"({"Version": "2012-10-17", "Id": "x", "Statement": {"Sid": "s", "Effect": "Deny",
          "Action": "iot:Publish", "Resource": "arn:aws:iot:*:*:topic/a/${iot:ClientId}"}})");
  ASSERT_TRUE(document) << document.error().message;
  const json canonical = document->to_json();
  EXPECT_TRUE(canonical["Statement"].is_array());
  EXPECT_TRUE(canonical["Statement"][0]["Action"].is_array());
  auto again = PolicyDocument::from_json(canonical);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, *document);
  auto from_text = PolicyDocument::parse(canonical.dump());
  ASSERT_TRUE(from_text) << from_text.error().message;
  EXPECT_EQ(*from_text, *document);
}

TEST(PolicyDocument, AcceptsTheActionsAndResourcesOfAwsIotPolicies) {
  const char* actions[] = {
      R"("*")",
      R"("iot:*")",
      R"("IOT:publish")",  // IAM compares actions without regard to case
      R"("iot:*Publish")",
      R"("iot:Re?eive")",
      R"(["iot:Connect", "iot:Subscribe", "iot:RetainPublish"])",
      R"("iot:GetThingShadow")",  // not an MQTT action: accepted, never asked about
      R"("iot:AssumeRoleWithCertificate")",
      R"("iotjobsdata:DescribeJobExecution")",
  };
  for (const char* action : actions) {
    EXPECT_EQ(error_of(document_with(action, R"("*")")), "<parsed>") << action;
  }
  const char* resources[] = {
      R"("*")",
      R"("arn:aws:iot:us-east-1:123456789012:client/my-client")",
      R"("arn:aws:iot:*:*:topic/*")",
      R"("arn:aws-cn:iot:cn-north-1:123456789012:topicfilter/a/+/#")",
      R"("arn:aws:iot:eu-west-1:999999999999:thing/t1")",
      R"("arn:aws:iot:us-east-1:123456789012:rolealias/ota")",
      R"("arn:aws:iot:us-east-1:123456789012:*")",
      R"("arn:aws:iot:us-east-1:123456789012:top*")",
      R"("arn:aws:*:us-east-1:123456789012:topic/x")",
      R"("arn:aws:iot:r:a:topic/with:colons:in/the/name")",
      R"("arn:aws:iot:r:a:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*")",
      R"("arn:aws:iot:r:a:topic/${iot:clientid}/${IOT:CERTIFICATEID}")",
      R"("arn:aws:iot:r:a:topic/${iot:Connection.Thing.Attributes[Floor-1]}/${iot:Connection.Thing.ThingTypeName}")",
      R"("arn:aws:iot:r:a:topic/${iot:Connection.Thing.IsAttached}")",
      R"("arn:aws:iot:r:a:topic/${iot:Certificate.Subject.CommonName}/${iot:Certificate.Issuer.Organization}")",
      R"("arn:aws:iot:r:a:topic/${iot:Certificate.Subject.serialnumber}")",
      R"("arn:aws:iot:r:a:topic/literal${*}${?}${$}")",
      R"(["arn:aws:iot:r:a:client/c1", "arn:aws:iot:r:a:topic/t1"])",
  };
  for (const char* resource : resources) {
    EXPECT_EQ(error_of(document_with(R"("iot:*")", resource)), "<parsed>") << resource;
  }
}

struct BadDocument {
  std::string text;
  const char* error;  // a part of the expected message
};

TEST(PolicyDocument, RefusesMalformedDocumentsSayingWhereAndWhy) {
  const std::string ok_statement =
      R"({"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"})";
  const BadDocument cases[] = {
      // Not a document.
      {"", "not valid JSON"},
      {R"({"Version": "2012-10-17", )", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"("Version")", "must be a JSON object"},
      // Top level.
      {R"({"Statement": [)" + ok_statement + "]}", "Version is missing"},
      {R"({"Version": "2008-10-17", "Statement": [)" + ok_statement + "]}",
       "Version \"2008-10-17\" is not supported"},
      {R"({"Version": 2012, "Statement": [)" + ok_statement + "]}", "Version must be a string"},
      {R"({"Version": "2012-10-17"})", "Statement is missing"},
      {R"({"Version": "2012-10-17", "Statement": []})", "Statement is an empty array"},
      {R"({"Version": "2012-10-17", "Statement": "x"})", "Statement must be an object or an array"},
      {R"({"Version": "2012-10-17", "Statement": [)" + ok_statement + R"(], "Extra": 1})",
       "unknown field \"Extra\""},
      {R"({"Version": "2012-10-17", "Id": 7, "Statement": [)" + ok_statement + "]}",
       "Id must be a string"},
      // Statements.
      {R"({"Version": "2012-10-17", "Statement": [)" + ok_statement + R"(, 5]})",
       "Statement[1] must be an object"},
      {R"({"Version": "2012-10-17", "Statement": [{"Action": "iot:Connect", "Resource": "*"}]})",
       "Statement[0].Effect is missing"},
      {R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]})",
       "Statement[0].Action is missing"},
      {R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]})",
       "Statement[0].Resource is missing"},
      {R"({"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]})",
       "Statement[0].Effect must be \"Allow\" or \"Deny\", not \"allow\""},
      {R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
           "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}}]})",
       "Statement[0].Condition is not supported"},
      {R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "iot:Connect", "Action": "*", "Resource": "*"}]})",
       "Statement[0].NotAction is not supported"},
      {R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "NotResource": "*", "Resource": "*"}]})",
       "Statement[0].NotResource is not supported"},
      {R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})",
       "Statement[0].Principal is not supported"},
      {R"({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Sids": "x"}]})",
       "Statement[0]: unknown field \"Sids\""},
      {R"({"Version": "2012-10-17", "Statement": [{"Sid": 1, "Effect": "Allow", "Action": "*", "Resource": "*"}]})",
       "Statement[0].Sid must be a string"},
      // Actions.
      {document_with("[]", R"("*")"), "Statement[0].Action is an empty array"},
      {document_with("7", R"("*")"), "Statement[0].Action must be a string or an array"},
      {document_with(R"(["iot:Connect", 7])", R"("*")"), "Statement[0].Action[1] must be a string"},
      {document_with(R"(["iot:Connect", "iot:Publsh"])", R"("*")"),
       "Statement[0].Action[1]: \"iot:Publsh\" is not an AWS IoT policy action"},
      {document_with(R"("iot:Foo*")", R"("*")"),
       "Statement[0].Action: \"iot:Foo*\" matches no AWS IoT policy action"},
      {document_with(R"("s3:GetObject")", R"("*")"), "is not an AWS IoT policy action"},
      {document_with(R"("")", R"("*")"), "Statement[0].Action: is empty"},
      // Resources.
      {document_with(R"("*")", "[]"), "Statement[0].Resource is an empty array"},
      {document_with(R"("*")", R"({"a": 1})"),
       "Statement[0].Resource must be a string or an array"},
      {document_with(R"("*")", R"(["*", "topic/x"])"),
       "Statement[0].Resource[1]: \"topic/x\" is neither \"*\" nor an ARN"},
      {document_with(R"("*")", R"("arn:aws:iot:us-east-1:123")"), "is neither \"*\" nor an ARN"},
      {document_with(R"("*")", R"("urn:aws:iot:r:a:topic/x")"), "is neither \"*\" nor an ARN"},
      {document_with(R"("*")", R"("arn:aws:s3:::bucket/key")"), "service \"s3\" is not iot"},
      {document_with(R"("*")", R"("arn:aws:${iot:ClientId}:r:a:topic/x")"),
       "policy variables are not allowed in the service"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:topics/x")"),
       "unknown resource type \"topics\""},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:client")"),
       "\"client\" has no type: expected <type>/<name>"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:")"), "the resource after the account is empty"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:topic/${iot:ClientId")"),
       "\"${\" at byte 22 has no closing '}'"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:topic/${aws:SourceIp}")"),
       "unknown policy variable ${aws:SourceIp}"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:topic/${}")"), "unknown policy variable ${}"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:topic/${iot:ClientId, 'x'}")"),
       "default values (${key, 'default'}) are not supported"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:topic/${iot:Connection.Thing.Attributes[]}")"),
       "the attribute name must be 1 to 128 characters"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:topic/${iot:Certificate.Subject.Locality}")"),
       "unknown certificate attribute"},
      {document_with(R"("*")", R"("arn:aws:iot:r:a:topic/a\u0007b")"),
       "control character U+0007 at byte 23"},
      {document_with(R"("*")",
                     "\"arn:aws:iot:r:a:topic/" + std::string(kMaxEntryBytes, 'x') + "\""),
       "more than the 2048 allowed"},
  };
  for (const BadDocument& c : cases) {
    EXPECT_THAT(error_of(c.text), HasSubstr(c.error)) << c.text;
  }
}

TEST(PolicyDocument, NamesTheStatementThatIsWrong) {
  auto document = PolicyDocument::parse(R"({"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
      {"Effect": "Allow", "Action": "iot:Publish", "Resource": ["arn:aws:iot:r:a:topic/ok",
                                                                 "arn:aws:iot:r:a:topik/bad"]}]})");
  ASSERT_FALSE(document);
  EXPECT_THAT(document.error().message,
              HasSubstr("Statement[1].Resource[1]: \"arn:aws:iot:r:a:topik/bad\": unknown resource "
                        "type \"topik\""));
}

TEST(PolicyDocument, BoundsSizeAndCounts) {
  // The text bound, checked before parsing.
  std::string big = document_with(R"("*")", R"("*")");
  big.insert(big.size() - 1, std::string(kMaxDocumentBytes, ' '));
  EXPECT_THAT(error_of(big), HasSubstr("more than the 20480 allowed"));

  // Statements and entries.
  json document = {{"Version", "2012-10-17"}, {"Statement", json::array()}};
  for (std::size_t i = 0; i <= kMaxStatements; ++i) {
    document["Statement"].push_back({{"Effect", "Allow"}, {"Action", "*"}, {"Resource", "*"}});
  }
  auto too_many = PolicyDocument::from_json(document);
  ASSERT_FALSE(too_many);
  EXPECT_THAT(too_many.error().message, HasSubstr("Statement has 101 statements"));

  json statement = {{"Effect", "Allow"}, {"Action", "*"}, {"Resource", json::array()}};
  for (std::size_t i = 0; i <= kMaxEntriesPerField; ++i) {
    statement["Resource"].push_back("arn:aws:iot:r:a:topic/" + std::to_string(i));
  }
  auto too_many_entries =
      PolicyDocument::from_json({{"Version", "2012-10-17"}, {"Statement", {statement}}});
  ASSERT_FALSE(too_many_entries);
  EXPECT_THAT(too_many_entries.error().message,
              HasSubstr("Statement[0].Resource has 101 entries, more than the 100 allowed"));

  // An already-parsed document is bounded by the bytes of its strings.
  json heavy = {{"Version", "2012-10-17"}, {"Statement", json::array()}};
  for (int i = 0; i < 20; ++i) {
    json resources = json::array();
    for (int k = 0; k < 10; ++k) {
      resources.push_back("arn:aws:iot:r:a:topic/" + std::string(200, 'a'));
    }
    heavy["Statement"].push_back({{"Effect", "Allow"}, {"Action", "*"}, {"Resource", resources}});
  }
  auto over_budget = PolicyDocument::from_json(heavy);
  ASSERT_FALSE(over_budget);
  EXPECT_THAT(over_budget.error().message, HasSubstr("larger than 20480 bytes"));
}

TEST(PolicyDocument, RefusesDeepNestingAndBadUtf8WithoutCrashing) {
  const std::string deep = std::string(10'000, '[') + std::string(10'000, ']');
  EXPECT_THAT(error_of(deep), HasSubstr("must be a JSON object"));
  EXPECT_THAT(error_of(document_with(R"("*")", "\"arn:aws:iot:r:a:topic/\xff\"")),
              HasSubstr("not valid JSON"));
  // A document built in memory can hold bytes that are not UTF-8.
  json document = {
      {"Version", "2012-10-17"},
      {"Statement",
       {{{"Effect", "Allow"}, {"Action", "*"}, {"Resource", "arn:aws:iot:r:a:topic/\xC3"}}}}};
  auto parsed = PolicyDocument::from_json(document);
  ASSERT_FALSE(parsed);
  EXPECT_THAT(parsed.error().message, HasSubstr("truncated UTF-8 sequence at byte 22"));
}

TEST(PolicyDocument, DefaultConstructedHasNoStatements) {
  PolicyDocument document;
  EXPECT_TRUE(document.statements().empty());
  EXPECT_FALSE(document.id());
}

TEST(ValidatePolicyName, FollowsAwsNameRules) {
  for (const char* name : {"device-policy", "a", "Claim_Policy+v2=1,x.y@z"}) {
    EXPECT_TRUE(validate_policy_name(name)) << name;
  }
  EXPECT_TRUE(validate_policy_name(std::string(128, 'p')));
  EXPECT_FALSE(validate_policy_name(""));
  EXPECT_FALSE(validate_policy_name(std::string(129, 'p')));
  for (const char* name : {"has space", "slash/name", "star*", "quote'"}) {
    auto ok = validate_policy_name(name);
    ASSERT_FALSE(ok) << name;
    EXPECT_THAT(ok.error().message, HasSubstr("may only use letters, digits and _+=,.@-"));
  }
}

}  // namespace
}  // namespace ironroot::policy

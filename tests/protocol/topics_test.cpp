#include "ironroot/protocol/topics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ironroot::protocol {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const TopicPrefix kAws;

ProvisioningTopic topic(ProvisioningApi kind, std::string name, PayloadFormat format,
                        Reply reply = Reply::none) {
  return ProvisioningTopic{kind, std::move(name), format, reply};
}

TEST(TopicPrefix, DefaultsToAwsAndRefusesWildcardsAndTrailingSlash) {
  EXPECT_EQ(kAws.str(), "$aws");
  auto custom = TopicPrefix::create("fleet/$aws");
  ASSERT_TRUE(custom) << custom.error().message;
  EXPECT_EQ(custom->str(), "fleet/$aws");
  EXPECT_THAT(TopicPrefix::create("").error().message, HasSubstr("empty"));
  EXPECT_THAT(TopicPrefix::create("a/+").error().message, HasSubstr("wildcard"));
  EXPECT_THAT(TopicPrefix::create("#").error().message, HasSubstr("wildcard"));
  EXPECT_THAT(TopicPrefix::create("a\nb").error().message, HasSubstr("control character"));
  EXPECT_THAT(TopicPrefix::create(std::string_view("a\0b", 3)).error().message,
              HasSubstr("control character"));
  EXPECT_THAT(TopicPrefix::create("$aws/").error().message, HasSubstr("must not end with '/'"));
  EXPECT_FALSE(TopicPrefix::create(std::string(257, 'a')));
}

TEST(ProvisioningTopics, BuildTheDocumentedTopics) {
  EXPECT_EQ(*provisioning_topic(
                kAws, topic(ProvisioningApi::create_keys_and_certificate, "", PayloadFormat::json)),
            "$aws/certificates/create/json");
  EXPECT_EQ(*provisioning_topic(kAws, topic(ProvisioningApi::create_certificate_from_csr, "",
                                            PayloadFormat::cbor, Reply::accepted)),
            "$aws/certificates/create-from-csr/cbor/accepted");
  EXPECT_EQ(*provisioning_topic(kAws, topic(ProvisioningApi::register_thing, "Fleet_tmpl-1",
                                            PayloadFormat::cbor, Reply::rejected)),
            "$aws/provisioning-templates/Fleet_tmpl-1/provision/cbor/rejected");
  auto prefix = TopicPrefix::create("lab");
  EXPECT_EQ(*provisioning_topic(*prefix,
                                topic(ProvisioningApi::register_thing, "T", PayloadFormat::json)),
            "lab/provisioning-templates/T/provision/json");
}

TEST(ProvisioningTopics, EveryTopicParsesBackToItself) {
  for (auto kind :
       {ProvisioningApi::create_keys_and_certificate, ProvisioningApi::create_certificate_from_csr,
        ProvisioningApi::register_thing}) {
    for (auto format : {PayloadFormat::json, PayloadFormat::cbor}) {
      for (auto reply : {Reply::none, Reply::accepted, Reply::rejected}) {
        ProvisioningTopic t =
            topic(kind, kind == ProvisioningApi::register_thing ? "tmpl" : "", format, reply);
        auto text = provisioning_topic(kAws, t);
        ASSERT_TRUE(text) << text.error().message;
        auto parsed = parse_provisioning_topic(kAws, *text);
        ASSERT_TRUE(parsed) << *text;
        EXPECT_EQ(*parsed, t) << *text;
      }
    }
  }
}

TEST(ProvisioningTopics, ParseRefusesEverythingElse) {
  for (const char* text : {
           "$aws/certificates/create",
           "$aws/certificates/create/",
           "$aws/certificates/create/xml",
           "$aws/certificates/create/JSON",
           "$aws/certificates/create/json/",
           "$aws/certificates/create/json/other",
           "$aws/certificates/create/json/accepted/x",
           "$aws/certificates/create/json/accepted/",
           "$aws/certificates/create-from-csr/json/json",
           "$aws/certificates/delete/json",
           "$aws/provisioning-templates//provision/json",
           "$aws/provisioning-templates/T/provision",
           "$aws/provisioning-templates/T/provision/",
           "$aws/provisioning-templates/T/provisionx/json",
           "$aws/provisioning-templates/T/x/provision/json",
           "$aws/provisioning-templates/bad.name/provision/json",
           "$aws/provisioning-templates/+/provision/json",
           "$aws/provisioning-templates/T",
           "$awsx/certificates/create/json",
           "$aws",
           "",
           "aws/certificates/create/json",
           "/$aws/certificates/create/json",
           "$aws/things/T/jobs/get",
       }) {
    EXPECT_FALSE(parse_provisioning_topic(kAws, text)) << text;
  }
  const std::string long_name(37, 'a');
  EXPECT_FALSE(parse_provisioning_topic(
      kAws, "$aws/provisioning-templates/" + long_name + "/provision/json"));
  EXPECT_TRUE(parse_provisioning_topic(
      kAws, "$aws/provisioning-templates/" + long_name.substr(1) + "/provision/json"));
}

TEST(ProvisioningTopics, ParseUsesTheConfiguredPrefix) {
  auto prefix = TopicPrefix::create("site/a");
  ASSERT_TRUE(prefix);
  auto parsed = parse_provisioning_topic(*prefix, "site/a/certificates/create-from-csr/cbor");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->kind, ProvisioningApi::create_certificate_from_csr);
  EXPECT_EQ(parsed->format, PayloadFormat::cbor);
  EXPECT_EQ(parsed->reply, Reply::none);
  EXPECT_FALSE(parse_provisioning_topic(*prefix, "$aws/certificates/create-from-csr/cbor"));
  EXPECT_FALSE(parse_provisioning_topic(*prefix, "site/ab/certificates/create/cbor"));
}

TEST(ProvisioningTopics, TemplateNamesFollowAws) {
  EXPECT_TRUE(is_valid_template_name("a"));
  EXPECT_TRUE(is_valid_template_name("Az09_-"));
  EXPECT_TRUE(is_valid_template_name(std::string(36, 'x')));
  EXPECT_FALSE(is_valid_template_name(""));
  EXPECT_FALSE(is_valid_template_name(std::string(37, 'x')));
  for (const char* bad : {"a b", "a/b", "a+b", "a#b", "a.b", "a:b", "caf\xc3\xa9"}) {
    EXPECT_FALSE(is_valid_template_name(bad)) << bad;
  }
}

TEST(ProvisioningTopics, BuilderRefusesBadTemplateNames) {
  auto bad =
      provisioning_topic(kAws, topic(ProvisioningApi::register_thing, "a/b", PayloadFormat::json));
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("invalid provisioning template name \"a/b\""));
  EXPECT_FALSE(
      provisioning_topic(kAws, topic(ProvisioningApi::register_thing, "", PayloadFormat::json)));
  EXPECT_FALSE(provisioning_topic(
      kAws, topic(ProvisioningApi::create_keys_and_certificate, "T", PayloadFormat::json)));
}

TEST(ProvisioningTopics, ReplyTopicKeepsKindTemplateAndFormat) {
  auto request = parse_provisioning_topic(kAws, "$aws/provisioning-templates/T/provision/cbor");
  ASSERT_TRUE(request);
  EXPECT_EQ(*provisioning_topic(kAws, reply_topic(*request, Reply::accepted)),
            "$aws/provisioning-templates/T/provision/cbor/accepted");
  EXPECT_EQ(*provisioning_topic(kAws, reply_topic(*request, Reply::rejected)),
            "$aws/provisioning-templates/T/provision/cbor/rejected");
}

TEST(ProvisioningTopics, RequestFiltersCoverTheRequests) {
  EXPECT_THAT(provisioning_request_filters(kAws),
              ElementsAre("$aws/certificates/create/+", "$aws/certificates/create-from-csr/+",
                          "$aws/provisioning-templates/+/provision/+"));
}

TEST(CertificateRegisteredTopic, NamesTheCaCertificate) {
  const std::string id(64, 'a');
  EXPECT_EQ(*certificate_registered_topic(kAws, id), "$aws/events/certificates/registered/" + id);
  EXPECT_FALSE(certificate_registered_topic(kAws, std::string(64, 'A')));
  EXPECT_FALSE(certificate_registered_topic(kAws, std::string(63, 'a')));
  EXPECT_THAT(certificate_registered_topic(kAws, "+").error().message,
              HasSubstr("expected 64 lower-case hex digits"));
}

}  // namespace
}  // namespace ironroot::protocol

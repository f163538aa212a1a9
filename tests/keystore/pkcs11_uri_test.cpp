#include "ironroot/keystore/pkcs11_uri.hpp"

#include <gtest/gtest.h>

namespace ironroot::keystore {
namespace {

TEST(Pkcs11Uri, ParsesPathAndQueryAttributes) {
  auto uri = Pkcs11Uri::parse(
      "pkcs11:token=OEM%20signing;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;"
      "serial=0a1b2c;slot-id=42;object=image-key;id=%01%FF%3b;type=private"
      "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=12%2634");
  ASSERT_TRUE(uri) << uri.error().message;
  EXPECT_EQ(uri->token, "OEM signing");
  EXPECT_EQ(uri->manufacturer, "SoftHSM project");
  EXPECT_EQ(uri->model, "SoftHSM v2");
  EXPECT_EQ(uri->serial, "0a1b2c");
  EXPECT_EQ(uri->slot_id, 42u);
  EXPECT_EQ(uri->object, "image-key");
  EXPECT_EQ(uri->id, (Bytes{std::byte{0x01}, std::byte{0xff}, std::byte{0x3b}}));
  EXPECT_EQ(uri->type, "private");
  EXPECT_EQ(uri->module_path, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(uri->pin_value, "12&34");
  EXPECT_FALSE(uri->pin_source);
  EXPECT_FALSE(uri->module_name);
}

TEST(Pkcs11Uri, EscapedSeparatorsStayInTheirValue) {
  auto uri = Pkcs11Uri::parse("pkcs11:object=a%3Bb%3Fc%26d%25?module-name=softhsm2");
  ASSERT_TRUE(uri) << uri.error().message;
  EXPECT_EQ(uri->object, "a;b?c&d%");
  EXPECT_EQ(uri->module_name, "softhsm2");
}

TEST(Pkcs11Uri, EmptyUriMatchesEverything) {
  auto uri = Pkcs11Uri::parse("pkcs11:");
  ASSERT_TRUE(uri) << uri.error().message;
  EXPECT_EQ(*uri, Pkcs11Uri{});
  EXPECT_EQ(uri->to_string(), "pkcs11:");
}

TEST(Pkcs11Uri, PinSourceAcceptsPathsAndFileUris) {
  for (const char* text :
       {"pkcs11:token=t?pin-source=/run/pin", "pkcs11:token=t?pin-source=file:/run/pin",
        "pkcs11:token=t?pin-source=file:///run/pin",
        "pkcs11:token=t?pin-source=file://localhost/run/pin"}) {
    auto uri = Pkcs11Uri::parse(text);
    ASSERT_TRUE(uri) << text << ": " << uri.error().message;
    EXPECT_EQ(uri->pin_source, "/run/pin") << text;
  }
  EXPECT_FALSE(Pkcs11Uri::parse("pkcs11:token=t?pin-source=file://server/run/pin"));
}

TEST(Pkcs11Uri, ToStringRoundTripsAndNeverShowsThePin) {
  auto uri = Pkcs11Uri::parse(
      "pkcs11:token=My%20Token;serial=1234;object=key%3B1;id=%0a%ff;type=private"
      "?module-path=/opt/hsm/lib%20x.so&pin-value=secret-pin");
  ASSERT_TRUE(uri) << uri.error().message;
  std::string text = uri->to_string();
  EXPECT_EQ(text.find("secret-pin"), std::string::npos) << text;
  EXPECT_EQ(text.find("pin-value"), std::string::npos) << text;
  EXPECT_EQ(text,
            "pkcs11:token=My%20Token;serial=1234;object=key%3B1;id=%0A%FF;type=private"
            "?module-path=/opt/hsm/lib%20x.so");
  auto again = Pkcs11Uri::parse(text);
  ASSERT_TRUE(again) << again.error().message;
  Pkcs11Uri expected = *uri;
  expected.pin_value.reset();
  EXPECT_EQ(*again, expected);

  auto with_source = Pkcs11Uri::parse("pkcs11:token=t?pin-source=/run/pin");
  ASSERT_TRUE(with_source);
  EXPECT_EQ(with_source->to_string(), "pkcs11:token=t?pin-source=/run/pin");

  // Found by fuzz/pkcs11_uri_fuzz: a relative path that starts with "file:" must survive.
  auto odd_path = Pkcs11Uri::parse("pkcs11:?pin-source=file:file:pin");
  ASSERT_TRUE(odd_path) << odd_path.error().message;
  EXPECT_EQ(odd_path->pin_source, "file:pin");
  auto odd_again = Pkcs11Uri::parse(odd_path->to_string());
  ASSERT_TRUE(odd_again) << odd_again.error().message;
  EXPECT_EQ(*odd_again, *odd_path);
}

TEST(Pkcs11Uri, RecognisesTheScheme) {
  EXPECT_TRUE(is_pkcs11_uri("pkcs11:token=a"));
  EXPECT_TRUE(is_pkcs11_uri("PKCS11:"));
  EXPECT_FALSE(is_pkcs11_uri("keys/root-ec-p256.pem"));
  EXPECT_FALSE(is_pkcs11_uri("pkcs11"));
  EXPECT_FALSE(is_pkcs11_uri(""));
}

struct BadUri {
  const char* text;
  const char* message;  // a part of the error message

  friend void PrintTo(const BadUri& bad, std::ostream* out) { *out << bad.text; }
};

class Pkcs11UriRejects : public ::testing::TestWithParam<BadUri> {};

TEST_P(Pkcs11UriRejects, WithAMessageSayingWhy) {
  auto uri = Pkcs11Uri::parse(GetParam().text);
  ASSERT_FALSE(uri) << GetParam().text << " parsed";
  EXPECT_NE(uri.error().message.find(GetParam().message), std::string::npos)
      << GetParam().text << " -> " << uri.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, Pkcs11UriRejects,
    ::testing::Values(BadUri{"token=a;object=b", "must start with 'pkcs11:'"},
                      BadUri{"pkcs12:token=a", "must start with 'pkcs11:'"},
                      BadUri{"pkcs11:token=a%2", "bad percent-escape '%2' in attribute 'token'"},
                      BadUri{"pkcs11:object=a%zzb", "bad percent-escape '%zz'"},
                      BadUri{"pkcs11:token=a?pin-value=%", "bad percent-escape"},
                      BadUri{"pkcs11:colour=blue", "unknown path attribute 'colour'"},
                      BadUri{"pkcs11:token=a?colour=blue", "unknown query attribute 'colour'"},
                      BadUri{"pkcs11:slot-description=x", "'slot-description' is not supported"},
                      BadUri{"pkcs11:token=a;token=b", "'token' appears twice"},
                      BadUri{"pkcs11:token=a?pin-value=1&pin-value=2", "'pin-value' appears twice"},
                      BadUri{"pkcs11:token=", "'token' is empty"},
                      BadUri{"pkcs11:token=a;object=", "'object' is empty"},
                      BadUri{"pkcs11:token", "'token' has no value"},
                      BadUri{"pkcs11:=a", "has no name"},
                      BadUri{"pkcs11:token=a?pin-value=12%3",
                             "bad percent-escape in attribute 'pin-value'"},
                      BadUri{"pkcs11:token=a;;object=b", "empty attribute"},
                      BadUri{"pkcs11:token=a;", "empty attribute"},
                      BadUri{"pkcs11:type=secret", "type 'secret' is not one of"},
                      BadUri{"pkcs11:slot-id=0x10", "slot-id '0x10' is not a decimal"},
                      BadUri{"pkcs11:slot-id=99999999999999999999999", "is not a decimal"},
                      BadUri{"pkcs11:token=a?pin-value=1&pin-source=/p", "not both"},
                      BadUri{"pkcs11:pin-value=1", "belongs after the '?'"},
                      BadUri{"pkcs11:token=a?object=b", "belongs before the '?'"}));

}  // namespace
}  // namespace ironroot::keystore

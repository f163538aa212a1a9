// libs/mqtt without a broker: the back-off schedule, option and input checks, and the bounded
// queue's overflow while the broker is unreachable.
#include "ironroot/mqtt/client.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <thread>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "support/broker_process.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::mqtt {
namespace {

using namespace std::chrono_literals;

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
}

// ---- back-off -----------------------------------------------------------------------------------

TEST(Backoff, GrowsExponentiallyUpToTheMaximum) {
  Backoff backoff({100ms, 1000ms, 2.0, 0.0}, [] { return 0.5; });
  std::vector<long> delays;
  for (int i = 0; i < 7; ++i) delays.push_back(static_cast<long>(backoff.next_delay().count()));
  EXPECT_EQ(delays, (std::vector<long>{100, 200, 400, 800, 1000, 1000, 1000}));
  EXPECT_EQ(backoff.failures(), 7u);
  backoff.reset();
  EXPECT_EQ(backoff.next_delay(), 100ms);
}

TEST(Backoff, JitterStaysWithinItsShareOfTheCeiling) {
  // u = 0 gives the ceiling, u -> 1 gives ceiling * (1 - jitter).
  Backoff high({400ms, 400ms, 2.0, 0.25}, [] { return 0.0; });
  EXPECT_EQ(high.next_delay(), 400ms);
  Backoff low({400ms, 400ms, 2.0, 0.25}, [] { return 0.999999; });
  EXPECT_EQ(low.next_delay(), 300ms);
  // With the operating system's randomness, every delay is in [ceiling * 0.5, ceiling] and never
  // above the maximum, however many failures there were.
  Backoff random({10ms, 5000ms, 3.0, 0.5});
  for (int i = 0; i < 200; ++i) {
    auto delay = random.next_delay();
    const double ceiling = std::min(5000.0, 10.0 * std::pow(3.0, std::min(i, 64)));
    EXPECT_LE(delay.count(), static_cast<long>(ceiling));
    EXPECT_GE(delay.count(), static_cast<long>(ceiling * 0.5) - 1);
  }
  // Full jitter spreads a fleet: two clients with different draws wait differently.
  Backoff a({1000ms, 1000ms, 1.0, 1.0}, [] { return 0.1; });
  Backoff b({1000ms, 1000ms, 1.0, 1.0}, [] { return 0.9; });
  EXPECT_NE(a.next_delay(), b.next_delay());
}

TEST(Backoff, PolicyIsChecked) {
  EXPECT_TRUE(check_backoff_policy({}));
  EXPECT_TRUE(contains(check_backoff_policy({0ms, 1000ms, 2.0, 0.5}).error().message,
                       "initial delay must be positive"));
  EXPECT_TRUE(contains(check_backoff_policy({2000ms, 1000ms, 2.0, 0.5}).error().message,
                       "must be at least the initial delay"));
  EXPECT_TRUE(contains(check_backoff_policy({100ms, 2h, 2.0, 0.5}).error().message, "1 hour"));
  EXPECT_TRUE(
      contains(check_backoff_policy({100ms, 1000ms, 0.5, 0.5}).error().message, "multiplier"));
  EXPECT_TRUE(contains(check_backoff_policy({100ms, 1000ms, 2.0, 1.5}).error().message, "jitter"));
}

// ---- TLS settings and client options ------------------------------------------------------------

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    auto root = crypto::CertificateAuthority::create_root(
        {"Test Root", "", ""},
        std::make_unique<crypto::PrivateKey>(
            *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256)),
        crypto::validity_from_now(std::chrono::days(30), now));
    ASSERT_TRUE(root) << root.error().message;
    root_cert_ = root->certificate();
  }

  TlsSettings settings() const {
    TlsSettings s;
    s.trusted = {*root_cert_};
    s.server_name = "127.0.0.1";
    return s;
  }

  ClientOptions options() {
    auto tls = TlsContext::create(settings());
    EXPECT_TRUE(tls) << tls.error().message;
    ClientOptions o;
    o.host = "127.0.0.1";
    o.port = testing::free_port();  // nothing listens there
    o.client_id = "thing-1";
    o.tls = *tls;
    o.backoff = {10ms, 50ms, 2.0, 0.5};
    return o;
  }

  std::optional<crypto::Certificate> root_cert_;
};

TEST_F(ClientTest, TlsSettingsAreChecked) {
  TlsSettings no_trust = settings();
  no_trust.trusted.clear();
  EXPECT_TRUE(contains(TlsContext::create(no_trust).error().message, "no trusted CA"));
  TlsSettings no_name = settings();
  no_name.server_name.clear();
  EXPECT_TRUE(contains(TlsContext::create(no_name).error().message, "broker's name"));
  TlsSettings bad_name = settings();
  bad_name.server_name = "*.example.com";
  EXPECT_TRUE(contains(TlsContext::create(bad_name).error().message, "broker name"));
  TlsSettings key_only = settings();
  key_only.client_key = "device.key";
  EXPECT_TRUE(contains(TlsContext::create(key_only).error().message, "without its certificate"));
  TlsSettings cert_only = settings();
  cert_only.client_chain = {*root_cert_};
  EXPECT_TRUE(contains(TlsContext::create(cert_only).error().message, "without its key"));
  TlsSettings missing_file = settings();
  missing_file.client_chain = {*root_cert_};
  missing_file.client_key = "/nonexistent/device.key";
  EXPECT_TRUE(
      contains(TlsContext::create(missing_file).error().message, "/nonexistent/device.key"));

  auto ok = TlsContext::create(settings());
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ((*ok)->client_identity(), "no client certificate");
  EXPECT_NE((*ok)->native(), nullptr);
}

TEST_F(ClientTest, KeyFileOfAnotherCertificateIsRefused) {
  testing::TempDir dir;
  auto other = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  std::string key_path = (dir / "other.key").string();
  ASSERT_TRUE(write_file_atomic(key_path, as_bytes(*other->pem()), 0600));
  TlsSettings s = settings();
  s.client_chain = {*root_cert_};  // a certificate for a key that is not other.key
  s.client_key = key_path;
  auto refused = TlsContext::create(s);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(refused.error().message,
                       "key file " + key_path + " is not the key of client certificate"));
}

TEST_F(ClientTest, OptionsAreChecked) {
  auto expect_refused = [&](auto change, const std::string& text) {
    ClientOptions o = options();
    change(o);
    auto c = Client::create(o);
    ASSERT_FALSE(c);
    EXPECT_TRUE(contains(c.error().message, text));
  };
  expect_refused([](ClientOptions& o) { o.host.clear(); }, "host is missing");
  expect_refused([](ClientOptions& o) { o.port = 0; }, "port");
  expect_refused([](ClientOptions& o) { o.client_id.clear(); }, "client id must be 1 to 128");
  expect_refused([](ClientOptions& o) { o.client_id = "a\nb"; }, "control characters");
  expect_refused([](ClientOptions& o) { o.keep_alive = 1s; }, "keep-alive must be 5 to 65535");
  expect_refused([](ClientOptions& o) { o.max_queued = 0; }, "queue bound");
  expect_refused([](ClientOptions& o) { o.max_inflight = 0; }, "in-flight window");
  expect_refused([](ClientOptions& o) { o.backoff.jitter = 2; }, "jitter");
  expect_refused([](ClientOptions& o) { o.tls.reset(); }, "TLS context is required");
}

TEST_F(ClientTest, PublishAndSubscribeInputsAreChecked) {
  auto c = Client::create(options());
  ASSERT_TRUE(c) << c.error().message;
  auto wildcard = (*c)->publish("$aws/things/+/hello", as_bytes("x"));
  ASSERT_FALSE(wildcard);
  EXPECT_EQ(wildcard.error().code, PublishError::Code::invalid);
  EXPECT_TRUE(contains(wildcard.error().message, "no '+' or '#' in a publish"));
  EXPECT_EQ((*c)->publish("", as_bytes("x")).error().code, PublishError::Code::invalid);
  EXPECT_TRUE(contains((*c)->publish("a", as_bytes("x"), 2).error().message, "QoS 2"));
  Bytes big(128 * 1024 + 1);
  EXPECT_TRUE(contains((*c)->publish("a", big).error().message, "over the client's bound"));
  EXPECT_TRUE(contains((*c)->subscribe("a/#/b").error().message, "not valid"));
  EXPECT_TRUE((*c)->subscribe("$aws/things/+/jobs/#"));
  EXPECT_EQ((*c)->stats().accepted, 0u);
}

TEST_F(ClientTest, QueueOverflowIsReportedNeverSilent) {
  ClientOptions o = options();
  o.max_queued = 3;
  auto c = Client::create(o);
  ASSERT_TRUE(c) << c.error().message;
  (*c)->start();
  for (std::size_t i = 1; i <= 3; ++i) {
    auto queued = (*c)->publish("$aws/things/thing-1/data", as_bytes("m"), 1);
    ASSERT_TRUE(queued) << queued.error().message;
    EXPECT_EQ(*queued, i);
  }
  auto refused = (*c)->publish("$aws/things/thing-1/data", as_bytes("m"), 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, PublishError::Code::queue_full);
  EXPECT_TRUE(contains(refused.error().message, "the outgoing queue is full (3 messages"));
  // Nothing listens on the port: attempts fail, are counted and say why.
  ASSERT_TRUE((*c)->wait_until([](const ClientStats& s) { return s.failed_attempts >= 3; }, 20s));
  ClientStats stats = (*c)->stats();
  EXPECT_EQ(stats.overflows, 1u);
  EXPECT_EQ(stats.accepted, 3u);
  EXPECT_EQ(stats.queued, 3u);
  EXPECT_EQ(stats.connections, 0u);
  EXPECT_FALSE(stats.connected);
  EXPECT_TRUE(contains(stats.last_error, "Connection refused"));
  EXPECT_LE(stats.last_backoff, 50ms);
  // Waiting for room gives up after its timeout, with the same refusal, counted too.
  auto waited = (*c)->publish_or_wait("$aws/things/thing-1/data", as_bytes("m"), 50ms, 1);
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, PublishError::Code::queue_full);
  EXPECT_EQ((*c)->stats().overflows, 2u);
  // A producer waiting for room is woken by stop().
  std::optional<Result<std::size_t, PublishError>> stopped;
  std::thread producer(
      [&] { stopped = (*c)->publish_or_wait("$aws/things/thing-1/data", as_bytes("m"), 60s, 1); });
  (*c)->stop();
  producer.join();
  ASSERT_TRUE(stopped && !*stopped);
  EXPECT_EQ(stopped->error().code, PublishError::Code::stopped);
  EXPECT_EQ((*c)->publish("a", as_bytes("x")).error().code, PublishError::Code::stopped);
  EXPECT_EQ((*c)->stats().queued, 3u);  // still counted: never dropped silently
}

}  // namespace
}  // namespace ironroot::mqtt

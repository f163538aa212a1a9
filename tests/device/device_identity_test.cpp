// Issue 4, end to end: `ironroot-device init` makes the device's key inside a SoftHSM2 token of its
// own and a CSR; the real `ironroot ca` certifies it; `ironroot-device identity install` stores the
// certificate in the token; and the real firmware, started from memory by `ironroot-device run`,
// connects to a real Mosquitto with that identity and publishes its hello, which the fleet's own
// client receives.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "device_e2e.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/mqtt/client.hpp"
#include "support/broker_process.hpp"

namespace ironroot::testing {
namespace {

using namespace std::chrono_literals;

// Messages the fleet's client received.
class Inbox {
 public:
  void add(const mqtt::Message& message) {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    arrived_.notify_all();
  }
  std::vector<mqtt::Message> wait_for(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    arrived_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
    return messages_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<mqtt::Message> messages_;
};

class DeviceIdentityE2E : public DeviceE2E {
 protected:
  void SetUp() override {
    // Mosquitto, started as root, runs as user mosquitto: it must be able to enter the folders.
    ::chmod(temp_.path().c_str(), 0755);
    port_ = free_port();
    do {
      fleet_port_ = free_port();
    } while (fleet_port_ == port_);
    ca_ = path("ca");
    broker_dir_ = path("broker");
    auto r = cli({"ca", "init", "--dir", ca_, "--name", "Acme"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = cli({"broker", "init", "--dir", broker_dir_, "--ca", ca_, "--port", std::to_string(port_),
             "--fleet-port", std::to_string(fleet_port_)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    broker_ = std::make_unique<BrokerProcess>(broker_dir_, port_, fleet_port_);
    const std::string error = broker_->start();
    ASSERT_TRUE(error.empty()) << error;
  }

  std::vector<std::string> identity_args() {
    return {"--thing-name", "sensor-7", "--serial",
            "SN-0007",      "--broker", "127.0.0.1:" + std::to_string(port_)};
  }

  // The fleet service's own client, on the fleet listener, subscribed to every hello.
  std::unique_ptr<mqtt::Client> fleet_listener(Inbox& inbox) {
    mqtt::TlsSettings tls;
    tls.trusted =
        *crypto::Certificate::all_from_pem(*read_file(fs::path(ca_) / "root-ca.crt", 1 << 20));
    tls.server_name = "127.0.0.1";
    tls.client_chain = {
        *crypto::Certificate::from_pem(*read_file(fs::path(broker_dir_) / "fleet.crt", 1 << 20))};
    tls.client_key = (fs::path(broker_dir_) / "fleet.key").string();
    auto context = mqtt::TlsContext::create(tls);
    EXPECT_TRUE(context) << context.error().message;
    mqtt::ClientOptions o;
    o.host = "127.0.0.1";
    o.port = fleet_port_;
    o.client_id = "ironroot-fleet";
    o.tls = *context;
    o.on_message = [&inbox](const mqtt::Message& m) { inbox.add(m); };
    auto client = mqtt::Client::create(std::move(o));
    EXPECT_TRUE(client) << client.error().message;
    (*client)->start();
    EXPECT_TRUE((*client)->subscribe("things/+/hello", 1));
    EXPECT_TRUE((*client)->wait_until(
        [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged >= 1; }, 20s));
    return std::move(*client);
  }

  // `ironroot ca issue` for the device's CSR, then `identity install`.
  ProcessResult certify(const std::vector<std::string>& issue_extra = {}) {
    const std::string cert = path("device.crt");
    std::vector<std::string> args = {"ca", "issue", "--dir",
                                     ca_,  "--csr", (fs::path(dev()) / "device.csr").string(),
                                     "-o", cert};
    args.insert(args.end(), issue_extra.begin(), issue_extra.end());
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return device({"identity", "install", "--dir", dev(), "--cert", cert, "--trust",
                   (fs::path(ca_) / "ca-chain.crt").string()});
  }

  std::string ca_;
  std::string broker_dir_;
  std::uint16_t port_ = 0;
  std::uint16_t fleet_port_ = 0;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(DeviceIdentityE2E, InitMakesTheKeyInTheTokenAndACsrForTheThing) {
  init(identity_args());
  const fs::path dir = dev();
  // The token store is the device's own; the PIN is private to it.
  EXPECT_TRUE(fs::is_directory(dir / "secure-element" / "tokens"));
  EXPECT_EQ(fs::status(dir / "secure-element" / "pin").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  auto csr = crypto::CertificateRequest::from_pem(*read_file(dir / "device.csr", 1 << 20));
  ASSERT_TRUE(csr) << csr.error().message;
  EXPECT_TRUE(csr->verify_signature());
  EXPECT_EQ(csr->subject(), "serialNumber=SN-0007,CN=sensor-7");

  // The key is in the token, sensitive and not extractable: pkcs11-tool lists it as such.
  const std::string pin(as_chars(*read_file(dir / "secure-element" / "pin", 1024)));
  auto listed = run_process(
      {"pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label",
       "ironroot-device", "--login", "--pin", pin, "--list-objects", "--type", "privkey"},
      {"SOFTHSM2_CONF=" + (dir / "secure-element" / "softhsm2.conf").string()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(contains(listed.out, "Device Priv TLS Key")) << listed.out;
  EXPECT_TRUE(contains(listed.out, "sensitive")) << listed.out;
  EXPECT_TRUE(contains(listed.out, "never extractable")) << listed.out;

  auto shown = device({"identity", "show", "--dir", dev(), "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const json doc = json::parse(shown.out);
  EXPECT_EQ(doc["thing_name"], "sensor-7");
  EXPECT_EQ(doc["broker"]["port"], port_);
  EXPECT_TRUE(doc["certificate"].is_null());
}

TEST_F(DeviceIdentityE2E, FirmwareConnectsWithItsIdentityAndSaysHello) {
  init(identity_args());
  Inbox inbox;
  auto fleet = fleet_listener(inbox);

  // Not yet certified: the firmware runs and stays offline.
  json doc = run();
  EXPECT_TRUE(contains(last_.err + last_.out, "staying offline")) << last_.err;

  auto installed = certify();
  ASSERT_EQ(installed.exit_code, 0) << installed.err;
  doc = run();
  EXPECT_TRUE(contains(last_.err, "published a hello on things/sensor-7/hello")) << last_.err;

  auto messages = inbox.wait_for(1, 20s);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].topic, "things/sensor-7/hello");
  const json hello = json::parse(as_chars(messages[0].payload));
  EXPECT_EQ(hello["thing_name"], "sensor-7");
  EXPECT_EQ(hello["serial"], "SN-0007");
  EXPECT_EQ(hello["firmware_version"], "1.0.0+0");
  EXPECT_EQ(hello["test_boot"], false);
  // Mosquitto took the certificate's CN as the username: the broker saw the device's identity.
  EXPECT_TRUE(broker_->wait_for_log("u'sensor-7'", 5s)) << broker_->log();
}

TEST_F(DeviceIdentityE2E, AnUpdateThatCannotReachTheFleetIsReverted) {
  init(identity_args());
  ASSERT_EQ(certify().exit_code, 0);
  run();
  EXPECT_TRUE(contains(last_.err, "published a hello")) << last_.err;

  // The broker goes away; 1.1.0 boots for a test, cannot say hello, and is not confirmed.
  EXPECT_EQ(broker_->stop(), 0);
  stage(firmware("1.1.0"));
  json doc = run(0, {}, {"IRONROOT_FIRMWARE_CONNECT_TIMEOUT=2"});
  EXPECT_TRUE(contains(last_.err, "self-test failed: reaching the fleet")) << last_.err;
  EXPECT_EQ(status()["primary"]["version"], "1.0.0+0");
}

TEST_F(DeviceIdentityE2E, InstallRefusesACertificateThatIsNotTheDevices) {
  init(identity_args());
  // A certificate for another thing, made from another key.
  const std::string other_key = path("other.key");
  ASSERT_EQ(cli({"image", "keygen", "-k", other_key}).exit_code, 0);
  const std::string other_csr = path("other.csr");
  ASSERT_EQ(cli({"ca", "csr", "-k", other_key, "--cn", "sensor-8", "-o", other_csr}).exit_code, 0);
  ASSERT_EQ(
      cli({"ca", "issue", "--dir", ca_, "--csr", other_csr, "-o", path("other.crt")}).exit_code, 0);
  auto r = device({"identity", "install", "--dir", dev(), "--cert", path("other.crt"), "--trust",
                   (fs::path(ca_) / "ca-chain.crt").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "the certificate is for 'sensor-8', but this device is 'sensor-7'"))
      << r.err;

  // The device's own CSR certified by another CA does not chain to what the device trusts.
  const std::string other_ca = path("other-ca");
  ASSERT_EQ(cli({"ca", "init", "--dir", other_ca, "--name", "Other"}).exit_code, 0);
  ASSERT_EQ(cli({"ca", "issue", "--dir", other_ca, "--csr",
                 (fs::path(dev()) / "device.csr").string(), "-o", path("foreign.crt")})
                .exit_code,
            0);
  r = device({"identity", "install", "--dir", dev(), "--cert", path("foreign.crt"), "--trust",
              (fs::path(ca_) / "ca-chain.crt").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "does not chain")) << r.err;

  auto shown = device({"identity", "show", "--dir", dev(), "--json"});
  EXPECT_TRUE(json::parse(shown.out)["certificate"].is_null()) << shown.out;
}

TEST_F(DeviceIdentityE2E, InitRefusesABadIdentityAndMakesNothing) {
  auto r = device([&] {
    auto args = init_args();
    for (const char* a : {"--thing-name", "no/slashes"}) args.push_back(a);
    return args;
  }());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--thing-name")) << r.err;
  r = device([&] {
    auto args = init_args();
    for (const char* a : {"--broker", "127.0.0.1:70000"}) args.push_back(a);
    return args;
  }());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "port '70000'")) << r.err;
  EXPECT_FALSE(fs::exists(dev()));
}

}  // namespace
}  // namespace ironroot::testing

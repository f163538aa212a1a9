// DeviceSwarm against a real Mosquitto with mutual TLS (`ironroot broker init` folder): 200
// devices, each with its own key and certificate from the broker's device CA, exchange messages
// with a fleet-side peer, survive a SIGKILL of the broker and exchange messages again.
#include "support/device_swarm.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <map>
#include <set>
#include <stdexcept>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "support/broker_process.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string text(ByteView bytes) {
  return std::string(as_chars(bytes));
}

crypto::Certificate certificate_file(const std::filesystem::path& path) {
  auto data = read_file(path, 1 << 20);
  auto cert = data ? crypto::Certificate::from_pem(*data)
                   : Result<crypto::Certificate>(tl::unexpected(data.error()));
  if (!cert) throw std::runtime_error(path.string() + ": " + cert.error().message);
  return *cert;
}

// Messages with their topics, keyed by who received them, for a test thread to wait on.
class Mailbox {
 public:
  void add(std::size_t who, std::string topic, std::string payload) {
    std::lock_guard lock(mutex_);
    received_[who].emplace_back(std::move(topic), std::move(payload));
    ++count_;
    arrived_.notify_all();
  }
  // Waits until `count` messages arrived in all; false on timeout.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return count_ >= count; });
  }
  std::map<std::size_t, std::vector<std::pair<std::string, std::string>>> take() {
    std::lock_guard lock(mutex_);
    count_ = 0;
    return std::exchange(received_, {});
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::size_t count_ = 0;
  std::map<std::size_t, std::vector<std::pair<std::string, std::string>>> received_;
};

class DeviceSwarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Mosquitto, started as root, runs as user mosquitto: it must be able to enter the folders.
    ::chmod(dir_.path().c_str(), 0755);
    port_ = free_port();
    do {
      fleet_port_ = free_port();
    } while (fleet_port_ == port_);
    ca_dir_ = dir_ / "ca";
    broker_dir_ = dir_ / "broker";
    ASSERT_NO_FATAL_FAILURE(cli({"ca", "init", "--dir", ca_dir_.string(), "--name", "Acme"}));
    ASSERT_NO_FATAL_FAILURE(
        cli({"broker", "init", "--dir", broker_dir_.string(), "--ca", ca_dir_.string(), "--port",
             std::to_string(port_), "--fleet-port", std::to_string(fleet_port_)}));
    broker_ = std::make_unique<BrokerProcess>(broker_dir_, port_, fleet_port_);
    access_.port = port_;
    access_.trusted = {certificate_file(ca_dir_ / "root-ca.crt")};
  }

  void cli(std::vector<std::string> args) {
    args.insert(args.begin(), IRONROOT_CLI);
    ProcessResult r = run_process(args);
    ASSERT_EQ(r.exit_code, 0) << args[1] << " " << args[2] << ": " << r.err << r.out;
  }

  // `count` devices "swarm-<i>", each with its own P-256 key (a file) and a certificate from the
  // CA folder's device CA, which the broker trusts for devices.
  std::vector<SwarmDevice> make_devices(std::size_t count) {
    auto ca_key = read_file(ca_dir_ / "device-ca.key", 1 << 20);
    if (!ca_key) throw std::runtime_error(ca_key.error().message);
    auto key = crypto::PrivateKey::from_pem(*ca_key);
    if (!key) throw std::runtime_error(key.error().message);
    auto ca =
        crypto::CertificateAuthority::open(certificate_file(ca_dir_ / "device-ca.crt"),
                                           std::make_unique<crypto::PrivateKey>(std::move(*key)));
    if (!ca) throw std::runtime_error(ca.error().message);
    const auto validity = crypto::validity_from_now(
        std::chrono::days(1),
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
    std::vector<SwarmDevice> devices;
    for (std::size_t i = 0; i < count; ++i) {
      const std::string thing = "swarm-" + std::to_string(i);
      auto device_key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
      if (!device_key) throw std::runtime_error(device_key.error().message);
      const auto key_file = dir_ / (thing + ".key");
      if (auto ok = write_key_file(*device_key, key_file); !ok) {
        throw std::runtime_error(ok.error().message);
      }
      auto csr =
          crypto::CertificateRequest::create({thing, "SN-" + std::to_string(i), ""}, *device_key);
      if (!csr) throw std::runtime_error(csr.error().message);
      auto cert = ca->issue_device_certificate(*csr, validity);
      if (!cert) throw std::runtime_error(cert.error().message);
      devices.push_back({thing, {*cert, key_file}});
    }
    return devices;
  }

  // The fleet service's identity (`broker init` issued it), on the fleet listener, which has no
  // topic restrictions: it can talk to every device.
  std::unique_ptr<mqtt::Client> connect_peer(Mailbox& mailbox) {
    BrokerAccess fleet = access_;
    fleet.port = fleet_port_;
    auto peer = connect_device(
        fleet, {certificate_file(broker_dir_ / "fleet.crt"), broker_dir_ / "fleet.key"}, "peer",
        30s, [&mailbox](const mqtt::Message& m) {
          mailbox.add(0, m.topic, std::string(as_chars(m.payload)));
        });
    EXPECT_TRUE(peer) << peer.error().message;
    return peer ? std::move(*peer) : nullptr;
  }

  TempDir dir_;
  std::uint16_t port_ = 0;
  std::uint16_t fleet_port_ = 0;
  std::filesystem::path ca_dir_;
  std::filesystem::path broker_dir_;
  std::unique_ptr<BrokerProcess> broker_;
  BrokerAccess access_;
};

std::string down_topic(const std::string& thing) {
  return "things/" + thing + "/down";
}
std::string up_topic(const std::string& thing) {
  return "things/" + thing + "/up";
}

// The peer sends every device "<round>:<thing>" on its down topic; each device echoes it on its up
// topic (from on_message, on the swarm's thread), and the test thread publishes "<round>-direct:
// <thing>" for each device (queued to the swarm's thread). Checks that every device received
// exactly its own message, and the peer every echo and direct message exactly once.
void exchange(DeviceSwarm& swarm, mqtt::Client& peer, Mailbox& devices_got, Mailbox& peer_got,
              const std::string& round) {
  for (std::size_t i = 0; i < swarm.size(); ++i) {
    const std::string& thing = swarm.client_id(i);
    auto sent = peer.publish(down_topic(thing), as_bytes(round + ":" + thing), 1);
    ASSERT_TRUE(sent) << sent.error().message;
    const std::string direct = round + "-direct:" + thing;
    auto queued =
        swarm.publish(i, up_topic(thing), Bytes(as_bytes(direct).begin(), as_bytes(direct).end()));
    ASSERT_TRUE(queued) << queued.error().message;
  }
  const std::size_t n = swarm.size();
  ASSERT_TRUE(peer_got.wait_for(2 * n, 30s))
      << "the peer got too few messages; swarm: " << swarm.stats().last_error;
  ASSERT_TRUE(devices_got.wait_for(n, 5s));
  auto at_devices = devices_got.take();
  ASSERT_EQ(at_devices.size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& thing = swarm.client_id(i);
    ASSERT_EQ(at_devices[i].size(), 1u) << thing;
    EXPECT_EQ(at_devices[i][0].first, down_topic(thing));
    EXPECT_EQ(at_devices[i][0].second, round + ":" + thing);
  }
  std::multiset<std::pair<std::string, std::string>> at_peer;
  auto received = peer_got.take();
  for (auto& m : received[0]) at_peer.insert(m);
  std::multiset<std::pair<std::string, std::string>> expected;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& thing = swarm.client_id(i);
    expected.insert({up_topic(thing), round + ":" + thing});
    expected.insert({up_topic(thing), round + "-direct:" + thing});
  }
  EXPECT_EQ(at_peer, expected);
}

TEST_F(DeviceSwarmTest, DevicesTalkAndAllReconnectAfterTheBrokerIsKilled) {
  constexpr std::size_t kDevices = 200;
  std::vector<SwarmDevice> devices = make_devices(kDevices);
  std::string error = broker_->start();
  ASSERT_TRUE(error.empty()) << error;

  Mailbox peer_got, devices_got;
  std::unique_ptr<mqtt::Client> peer = connect_peer(peer_got);
  ASSERT_TRUE(peer);
  ASSERT_TRUE(peer->subscribe("things/+/up", 1));
  ASSERT_TRUE(peer->wait_until(
      [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged >= 1; }, 20s));

  SwarmOptions options;
  options.broker = access_;
  options.reconnect_min = 50ms;
  options.reconnect_max = 500ms;
  std::atomic<std::size_t> disconnected_events{0};
  DeviceSwarm::Handlers handlers;
  handlers.on_message = [&](DeviceSwarm& swarm, std::size_t device, const std::string& topic,
                            ByteView payload) {
    devices_got.add(device, topic, text(payload));
    const std::string& thing = swarm.client_id(device);
    auto echoed = swarm.publish(device, up_topic(thing), Bytes(payload.begin(), payload.end()));
    if (!echoed) ADD_FAILURE() << echoed.error().message;
  };
  handlers.on_disconnected = [&](DeviceSwarm&, std::size_t) { ++disconnected_events; };

  const auto started = Clock::now();
  auto made = DeviceSwarm::start(std::move(devices), options, handlers);
  ASSERT_TRUE(made) << made.error().message;
  DeviceSwarm& swarm = **made;
  for (std::size_t i = 0; i < kDevices; ++i) {
    ASSERT_TRUE(swarm.subscribe(i, down_topic(swarm.client_id(i))));
  }
  ASSERT_TRUE(swarm.wait_all_connected(60s))
      << swarm.connected() << " of " << kDevices << " connected; " << swarm.stats().last_error;
  const auto connect_time = Clock::now() - started;
  ASSERT_TRUE(swarm.wait_all_ready(20s)) << swarm.stats().ready << " ready";
  std::cout << "[ swarm    ] " << kDevices << " devices connected in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(connect_time).count()
            << " ms\n";
  EXPECT_EQ(swarm.stats().connects, kDevices);
  EXPECT_EQ(swarm.stats().disconnects, 0u);

  ASSERT_NO_FATAL_FAILURE(exchange(swarm, *peer, devices_got, peer_got, "one"));
  ASSERT_TRUE(
      swarm.wait_until([&](const SwarmStats& s) { return s.messages_out == 2 * kDevices; }, 10s))
      << swarm.stats().messages_out;
  EXPECT_EQ(swarm.stats().messages_in, kDevices);
  EXPECT_EQ(swarm.stats().messages_dropped, 0u);

  // The broker dies mid-flight: every device notices and keeps trying.
  ASSERT_EQ(broker_->kill(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(swarm.wait_until(
      [&](const SwarmStats& s) { return s.connected == 0 && s.disconnects == kDevices; }, 30s))
      << swarm.connected() << " still connected";
  EXPECT_EQ(disconnected_events.load(), kDevices);
  EXPECT_EQ(swarm.connected(), 0u);
  // Meanwhile a message to a device that is not connected is dropped, and counted.
  ASSERT_TRUE(swarm.publish(0, up_topic(swarm.client_id(0)), Bytes{std::byte{1}}));
  ASSERT_TRUE(swarm.wait_until([](const SwarmStats& s) { return s.messages_dropped == 1; }, 10s));
  ASSERT_TRUE(swarm.wait_until([](const SwarmStats& s) { return s.failed_attempts > 0; }, 10s));

  const auto restarted = Clock::now();
  error = broker_->start();
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(swarm.wait_all_ready(60s))
      << swarm.stats().ready << " of " << kDevices << " ready; " << swarm.stats().last_error;
  std::cout
      << "[ swarm    ] " << kDevices << " devices reconnected in "
      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restarted).count()
      << " ms after the broker restarted\n";
  EXPECT_EQ(swarm.stats().connects, 2 * kDevices);

  // The peer reconnects on its own; its subscription must be live before the next round.
  ASSERT_TRUE(peer->wait_connected(30s));
  const auto acknowledged = peer->stats().subscriptions_acknowledged;
  ASSERT_TRUE(peer->subscribe("things/+/up", 1));
  ASSERT_TRUE(peer->wait_until(
      [&](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged > acknowledged; },
      20s));
  peer_got.take();
  devices_got.take();
  ASSERT_NO_FATAL_FAILURE(exchange(swarm, *peer, devices_got, peer_got, "two"));
  peer->stop();
}

TEST_F(DeviceSwarmTest, RefusesBadInputAndDropsMessagesForDevicesThatAreNotConnected) {
  std::vector<SwarmDevice> devices = make_devices(2);
  SwarmOptions options;
  options.broker = access_;  // no broker runs there
  options.reconnect_min = 20ms;
  options.reconnect_max = 50ms;

  auto none = DeviceSwarm::start({}, options, {});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("at least one device"), std::string::npos);

  auto twice = DeviceSwarm::start({devices[0], devices[0]}, options, {});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("used twice"), std::string::npos) << twice.error().message;

  auto bad_name = DeviceSwarm::start({{"bad/name", devices[0].identity}}, options, {});
  ASSERT_FALSE(bad_name);
  EXPECT_NE(bad_name.error().message.find("bad/name"), std::string::npos);

  SwarmOptions short_keepalive = options;
  short_keepalive.keepalive = std::chrono::seconds(1);
  auto keepalive = DeviceSwarm::start(devices, short_keepalive, {});
  ASSERT_FALSE(keepalive);
  EXPECT_NE(keepalive.error().message.find("keep-alive"), std::string::npos);

  // A certificate with another device's key is caught before anything connects.
  auto mismatched = DeviceSwarm::start(
      {{devices[0].client_id, {devices[0].identity.certificate, devices[1].identity.key_file}}},
      options, {});
  ASSERT_FALSE(mismatched);
  EXPECT_NE(mismatched.error().message.find(devices[0].client_id), std::string::npos);

  auto made = DeviceSwarm::start(devices, options, {});
  ASSERT_TRUE(made) << made.error().message;
  DeviceSwarm& swarm = **made;
  EXPECT_EQ(swarm.size(), 2u);
  EXPECT_FALSE(swarm.publish(2, "things/x/up", {}));
  EXPECT_FALSE(swarm.publish(0, "things/+/up", {}));
  EXPECT_FALSE(swarm.publish(0, "things/x/up", {}, 2));
  EXPECT_FALSE(swarm.publish(0, "things/x/up", Bytes(128 * 1024 + 1)));
  EXPECT_FALSE(swarm.subscribe(0, "things/#/up"));
  EXPECT_FALSE(swarm.subscribe(5, "things/#"));

  // Nothing listens: attempts fail and are retried, messages are dropped.
  ASSERT_TRUE(swarm.wait_until([](const SwarmStats& s) { return s.failed_attempts >= 4; }, 10s));
  EXPECT_NE(swarm.stats().last_error.find("127.0.0.1:" + std::to_string(port_)), std::string::npos)
      << swarm.stats().last_error;
  EXPECT_FALSE(swarm.wait_all_connected(50ms));
  ASSERT_TRUE(swarm.publish(1, "things/swarm-1/up", Bytes(3)));
  ASSERT_TRUE(swarm.wait_until([](const SwarmStats& s) { return s.messages_dropped == 1; }, 10s));
  EXPECT_EQ(swarm.stats().connects, 0u);
}

TEST_F(DeviceSwarmTest, RaisesTheDescriptorLimitOrSaysHowManyAreNeeded) {
  std::vector<SwarmDevice> one = make_devices(1);
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  if (original.rlim_max == RLIM_INFINITY || original.rlim_max < 1024) {
    GTEST_SKIP() << "needs a finite hard limit of at least 1024 descriptors";
  }
  SwarmOptions options;
  options.broker = access_;  // no broker: only the start matters

  // More devices than even the hard limit allows: refused, saying how many are needed.
  std::vector<SwarmDevice> too_many;
  const std::size_t count = original.rlim_max / 3 + 1;
  for (std::size_t i = 0; i < count; ++i) {
    too_many.push_back({"many-" + std::to_string(i), one[0].identity});
  }
  auto refused = DeviceSwarm::start(std::move(too_many), options, {});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find(std::to_string(count) + " devices need "),
            std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("hard limit"), std::string::npos);

  // A soft limit too low for 300 devices is raised to the hard limit.
  rlimit low = original;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<SwarmDevice> many;
  for (std::size_t i = 0; i < 300; ++i) {
    many.push_back({"many-" + std::to_string(i), one[0].identity});
  }
  auto made = DeviceSwarm::start(std::move(many), options, {});
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(now.rlim_cur, original.rlim_max);
}

}  // namespace
}  // namespace ironroot::testing

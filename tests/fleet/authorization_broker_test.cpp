// The broker plugin in a real Mosquitto: real certificates (crypto::CertificateAuthority), a real
// registry file, real mTLS clients (libs/mqtt with key files, and raw libmosquitto where an MQTT
// username is needed). Each test starts its own Mosquitto on free loopback ports.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/fleet/authorization.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/mqtt/client.hpp"
#include "reserved_topics.hpp"
#include "support/broker_process.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace ironroot::fleet::testing {
namespace {

using namespace std::chrono_literals;
using ironroot::testing::accepts_connections;
using ironroot::testing::free_port;
using ironroot::testing::TempDir;

constexpr auto kTimeout = 15s;

constexpr const char* kDevicePolicy = R"({"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect",
   "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
  {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
   "Resource": "arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/*"},
  {"Effect": "Allow", "Action": "iot:Subscribe",
   "Resource": "arn:aws:iot:*:*:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/*"}]})";

constexpr const char* kClaimPolicy = R"({"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
  {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
    "arn:aws:iot:*:*:topic/$aws/certificates/create/*",
    "arn:aws:iot:*:*:topic/$aws/provisioning-templates/factory/provision/*"]},
  {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
    "arn:aws:iot:*:*:topicfilter/$aws/certificates/create/*",
    "arn:aws:iot:*:*:topicfilter/$aws/provisioning-templates/factory/provision/*"]}]})";

// Allowed everything a policy can allow: what is still refused is the plugin's own rule.
constexpr const char* kEverythingPolicy = R"({"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})";

NewThing thing_named(const std::string& name) {
  NewThing thing;
  thing.name = name;
  return thing;
}

NewCa ca_of(const crypto::Certificate& certificate) {
  NewCa ca;
  ca.pem = certificate.pem();
  return ca;
}

std::unique_ptr<crypto::Signer> new_key() {
  return std::make_unique<crypto::PrivateKey>(
      *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
}

// Messages a client received, for a test to wait on.
class Inbox {
 public:
  void add(const mqtt::Message& message) {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    arrived_.notify_all();
  }
  // Waits until a message on `topic` arrived; returns every message so far.
  std::vector<mqtt::Message> wait_for_topic(const std::string& topic) {
    std::unique_lock lock(mutex_);
    arrived_.wait_for(lock, kTimeout, [&] {
      return std::any_of(messages_.begin(), messages_.end(),
                         [&](const mqtt::Message& m) { return m.topic == topic; });
    });
    return messages_;
  }
  // Waits until `done` holds for the messages so far; returns them.
  std::vector<mqtt::Message> wait_until(
      const std::function<bool(const std::vector<mqtt::Message>&)>& done) {
    std::unique_lock lock(mutex_);
    arrived_.wait_for(lock, kTimeout, [&] { return done(messages_); });
    return messages_;
  }
  std::vector<mqtt::Message> all() {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<mqtt::Message> messages_;
};

std::vector<std::string> topics_of(const std::vector<mqtt::Message>& messages) {
  std::vector<std::string> topics;
  for (const auto& m : messages) topics.push_back(m.topic);
  return topics;
}

// /usr/sbin/mosquitto with a given configuration, its log (stderr) in a file.
class Mosquitto {
 public:
  Mosquitto(std::filesystem::path config, std::filesystem::path log)
      : config_(std::move(config)), log_(std::move(log)) {}
  ~Mosquitto() { stop(); }

  // Starts it and waits until `ports` accept connections; returns why not otherwise.
  std::string start(const std::vector<std::uint16_t>& ports) {
    std::vector<std::string> args{"/usr/sbin/mosquitto", "-c", config_.string()};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return "cannot start mosquitto";
    }
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    for (;;) {
      if (std::all_of(ports.begin(), ports.end(), accepts_connections)) return {};
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = status;
        return "mosquitto exited:\n" + log();
      }
      if (std::chrono::steady_clock::now() > deadline) return "mosquitto did not start:\n" + log();
      std::this_thread::sleep_for(10ms);  // re-checks a condition; not a stand-in for one
    }
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  std::string log() const {
    std::ifstream in(log_);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  bool wait_for_log(const std::string& text) const {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (log().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

 private:
  std::filesystem::path config_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

// A client identity: a certificate and its key file.
struct Identity {
  crypto::Certificate certificate;
  std::filesystem::path certificate_file;
  std::filesystem::path key_file;
  std::string id() const { return certificate_id_of(certificate); }
};

class BrokerPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Mosquitto, started as root, runs as user mosquitto: it must be able to enter the folder
    // and read the registry.
    ::chmod(dir_.path().c_str(), 0755);
    auto validity = crypto::validity_from_now(
        crypto::kDefaultCaValidity,
        std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    auto ca = crypto::CertificateAuthority::create_root({"Acme Device CA", "", "Acme"}, new_key(),
                                                        validity);
    ASSERT_TRUE(ca) << ca.error().message;
    device_ca_.emplace(std::move(*ca));
    auto fleet_ca = crypto::CertificateAuthority::create_root({"Acme Fleet CA", "", "Acme"},
                                                              new_key(), validity);
    ASSERT_TRUE(fleet_ca) << fleet_ca.error().message;
    fleet_ca_.emplace(std::move(*fleet_ca));

    write(dir_ / "device-ca.crt", device_ca_->certificate().pem());
    write(dir_ / "fleet-ca.crt", fleet_ca_->certificate().pem());
    auto server_key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
    std::vector<std::string> names{"127.0.0.1"};
    auto server = device_ca_->issue_server_certificate({"broker", "", ""}, server_key->public_key(),
                                                       names, device_validity());
    ASSERT_TRUE(server) << server.error().message;
    write(dir_ / "server.crt", server->pem());
    write(dir_ / "server.key", *server_key->pem());
    fleet_ = issue("ironroot-fleet", *fleet_ca_);

    auto registry = Registry::open(dir_ / "registry.db");
    ASSERT_TRUE(registry) << registry.error().message;
    registry_.emplace(std::move(*registry));
    ASSERT_TRUE(registry_->register_ca("test", ca_of(device_ca_->certificate())));
    ASSERT_TRUE(registry_->create_policy("test", "device", kDevicePolicy));

    port_ = free_port();
    do {
      fleet_port_ = free_port();
    } while (fleet_port_ == port_);
  }

  void TearDown() override {
    for (auto& c : clients_) c->stop();
    if (mosquitto_) mosquitto_->stop();
    if (HasFailure() && mosquitto_) std::cerr << "mosquitto's log:\n" << mosquitto_->log();
  }

  static crypto::Validity device_validity() {
    return crypto::validity_from_now(
        std::chrono::days(30),
        std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  }

  void write(const std::filesystem::path& path, const std::string& text) {
    ASSERT_TRUE(write_file_atomic(path, as_bytes(text), 0644));
  }

  // A key file and a certificate for CN `name` from `ca`.
  Identity issue(const std::string& name, crypto::CertificateAuthority& ca) {
    auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
    auto csr = crypto::CertificateRequest::create({name, "SN-" + name, ""}, *key);
    auto cert = ca.issue_device_certificate(*csr, device_validity());
    if (!cert) throw std::runtime_error(cert.error().message);
    const std::string file = name + "-" + std::to_string(++issued_);
    Identity identity{*cert, dir_ / (file + ".crt"), dir_ / (file + ".key")};
    write(identity.certificate_file, cert->pem());
    EXPECT_TRUE(write_file_atomic(identity.key_file, as_bytes(*key->pem()), 0600));
    return identity;
  }

  // A thing `name` with a registered certificate, attached, carrying `policy`.
  Identity device(const std::string& name, const std::string& policy = "device") {
    EXPECT_TRUE(registry_->create_thing("test", thing_named(name)));
    Identity identity = issue(name, *device_ca_);
    auto record = registry_->register_certificate("test", identity.certificate.pem());
    EXPECT_TRUE(record) << record.error().message;
    EXPECT_TRUE(registry_->attach_certificate("test", identity.id(), name));
    EXPECT_TRUE(registry_->attach_policy_to_certificate("test", policy, identity.id()));
    return identity;
  }

  // The configuration the fleet service writes (docs/broker-plugin.md), on test ports.
  void start_broker(bool device_identity_as_username = false) {
    std::string error = try_start_broker(device_identity_as_username);
    ASSERT_TRUE(error.empty()) << error;
  }
  // Starts Mosquitto; returns why it did not start.
  std::string try_start_broker(bool device_identity_as_username = false) {
    std::ostringstream conf;
    conf << "per_listener_settings true\n"
         << "persistence false\n"
         << "log_dest stderr\n"
         << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
         << "set_tcp_nodelay true\n"
         << "\nlistener " << port_ << " 127.0.0.1\n"
         << "cafile " << (dir_ / "device-ca.crt").string() << "\n"
         << "certfile " << (dir_ / "server.crt").string() << "\n"
         << "keyfile " << (dir_ / "server.key").string() << "\n"
         << "tls_version tlsv1.2\n"
         << "require_certificate true\n"
         << (device_identity_as_username ? "use_identity_as_username true\n" : "") << "plugin "
         << IRONROOT_BROKER_PLUGIN << "\n"
         << "plugin_opt_role device\n"
         << "plugin_opt_registry " << (dir_ / "registry.db").string() << "\n"
         << (topic_prefix_.empty() ? "" : "plugin_opt_topic_prefix " + topic_prefix_ + "\n")
         << "\nlistener " << fleet_port_ << " 127.0.0.1\n"
         << "cafile " << (dir_ / "fleet-ca.crt").string() << "\n"
         << "certfile " << (dir_ / "server.crt").string() << "\n"
         << "keyfile " << (dir_ / "server.key").string() << "\n"
         << "tls_version tlsv1.2\n"
         << "require_certificate true\n"
         << "use_identity_as_username true\n"
         << "plugin " << IRONROOT_BROKER_PLUGIN << "\n"
         << "plugin_opt_role fleet\n";
    write(dir_ / "mosquitto.conf", conf.str());
    mosquitto_ = std::make_unique<Mosquitto>(dir_ / "mosquitto.conf", dir_ / "mosquitto.log");
    return mosquitto_->start({port_, fleet_port_});
  }

  // A started libs/mqtt client (MQTT 5, persistent session, fast back-off).
  mqtt::Client& client(const Identity& identity, const std::string& client_id,
                       Inbox* inbox = nullptr, bool fleet_port = false) {
    mqtt::TlsSettings settings;
    settings.trusted = {device_ca_->certificate()};
    settings.server_name = "127.0.0.1";
    settings.client_chain = {identity.certificate};
    settings.client_key = identity.key_file.string();
    auto tls = mqtt::TlsContext::create(settings);
    if (!tls) throw std::runtime_error(tls.error().message);
    mqtt::ClientOptions options;
    options.host = "127.0.0.1";
    options.port = fleet_port ? fleet_port_ : port_;
    options.client_id = client_id;
    options.tls = *tls;
    options.backoff = {50ms, 500ms, 2.0, 0.5};
    if (inbox != nullptr) options.on_message = [inbox](const mqtt::Message& m) { inbox->add(m); };
    auto created = mqtt::Client::create(std::move(options));
    if (!created) throw std::runtime_error(created.error().message);
    clients_.push_back(std::move(*created));
    clients_.back()->start();
    return *clients_.back();
  }
  mqtt::Client& fleet_client(Inbox* inbox = nullptr) {
    return client(*fleet_, "ironroot-fleet", inbox, true);
  }

  static void expect_connected(mqtt::Client& c) {
    auto connected = c.wait_connected(kTimeout);
    ASSERT_TRUE(connected) << connected.error().message;
  }
  // Subscribes and waits for the SUBACK; returns the client's last error afterwards.
  static std::string subscribe(mqtt::Client& c, const std::string& filter) {
    const auto before = c.stats().subscriptions_acknowledged;
    EXPECT_TRUE(c.subscribe(filter, 1));
    EXPECT_TRUE(c.wait_until(
        [&](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged > before; },
        kTimeout));
    return c.stats().last_error;
  }
  // Publishes at QoS 1 and waits for the PUBACK; returns the client's last error afterwards.
  static std::string publish(mqtt::Client& c, const std::string& topic,
                             const std::string& payload = "{}") {
    const auto before = c.stats().acknowledged;
    EXPECT_TRUE(c.publish(topic, as_bytes(payload), 1));
    EXPECT_TRUE(c.wait_until([&](const mqtt::ClientStats& s) { return s.acknowledged > before; },
                             kTimeout));
    return c.stats().last_error;
  }
  // Waits until the broker refused `c`'s connection at least once.
  static void expect_refused(mqtt::Client& c) {
    EXPECT_TRUE(c.wait_until(
        [](const mqtt::ClientStats& s) {
          return s.last_error.find("refused the connection") != std::string::npos;
        },
        kTimeout))
        << c.stats().last_error;
    EXPECT_EQ(c.stats().connections, 0u);
  }

  TempDir dir_;
  std::optional<crypto::CertificateAuthority> device_ca_;
  std::optional<crypto::CertificateAuthority> fleet_ca_;
  std::optional<Identity> fleet_;
  std::optional<Registry> registry_;
  std::uint16_t port_ = 0;
  std::uint16_t fleet_port_ = 0;
  std::string topic_prefix_;  // plugin_opt_topic_prefix, when not empty
  std::unique_ptr<Mosquitto> mosquitto_;
  std::vector<std::unique_ptr<mqtt::Client>> clients_;
  int issued_ = 0;
};

// A raw libmosquitto client (MQTT 5, key files), for what libs/mqtt does not set: a username.
class RawClient {
 public:
  RawClient(const Identity& identity, const std::filesystem::path& ca_file,
            const std::string& client_id, const std::string& username) {
    mosquitto_lib_init();
    m_ = mosquitto_new(client_id.c_str(), true, this);
    mosquitto_int_option(m_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_username_pw_set(m_, username.c_str(), nullptr);
    mosquitto_tls_set(m_, ca_file.c_str(), nullptr, identity.certificate_file.c_str(),
                      identity.key_file.c_str(), nullptr);
    mosquitto_connect_v5_callback_set(
        m_, [](mosquitto*, void* self, int rc, int, const mosquitto_property*) {
          static_cast<RawClient*>(self)->note([&](RawClient& c) { c.connack_ = rc; });
        });
    mosquitto_publish_v5_callback_set(
        m_, [](mosquitto*, void* self, int mid, int reason, const mosquitto_property*) {
          static_cast<RawClient*>(self)->note([&](RawClient& c) { c.pubacks_[mid] = reason; });
        });
  }
  ~RawClient() {
    mosquitto_disconnect(m_);
    mosquitto_loop_stop(m_, true);
    mosquitto_destroy(m_);
    mosquitto_lib_cleanup();
  }
  // Connects and returns the CONNACK reason code (-1: none in time).
  int connect(std::uint16_t port) {
    if (mosquitto_connect(m_, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) return -1;
    mosquitto_loop_start(m_);
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kTimeout, [&] { return connack_ >= 0; });
    return connack_;
  }
  // Publishes at QoS 1 and returns the PUBACK reason code (-1: none in time).
  int publish(const std::string& topic) {
    int mid = 0;
    if (mosquitto_publish_v5(m_, &mid, topic.c_str(), 2, "{}", 1, false, nullptr) != 0) return -1;
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kTimeout, [&] { return pubacks_.count(mid) > 0; });
    return pubacks_.count(mid) > 0 ? pubacks_[mid] : -1;
  }

 private:
  template <class F>
  void note(F&& change) {
    std::lock_guard lock(mutex_);
    change(*this);
    changed_.notify_all();
  }

  mosquitto* m_ = nullptr;
  std::mutex mutex_;
  std::condition_variable changed_;
  int connack_ = -1;
  std::map<int, int> pubacks_;
};

TEST_F(BrokerPluginTest, ADeviceReachesOnlyItsOwnTopics) {
  Identity lamp1 = device("lamp-1");
  Identity lamp2 = device("lamp-2");
  ASSERT_NO_FATAL_FAILURE(start_broker());
  Inbox inbox1, inbox2, fleet_inbox;
  mqtt::Client& fleet = fleet_client(&fleet_inbox);
  mqtt::Client& c1 = client(lamp1, "lamp-1", &inbox1);
  mqtt::Client& c2 = client(lamp2, "lamp-2", &inbox2);
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c1));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c2));
  EXPECT_EQ(subscribe(c1, "$aws/things/lamp-1/#"), "");
  EXPECT_EQ(subscribe(c2, "$aws/things/lamp-2/#"), "");
  EXPECT_EQ(subscribe(fleet, "$aws/things/#"), "");

  // Another thing's topic: refused, logged with its reason, delivered to nobody.
  EXPECT_NE(publish(c1, "$aws/things/lamp-2/jobs/$next/get").find("Not authorized"),
            std::string::npos);
  EXPECT_TRUE(mosquitto_->wait_for_log(
      "client 'lamp-1' (certificate " + lamp1.id().substr(0, 12) +
      "...) no policy allows iot:Publish on topic/$aws/things/lamp-2/jobs/$next/get"));
  EXPECT_NE(subscribe(c1, "$aws/things/lamp-2/#").find("refused a subscription"),
            std::string::npos);
  EXPECT_NE(subscribe(c1, "$aws/things/+/jobs/notify").find("refused a subscription"),
            std::string::npos);
  EXPECT_NE(publish(c1, "$ironroot/to/lamp-2/$aws/things/lamp-2/x").find("Not authorized"),
            std::string::npos);

  // The session stays usable for its own topics.
  EXPECT_TRUE(c1.publish("$aws/things/lamp-1/telemetry", as_bytes("{}"), 1));
  EXPECT_EQ(topics_of(inbox1.wait_for_topic("$aws/things/lamp-1/telemetry")),
            std::vector<std::string>{"$aws/things/lamp-1/telemetry"});
  EXPECT_TRUE(fleet.publish("$aws/things/lamp-2/marker", as_bytes("{}"), 1));
  EXPECT_EQ(topics_of(inbox2.wait_for_topic("$aws/things/lamp-2/marker")),
            std::vector<std::string>{"$aws/things/lamp-2/marker"});
  EXPECT_EQ(
      topics_of(fleet_inbox.wait_for_topic("$aws/things/lamp-2/marker")),
      (std::vector<std::string>{"$aws/things/lamp-1/telemetry", "$aws/things/lamp-2/marker"}));
  EXPECT_EQ(c1.stats().connection_losses, 0u);
}

TEST_F(BrokerPluginTest, AnUnknownOrInactiveCertificateCannotConnect) {
  device("lamp-1");
  Identity unknown = issue("lamp-1", *device_ca_);  // same CA and CN, never registered
  Identity inactive = device("lamp-2");
  ASSERT_TRUE(
      registry_->set_certificate_status("test", inactive.id(), CertificateStatus::inactive));
  ASSERT_NO_FATAL_FAILURE(start_broker());

  mqtt::Client& c1 = client(unknown, "lamp-1");
  expect_refused(c1);
  EXPECT_TRUE(mosquitto_->wait_for_log("certificate " + unknown.id().substr(0, 12) +
                                       "... is not registered"));
  mqtt::Client& c2 = client(inactive, "lamp-2");
  expect_refused(c2);
  EXPECT_TRUE(
      mosquitto_->wait_for_log("certificate " + inactive.id().substr(0, 12) + "... is INACTIVE"));
}

TEST_F(BrokerPluginTest, RevokingDisconnectsAtOnceAndRefusesTheReconnection) {
  Identity lamp1 = device("lamp-1");
  ASSERT_NO_FATAL_FAILURE(start_broker());
  mqtt::Client& fleet = fleet_client();
  mqtt::Client& c1 = client(lamp1, "lamp-1");
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c1));
  EXPECT_EQ(subscribe(c1, "$aws/things/lamp-1/jobs/notify"), "");

  // What the fleet service does: commit, then tell the broker.
  ASSERT_TRUE(registry_->set_certificate_status("test", lamp1.id(), CertificateStatus::revoked));
  EXPECT_EQ(publish(fleet, std::string(broker::kRegistryChangedTopic)), "");
  EXPECT_TRUE(
      c1.wait_until([](const mqtt::ClientStats& s) { return s.connection_losses > 0; }, kTimeout));
  EXPECT_TRUE(mosquitto_->wait_for_log("disconnecting client 'lamp-1'"));
  // It reconnects at once (back-off 50 ms) and is refused, again and again.
  EXPECT_TRUE(c1.wait_until(
      [](const mqtt::ClientStats& s) {
        return s.failed_attempts >= 2 &&
               s.last_error.find("refused the connection") != std::string::npos;
      },
      kTimeout))
      << c1.stats().last_error;
  EXPECT_EQ(c1.stats().connections, 1u);
  EXPECT_TRUE(mosquitto_->wait_for_log("is REVOKED"));
}

TEST_F(BrokerPluginTest, AClaimCertificateReachesOnlyTheProvisioningTopics) {
  ASSERT_TRUE(registry_->create_policy("test", "claim", kClaimPolicy));
  Identity claim = issue("claim", *device_ca_);
  ASSERT_TRUE(registry_->register_certificate("test", claim.certificate.pem()));
  ASSERT_TRUE(registry_->attach_policy_to_certificate("test", "claim", claim.id()));
  ASSERT_NO_FATAL_FAILURE(start_broker());
  Inbox inbox, fleet_inbox;
  mqtt::Client& fleet = fleet_client(&fleet_inbox);
  mqtt::Client& c = client(claim, "serial-0042", &inbox);
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c));
  EXPECT_EQ(subscribe(fleet, std::string(broker::kFromPrefix) + "#"), "");

  EXPECT_EQ(subscribe(c, "$aws/certificates/create/json/accepted"), "");
  EXPECT_EQ(subscribe(c, "$aws/provisioning-templates/factory/provision/json/accepted"), "");
  EXPECT_NE(subscribe(c, "$aws/things/serial-0042/#").find("refused"), std::string::npos);
  EXPECT_NE(publish(c, "$aws/things/serial-0042/jobs/$next/get").find("Not authorized"),
            std::string::npos);
  EXPECT_NE(publish(c, "$aws/provisioning-templates/other/provision/json").find("Not authorized"),
            std::string::npos);
  EXPECT_TRUE(c.publish("$aws/certificates/create/json", as_bytes("{}"), 1));
  const std::string request = std::string(broker::kFromPrefix) + "serial-0042/" + claim.id() +
                              "/$aws/certificates/create/json";
  EXPECT_EQ(topics_of(fleet_inbox.wait_for_topic(request)), std::vector<std::string>{request});
  EXPECT_TRUE(fleet.publish("$aws/certificates/create/json/accepted", as_bytes("{}"), 1));
  EXPECT_EQ(topics_of(inbox.wait_for_topic("$aws/certificates/create/json/accepted")),
            std::vector<std::string>{"$aws/certificates/create/json/accepted"});
}

TEST_F(BrokerPluginTest, AReplyReachesTheRequesterWithoutASubscriptionAndNobodyElse) {
  Identity lamp1 = device("lamp-1");
  ASSERT_TRUE(registry_->create_policy("test", "everything", kEverythingPolicy));
  Identity spy = device("spy", "everything");
  ASSERT_NO_FATAL_FAILURE(start_broker());
  Inbox inbox, spy_inbox, fleet_inbox;
  mqtt::Client& fleet = fleet_client(&fleet_inbox);
  mqtt::Client& c1 = client(lamp1, "lamp-1", &inbox);
  mqtt::Client& s = client(spy, "spy", &spy_inbox);
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c1));
  ASSERT_NO_FATAL_FAILURE(expect_connected(s));
  EXPECT_EQ(subscribe(s, "$aws/things/lamp-1/#"), "");
  EXPECT_NE(subscribe(s, "$ironroot/#").find("refused"), std::string::npos);
  EXPECT_EQ(subscribe(fleet, "$ironroot/to/#"), "");
  EXPECT_EQ(subscribe(fleet, "$aws/things/lamp-1/marker"), "");

  const std::string reply = "$aws/things/lamp-1/jobs/$next/get/accepted";
  EXPECT_EQ(publish(fleet, std::string(broker::kRelayPrefix) + "lamp-1/" + reply,
                    R"({"clientToken":"t1"})"),
            "");
  auto received = inbox.wait_for_topic(reply);
  ASSERT_EQ(topics_of(received), std::vector<std::string>{reply});
  EXPECT_EQ(as_chars(received[0].payload), R"({"clientToken":"t1"})");

  // Nobody else: after the marker, published later, the spy and the fleet have the marker only.
  EXPECT_TRUE(fleet.publish("$aws/things/lamp-1/marker", as_bytes("{}"), 1));
  EXPECT_EQ(topics_of(spy_inbox.wait_for_topic("$aws/things/lamp-1/marker")),
            std::vector<std::string>{"$aws/things/lamp-1/marker"});
  EXPECT_EQ(topics_of(fleet_inbox.wait_for_topic("$aws/things/lamp-1/marker")),
            std::vector<std::string>{"$aws/things/lamp-1/marker"});
  // The spy's policy allows everything, yet $ironroot stays the fleet's.
  EXPECT_NE(
      publish(s, std::string(broker::kRelayPrefix) + "lamp-1/" + reply).find("Not authorized"),
      std::string::npos);
  EXPECT_EQ(inbox.all().size(), 1u);  // the reply, nothing else
}

TEST_F(BrokerPluginTest, AnApiRequestReachesOnlyTheFleetWithItsSender) {
  constexpr const char* kCsrClaimPolicy = R"({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": "arn:aws:iot:*:*:topic/$aws/certificates/create-from-csr/*"},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": "arn:aws:iot:*:*:topicfilter/$aws/certificates/create-from-csr/*"}]})";
  ASSERT_TRUE(registry_->create_policy("test", "csr-claim", kCsrClaimPolicy));
  Identity claim = issue("claim", *device_ca_);
  ASSERT_TRUE(registry_->register_certificate("test", claim.certificate.pem()));
  ASSERT_TRUE(registry_->attach_policy_to_certificate("test", "csr-claim", claim.id()));
  ASSERT_TRUE(registry_->create_policy("test", "everything", kEverythingPolicy));
  Identity spy = device("spy", "everything");
  ASSERT_NO_FATAL_FAILURE(start_broker());
  Inbox inbox, spy_inbox, fleet_inbox;
  mqtt::Client& fleet = fleet_client(&fleet_inbox);
  mqtt::Client& c = client(claim, "serial-0042", &inbox);
  mqtt::Client& s = client(spy, "spy", &spy_inbox);
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c));
  ASSERT_NO_FATAL_FAILURE(expect_connected(s));
  EXPECT_EQ(subscribe(fleet, std::string(broker::kFromPrefix) + "#"), "");
  EXPECT_EQ(subscribe(fleet, "$aws/certificates/#"), "");
  EXPECT_EQ(subscribe(s, "$aws/certificates/#"), "");
  EXPECT_EQ(subscribe(c, "$aws/certificates/create-from-csr/#"), "");
  // Nobody may pass for the plugin: neither a device nor the fleet service itself.
  const std::string forged =
      std::string(broker::kFromPrefix) + "spy/" + spy.id() + "/$aws/certificates/create/json";
  EXPECT_NE(publish(s, forged).find("Not authorized"), std::string::npos);
  EXPECT_NE(subscribe(s, std::string(broker::kFromPrefix) + "#").find("refused"),
            std::string::npos);

  const std::string topic = "$aws/certificates/create-from-csr/json";
  const std::string payload =
      R"({"certificateSigningRequest":"-----BEGIN CERTIFICATE REQUEST-----\n"})";
  EXPECT_EQ(publish(c, topic, payload), "");
  const std::string rewritten =
      std::string(broker::kFromPrefix) + "serial-0042/" + claim.id() + "/" + topic;
  auto received = fleet_inbox.wait_for_topic(rewritten);
  ASSERT_EQ(topics_of(received), std::vector<std::string>{rewritten});
  EXPECT_EQ(as_chars(received[0].payload), payload);

  // The reply, relayed to the requester alone.
  const std::string reply = topic + "/accepted";
  EXPECT_EQ(publish(fleet, std::string(broker::kRelayPrefix) + "serial-0042/" + reply,
                    R"({"certificateId":"x"})"),
            "");
  auto replies = inbox.wait_for_topic(reply);
  ASSERT_EQ(topics_of(replies), std::vector<std::string>{reply});
  EXPECT_EQ(as_chars(replies[0].payload), R"({"certificateId":"x"})");

  // After a marker published later, the spy, the requester and the fleet's `$aws/...`
  // subscription have seen nothing of the request.
  const std::string marker = "$aws/certificates/create-from-csr/json/rejected";
  EXPECT_EQ(publish(fleet, marker), "");
  EXPECT_EQ(topics_of(spy_inbox.wait_for_topic(marker)), std::vector<std::string>{marker});
  EXPECT_EQ(topics_of(inbox.wait_for_topic(marker)), (std::vector<std::string>{reply, marker}));
  EXPECT_EQ(topics_of(fleet_inbox.wait_for_topic(marker)),
            (std::vector<std::string>{rewritten, marker}));
  // Last: a refusal stays the client's last error.
  EXPECT_NE(publish(fleet, forged).find("Not authorized"), std::string::npos);
}

// MQTT file streams as AWS's OTA agent uses them: it subscribes to its stream's data topic at
// QoS 0, publishes GetStream at QoS 0, and reads the blocks; the request reaches the fleet
// service alone, rewritten with its sender, and each block the service relays reaches that device
// once, at the QoS the service published it with.
TEST_F(BrokerPluginTest, AStreamRequestReachesOnlyTheFleetAndItsBlocksOnlyItsDevice) {
  Identity lamp1 = device("lamp-1");
  ASSERT_TRUE(registry_->create_policy("test", "everything", kEverythingPolicy));
  Identity spy = device("spy", "everything");
  ASSERT_NO_FATAL_FAILURE(start_broker());
  Inbox inbox, spy_inbox, fleet_inbox;
  mqtt::Client& fleet = fleet_client(&fleet_inbox);
  mqtt::Client& c1 = client(lamp1, "lamp-1", &inbox);
  mqtt::Client& s = client(spy, "spy", &spy_inbox);
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c1));
  ASSERT_NO_FATAL_FAILURE(expect_connected(s));
  const std::string stream = "$aws/things/lamp-1/streams/fw-0123";
  const std::string data = stream + "/data/cbor";
  EXPECT_TRUE(c1.subscribe(data, 0));
  EXPECT_TRUE(c1.wait_until(
      [](const mqtt::ClientStats& st) { return st.subscriptions_acknowledged > 0; }, kTimeout));
  EXPECT_EQ(c1.stats().last_error, "");
  EXPECT_EQ(subscribe(s, "$aws/things/lamp-1/#"), "");
  EXPECT_EQ(subscribe(fleet, std::string(broker::kFromPrefix) + "#"), "");
  EXPECT_EQ(subscribe(fleet, "$aws/#"), "");

  for (const std::string& request : {stream + "/get/cbor", stream + "/describe/json"}) {
    const auto before = c1.stats().acknowledged;
    ASSERT_TRUE(c1.publish(request, as_bytes("request"), 0));
    EXPECT_TRUE(c1.wait_until([&](const mqtt::ClientStats& st) { return st.acknowledged > before; },
                              kTimeout));
    const std::string rewritten =
        std::string(broker::kFromPrefix) + "lamp-1/" + lamp1.id() + "/" + request;
    EXPECT_EQ(fleet_inbox.wait_for_topic(rewritten).back().topic, rewritten);
  }
  // A block at QoS 0 (on the subscribed topic) and the description at QoS 1 (not subscribed).
  ASSERT_TRUE(
      fleet.publish(std::string(broker::kRelayPrefix) + "lamp-1/" + data, as_bytes("block 0"), 0));
  const std::string description = stream + "/description/json";
  EXPECT_EQ(publish(fleet, std::string(broker::kRelayPrefix) + "lamp-1/" + description, "{}"), "");
  inbox.wait_for_topic(data);
  inbox.wait_for_topic(description);

  // A marker on the data topic, published later: by then the device has each relayed message once
  // and the spy and the fleet's `$aws/#` nothing of the requests or replies.
  EXPECT_EQ(publish(fleet, data, "marker"), "");
  auto received = inbox.wait_until([](const std::vector<mqtt::Message>& messages) {
    return std::any_of(messages.begin(), messages.end(),
                       [](const mqtt::Message& m) { return as_chars(m.payload) == "marker"; });
  });
  ASSERT_EQ(topics_of(received).size(), 3u) << ::testing::PrintToString(topics_of(received));
  for (const mqtt::Message& m : received) {
    if (m.topic == data && as_chars(m.payload) == "block 0") {
      EXPECT_EQ(m.qos, 0);
    }
    if (m.topic == description) {
      EXPECT_EQ(m.qos, 1);
    }
  }
  EXPECT_EQ(topics_of(spy_inbox.wait_for_topic(data)), std::vector<std::string>{data});
  const auto fleet_seen = topics_of(fleet_inbox.wait_for_topic(data));
  EXPECT_EQ(std::count(fleet_seen.begin(), fleet_seen.end(), data), 1) << fleet_seen.size();
  EXPECT_EQ(std::count_if(fleet_seen.begin(), fleet_seen.end(),
                          [](const std::string& t) {
                            return t.starts_with("$aws/things/lamp-1/streams/fw-0123/get");
                          }),
            0);
}

TEST_F(BrokerPluginTest, AJobsRequestUnderAConfiguredPrefixNamesItsThing) {
  ASSERT_TRUE(registry_->create_policy("test", "everything", kEverythingPolicy));
  Identity lamp1 = device("lamp-1", "everything");
  Identity other = issue("other", *device_ca_);
  ASSERT_TRUE(registry_->register_certificate("test", other.certificate.pem()));
  ASSERT_TRUE(registry_->attach_policy_to_certificate("test", "everything", other.id()));
  topic_prefix_ = "$acme";
  ASSERT_NO_FATAL_FAILURE(start_broker());
  Inbox fleet_inbox;
  mqtt::Client& fleet = fleet_client(&fleet_inbox);
  mqtt::Client& c1 = client(lamp1, "lamp-1");
  mqtt::Client& c2 = client(other, "site/lamp-2");
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c1));
  ASSERT_NO_FATAL_FAILURE(expect_connected(c2));
  EXPECT_EQ(subscribe(fleet, "$aws/#"), "");
  EXPECT_EQ(subscribe(fleet, "$acme/#"), "");
  EXPECT_EQ(subscribe(fleet, std::string(broker::kFromPrefix) + "#"), "");

  // A client id with '/' cannot be named in $ironroot/from/: its request is refused.
  EXPECT_NE(publish(c2, "$acme/things/site/jobs/get").find("Not authorized"), std::string::npos);
  EXPECT_TRUE(mosquitto_->wait_for_log("contains '/'"));
  // Under another prefix than the configured one, the same kind of topic is an ordinary one.
  const std::string plain = "$aws/things/lamp-1/jobs/$next/get";
  EXPECT_EQ(publish(c1, plain), "");
  EXPECT_EQ(publish(c1, "$acme/things/lamp-1/jobs/job-7/update", R"({"status":"SUCCEEDED"})"), "");
  const std::string rewritten = std::string(broker::kFromPrefix) + "lamp-1/" + lamp1.id() +
                                "/$acme/things/lamp-1/jobs/job-7/update";
  EXPECT_EQ(topics_of(fleet_inbox.wait_for_topic(rewritten)),
            (std::vector<std::string>{plain, rewritten}));
}

TEST_F(BrokerPluginTest, AnUnusableTopicPrefixStopsTheBroker) {
  topic_prefix_ = "$ironroot/api";
  std::string error = try_start_broker();
  EXPECT_NE(error.find("mosquitto exited"), std::string::npos) << error;
  EXPECT_NE(error.find("plugin_opt_topic_prefix '$ironroot/api' is under $ironroot"),
            std::string::npos)
      << error;
}

TEST_F(BrokerPluginTest, AnSdkMetricsUsernameChangesNothing) {
  Identity lamp1 = device("lamp-1");
  ASSERT_NO_FATAL_FAILURE(start_broker());
  Inbox fleet_inbox;
  mqtt::Client& fleet = fleet_client(&fleet_inbox);
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  EXPECT_EQ(subscribe(fleet, "$aws/things/#"), "");

  RawClient sdk(lamp1, dir_ / "device-ca.crt", "lamp-1", "?SDK=Python&Version=1.0.0");
  ASSERT_EQ(sdk.connect(port_), 0);
  EXPECT_EQ(sdk.publish("$aws/things/lamp-1/x"), 0);
  EXPECT_EQ(sdk.publish("$aws/things/lamp-2/x"), 0x87);  // Not authorized
  EXPECT_EQ(topics_of(fleet_inbox.wait_for_topic("$aws/things/lamp-1/x")),
            std::vector<std::string>{"$aws/things/lamp-1/x"});

  // A username naming another thing gives none of its rights.
  RawClient pretender(lamp1, dir_ / "device-ca.crt", "lamp-2", "lamp-2");
  EXPECT_EQ(pretender.connect(port_), 0x87);
}

TEST_F(BrokerPluginTest, APendingCertificateOfAnAutoRegistrationCaIsReportedToTheFleet) {
  const std::string ca_id = certificate_id_of(device_ca_->certificate());
  ASSERT_TRUE(registry_->set_ca_auto_registration("test", ca_id, true));
  Identity pending = issue("lamp-9", *device_ca_);
  ASSERT_TRUE(registry_->register_certificate("test", pending.certificate.pem(),
                                              CertificateStatus::pending_activation));
  ASSERT_NO_FATAL_FAILURE(start_broker());
  Inbox fleet_inbox;
  mqtt::Client& fleet = fleet_client(&fleet_inbox);
  ASSERT_NO_FATAL_FAILURE(expect_connected(fleet));
  EXPECT_EQ(subscribe(fleet, std::string(broker::kEventsPrefix) + "#"), "");

  mqtt::Client& c = client(pending, "lamp-9");
  expect_refused(c);
  const std::string topic = std::string(broker::kJustInTimeEventPrefix) + ca_id;
  auto events = fleet_inbox.wait_for_topic(topic);
  ASSERT_FALSE(events.empty());
  auto event = nlohmann::json::parse(as_chars(events[0].payload));
  EXPECT_EQ(event["certificateId"], pending.id());
  EXPECT_EQ(event["caCertificateId"], ca_id);
  EXPECT_EQ(event["certificateStatus"], "PENDING_ACTIVATION");
  EXPECT_EQ(event["clientId"], "lamp-9");
}

TEST_F(BrokerPluginTest, WithIdentityAsUsernameTheFirstRequestChecksTheConnection) {
  Identity lamp1 = device("lamp-1");
  Identity inactive = device("lamp-2");
  ASSERT_TRUE(
      registry_->set_certificate_status("test", inactive.id(), CertificateStatus::inactive));
  ASSERT_NO_FATAL_FAILURE(start_broker(/*device_identity_as_username=*/true));
  mqtt::Client& c1 = client(lamp1, "lamp-1");
  ASSERT_NO_FATAL_FAILURE(expect_connected(c1));
  EXPECT_EQ(publish(c1, "$aws/things/lamp-1/x"), "");
  EXPECT_NE(publish(c1, "$aws/things/lamp-2/x").find("Not authorized"), std::string::npos);

  // Mosquitto accepts the connection (no connect hook); its first request is refused and the
  // client is disconnected.
  mqtt::Client& c2 = client(inactive, "lamp-2");
  ASSERT_NO_FATAL_FAILURE(expect_connected(c2));
  EXPECT_TRUE(c2.publish("$aws/things/lamp-2/x", as_bytes("{}"), 1));
  EXPECT_TRUE(
      c2.wait_until([](const mqtt::ClientStats& s) { return s.connection_losses > 0; }, kTimeout));
  EXPECT_TRUE(mosquitto_->wait_for_log("is INACTIVE"));
}

TEST_F(BrokerPluginTest, ABadConfigurationStopsTheBroker) {
  std::ostringstream conf;
  conf << "per_listener_settings true\nlog_dest stderr\n"
       << "listener " << port_ << " 127.0.0.1\n"
       << "plugin " << IRONROOT_BROKER_PLUGIN << "\n"
       << "plugin_opt_role device\n"
       << "plugin_opt_registry " << (dir_ / "missing.db").string() << "\n";
  write(dir_ / "bad.conf", conf.str());
  Mosquitto bad(dir_ / "bad.conf", dir_ / "bad.log");
  std::string error = bad.start({port_});
  EXPECT_NE(error.find("mosquitto exited"), std::string::npos) << error;
  EXPECT_NE(error.find("missing.db does not exist"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "missing.db"));
}

TEST(ReservedTopics, ApiRequestsAreTheDevicesRequestsNotTheReplies) {
  for (const char* request :
       {"$aws/certificates/create/json", "$aws/certificates/create-from-csr/cbor",
        "$aws/provisioning-templates/factory/provision/json", "$aws/things/lamp-1/jobs/$next/get",
        "$aws/things/lamp-1/jobs/start-next", "$aws/things/lamp-1/jobs/job-7/update",
        "$aws/things/lamp-1/jobs/job-7/get", "$aws/things/lamp-1/jobs/get",
        "$aws/things/lamp-1/streams/fw-0123/get/cbor", "$aws/things/lamp-1/streams/s/get/json",
        "$aws/things/lamp-1/streams/fw-0123/describe/cbor",
        "$aws/things/lamp-1/streams/s/describe/json"}) {
    EXPECT_TRUE(broker::is_api_request(request, "$aws")) << request;
  }
  for (const char* other : {"$aws/certificates/create/json/accepted",
                            "$aws/certificates/create-from-csr/json/rejected",
                            "$aws/provisioning-templates/factory/provision/json/accepted",
                            "$aws/things/lamp-1/jobs/$next/get/accepted",
                            "$aws/things/lamp-1/jobs/notify",
                            "$aws/things/lamp-1/jobs/notify-next",
                            "$aws/things/lamp-1/jobs",
                            "$aws/things/lamp-1/shadow/get",
                            "$aws/things/lamp-1/telemetry",
                            "$aws/certificates",
                            "$aws/events/presence/connected/lamp-1",
                            "$awsx/certificates/create/json",
                            "acme/certificates/create/json",
                            "$aws",
                            "$aws/things/lamp-1/streams/s/data/cbor",
                            "$aws/things/lamp-1/streams/s/description/json",
                            "$aws/things/lamp-1/streams/s/rejected/cbor",
                            "$aws/things/lamp-1/streams/s/get",
                            "$aws/things/lamp-1/streams/s/get/cbor/extra",
                            "$aws/things/lamp-1/streams/s",
                            "$aws/things/lamp-1/stream/s/get/cbor"}) {
    EXPECT_FALSE(broker::is_api_request(other, "$aws")) << other;
  }
  EXPECT_TRUE(broker::is_api_request("acme/api/certificates/create/json", "acme/api"));
  EXPECT_FALSE(broker::is_api_request("$aws/certificates/create/json", "acme/api"));

  EXPECT_TRUE(broker::validate_api_prefix("$aws"));
  EXPECT_TRUE(broker::validate_api_prefix("acme/api"));
  for (const char* bad : {"", "$aws/", "a//b", "$aws/+", "$ironroot", "$ironroot/api"}) {
    EXPECT_FALSE(broker::validate_api_prefix(bad)) << bad;
  }
}

TEST(ReservedTopics, FromTopicsNameTheSender) {
  auto topic = broker::from_topic("lamp-1", "3f2a", "$aws/things/lamp-1/jobs/get");
  ASSERT_TRUE(topic) << topic.error().message;
  EXPECT_EQ(*topic, "$ironroot/from/lamp-1/3f2a/$aws/things/lamp-1/jobs/get");
  auto slash = broker::from_topic("site/lamp-2", "3f2a", "$aws/certificates/create/json");
  ASSERT_FALSE(slash);
  EXPECT_NE(slash.error().message.find("contains '/'"), std::string::npos);
  EXPECT_FALSE(broker::from_topic("", "3f2a", "$aws/certificates/create/json"));
  EXPECT_FALSE(broker::from_topic("lamp+1", "3f2a", "$aws/certificates/create/json"));
  EXPECT_FALSE(
      broker::from_topic(std::string(65535, 'x'), "3f2a", "$aws/certificates/create/json"));
}

TEST(ReservedTopics, RelayTopicsNameOneClientAndATopic) {
  auto target = broker::parse_relay_topic("$ironroot/to/lamp-1/$aws/things/lamp-1/jobs/notify");
  ASSERT_TRUE(target && *target);
  EXPECT_EQ((*target)->client_id, "lamp-1");
  EXPECT_EQ((*target)->topic, "$aws/things/lamp-1/jobs/notify");
  EXPECT_FALSE(broker::parse_relay_topic("$aws/things/lamp-1/x"));
  EXPECT_FALSE(*broker::parse_relay_topic("$ironroot/to/lamp-1"));
  EXPECT_FALSE(*broker::parse_relay_topic("$ironroot/to//x"));
  EXPECT_FALSE(*broker::parse_relay_topic("$ironroot/to/lamp-1/a/+/b"));
  EXPECT_FALSE(*broker::parse_relay_topic("$ironroot/to/lamp-1/$ironroot/to/x/y"));

  EXPECT_TRUE(broker::is_reserved("$ironroot"));
  EXPECT_TRUE(broker::is_reserved("$ironroot/#"));
  EXPECT_FALSE(broker::is_reserved("$ironrootx/y"));
  EXPECT_FALSE(broker::is_reserved("ironroot/x"));
  EXPECT_EQ(broker::without_share_prefix("$share/g/$ironroot/#"), "$ironroot/#");
  EXPECT_EQ(broker::without_share_prefix("$share/g"), "$share/g");
  EXPECT_EQ(broker::without_share_prefix("a/b"), "a/b");
}

}  // namespace
}  // namespace ironroot::fleet::testing

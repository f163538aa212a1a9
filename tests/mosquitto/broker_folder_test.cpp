// init_broker_folder and its mosquitto.conf, through the library: the listener blocks, the plugin
// lines that replace the devices' ACL, and what is refused before anything is written.
#include "ironroot/mosquitto/broker_folder.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "ironroot/ca/ca_folder.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::mosquitto {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The configuration's lines from the one starting with `listener <port> ` up to the next
// listener (or the end).
std::vector<std::string> listener_lines(const std::string& conf, std::uint16_t port) {
  std::istringstream in(conf);
  std::vector<std::string> block;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("listener ", 0) == 0)
      inside = line.rfind("listener " + std::to_string(port) + " ", 0) == 0;
    if (inside) block.push_back(line);
  }
  return block;
}

std::ptrdiff_t index_of(const std::vector<std::string>& lines, const std::string& line) {
  auto it = std::find(lines.begin(), lines.end(), line);
  return it == lines.end() ? -1 : it - lines.begin();
}

bool has_line_starting(const std::vector<std::string>& lines, const std::string& start) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.rfind(start, 0) == 0; });
}

// Who this process is: Mosquitto keeps that identity, so nothing is handed over.
std::string this_user() {
  const passwd* entry = ::getpwuid(::geteuid());
  return entry != nullptr ? entry->pw_name : "root";
}

BrokerPlugin a_plugin(const fs::path& library) {
  return {library,
          {{"registry", "/var/lib/ironroot/registry.db"}, {"topic_prefix", "$aws"}},
          {{"role", "fleet"}}};
}

const crypto::Time kSomeTime = crypto::Time(std::chrono::seconds(1700000000));

TEST(MosquittoConf, WithoutAPluginTheDeviceListenerHasTheAclFile) {
  BrokerOptions options;
  options.port = 18883;
  options.fleet_port = 18884;
  const std::string conf = render_mosquitto_conf("/srv/broker", options, kSomeTime);
  const auto devices = listener_lines(conf, 18883);
  const auto fleet = listener_lines(conf, 18884);
  ASSERT_FALSE(devices.empty()) << conf;
  ASSERT_FALSE(fleet.empty()) << conf;
  EXPECT_EQ(devices.front(), "listener 18883 127.0.0.1");
  EXPECT_GE(index_of(devices, "acl_file /srv/broker/devices.acl"), 0) << conf;
  EXPECT_GE(index_of(devices, "crlfile /srv/broker/crl.pem"), 0) << conf;
  EXPECT_LT(index_of(fleet, "acl_file /srv/broker/devices.acl"), 0) << conf;
  EXPECT_FALSE(has_line_starting(devices, "plugin")) << conf;
  EXPECT_FALSE(has_line_starting(fleet, "plugin")) << conf;
  EXPECT_NE(conf.find("per_listener_settings true\n"), std::string::npos);
  EXPECT_NE(conf.find("2023-11-14T22:13:20Z"), std::string::npos) << conf;
}

TEST(MosquittoConf, APluginGoesIntoEachListenerWithItsOwnOptionsAndReplacesTheAcl) {
  BrokerOptions options;
  options.port = 18883;
  options.fleet_port = 18884;
  options.plugin = a_plugin("/usr/lib/ironroot/ironroot-broker-plugin.so");
  const std::string conf = render_mosquitto_conf("/srv/broker", options, kSomeTime);
  const auto devices = listener_lines(conf, 18883);
  const auto fleet = listener_lines(conf, 18884);

  const auto device_plugin =
      index_of(devices, "plugin /usr/lib/ironroot/ironroot-broker-plugin.so");
  ASSERT_GT(device_plugin, 0) << conf;  // after the listener's line, inside its block
  EXPECT_EQ(index_of(devices, "plugin_opt_registry /var/lib/ironroot/registry.db"),
            device_plugin + 1)
      << conf;
  EXPECT_EQ(index_of(devices, "plugin_opt_topic_prefix $aws"), device_plugin + 2) << conf;
  EXPECT_LT(index_of(devices, "plugin_opt_role fleet"), 0) << conf;
  EXPECT_FALSE(has_line_starting(devices, "acl_file")) << conf;

  const auto fleet_plugin = index_of(fleet, "plugin /usr/lib/ironroot/ironroot-broker-plugin.so");
  ASSERT_GT(fleet_plugin, 0) << conf;
  EXPECT_EQ(index_of(fleet, "plugin_opt_role fleet"), fleet_plugin + 1) << conf;
  EXPECT_FALSE(has_line_starting(fleet, "plugin_opt_registry")) << conf;
  // Nothing of the plugin outside the listener blocks (where it would apply to no listener).
  EXPECT_GT(conf.find("\nplugin "), conf.find("\nlistener 18883 ")) << conf;
}

class BrokerFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca::CaInitOptions ca_options;
    ca_options.name = "Acme";
    auto ca = ca::CaFolder::init(dir_ / "ca", ca_options);
    ASSERT_TRUE(ca) << ca.error().message;
    options_.ca_dir = dir_ / "ca";
    options_.port = 18883;
    options_.fleet_port = 18884;
    options_.user = this_user();
    std::ofstream(plugin_library_) << "not really a shared object";
  }

  TempDir dir_;
  fs::path broker_ = dir_ / "broker";
  fs::path plugin_library_ = dir_ / "plugin.so";
  BrokerOptions options_;
};

TEST_F(BrokerFolderTest, InitWithAPluginWritesTheFolderWithoutTheAcl) {
  options_.plugin = a_plugin(plugin_library_);
  auto folder = init_broker_folder(broker_, options_);
  ASSERT_TRUE(folder) << folder.error().message;

  const std::string conf = slurp(folder->config_file());
  const auto devices = listener_lines(conf, 18883);
  EXPECT_GE(index_of(devices, "plugin " + plugin_library_.string()), 0) << conf;
  EXPECT_GE(index_of(devices, "plugin_opt_registry /var/lib/ironroot/registry.db"), 0) << conf;
  EXPECT_FALSE(has_line_starting(devices, "acl_file")) << conf;
  EXPECT_FALSE(fs::exists(broker_ / kDeviceAclFile));
  EXPECT_TRUE(fs::exists(folder->fleet_key_file()));
  EXPECT_TRUE(folder->fleet_identity_issued);
  EXPECT_TRUE(check_broker_folder(broker_)) << "a fresh folder passes the checks before a run";

  // The server certificate was issued by the CA folder and recorded there before it was used;
  // the CRL issued for the broker is the CA's first.
  ASSERT_TRUE(folder->server_certificate_issued);
  auto ca = ca::CaFolder::open(dir_ / "ca");
  ASSERT_TRUE(ca) << ca.error().message;
  auto records = ca->certificates();
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().serial, folder->server_certificate.serial_hex());
  EXPECT_EQ(records->front().subject, folder->server_certificate.subject());
  EXPECT_EQ(folder->device_ca.subject(), ca->device_ca_certificate().subject());
}

TEST_F(BrokerFolderTest, WithAPluginTheRegistryReplacesTheCrlAndRegisteredCasAreTrusted) {
  options_.plugin = a_plugin(plugin_library_);
  auto folder = init_broker_folder(broker_, options_);
  ASSERT_TRUE(folder) << folder.error().message;
  const auto devices = listener_lines(slurp(folder->config_file()), 18883);
  EXPECT_GE(index_of(devices, "capath " + (broker_ / kTrustedCasDir).string()), 0);
  EXPECT_FALSE(has_line_starting(devices, "crlfile"));
  // Without a CRL in use, an expired one cannot stop the broker.
  fs::remove(broker_ / kCrlFile);
  EXPECT_TRUE(check_broker_folder(broker_));

  // OpenSSL's hashed layout: <subject hash>.<n>, only what is asked for, rewritten as it changes.
  auto make_ca = [](const std::string& name) {
    auto root = crypto::CertificateAuthority::create_root(
        {name, "", ""},
        std::make_unique<crypto::PrivateKey>(
            *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256)),
        crypto::validity_from_now(std::chrono::days(30), std::chrono::floor<std::chrono::seconds>(
                                                             std::chrono::system_clock::now())));
    return root->certificate();
  };
  const crypto::Certificate a = make_ca("Maker A"), b = make_ca("Maker B");
  auto name_of = [](const crypto::Certificate& c) {
    char stem[9];
    std::snprintf(stem, sizeof stem, "%08x", c.subject_name_hash());
    return std::string(stem) + ".0";
  };
  const std::vector<crypto::Certificate> both{a, b, a};
  ASSERT_TRUE(write_trusted_cas(broker_, both));
  std::set<std::string> files;
  for (const auto& entry : fs::directory_iterator(broker_ / kTrustedCasDir)) {
    files.insert(entry.path().filename().string());
  }
  EXPECT_EQ(files, (std::set<std::string>{name_of(a), name_of(b)}));
  EXPECT_EQ(slurp(broker_ / kTrustedCasDir / name_of(b)), b.pem());
  const std::vector<crypto::Certificate> only_b{b};
  ASSERT_TRUE(write_trusted_cas(broker_, only_b));
  EXPECT_FALSE(fs::exists(broker_ / kTrustedCasDir / name_of(a)));
  EXPECT_TRUE(fs::exists(broker_ / kTrustedCasDir / name_of(b)));

  // A folder written without the plugin has no such folder: said so, not created.
  fs::remove_all(broker_ / kTrustedCasDir);
  auto refused = write_trusted_cas(broker_, only_b);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("without the broker plugin"), std::string::npos);
}

TEST_F(BrokerFolderTest, InitWithoutAPluginWritesTheAcl) {
  auto folder = init_broker_folder(broker_, options_);
  ASSERT_TRUE(folder) << folder.error().message;
  EXPECT_EQ(slurp(broker_ / kDeviceAclFile), render_device_acl(options_));
  const auto devices = listener_lines(slurp(folder->config_file()), 18883);
  EXPECT_GE(index_of(devices, "acl_file " + (broker_ / kDeviceAclFile).string()), 0);
}

TEST_F(BrokerFolderTest, BadPluginSettingsAreRefusedBeforeAnythingIsWritten) {
  auto refused = [&](BrokerPlugin plugin, const std::string& part) {
    BrokerOptions options = options_;
    options.plugin = std::move(plugin);
    auto checked = check_broker_options(options);
    ASSERT_FALSE(checked);
    EXPECT_NE(checked.error().message.find(part), std::string::npos) << checked.error().message;
    auto folder = init_broker_folder(broker_, options);
    ASSERT_FALSE(folder);
    EXPECT_EQ(folder.error().message, checked.error().message);
    EXPECT_FALSE(fs::exists(broker_));
  };
  refused({"plugin.so", {}, {}}, "absolute path");
  refused({dir_ / "missing.so", {}, {}}, "is not a file");
  refused({plugin_library_, {{"a b", "x"}}, {}}, "plugin option 'a b' of the device listener");
  refused({plugin_library_, {}, {{"role", "two\nlines"}}}, "of the fleet listener");
  refused({plugin_library_, {{"empty", ""}}, {}}, "a value is 1 to 1024 characters");
  refused({plugin_library_, {{"padded", " x"}}, {}}, "without leading or trailing space");

  // The CA folder was not touched: no CRL, no server certificate.
  auto ca = ca::CaFolder::open(dir_ / "ca");
  ASSERT_TRUE(ca);
  auto records = ca->certificates();
  ASSERT_TRUE(records);
  EXPECT_TRUE(records->empty());
}

TEST_F(BrokerFolderTest, AnExistingConfigurationIsNeverOverwritten) {
  ASSERT_TRUE(init_broker_folder(broker_, options_));
  const std::string before = slurp(broker_ / kConfigFile);
  options_.plugin = a_plugin(plugin_library_);
  auto again = init_broker_folder(broker_, options_);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already holds a broker configuration"), std::string::npos);
  EXPECT_EQ(slurp(broker_ / kConfigFile), before);
}

}  // namespace
}  // namespace ironroot::mosquitto

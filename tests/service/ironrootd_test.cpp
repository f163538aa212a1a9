// ironrootd as a real process: its configuration, its data folder, the embedded Mosquitto it
// supervises, its REST API, a clean SIGTERM, and kill -9 losing nothing it acknowledged.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon.hpp"
#include "ironroot/core/file.hpp"
#include "service_config.hpp"
#include "support/broker_process.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class IronrootdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(temp_.path().c_str(), 0755);  // Mosquitto runs as its own user
  }
  std::vector<std::string> args() const { return ports_.args(data_); }
  std::unique_ptr<Daemon> start() {
    auto d = std::make_unique<Daemon>(args());
    EXPECT_TRUE(d->wait_for_log("ironrootd is running")) << d->log();
    return d;
  }
  std::string token() const {
    auto text = read_file(data_ / "operator.token", 4096);
    std::string t(as_chars(*text));
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t;
  }
  httplib::Client api() const {
    httplib::Client c("127.0.0.1", ports_.api);
    c.set_bearer_token_auth(token().c_str());
    return c;
  }

  TempDir temp_;
  fs::path data_ = temp_.path() / "data";
  ServicePorts ports_;
};

TEST(ServiceConfig, DefaultsParseAndBadValuesAreNamed) {
  auto config = service::parse_service_config(service::default_config_text(), "default");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->broker.port, 8883);
  EXPECT_EQ(config->api.bind, "127.0.0.1");
  EXPECT_TRUE(service::check_service_config(*config));

  auto bad = service::parse_service_config("[broker]\nport = 70000\n", "x.toml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "x.toml: broker.port (line 2) must be 1 to 65535, not 70000");
  bad = service::parse_service_config("[api]\nprot = 1\n", "x.toml");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, "api.prot (line 2) is not a known key"))
      << bad.error().message;
  bad = service::parse_service_config("[brokr]\n", "x.toml");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, "not a known section")) << bad.error().message;
  bad = service::parse_service_config("data_dir = 3\n", "x.toml");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, "data_dir (line 1) must be a string"));
  bad = service::parse_service_config("[api\n", "x.toml");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, "x.toml (line 1)")) << bad.error().message;

  config->broker.fleet_port = config->broker.port;
  EXPECT_FALSE(service::check_service_config(*config));
}

TEST(ServiceConfig, TheDownloadSectionHasDefaultsAndChecks) {
  auto config = service::parse_service_config(service::default_config_text(), "default");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->download.enabled);
  EXPECT_EQ(config->download.port, 8885);
  EXPECT_EQ(service::download_bind(*config), "127.0.0.1");  // broker.bind
  EXPECT_EQ(service::download_base_url(*config), "https://localhost:8885");
  config->broker.server_names = {"::1"};
  config->download.port = 9443;
  EXPECT_EQ(service::download_base_url(*config), "https://[::1]:9443");
  config->download.url = "https://fleet.example/fw/";
  EXPECT_EQ(service::download_base_url(*config), "https://fleet.example/fw");
  EXPECT_TRUE(service::check_service_config(*config));

  auto parsed = service::parse_service_config(
      "[download]\nbind = \"0.0.0.0\"\nport = 9000\nurl = \"https://ota.example:9000\"\n"
      "requests_per_minute = 10\nrequest_burst = 2\nbytes_per_second = 100\n"
      "burst_bytes = 4096\nworkers = 4\nopen_images = 2\nenabled = false\n",
      "x.toml");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_FALSE(parsed->download.enabled);
  EXPECT_EQ(service::download_bind(*parsed), "0.0.0.0");
  EXPECT_EQ(parsed->download.requests_per_minute, 10u);
  EXPECT_EQ(parsed->download.burst_bytes, 4096u);
  EXPECT_EQ(parsed->download.workers, 4u);
  EXPECT_EQ(parsed->download.open_images, 2u);
  EXPECT_EQ(service::download_base_url(*parsed), "https://ota.example:9000");

  auto bad = service::parse_service_config("[download]\nburst_bytes = 100\n", "x.toml");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, "download.burst_bytes (line 2) must be 4096"))
      << bad.error().message;
  bad = service::parse_service_config("[download]\nworkers = 0\n", "x.toml");
  ASSERT_FALSE(bad);
  for (const char* url : {"http://fleet.example", "https://", "https://a b", "https://x/?t=1"}) {
    auto with_url = *config;
    with_url.download.url = url;
    EXPECT_FALSE(service::check_service_config(with_url)) << url;
  }
  auto clash = *config;
  clash.download.port = clash.broker.port;
  auto refused = service::check_service_config(clash);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(refused.error().message, "download.port 8883 is also a broker port"))
      << refused.error().message;
  clash.download.port = clash.api.port;
  EXPECT_FALSE(service::check_service_config(clash));
  clash.download.enabled = false;  // a listener that does not run clashes with nothing
  EXPECT_TRUE(service::check_service_config(clash));
}

TEST(ServiceConfig, PrintDefaultConfigIsTheEmbeddedDefault) {
  auto r = run_process({IRONROOTD, "--print-default-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(service::default_config_text()));
  r = run_process({IRONROOTD, "--api-port", "0x"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(IronrootdTest, ServesTheApiRunsTheBrokerAndStopsCleanly) {
  auto daemon = start();
  EXPECT_TRUE(fs::exists(data_ / "fleet.db"));
  EXPECT_TRUE(fs::exists(data_ / "ca" / "ca-chain.crt"));
  EXPECT_EQ(fs::status(data_ / "operator.token").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(accepts_connections(ports_.broker));
  EXPECT_TRUE(accepts_connections(ports_.fleet));
  EXPECT_TRUE(accepts_connections(ports_.download));

  auto health = api().Get("/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  httplib::Client anonymous("127.0.0.1", ports_.api);
  auto refused = anonymous.Get("/v1/things");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);

  // One service per data folder.
  auto second = run_process(
      {IRONROOTD, "--data-dir", data_.string(), "--api-port", std::to_string(free_port()),
       "--broker-port", std::to_string(free_port()), "--fleet-port", std::to_string(free_port())});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_TRUE(contains(second.err, "another ironrootd is running")) << second.err;

  EXPECT_EQ(daemon->kill(SIGTERM), 0) << daemon->log();
  EXPECT_TRUE(contains(daemon->log(), "Mosquitto stopped")) << daemon->log();
  EXPECT_FALSE(accepts_connections(ports_.broker));
}

TEST_F(IronrootdTest, KillMinusNineLosesNothingAcknowledged) {
  auto daemon = start();
  auto client = api();
  for (int i = 0; i < 20; ++i) {
    const json thing = {{"thingName", "sensor-" + std::to_string(i)},
                        {"attributes", {{"floor", std::to_string(i % 3)}}}};
    auto r = client.Post("/v1/things", thing.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
  }
  EXPECT_EQ(daemon->kill(SIGKILL), 128 + SIGKILL);

  // The broker it left running is stopped, and everything acknowledged is there.
  daemon = start();
  EXPECT_TRUE(contains(daemon->log(), "left running by an ironrootd that ended abruptly"))
      << daemon->log();
  for (int i = 0; i < 20; ++i) {
    auto r = api().Get("/v1/things/sensor-" + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  EXPECT_EQ(daemon->kill(SIGTERM), 0) << daemon->log();
}

TEST_F(IronrootdTest, ABrokerThatDiesIsStartedAgain) {
  auto daemon = start();
  auto pid_text = read_file(data_ / "broker" / "mosquitto.pid", 64);
  ASSERT_TRUE(pid_text);
  const pid_t first = static_cast<pid_t>(std::atol(std::string(as_chars(*pid_text)).c_str()));
  ASSERT_GT(first, 1);
  ::kill(first, SIGKILL);
  EXPECT_TRUE(daemon->wait_for_log("started Mosquitto again")) << daemon->log();
  EXPECT_EQ(daemon->kill(SIGTERM), 0) << daemon->log();
}

}  // namespace
}  // namespace ironroot::testing

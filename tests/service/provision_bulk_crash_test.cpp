// Issue 5's crash acceptance for bulk provisioning: ironrootd is killed with SIGKILL while
// `ironroot provision bulk` works through 1,000 devices; after a restart the same command is run
// again, and every device then exists exactly once, with exactly one certificate, and no
// certificate is left without its thing.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "claim_fleet.hpp"
#include "service_fixture.hpp"
#include "support/process.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kDevices = 1000;
constexpr int kKillAfter = 150;  // bundles begun before ironrootd is killed

class ProvisionBulkCrash : public ServiceTest {
 protected:
  ProcessResult provision_bulk() {
    return run_process({IRONROOT_CLI, "--json", "provision", "bulk", "--template", "AcmeFleet",
                        "--out", bundles_.string(), csv_.string()},
                       {"IRONROOT_SERVER=http://127.0.0.1:" + std::to_string(ports_.api),
                        "IRONROOT_DATA_DIR=" + data_.string()});
  }

  fs::path csv_ = temp_.path() / "devices.csv";
  fs::path bundles_ = temp_.path() / "bundles";
};

TEST_F(ProvisionBulkCrash, KilledMidwayAndRunAgainEveryDeviceExistsOnceWithOneCertificate) {
  ASSERT_TRUE(set_up_claim_fleet(OperatorClient(ports_.api, data_), data_, temp_.path()));
  {
    std::ofstream out(csv_);
    out << "ThingName,SerialNumber\n";
    for (int i = 0; i < kDevices; ++i) out << "crash-" << i << ",C" << i << "\n";
  }
  ASSERT_TRUE(fs::create_directory(bundles_));
  fs::permissions(bundles_, fs::perms::owner_all);

  // Watch the bundles begin (a folder per device, made before its request), then kill.
  const int watch = ::inotify_init1(IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(::inotify_add_watch(watch, bundles_.c_str(), IN_CREATE), 0);
  std::optional<ProcessResult> first;
  std::thread cli([&] { first = provision_bulk(); });
  int begun = 0;
  while (begun < kKillAfter) {
    pollfd ready{watch, POLLIN, 0};
    if (::poll(&ready, 1, 120'000) <= 0) break;  // the CLI would have finished or failed
    alignas(inotify_event) char buffer[64 * 1024];
    const ssize_t n = ::read(watch, buffer, sizeof buffer);
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      if (event->mask & IN_ISDIR) ++begun;
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
  ::close(watch);
  ASSERT_GE(begun, kKillAfter);
  EXPECT_EQ(daemon_->kill(SIGKILL), 128 + SIGKILL);
  cli.join();
  ASSERT_TRUE(first);
  EXPECT_NE(first->exit_code, 0) << "the service died under it: " << first->out;
  const json interrupted = json::parse(first->out, nullptr, false);
  EXPECT_GT(interrupted.value("notAttempted", 0), 0) << first->out << first->err;

  // Restarted on the same data (the Mosquitto the killed service left is stopped first).
  daemon_ = std::make_unique<Daemon>(ports_.args(data_));
  ASSERT_TRUE(daemon_->wait_for_log("ironrootd is running")) << daemon_->log();
  const ProcessResult second = provision_bulk();
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  const json report = json::parse(second.out, nullptr, false);
  EXPECT_EQ(report.value("failed", -1), 0);
  EXPECT_EQ(report.value("created", 0) + report.value("unchanged", 0), kDevices) << second.out;
  EXPECT_GT(report.value("unchanged", 0), 0) << "the first run's devices were kept";

  // Every device once, with one ACTIVE certificate, and that certificate in its bundle.
  const std::vector<json> things = list_all("/v1/things");
  ASSERT_EQ(things.size(), static_cast<std::size_t>(kDevices));
  std::set<std::string> attached;
  for (const json& listed : things) {
    const std::string name = listed.value("thingName", "");
    const json thing = call("GET", "/v1/things/" + name);
    ASSERT_EQ(thing["certificateIds"].size(), 1u) << thing.dump();
    const std::string id = thing["certificateIds"][0];
    EXPECT_TRUE(attached.insert(id).second);
    auto bundle = read_file(bundles_ / name / "device.json", 1 << 16);
    ASSERT_TRUE(bundle) << name;
    EXPECT_EQ(json::parse(as_chars(*bundle), nullptr, false).value("certificateId", ""), id);
  }
  // No orphan: every certificate but the claim's belongs to a thing.
  const std::vector<json> certificates = list_all("/v1/certificates");
  EXPECT_EQ(certificates.size(), attached.size() + 1);
  for (const json& certificate : certificates) {
    const std::string id = certificate.value("certificateId", "");
    if (attached.contains(id)) {
      EXPECT_EQ(certificate.value("status", ""), "ACTIVE");
    } else {
      EXPECT_EQ(certificate.value("commonName", ""), "claim-acme") << certificate.dump();
    }
  }
}

}  // namespace
}  // namespace ironroot::testing

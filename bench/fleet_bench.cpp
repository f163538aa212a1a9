// Fleet provisioning throughput against a real ironrootd (embedded Mosquitto, broker plugin,
// SQLite registry), each figure next to the baseline measured in the same run: raw OpenSSL
// ECDSA P-256 signatures per second, the work a CA does once per certificate.
//  - by claim: simulated devices (tests/support/claim_device.hpp) provisioning in parallel over
//    mutual TLS (connect with the claim, CreateCertificateFromCsr, RegisterThing), and the reply
//    latencies the devices saw (AWS's devices expect a reply within about 1 s);
//  - in bulk: `ironroot provision bulk` over a CSV of devices with generated keys (key, CSR, REST
//    call, certificate, bundle on disk per device);
//  - revocation: from the operator's REST call to the device seeing its connection closed.
// Writes one JSON document (scripts/bench turns it into docs/BENCHMARKS.md).
//
// Usage: fleet_bench OUT.json [claim devices] [parallel] [bulk devices]
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "claim_fleet.hpp"
#include "daemon.hpp"
#include "ironroot/core/file.hpp"
#include "operator_client.hpp"
#include "support/claim_device.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace ironroot;
using namespace ironroot::testing;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "fleet_bench: %s\n", what.c_str());
    std::exit(1);
  }
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Raw OpenSSL: ECDSA P-256 signatures of a SHA-256 digest per second, over `count` signatures.
double openssl_ecdsa_signatures_per_second(int count) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  require(key != nullptr, "EVP_EC_gen");
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
  require(ctx != nullptr && EVP_PKEY_sign_init(ctx) == 1, "EVP_PKEY_sign_init");
  unsigned char digest[32] = {1, 2, 3};
  unsigned char signature[80];
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    size_t length = sizeof signature;
    digest[0] = static_cast<unsigned char>(i);
    require(EVP_PKEY_sign(ctx, signature, &length, digest, sizeof digest) == 1, "EVP_PKEY_sign");
  }
  const double rate = count / seconds_since(start);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(key);
  return rate;
}

json percentiles_ms(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms.empty() ? 0.0
                      : ms[std::min(ms.size() - 1,
                                    static_cast<std::size_t>(q * static_cast<double>(ms.size())))];
  };
  return {{"p50", at(0.50)}, {"p99", at(0.99)}, {"max", ms.empty() ? 0.0 : ms.back()}};
}

double to_ms(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  require(argc >= 2, "usage: fleet_bench OUT.json [claim devices] [parallel] [bulk devices]");
  const int claim_devices = argc > 2 ? std::atoi(argv[2]) : 200;
  const int parallel = argc > 3 ? std::atoi(argv[3]) : 50;
  const int bulk_devices = argc > 4 ? std::atoi(argv[4]) : 500;
  require(claim_devices > 0 && parallel > 0 && bulk_devices > 0, "counts must be positive");

  const double signatures = openssl_ecdsa_signatures_per_second(4000);

  TempDir temp;
  ::chmod(temp.path().c_str(), 0755);  // Mosquitto runs as its own user
  const std::filesystem::path data = temp.path() / "data";
  ServicePorts ports;
  Daemon daemon(ports.args(data));
  require(daemon.wait_for_log("ironrootd is running"), "ironrootd did not start:\n" + daemon.log());
  OperatorClient api(ports.api, data);
  auto fleet = set_up_claim_fleet(api, data, temp.path());
  require(fleet.has_value(), fleet ? "" : fleet.error().message);
  BrokerAccess broker;
  broker.port = ports.broker;
  broker.trusted = {
      *crypto::Certificate::from_pem(*read_file(data / "ca" / "root-ca.crt", 1 << 20))};

  // By claim, `parallel` devices at a time.
  std::atomic<int> next{0};
  std::mutex mutex;
  std::vector<double> create_ms, register_ms;
  std::vector<std::string> failures;
  const auto claim_start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < parallel; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < claim_devices; i = next++) {
        ClaimRequest request{
            "bench-" + std::to_string(i), "SN" + std::to_string(i), "AcmeFleet", {}};
        auto done = provision_by_claim(broker, fleet->claim, request, temp.path());
        std::lock_guard lock(mutex);
        if (!done) {
          failures.push_back(done.error().message);
          continue;
        }
        create_ms.push_back(to_ms(done->create_latency));
        register_ms.push_back(to_ms(done->register_latency));
      }
    });
  }
  for (auto& worker : workers) worker.join();
  const double claim_seconds = seconds_since(claim_start);
  require(failures.empty(), failures.empty() ? "" : "provisioning by claim: " + failures.front());

  // In bulk, through the CLI: keys generated, CSRs, certificates, bundles.
  const auto csv = temp.path() / "devices.csv";
  {
    std::ofstream out(csv);
    out << "ThingName,SerialNumber\n";
    for (int i = 0; i < bulk_devices; ++i) out << "bulk-" << i << ",B" << i << "\n";
  }
  const auto bulk_start = Clock::now();
  auto bulk = run_process({IRONROOT_CLI, "provision", "bulk", "--template", "AcmeFleet", "--out",
                           (temp.path() / "bundles").string(), csv.string()},
                          {"IRONROOT_SERVER=http://127.0.0.1:" + std::to_string(ports.api),
                           "IRONROOT_DATA_DIR=" + data.string()});
  const double bulk_seconds = seconds_since(bulk_start);
  require(bulk.exit_code == 0, "ironroot provision bulk: " + bulk.err + bulk.out);

  // Revocation: REST call to the device's connection closed.
  std::vector<double> revocation_ms;
  for (int i = 0; i < 5; ++i) {
    const std::string thing = "bench-" + std::to_string(i);
    const std::string key = (temp.path() / (thing + ".key")).string();
    auto listing = api.request("GET", "/v1/things/" + thing);
    require(listing.status == 200, "describe " + thing);
    const std::string id = listing.body["certificateIds"][0];
    auto record = api.request("GET", "/v1/certificates/" + id);
    FileIdentity identity{
        *crypto::Certificate::from_pem(as_bytes(record.body["certificatePem"].get<std::string>())),
        key};
    auto client = connect_device(broker, identity, thing);
    require(client.has_value(), client ? "" : client.error().message);
    const auto start = Clock::now();
    auto revoked =
        api.request("PUT", "/v1/certificates/" + id + "/status", {{"status", "REVOKED"}});
    require(revoked.status == 200, "revoke " + id);
    require((*client)->wait_until(
                [](const mqtt::ClientStats& s) { return s.connection_losses >= 1; }, 30s),
            thing + " was not disconnected");
    revocation_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    (*client)->stop();
  }

  json result = {
      {"openssl_ecdsa_p256_signatures_per_second", signatures},
      {"claim",
       {{"devices", claim_devices},
        {"parallel", parallel},
        {"devices_per_second", claim_devices / claim_seconds},
        {"create_certificate_reply_ms", percentiles_ms(create_ms)},
        {"register_thing_reply_ms", percentiles_ms(register_ms)}}},
      {"bulk",
       {{"devices", bulk_devices}, {"certificates_per_second", bulk_devices / bulk_seconds}}},
      {"revocation_to_disconnect_ms", percentiles_ms(revocation_ms)}};
  std::ofstream(argv[1]) << result.dump(2) << "\n";
  std::printf("%s\n", result.dump(2).c_str());
  return 0;
}

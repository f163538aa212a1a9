// Devices by the hundred for the jobs crash test and the jobs benchmark: provisioned with
// `ironroot provision bulk` (template AcmeFleet, claim_fleet.hpp), each with its bundle's key and
// certificate, ready for a DeviceSwarm. Needs IRONROOT_CLI (the CLI's path) defined.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/x509.hpp"
#include "support/device_swarm.hpp"
#include "support/process.hpp"

namespace ironroot::testing {

// Provisions `things` through the REST API of the ironrootd at `api_port` (its operator token in
// `data_dir`), writing the CSV and the bundles under `work_dir`. Fails with the CLI's output, or
// naming the device whose bundle cannot be read.
inline Result<std::vector<SwarmDevice>> provision_bulk_devices(
    const std::vector<std::string>& things, std::uint16_t api_port,
    const std::filesystem::path& data_dir, const std::filesystem::path& work_dir) {
  const auto csv = work_dir / "devices.csv";
  {
    std::ofstream out(csv);
    out << "ThingName,SerialNumber\n";
    for (std::size_t i = 0; i < things.size(); ++i) out << things[i] << ",SN" << i << "\n";
  }
  const auto bundles = work_dir / "bundles";
  const ProcessResult made =
      run_process({IRONROOT_CLI, "provision", "bulk", "--template", "AcmeFleet", "--out",
                   bundles.string(), csv.string()},
                  {"IRONROOT_SERVER=http://127.0.0.1:" + std::to_string(api_port),
                   "IRONROOT_DATA_DIR=" + data_dir.string()});
  if (made.exit_code != 0) return fail("ironroot provision bulk: " + made.err + made.out);
  std::vector<SwarmDevice> devices;
  for (const std::string& thing : things) {
    auto pem = read_file(bundles / thing / "certificate.pem", 65536);
    if (!pem) return prefixed(pem.error(), thing);
    auto certificate = crypto::Certificate::from_pem(*pem);
    if (!certificate) return prefixed(certificate.error(), thing);
    devices.push_back({thing, {*certificate, bundles / thing / "private-key.pem"}});
  }
  return devices;
}

}  // namespace ironroot::testing

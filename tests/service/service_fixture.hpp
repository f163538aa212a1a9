// A test with its own ironrootd (embedded Mosquitto, broker plugin) in a temporary data folder on
// free ports, and the operator's REST API.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "daemon.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/x509.hpp"
#include "operator_client.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(temp_.path().c_str(), 0755);  // Mosquitto runs as its own user
    daemon_ = std::make_unique<Daemon>(ports_.args(data_));
    ASSERT_TRUE(daemon_->wait_for_log("ironrootd is running")) << daemon_->log();
  }

  // Calls the REST API and expects `expected` as the status; returns the body.
  nlohmann::json call(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr, int expected = 200) {
    ApiResponse response = OperatorClient(ports_.api, data_).request(method, path, body);
    EXPECT_EQ(response.status, expected)
        << method << " " << path << ": " << response.body.dump() << "\n"
        << (response.status == 0 ? daemon_->log() : "");
    return response.body;
  }

  // Every item of a paged list route (`{"items": [...], "next": token}`).
  std::vector<nlohmann::json> list_all(const std::string& route) {
    std::vector<nlohmann::json> items;
    std::string next;
    do {
      nlohmann::json page =
          call("GET", route + "?limit=250" + (next.empty() ? "" : "&next=" + next));
      for (auto& item : page["items"]) items.push_back(item);
      next = page.value("next", "");
    } while (!next.empty());
    return items;
  }

  // The CA the broker's certificate chains to (the devices' "Root Cert").
  crypto::Certificate broker_root() const {
    return *crypto::Certificate::from_pem(*read_file(data_ / "ca" / "root-ca.crt", 1 << 20));
  }

  // Everything the embedded Mosquitto (and the broker plugin) logged so far.
  std::string broker_log() const {
    auto text = read_file(data_ / "broker" / "mosquitto.log", 64 << 20);
    return text ? std::string(reinterpret_cast<const char*>(text->data()), text->size()) : "";
  }

  TempDir temp_;
  std::filesystem::path data_ = temp_.path() / "data";
  ServicePorts ports_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace ironroot::testing

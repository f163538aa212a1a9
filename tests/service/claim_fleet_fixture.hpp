// A service test with provisioning by claim set up (claim_fleet.hpp).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "claim_fleet.hpp"
#include "service_fixture.hpp"
#include "support/claim_device.hpp"

namespace ironroot::testing {

// A service set up for provisioning by claim (claim_fleet.hpp): the claim identity, and how
// devices reach the broker.
class ClaimFleetTest : public ServiceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ServiceTest::SetUp());
    broker_.port = ports_.broker;
    broker_.trusted = {broker_root()};
    auto fleet = set_up_claim_fleet(OperatorClient(ports_.api, data_), data_, temp_.path());
    ASSERT_TRUE(fleet) << fleet.error().message;
    claim_ = fleet->claim;
    claim_id_ = fleet->claim_id;
  }

  BrokerAccess broker_;
  std::optional<FileIdentity> claim_;
  std::string claim_id_;
};

}  // namespace ironroot::testing

// A fleet for jobs tests against the real ironrootd: claim provisioning set up (claim_fleet.hpp),
// a static group "lamps" that devices join as they are provisioned, and a device that only
// listens to its notify-next topic and remembers when each execution reached it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "claim_fleet_fixture.hpp"
#include "support/claim_device.hpp"

namespace ironroot::testing {

class JobsFleetTest : public ClaimFleetTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ClaimFleetTest::SetUp());
    call("POST", "/v1/groups", {{"groupName", "lamps"}}, 201);
  }

  // Provisions `thing` by claim (its key in the test's folder) and adds it to group `group`;
  // nullopt after a failure, which is reported.
  std::optional<FileIdentity> provision(const std::string& thing,
                                        const std::string& group = "lamps") {
    auto claimed =
        provision_by_claim(broker_, *claim_, {thing, "SN-" + thing, "AcmeFleet", {}}, temp_.path());
    EXPECT_TRUE(claimed) << thing << ": " << (claimed ? "" : claimed.error().message);
    if (!claimed) return std::nullopt;
    call("PUT", "/v1/groups/" + group + "/members/" + thing, nullptr, 204);
    return claimed->identity;
  }

  nlohmann::json job(const std::string& id) { return call("GET", "/v1/jobs/" + id); }
};

// A device connected as its thing that subscribes to $aws/things/<thing>/jobs/notify-next, notes
// when each execution (job id and execution number) first reached it, and asks the jobs API.
class NotifyListener {
 public:
  using Clock = std::chrono::steady_clock;
  using ExecutionKey = std::pair<std::string, std::int64_t>;  // job id, execution number

  // Connected and subscribed (SUBACK received) when it returns.
  static Result<std::unique_ptr<NotifyListener>> connect(const BrokerAccess& broker,
                                                         const FileIdentity& identity,
                                                         const std::string& thing) {
    std::unique_ptr<NotifyListener> listener(new NotifyListener(thing));
    NotifyListener* self = listener.get();
    auto session = RequestSession::open(broker, identity, thing,
                                        [self](const mqtt::Message& m) { self->heard(m); });
    if (!session) return tl::unexpected(session.error());
    listener->session_ = std::move(*session);
    mqtt::Client& client = listener->session_->client();
    if (auto ok = client.subscribe(listener->topic(), 1); !ok) return tl::unexpected(ok.error());
    if (!client.wait_until(
            [](const mqtt::ClientStats& s) { return s.subscriptions_acknowledged > 0; },
            std::chrono::seconds(30))) {
      return fail(thing + ": no SUBACK for " + listener->topic());
    }
    return listener;
  }

  ~NotifyListener() { session_.reset(); }  // the network thread stops before the members go

  const std::string& thing() const { return thing_; }

  // Publishes `request` on $aws/things/<thing>/jobs/<api> and waits for its reply, which must be
  // /accepted; returns the reply's JSON (null after a failure, which is reported).
  nlohmann::json ask(const std::string& api, const nlohmann::json& request) {
    const std::string topic = "$aws/things/" + thing_ + "/jobs/" + api;
    auto reply = session_->ask(topic, as_bytes(request.dump()), std::chrono::seconds(30));
    EXPECT_TRUE(reply) << topic << ": " << (reply ? "" : reply.error().message);
    if (!reply) return nullptr;
    const auto body = nlohmann::json::parse(as_chars(reply->payload), nullptr, false);
    EXPECT_TRUE(reply->accepted) << topic << " rejected: " << body.dump();
    return reply->accepted ? body : nullptr;
  }

  // When the execution first reached the device; nullopt if it has not (yet).
  std::optional<Clock::time_point> notified_at(const std::string& job_id,
                                               std::int64_t execution_number = 1) const {
    std::lock_guard lock(mutex_);
    auto found = first_heard_.find({job_id, execution_number});
    if (found == first_heard_.end()) return std::nullopt;
    return found->second;
  }

  // Waits until the execution reaches the device.
  bool wait_notified(const std::string& job_id, std::int64_t execution_number,
                     std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return heard_.wait_for(lock, timeout, [&] {
      return first_heard_.contains({job_id, execution_number});
    });
  }

 private:
  explicit NotifyListener(std::string thing) : thing_(std::move(thing)) {}

  std::string topic() const { return "$aws/things/" + thing_ + "/jobs/notify-next"; }

  void heard(const mqtt::Message& message) {
    const auto at = Clock::now();
    if (message.topic != topic()) return;
    const auto payload = nlohmann::json::parse(as_chars(message.payload), nullptr, false);
    const auto execution =
        payload.is_object() ? payload.value("execution", nlohmann::json()) : nlohmann::json();
    if (!execution.is_object()) return;
    std::lock_guard lock(mutex_);
    first_heard_.try_emplace(
        {execution.value("jobId", ""), execution.value("executionNumber", std::int64_t{0})}, at);
    heard_.notify_all();
  }

  std::string thing_;
  mutable std::mutex mutex_;
  mutable std::condition_variable heard_;
  std::map<ExecutionKey, Clock::time_point> first_heard_;
  std::unique_ptr<RequestSession> session_;
};

}  // namespace ironroot::testing

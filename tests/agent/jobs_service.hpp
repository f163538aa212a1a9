// A stand-in for the fleet service's jobs API, small enough to trust in a test: a client on the
// broker's fleet listener that keeps one thing's job executions in memory and answers
// DescribeJobExecution ($next and by id) and UpdateJobExecution as docs/jobs.md says the service
// does (expectedVersion, legal transitions, versionNumber + 1 per change, TerminalStateReached),
// publishes notify-next when the thing's next pending execution changes, and replies on the exact
// reply topics (a plain broker delivers nothing unsubscribed). Faults are scripted.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ironroot/mqtt/client.hpp"
#include "ironroot/protocol/jobs.hpp"

namespace ironroot::testing {

class ScriptedJobsService {
 public:
  struct Execution {
    std::string job_id;
    nlohmann::json document;
    protocol::JobExecutionStatus status = protocol::JobExecutionStatus::queued;
    protocol::StatusDetails status_details;
    std::int64_t version = 1;
    std::int64_t number = 1;
    std::int64_t queued_at = 0;
  };

  // One request as it arrived: "describe $next", "describe j1", "update j1 SUCCEEDED".
  struct Request {
    std::string summary;
    nlohmann::json payload;
  };

  // Connects (`client`: the fleet identity, on_message unset) and subscribes; fails the calling
  // test (returns null) when it cannot.
  static std::unique_ptr<ScriptedJobsService> start(mqtt::ClientOptions client, std::string thing);
  ~ScriptedJobsService();

  // Queues an execution (or puts one IN_PROGRESS, as if the device had started it).
  void add(const std::string& job_id, nlohmann::json document,
           protocol::JobExecutionStatus status = protocol::JobExecutionStatus::queued,
           protocol::StatusDetails details = {});
  std::optional<Execution> execution(const std::string& job_id) const;
  // The service changes the execution before it handles the next update (as a timer reset
  // would): versionNumber + 1, so that update gets VersionMismatch.
  void bump_version_before_next_update() { bump_next_update_ = true; }
  // The next `count` requests get no reply.
  void ignore_requests(int count);
  // Cancels an execution (the service's CANCELED).
  void cancel(const std::string& job_id);

  std::vector<Request> requests() const;
  // Waits until `count` requests have arrived.
  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout) const;

 private:
  explicit ScriptedJobsService(std::string thing) : thing_(std::move(thing)) {}
  void on_message(const mqtt::Message& message);
  void reply(const protocol::JobsTopic& request, protocol::Reply kind, const nlohmann::json& body);
  void publish(const std::string& topic, const nlohmann::json& body);
  // The next pending execution (IN_PROGRESS first, then QUEUED, each in queue order).
  const Execution* next_pending() const;
  void notify_if_next_changed();
  protocol::JobExecution wire(const Execution& e) const;

  std::string thing_;
  std::unique_ptr<mqtt::Client> client_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<Execution> executions_;
  std::vector<Request> requests_;
  std::optional<std::string> last_next_;
  bool bump_next_update_ = false;
  int ignore_ = 0;
  std::int64_t clock_ = 1000;
};

}  // namespace ironroot::testing

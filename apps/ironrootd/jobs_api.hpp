// The device side of AWS IoT Jobs in the fleet service (the jobs device MQTT API,
// docs/jobs-protocol.md) over fleet::JobStore: GetPendingJobExecutions, StartNext,
// DescribeJobExecution and UpdateJobExecution requests handed over by the broker plugin as
// `$ironroot/from/<clientId>/<certificateId>/<prefix>/things/<thing>/jobs/...`, answered through
// `$ironroot/to/<clientId>/...` (so a device gets its reply whether or not it subscribed, as AWS
// IoT does); and the notify / notify-next messages every change owes the things it concerns.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "device_api.hpp"
#include "ironroot/fleet/jobs.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/protocol/jobs.hpp"
#include "message_worker.hpp"

namespace ironroot::service {

// Publishes what the store says devices must be told: <prefix>/things/<T>/jobs/notify-next with
// the thing's next pending execution (or none), and .../jobs/notify with its pending list.
// Thread-safe (its store connection is its own, behind a lock).
class JobNotifier {
 public:
  JobNotifier(fleet::JobStore store, mqtt::Client& fleet, protocol::TopicPrefix prefix)
      : store_(std::move(store)), fleet_(fleet), prefix_(std::move(prefix)) {}

  void publish(const fleet::JobNotifications& notifications);

 private:
  std::mutex mutex_;
  fleet::JobStore store_;
  mqtt::Client& fleet_;
  protocol::TopicPrefix prefix_;
};

class JobsApi {
 public:
  // `store` and `registry` are this API's own connections. `on_execution_change` runs (on the
  // worker) after a device changed an execution: the rollout engine decides again.
  JobsApi(fleet::JobStore store, fleet::Registry registry, JobNotifier& notifier,
          mqtt::Client& fleet, protocol::TopicPrefix prefix,
          std::function<void()> on_execution_change);

  // The filters the fleet connection subscribes to for the jobs requests.
  std::vector<std::string> subscriptions() const;
  // True for a message this API handles (a device's jobs request).
  bool handles(std::string_view topic) const;
  void enqueue(const mqtt::Message& message) { worker_.enqueue(message); }

 private:
  void handle(const mqtt::Message& message);
  // Whether the certificate that sent a request is attached to the thing its topic names.
  bool speaks_for(const DeviceRequest& request, const std::string& thing);
  void reply(const DeviceRequest& to, const std::string& topic, const Bytes& payload);

  fleet::JobStore store_;
  fleet::Registry registry_;
  JobNotifier& notifier_;
  mqtt::Client& fleet_;
  protocol::TopicPrefix prefix_;
  std::function<void()> on_execution_change_;
  MessageWorker worker_;  // last: it stops before the rest goes
};

}  // namespace ironroot::service

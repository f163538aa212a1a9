// Messages from the fleet connection, handled one at a time on a thread of their own rather
// than on the MQTT network thread (a handler may take a while: a pre-provisioning hook, a
// transaction).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "ironroot/mqtt/client.hpp"

namespace ironroot::service {

// How long the service's replies and notifications wait for room in the fleet connection's
// outgoing queue (mqtt::Client::publish_or_wait) before one is given up with a log line: the
// producers (workers, the rollout engine, the REST API) slow down to the broker's pace rather
// than drop what thousands of devices are owed.
inline constexpr std::chrono::seconds kPublishWait{30};

class MessageWorker {
 public:
  // At most `max_queued` messages wait; beyond that a message is refused with a log line (the
  // devices retry) rather than queued without limit.
  static constexpr std::size_t kMaxQueued = 10'000;

  // `handle` runs on the worker thread, one message at a time. `name` is for logs.
  MessageWorker(std::string name, std::function<void(const mqtt::Message&)> handle,
                std::size_t max_queued = kMaxQueued);
  ~MessageWorker();  // finishes the message in hand, drops the rest
  MessageWorker(const MessageWorker&) = delete;
  MessageWorker& operator=(const MessageWorker&) = delete;

  // Queues a message (called on the MQTT network thread).
  void enqueue(const mqtt::Message& message);

 private:
  void work();

  std::string name_;
  std::function<void(const mqtt::Message&)> handle_;
  std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<mqtt::Message> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ironroot::service

#include <mutex>
#include <utility>

#include "ironroot/agent/jobs_client.hpp"

namespace ironroot::agent {

// The sink, shared with the client's on_message so that it outlives both.
struct MqttJobsConnection::Sink {
  std::mutex mutex;  // held while the sink runs: set_message_sink waits for a running call
  MessageSink sink;
};

Result<std::unique_ptr<MqttJobsConnection>> MqttJobsConnection::create(
    mqtt::ClientOptions options) {
  auto sink = std::make_shared<Sink>();
  options.on_message = [sink, chained = std::move(options.on_message)](const mqtt::Message& m) {
    if (chained) chained(m);
    std::lock_guard lock(sink->mutex);
    if (sink->sink) sink->sink(m);
  };
  auto client = mqtt::Client::create(std::move(options));
  if (!client) return tl::unexpected(client.error());
  (*client)->start();
  return std::unique_ptr<MqttJobsConnection>(
      new MqttJobsConnection(std::move(sink), std::move(*client)));
}

MqttJobsConnection::MqttJobsConnection(std::shared_ptr<Sink> sink,
                                       std::unique_ptr<mqtt::Client> client)
    : sink_(std::move(sink)), client_(std::move(client)) {}

MqttJobsConnection::~MqttJobsConnection() {
  client_->stop();
}

Status MqttJobsConnection::publish(std::string_view topic, ByteView payload) {
  return publish(topic, payload, 1);
}

Status MqttJobsConnection::publish(std::string_view topic, ByteView payload, int qos) {
  auto queued = client_->publish(topic, payload, qos);
  if (!queued)
    return fail("cannot publish to " + std::string(topic) + ": " + queued.error().message);
  return {};
}

Status MqttJobsConnection::subscribe(std::string_view filter, std::chrono::milliseconds timeout) {
  return subscribe(filter, 1, timeout);
}

Status MqttJobsConnection::subscribe(std::string_view filter, int qos,
                                     std::chrono::milliseconds timeout) {
  const mqtt::ClientStats before = client_->stats();
  if (auto ok = client_->subscribe(filter, qos); !ok) return ok;
  const bool acknowledged = client_->wait_until(
      [&](const mqtt::ClientStats& st) {
        return st.subscriptions_acknowledged > before.subscriptions_acknowledged;
      },
      timeout);
  const mqtt::ClientStats after = client_->stats();
  if (!acknowledged) {
    return fail("the broker did not acknowledge the subscription to " + std::string(filter) +
                " within " + std::to_string(timeout.count()) + " ms" +
                (after.last_error.empty() ? std::string() : "; last error: " + after.last_error));
  }
  if (after.last_error != before.last_error &&
      after.last_error.find("refused a subscription") != std::string::npos) {
    return fail(after.last_error + " (subscribing to " + std::string(filter) +
                "; may this identity use it?)");
  }
  return {};
}

void MqttJobsConnection::set_message_sink(MessageSink sink) {
  std::lock_guard lock(sink_->mutex);
  sink_->sink = std::move(sink);
}

}  // namespace ironroot::agent

#include "jobs_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace ironroot::service {

namespace {

namespace errors = protocol::jobs_errors;
using protocol::JobsOperation;

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

protocol::JobsErrorResponse error_response(std::string_view code, std::string message,
                                           std::optional<std::string> client_token) {
  protocol::JobsErrorResponse response;
  response.code = std::string(code);
  response.message = std::move(message);
  response.client_token = std::move(client_token);
  response.timestamp = now_seconds();
  return response;
}

protocol::JobsErrorResponse refusal_response(const fleet::JobsRefusal& refusal,
                                             std::optional<std::string> client_token) {
  auto response = error_response(refusal.code, refusal.message, std::move(client_token));
  response.execution_state = refusal.execution_state;
  return response;
}

}  // namespace

void JobNotifier::publish(const fleet::JobNotifications& notifications) {
  std::lock_guard lock(mutex_);
  for (const std::string& thing : notifications.next_changed) {
    auto execution = store_.next_pending_execution(thing);
    if (!execution) {
      spdlog::error("notify-next for {}: {}", thing, execution.error().message);
      continue;
    }
    protocol::NextJobExecutionChangedEvent event{*execution, now_seconds()};
    auto topic = protocol::jobs_notify_next_topic(prefix_, thing);
    if (!topic) continue;  // a thing name the topic cannot carry
    if (auto sent =
            fleet_.publish_or_wait(*topic, protocol::encode_jobs_message(event), kPublishWait, 1);
        !sent) {
      spdlog::error("cannot publish {}: {}", *topic, sent.error().message);
    }
  }
  for (const std::string& thing : notifications.pending_changed) {
    auto pending = store_.pending_executions(thing);
    if (!pending) {
      spdlog::error("notify for {}: {}", thing, pending.error().message);
      continue;
    }
    protocol::JobExecutionsChangedEvent event;
    event.timestamp = now_seconds();
    if (!pending->in_progress.empty()) {
      event.jobs[protocol::JobExecutionStatus::in_progress] = pending->in_progress;
    }
    if (!pending->queued.empty()) {
      event.jobs[protocol::JobExecutionStatus::queued] = pending->queued;
    }
    auto topic = protocol::jobs_notify_topic(prefix_, thing);
    if (!topic) continue;
    if (auto sent =
            fleet_.publish_or_wait(*topic, protocol::encode_jobs_message(event), kPublishWait, 1);
        !sent) {
      spdlog::error("cannot publish {}: {}", *topic, sent.error().message);
    }
  }
}

JobsApi::JobsApi(fleet::JobStore store, fleet::Registry registry, JobNotifier& notifier,
                 mqtt::Client& fleet, protocol::TopicPrefix prefix,
                 std::function<void()> on_execution_change)
    : store_(std::move(store)),
      registry_(std::move(registry)),
      notifier_(notifier),
      fleet_(fleet),
      prefix_(std::move(prefix)),
      on_execution_change_(std::move(on_execution_change)),
      worker_("jobs requests", [this](const mqtt::Message& m) { handle(m); }) {}

std::vector<std::string> JobsApi::subscriptions() const {
  return {std::string(kFromPrefix) + "+/+/" + prefix_.str() + "/things/+/jobs/#"};
}

bool JobsApi::handles(std::string_view topic) const {
  auto request = parse_device_request_topic(topic);
  return request && protocol::jobs_namespace_thing(prefix_, request->topic).has_value();
}

bool JobsApi::speaks_for(const DeviceRequest& request, const std::string& thing) {
  auto things = registry_.things_of(request.certificate_id);
  return things && std::find(things->begin(), things->end(), thing) != things->end();
}

void JobsApi::reply(const DeviceRequest& to, const std::string& topic, const Bytes& payload) {
  const std::string relay = std::string(kToPrefix) + to.client_id + "/" + topic;
  if (auto sent = fleet_.publish_or_wait(relay, payload, kPublishWait, 1); !sent) {
    spdlog::error("cannot reply to {} on {}: {}", to.client_id, topic, sent.error().message);
  }
}

void JobsApi::handle(const mqtt::Message& message) {
  auto request = parse_device_request_topic(message.topic);
  if (!request) return;
  auto thing = protocol::jobs_namespace_thing(prefix_, request->topic);
  if (!thing) return;
  // The broker plugin let the device publish here under its policy; the thing must still be its
  // own: a policy that opens other things' jobs topics must not open their executions.
  if (!speaks_for(*request, *thing)) {
    spdlog::warn("{} (certificate {}) asked about the jobs of {}, not its thing: ignored",
                 request->client_id, request->certificate_id.substr(0, 12), *thing);
    return;
  }
  auto topic = protocol::parse_jobs_topic(prefix_, request->topic);
  if (!topic) {
    reply(*request, request->topic + "/rejected",
          protocol::encode_jobs_message(error_response(
              errors::kInvalidTopic, "not a jobs API topic: " + request->topic, std::nullopt)));
    return;
  }
  if (!topic->is_request()) return;
  auto reply_on = [&](protocol::Reply which) {
    return *protocol::jobs_topic(prefix_, protocol::reply_topic(*topic, which));
  };
  auto reject = [&](const protocol::JobsErrorResponse& error) {
    reply(*request, reply_on(protocol::Reply::rejected), protocol::encode_jobs_message(error));
    spdlog::info("{} for {}: rejected, {}: {}", request->topic, request->client_id, error.code,
                 error.message);
  };
  auto accept = [&](const auto& response) {
    reply(*request, reply_on(protocol::Reply::accepted), protocol::encode_jobs_message(response));
  };
  auto internal = [&](const fleet::RegistryError& error, std::optional<std::string> token) {
    spdlog::error("{} for {}: {}", request->topic, request->client_id, error.message);
    reject(error_response(errors::kInternalError, "the fleet service cannot read its jobs",
                          std::move(token)));
  };

  switch (topic->operation) {
    case JobsOperation::get_pending: {
      auto decoded =
          protocol::decode_jobs_request<protocol::GetPendingJobExecutionsRequest>(message.payload);
      if (!decoded)
        return reject(protocol::JobsErrorResponse::from(decoded.error(), now_seconds()));
      auto pending = store_.pending_executions(*thing);
      if (!pending) return internal(pending.error(), decoded->client_token);
      protocol::GetPendingJobExecutionsResponse response{pending->in_progress, pending->queued,
                                                         now_seconds(), decoded->client_token};
      return accept(response);
    }
    case JobsOperation::start_next: {
      auto decoded = protocol::decode_jobs_request<protocol::StartNextPendingJobExecutionRequest>(
          message.payload);
      if (!decoded)
        return reject(protocol::JobsErrorResponse::from(decoded.error(), now_seconds()));
      auto started = store_.start_next(*thing, *decoded);
      if (!started) return reject(refusal_response(started.error(), decoded->client_token));
      accept(protocol::StartNextJobExecutionResponse{started->value, now_seconds(),
                                                     decoded->client_token});
      notifier_.publish(started->notifications);
      if (!started->notifications.empty() && on_execution_change_) on_execution_change_();
      return;
    }
    case JobsOperation::describe: {
      auto decoded =
          protocol::decode_jobs_request<protocol::DescribeJobExecutionRequest>(message.payload);
      if (!decoded)
        return reject(protocol::JobsErrorResponse::from(decoded.error(), now_seconds()));
      auto described = store_.describe(*thing, topic->job_id, *decoded);
      if (!described) return reject(refusal_response(described.error(), decoded->client_token));
      return accept(
          protocol::DescribeJobExecutionResponse{*described, now_seconds(), decoded->client_token});
    }
    case JobsOperation::update: {
      auto decoded =
          protocol::decode_jobs_request<protocol::UpdateJobExecutionRequest>(message.payload);
      if (!decoded)
        return reject(protocol::JobsErrorResponse::from(decoded.error(), now_seconds()));
      auto updated = store_.update(*thing, topic->job_id, *decoded);
      if (!updated) return reject(refusal_response(updated.error(), decoded->client_token));
      protocol::UpdateJobExecutionResponse response;
      if (decoded->include_job_execution_state) response.execution_state = updated->value.state;
      if (decoded->include_job_document) response.job_document = updated->value.document;
      response.timestamp = now_seconds();
      response.client_token = decoded->client_token;
      accept(response);
      spdlog::info("job {} on {}: {} (version {})", topic->job_id, *thing,
                   protocol::to_string(updated->value.execution.status),
                   updated->value.execution.version_number);
      notifier_.publish(updated->notifications);
      if (on_execution_change_) on_execution_change_();
      return;
    }
    case JobsOperation::notify:
    case JobsOperation::notify_next:
      return;
  }
}

}  // namespace ironroot::service

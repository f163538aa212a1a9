#include "jobs_service.hpp"

#include <gtest/gtest.h>

namespace ironroot::testing {

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using protocol::JobExecutionStatus;
namespace errors = protocol::jobs_errors;

}  // namespace

std::unique_ptr<ScriptedJobsService> ScriptedJobsService::start(mqtt::ClientOptions options,
                                                                std::string thing) {
  std::unique_ptr<ScriptedJobsService> s(new ScriptedJobsService(std::move(thing)));
  options.on_message = [raw = s.get()](const mqtt::Message& m) { raw->on_message(m); };
  auto client = mqtt::Client::create(std::move(options));
  EXPECT_TRUE(client) << client.error().message;
  if (!client) return nullptr;
  s->client_ = std::move(*client);
  const auto filters = protocol::jobs_request_filters(protocol::TopicPrefix());
  for (const std::string& filter : filters) EXPECT_TRUE(s->client_->subscribe(filter, 1));
  s->client_->start();
  const bool ready = s->client_->wait_until(
      [&](const mqtt::ClientStats& st) { return st.subscriptions_acknowledged >= filters.size(); },
      20s);
  EXPECT_TRUE(ready) << "jobs service: " << s->client_->stats().last_error;
  return ready ? std::move(s) : nullptr;
}

ScriptedJobsService::~ScriptedJobsService() {
  if (client_) client_->stop();
}

void ScriptedJobsService::add(const std::string& job_id, json document, JobExecutionStatus status,
                              protocol::StatusDetails details) {
  std::lock_guard lock(mutex_);
  Execution e;
  e.job_id = job_id;
  e.document = std::move(document);
  e.status = status;
  e.status_details = std::move(details);
  e.version = status == JobExecutionStatus::queued ? 1 : 2;
  e.queued_at = ++clock_;
  executions_.push_back(std::move(e));
  notify_if_next_changed();
}

std::optional<ScriptedJobsService::Execution> ScriptedJobsService::execution(
    const std::string& job_id) const {
  std::lock_guard lock(mutex_);
  for (const auto& e : executions_) {
    if (e.job_id == job_id) return e;
  }
  return std::nullopt;
}

void ScriptedJobsService::ignore_requests(int count) {
  std::lock_guard lock(mutex_);
  ignore_ = count;
}

void ScriptedJobsService::cancel(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  for (auto& e : executions_) {
    if (e.job_id == job_id && !protocol::is_terminal(e.status)) {
      e.status = JobExecutionStatus::canceled;
      ++e.version;
    }
  }
  notify_if_next_changed();
}

std::vector<ScriptedJobsService::Request> ScriptedJobsService::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool ScriptedJobsService::wait_for_requests(std::size_t count,
                                            std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
}

const ScriptedJobsService::Execution* ScriptedJobsService::next_pending() const {
  for (JobExecutionStatus wanted : {JobExecutionStatus::in_progress, JobExecutionStatus::queued}) {
    for (const auto& e : executions_) {
      if (e.status == wanted) return &e;
    }
  }
  return nullptr;
}

protocol::JobExecution ScriptedJobsService::wire(const Execution& e) const {
  protocol::JobExecution out;
  out.job_id = e.job_id;
  out.thing_name = thing_;
  out.job_document = e.document;
  out.status = e.status;
  out.status_details = e.status_details;
  out.queued_at = e.queued_at;
  out.last_updated_at = clock_;
  out.version_number = e.version;
  out.execution_number = e.number;
  return out;
}

void ScriptedJobsService::publish(const std::string& topic, const json& body) {
  if (!client_) return;
  EXPECT_TRUE(
      client_->publish(topic, protocol::encode_payload(body, protocol::PayloadFormat::json), 1))
      << topic;
}

void ScriptedJobsService::notify_if_next_changed() {
  const Execution* next = next_pending();
  std::optional<std::string> id;
  if (next) id = next->job_id;
  if (id == last_next_) return;
  last_next_ = id;
  protocol::NextJobExecutionChangedEvent event;
  if (next) event.execution = wire(*next);
  event.timestamp = ++clock_;
  publish(*protocol::jobs_notify_next_topic(protocol::TopicPrefix(), thing_), event.encode());
}

void ScriptedJobsService::reply(const protocol::JobsTopic& request, protocol::Reply kind,
                                const json& body) {
  publish(*protocol::jobs_topic(protocol::TopicPrefix(), protocol::reply_topic(request, kind)),
          body);
}

void ScriptedJobsService::on_message(const mqtt::Message& message) {
  auto topic = protocol::parse_jobs_topic(protocol::TopicPrefix(), message.topic);
  if (!topic || !topic->is_request() || topic->thing_name != thing_) return;
  std::lock_guard lock(mutex_);
  json payload = message.payload.empty() ? json::object()
                                         : json::parse(as_chars(message.payload), nullptr, false);
  auto error = [&](std::string_view code, std::string text,
                   std::optional<protocol::JobExecutionState> state = std::nullopt) {
    protocol::JobsErrorResponse e{std::string(code), std::move(text), std::nullopt, ++clock_,
                                  std::move(state)};
    if (payload.is_object() && payload.contains("clientToken")) {
      e.client_token = payload["clientToken"].get<std::string>();
    }
    reply(*topic, protocol::Reply::rejected, e.encode());
  };
  Request seen;
  seen.payload = payload;
  if (topic->operation == protocol::JobsOperation::describe) {
    seen.summary = "describe " + topic->job_id;
  } else if (topic->operation == protocol::JobsOperation::update) {
    seen.summary = "update " + topic->job_id + " " +
                   (payload.is_object() ? payload.value("status", std::string("?")) : "?");
  } else {
    seen.summary = "other";
  }
  requests_.push_back(seen);
  changed_.notify_all();
  if (ignore_ > 0) {
    --ignore_;
    return;
  }

  if (topic->operation == protocol::JobsOperation::describe) {
    auto request = protocol::DescribeJobExecutionRequest::decode(payload);
    if (!request) return error(errors::kInvalidRequest, request.error().message);
    protocol::DescribeJobExecutionResponse response;
    response.timestamp = ++clock_;
    response.client_token = request->client_token;
    if (topic->job_id == protocol::kNextJobId) {
      if (const Execution* next = next_pending()) response.execution = wire(*next);
      return reply(*topic, protocol::Reply::accepted, response.encode());
    }
    for (const auto& e : executions_) {
      if (e.job_id != topic->job_id) continue;
      if (protocol::is_terminal(e.status)) {
        return error(errors::kTerminalStateReached, "the execution is over");
      }
      response.execution = wire(e);
      return reply(*topic, protocol::Reply::accepted, response.encode());
    }
    return error(errors::kResourceNotFound, "no job " + topic->job_id);
  }
  if (topic->operation != protocol::JobsOperation::update) return;
  auto request = protocol::UpdateJobExecutionRequest::decode(payload);
  if (!request) return error(errors::kInvalidRequest, request.error().message);
  for (auto& e : executions_) {
    if (e.job_id != topic->job_id) continue;
    if (bump_next_update_) {
      bump_next_update_ = false;
      ++e.version;
    }
    const protocol::JobExecutionState state{e.status, e.status_details, e.version};
    if (request->expected_version && *request->expected_version != e.version) {
      return error(errors::kVersionMismatch,
                   "the execution is at version " + std::to_string(e.version), state);
    }
    if (!protocol::legal_transition(e.status, request->status)) {
      return error(errors::kInvalidStateTransition, "not from " + std::string(to_string(e.status)),
                   state);
    }
    e.status = request->status;
    if (request->status_details) e.status_details = *request->status_details;
    ++e.version;
    protocol::UpdateJobExecutionResponse response;
    if (request->include_job_execution_state) {
      response.execution_state = protocol::JobExecutionState{e.status, e.status_details, e.version};
    }
    response.timestamp = ++clock_;
    response.client_token = request->client_token;
    reply(*topic, protocol::Reply::accepted, response.encode());
    notify_if_next_changed();
    return;
  }
  error(errors::kResourceNotFound, "no job " + topic->job_id);
}

}  // namespace ironroot::testing

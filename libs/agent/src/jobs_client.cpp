#include "ironroot/agent/jobs_client.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>

#include "ironroot/crypto/random.hpp"
#include "ironroot/protocol/provisioning.hpp"

namespace ironroot::agent {

namespace {

using nlohmann::json;
using protocol::JobExecution;
using protocol::JobExecutionStatus;
using protocol::JobsErrorResponse;
using protocol::StatusDetails;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using Failure = tl::unexpected<JobsFailure>;

constexpr milliseconds kMinTimeout{100};
constexpr milliseconds kMaxTimeout{std::chrono::minutes(10)};
constexpr std::string_view kReasonKey = "reason";

JobsFailure make_failure(JobsStep step, const std::string& why, bool timed_out = false) {
  return JobsFailure{step, std::string(step_name(step)) + ": " + why, {}, timed_out};
}

Failure failure(JobsStep step, const std::string& why, bool timed_out = false) {
  return Failure(make_failure(step, why, timed_out));
}

StatusDetails reason(std::string text) {
  return {{std::string(kReasonKey), protocol::bounded_status_details_value(std::move(text))}};
}

// Whether the service will take `details` as UpdateJobExecution's statusDetails: checked by the
// very decoder the fleet service runs.
Status check_status_details(const StatusDetails& details) {
  protocol::UpdateJobExecutionRequest update;
  update.status_details = details;
  auto decoded = protocol::UpdateJobExecutionRequest::decode(update.encode());
  if (!decoded) return fail(decoded.error().message);
  return {};
}

Status check_settings(const JobsClientSettings& s) {
  if (!protocol::is_valid_thing_name(s.thing_name)) {
    return fail("thing name \"" + s.thing_name +
                "\" is not 1 to 128 characters of a-z, A-Z, 0-9, ':', '_' and '-'");
  }
  if (s.job_type_key.empty()) return fail("the job type key is empty");
  if (s.reply_timeout < kMinTimeout || s.reply_timeout > kMaxTimeout) {
    return fail("the reply timeout must be 100 ms to 10 min");
  }
  if (s.attempts < 1 || s.attempts > 10) return fail("attempts must be 1 to 10");
  if (s.step_timeout_in_minutes &&
      (*s.step_timeout_in_minutes < protocol::kMinStepTimeoutInMinutes ||
       *s.step_timeout_in_minutes > protocol::kMaxStepTimeoutInMinutes)) {
    return fail("the step timeout must be 1 to 10080 minutes");
  }
  if (s.max_pending_messages < 1 || s.max_pending_messages > 10000) {
    return fail("max pending messages must be 1 to 10000");
  }
  return {};
}

// Messages received and not read yet, bounded. Filled on the connection's thread.
class Inbox {
 public:
  explicit Inbox(std::size_t capacity) : capacity_(capacity) {}

  void offer(const mqtt::Message& message) {
    std::lock_guard lock(mutex_);
    if (messages_.size() >= capacity_) {
      ++dropped_;
      return;
    }
    messages_.push_back(message);
    arrived_.notify_all();
  }

  std::optional<mqtt::Message> take(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    arrived_.wait_until(lock, deadline, [&] { return !messages_.empty(); });
    if (messages_.empty()) return std::nullopt;
    mqtt::Message message = std::move(messages_.front());
    messages_.pop_front();
    return message;
  }

  void clear() {
    std::lock_guard lock(mutex_);
    messages_.clear();
  }

  std::uint64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<mqtt::Message> messages_;
  std::uint64_t dropped_ = 0;
};

struct Registration {
  JobMatcher matches;
  std::shared_ptr<JobHandler> handler;
};

// A job between its start and its end: what the client holds of the execution.
struct RunningJob {
  std::string job_id;
  std::int64_t execution_number = 0;
  std::int64_t version = 0;
};

// An UpdateJobExecution that the service refused because the job is over.
struct Ended {
  std::optional<JobExecutionStatus> status;  // when the service said which
};

}  // namespace

// ---- public helpers ---------------------------------------------------------------------------

JobOutcome JobOutcome::succeeded(StatusDetails details) {
  return {Kind::succeeded, std::move(details)};
}
JobOutcome JobOutcome::failed(StatusDetails details) {
  return {Kind::failed, std::move(details)};
}
JobOutcome JobOutcome::rejected(StatusDetails details) {
  return {Kind::rejected, std::move(details)};
}
JobOutcome JobOutcome::continue_after_restart() {
  return {Kind::continue_after_restart, {}};
}

std::optional<JobExecutionStatus> final_status(JobOutcome::Kind kind) {
  switch (kind) {
    case JobOutcome::Kind::succeeded:
      return JobExecutionStatus::succeeded;
    case JobOutcome::Kind::failed:
      return JobExecutionStatus::failed;
    case JobOutcome::Kind::rejected:
      return JobExecutionStatus::rejected;
    case JobOutcome::Kind::continue_after_restart:
      break;
  }
  return std::nullopt;
}

JobOutcome JobHandler::resume(const JobExecution&, JobProgress&) {
  return JobOutcome::failed(reason("interrupted by a restart"));
}

std::string_view step_name(JobsStep step) {
  switch (step) {
    case JobsStep::check_settings:
      return "check settings";
    case JobsStep::subscribe:
      return "subscribe";
    case JobsStep::request_next:
      return "request next job";
    case JobsStep::start_job:
      return "start job";
    case JobsStep::report_progress:
      return "report progress";
    case JobsStep::finish_job:
      return "finish job";
    case JobsStep::describe_job:
      return "describe job";
    case JobsStep::store:
      return "store current job";
  }
  return "unknown step";
}

// ---- the client -------------------------------------------------------------------------------

struct JobsClient::State {
  JobsClientSettings settings;
  JobsConnection& connection;
  CurrentJobStore& store;
  std::shared_ptr<Inbox> inbox;
  std::vector<Registration> handlers;
  std::string token_prefix;  // random per client, so that tokens of an earlier run never match
  std::uint64_t token_counter = 0;

  bool started = false;
  std::optional<CurrentJob> remembered;
  bool ask_next = true;
  std::vector<std::string> next_tokens;  // of the $next/get requests whose reply is awaited
  // The execution finished last, so that a stale notify-next naming it is not taken again.
  std::optional<std::pair<std::string, std::int64_t>> last_finished;
  JobsClientStats stats;

  std::string notify_next_topic;

  State(JobsClientSettings s, JobsConnection& c, CurrentJobStore& st)
      : settings(std::move(s)),
        connection(c),
        store(st),
        inbox(std::make_shared<Inbox>(settings.max_pending_messages)) {}

  // ---- topics and tokens

  std::string topic(protocol::JobsOperation operation, const std::string& job_id,
                    protocol::Reply reply) const {
    // The thing name and job ids are checked before they get here.
    return *protocol::jobs_topic(
        settings.topic_prefix, protocol::JobsTopic{settings.thing_name, operation, job_id, reply});
  }

  std::string new_token() { return token_prefix + "-" + std::to_string(++token_counter); }

  // ---- start

  std::optional<JobsFailure> start() {
    notify_next_topic =
        *protocol::jobs_notify_next_topic(settings.topic_prefix, settings.thing_name);
    // Only this thing's jobs topics take room in the inbox: the connection may carry other
    // agents' traffic (file streams) too.
    connection.set_message_sink([inbox = inbox, prefix = settings.topic_prefix,
                                 thing = settings.thing_name](const mqtt::Message& m) {
      if (m.retain || protocol::jobs_namespace_thing(prefix, m.topic) != thing) return;
      inbox->offer(m);
    });
    std::vector<std::string> filters{notify_next_topic};
    if (settings.subscribe_to_replies) {
      const std::string base =
          settings.topic_prefix.str() + "/things/" + settings.thing_name + "/jobs/+/";
      filters.push_back(base + "get/+");
      filters.push_back(base + "update/+");
    }
    for (const auto& filter : filters) {
      if (auto ok = connection.subscribe(filter, settings.reply_timeout); !ok) {
        return make_failure(JobsStep::subscribe, ok.error().message);
      }
    }
    auto loaded = store.load();
    if (!loaded) {
      stats.store_error = loaded.error().message;
      if (auto cleared = store.clear(); !cleared) {
        stats.store_error += "; clearing it failed too: " + cleared.error().message;
      }
    } else {
      remembered = std::move(*loaded);
    }
    started = true;
    return std::nullopt;
  }

  // ---- one request and its reply

  // Publishes `request` (with a fresh clientToken each attempt) on the request topic of
  // (operation, job_id) and waits for the reply that echoes one of its tokens. Returns the
  // accepted payload; a rejection is a failure with `rejection` set. Messages that are not the
  // reply are dropped: one job at a time, and $next/get is asked again after each job.
  Result<Bytes, JobsFailure> exchange(JobsStep step, protocol::JobsOperation operation,
                                      const std::string& job_id, json request) {
    const std::string request_topic = topic(operation, job_id, protocol::Reply::none);
    const std::string accepted = topic(operation, job_id, protocol::Reply::accepted);
    const std::string rejected = topic(operation, job_id, protocol::Reply::rejected);
    std::vector<std::string> tokens;
    std::optional<JobsErrorResponse> last_rejection;
    for (int attempt = 1; attempt <= settings.attempts; ++attempt) {
      if (attempt > 1) ++stats.retries;
      tokens.push_back(new_token());
      request["clientToken"] = tokens.back();
      if (auto ok = connection.publish(
              request_topic, protocol::encode_payload(request, protocol::PayloadFormat::json));
          !ok) {
        return failure(step, ok.error().message);
      }
      ++stats.requests;
      const auto deadline = Clock::now() + settings.reply_timeout;
      bool answered = false;
      while (!answered) {
        auto message = inbox->take(deadline);
        if (!message) break;
        if (message->topic != accepted && message->topic != rejected) continue;
        if (message->topic == accepted) {
          auto echoed = echoed_token(message->payload);
          if (!echoed || !contains(tokens, *echoed)) {
            ++stats.ignored_messages;
            continue;
          }
          return std::move(message->payload);
        }
        auto error = protocol::decode_jobs_reply<JobsErrorResponse>(message->payload);
        if (!error || !error->client_token || !contains(tokens, *error->client_token)) {
          ++stats.ignored_messages;
          continue;
        }
        answered = true;
        const bool transient = error->code == protocol::jobs_errors::kRequestThrottled ||
                               error->code == protocol::jobs_errors::kInternalError;
        if (!transient || attempt == settings.attempts) {
          JobsFailure f = make_failure(
              step, "the service rejected " + request_topic + ": " + error->code +
                        (error->message.empty() ? std::string() : " (" + error->message + ")"));
          f.rejection = std::move(*error);
          return tl::unexpected(std::move(f));
        }
        last_rejection = std::move(*error);
      }
    }
    JobsFailure silent =
        make_failure(step,
                     "no reply on " + accepted + " or " + rejected + " after " +
                         std::to_string(settings.attempts) + " attempt(s) of " +
                         std::to_string(settings.reply_timeout.count()) + " ms" +
                         (settings.subscribe_to_replies
                              ? std::string()
                              : " (the broker must deliver replies to the requester, or set "
                                "subscribe_to_replies)"),
                     true);
    silent.rejection = std::move(last_rejection);  // a throttled attempt before the silence
    return tl::unexpected(std::move(silent));
  }

  static bool contains(const std::vector<std::string>& tokens, const std::string& token) {
    for (const auto& t : tokens) {
      if (t == token) return true;
    }
    return false;
  }

  // The clientToken of an accepted reply, read without decoding the rest (which the caller
  // decodes as the message it expects).
  static std::optional<std::string> echoed_token(ByteView payload) {
    auto document = protocol::decode_payload(payload, protocol::PayloadFormat::json);
    if (!document) return std::nullopt;
    auto token = document->find("clientToken");
    if (token == document->end() || !token->is_string()) return std::nullopt;
    return token->get<std::string>();
  }

  // ---- requests

  // DescribeJobExecution of one execution. nullopt (with the reason) when the service says it is
  // over or gone: TerminalStateReached, ResourceNotFound, or no execution.
  Result<std::optional<JobExecution>, JobsFailure> describe(const std::string& job_id,
                                                            std::int64_t execution_number) {
    protocol::DescribeJobExecutionRequest request;
    if (execution_number > 0) request.execution_number = execution_number;
    auto payload = exchange(JobsStep::describe_job, protocol::JobsOperation::describe, job_id,
                            request.encode());
    if (!payload) {
      const auto& rejection = payload.error().rejection;
      if (rejection && (rejection->code == protocol::jobs_errors::kTerminalStateReached ||
                        rejection->code == protocol::jobs_errors::kResourceNotFound)) {
        return std::optional<JobExecution>();
      }
      return tl::unexpected(payload.error());
    }
    auto reply = protocol::decode_jobs_reply<protocol::DescribeJobExecutionResponse>(*payload);
    if (!reply) return failure(JobsStep::describe_job, reply.error().message);
    if (reply->execution && reply->execution->job_id != job_id) {
      return failure(
          JobsStep::describe_job,
          "the service described job \"" + reply->execution->job_id + "\" for \"" + job_id + "\"");
    }
    return std::move(reply->execution);
  }

  // UpdateJobExecution to `status` with expectedVersion; on VersionMismatch the job is
  // described again and the update sent once more. Returns Ended when the service refused it
  // because the job is over (or the update was already applied, for a lost reply).
  Result<std::optional<Ended>, JobsFailure> update(JobsStep step, RunningJob& job,
                                                   JobExecutionStatus status,
                                                   const StatusDetails& details) {
    for (int round = 0; round < 2; ++round) {
      protocol::UpdateJobExecutionRequest request;
      request.status = status;
      request.status_details = details;
      request.expected_version = job.version;
      if (job.execution_number > 0) request.execution_number = job.execution_number;
      request.include_job_execution_state = true;
      if (step == JobsStep::start_job)
        request.step_timeout_in_minutes = settings.step_timeout_in_minutes;
      auto payload = exchange(step, protocol::JobsOperation::update, job.job_id, request.encode());
      if (payload) {
        auto reply = protocol::decode_jobs_reply<protocol::UpdateJobExecutionResponse>(*payload);
        if (!reply) return failure(step, reply.error().message);
        job.version =
            reply->execution_state ? reply->execution_state->version_number : job.version + 1;
        return std::optional<Ended>();
      }
      const auto& rejection = payload.error().rejection;
      if (!rejection) return tl::unexpected(payload.error());
      if (rejection->execution_state && protocol::is_terminal(rejection->execution_state->status)) {
        return std::optional<Ended>(Ended{rejection->execution_state->status});
      }
      if (rejection->code == protocol::jobs_errors::kResourceNotFound) {
        return std::optional<Ended>(Ended{});
      }
      if (rejection->code != protocol::jobs_errors::kVersionMismatch || round == 1) {
        return tl::unexpected(payload.error());
      }
      // Someone else moved the execution on (the service, or our own update whose reply was
      // lost): see where it is now.
      auto now = describe(job.job_id, job.execution_number);
      if (!now) return tl::unexpected(now.error());
      if (!*now) return std::optional<Ended>(Ended{});
      if (protocol::is_terminal((*now)->status)) return std::optional<Ended>(Ended{(*now)->status});
      job.version = (*now)->version_number;
      if ((*now)->status == status && (*now)->status_details == details &&
          status == JobExecutionStatus::in_progress) {
        return std::optional<Ended>();  // already applied
      }
    }
    return failure(step, "VersionMismatch twice");  // not reached: round 1 returns
  }

  // ---- jobs

  std::shared_ptr<JobHandler> handler_for(const json& document) const {
    for (const auto& registration : handlers) {
      if (registration.matches(document)) return registration.handler;
    }
    return nullptr;
  }

  std::string job_type_of(const json& document) const {
    auto type = document.find(settings.job_type_key);
    if (type == document.end()) return "(no \"" + settings.job_type_key + "\")";
    if (!type->is_string()) return "(\"" + settings.job_type_key + "\" is not a string)";
    return "\"" + type->get<std::string>() + "\"";
  }

  class Progress final : public JobProgress {
   public:
    Progress(State& state, RunningJob& job) : state_(state), job_(job) {}
    Status report(const StatusDetails& details) override {
      if (auto ok = check_status_details(details); !ok) {
        return fail("the statusDetails are not valid: " + ok.error().message);
      }
      auto updated =
          state_.update(JobsStep::report_progress, job_, JobExecutionStatus::in_progress, details);
      if (!updated) return fail(updated.error().message);
      if (*updated) {
        const auto& status = (*updated)->status;
        return fail("the service ended the job" +
                    (status ? " as " + std::string(protocol::to_string(*status)) : std::string()));
      }
      return {};
    }

   private:
    State& state_;
    RunningJob& job_;
  };

  JobReport forget(JobReport report) {
    if (auto ok = store.clear(); !ok) stats.store_error = ok.error().message;
    last_finished = std::make_pair(report.job_id, report.execution_number);
    remembered.reset();
    ask_next = true;
    inbox->clear();
    ++stats.jobs;
    return report;
  }

  // Reports the final outcome (remembered first) and forgets the job.
  Result<JobReport, JobsFailure> finish(RunningJob& job, JobOutcome outcome, JobReport report) {
    if (auto ok = check_status_details(outcome.status_details); !ok) {
      outcome = JobOutcome::failed(
          reason("the handler's statusDetails are not valid: " + ok.error().message));
    }
    CurrentJob current{job.job_id, job.execution_number, outcome};
    if (!(remembered && *remembered == current)) {
      if (auto ok = store.save(current); !ok) return failure(JobsStep::store, ok.error().message);
      remembered = current;
    }
    report.outcome = outcome;
    auto ended =
        update(JobsStep::finish_job, job, *final_status(outcome.kind), outcome.status_details);
    if (!ended) return tl::unexpected(ended.error());
    report.final_status = final_status(outcome.kind);
    // Refused because the execution is over: by the service, or by this very outcome when an
    // earlier attempt's reply was lost.
    if (*ended && (*ended)->status != report.final_status) {
      report.ended_by_service = true;
      report.final_status = (*ended)->status;
    }
    return forget(std::move(report));
  }

  // Runs `execution` with its handler: handle() for a QUEUED one, resume() for one that this
  // device started before (remembered, or IN_PROGRESS already).
  Result<JobReport, JobsFailure> run(const JobExecution& execution, bool resumed) {
    RunningJob job{execution.job_id, execution.execution_number, execution.version_number};
    JobReport report;
    report.job_id = execution.job_id;
    report.execution_number = execution.execution_number;
    const bool started_before = resumed || execution.status == JobExecutionStatus::in_progress;
    report.resumed = started_before;

    const json document = execution.job_document.value_or(json::object());
    auto handler = handler_for(document);
    if (!handler) {
      return finish(
          job, JobOutcome::rejected(reason("no handler for job type " + job_type_of(document))),
          std::move(report));
    }
    if (!started_before) {
      auto ended = update(JobsStep::start_job, job, JobExecutionStatus::in_progress,
                          execution.status_details);
      if (!ended) return tl::unexpected(ended.error());
      if (*ended) {
        report.ended_by_service = true;
        report.final_status = (*ended)->status;
        return forget(std::move(report));
      }
    }
    CurrentJob current{job.job_id, job.execution_number, std::nullopt};
    if (!(remembered && *remembered == current)) {
      if (auto ok = store.save(current); !ok) return failure(JobsStep::store, ok.error().message);
      remembered = current;
    }
    JobExecution given = execution;
    given.status = JobExecutionStatus::in_progress;
    given.version_number = job.version;
    Progress progress(*this, job);
    JobOutcome outcome =
        started_before ? handler->resume(given, progress) : handler->handle(given, progress);
    if (outcome.kind == JobOutcome::Kind::continue_after_restart) {
      report.outcome = outcome;
      ++stats.jobs;
      return report;  // remembered: resumed after the restart
    }
    return finish(job, std::move(outcome), std::move(report));
  }

  Result<JobReport, JobsFailure> resume_remembered() {
    const CurrentJob current = *remembered;
    auto described = describe(current.job_id, current.execution_number);
    if (!described) return tl::unexpected(described.error());
    JobReport report;
    report.job_id = current.job_id;
    report.execution_number = current.execution_number;
    report.resumed = true;
    report.outcome = current.outcome;
    if (!*described || protocol::is_terminal((*described)->status)) {
      report.ended_by_service = true;
      if (*described) report.final_status = (*described)->status;
      return forget(std::move(report));
    }
    const JobExecution& execution = **described;
    if (current.outcome) {
      RunningJob job{execution.job_id, execution.execution_number, execution.version_number};
      return finish(job, *current.outcome, std::move(report));
    }
    return run(execution, true);
  }

  // The pending execution a message names, if it is one to take.
  std::optional<JobExecution> candidate(const mqtt::Message& message) {
    std::optional<JobExecution> execution;
    if (message.topic == notify_next_topic) {
      auto event =
          protocol::decode_jobs_reply<protocol::NextJobExecutionChangedEvent>(message.payload);
      if (!event) {
        ++stats.ignored_messages;
        return std::nullopt;
      }
      execution = std::move(event->execution);
    } else if (message.topic == topic(protocol::JobsOperation::describe,
                                      std::string(protocol::kNextJobId),
                                      protocol::Reply::accepted)) {
      auto reply =
          protocol::decode_jobs_reply<protocol::DescribeJobExecutionResponse>(message.payload);
      if (!reply || !reply->client_token || !contains(next_tokens, *reply->client_token)) {
        ++stats.ignored_messages;
        return std::nullopt;
      }
      next_tokens.clear();
      execution = std::move(reply->execution);
    } else {
      return std::nullopt;
    }
    if (!execution || protocol::is_terminal(execution->status)) return std::nullopt;
    if (execution->thing_name != settings.thing_name) {
      ++stats.ignored_messages;
      return std::nullopt;
    }
    if (last_finished && last_finished->first == execution->job_id &&
        last_finished->second == execution->execution_number) {
      return std::nullopt;  // a notification older than our last report
    }
    return execution;
  }

  Result<std::optional<JobReport>, JobsFailure> run_next_job(milliseconds wait) {
    const auto deadline = Clock::now() + wait;
    if (!started) {
      if (auto f = start()) return tl::unexpected(std::move(*f));
    }
    if (remembered) {
      auto report = resume_remembered();
      if (!report) return tl::unexpected(report.error());
      return std::optional<JobReport>(std::move(*report));
    }
    const std::string next_rejected =
        topic(protocol::JobsOperation::describe, std::string(protocol::kNextJobId),
              protocol::Reply::rejected);
    if (ask_next) {
      // As AWS's libraries do: an empty DescribeJobExecution of $next, here with a clientToken.
      next_tokens.push_back(new_token());
      if (next_tokens.size() > 16) next_tokens.erase(next_tokens.begin());
      protocol::DescribeJobExecutionRequest request;
      request.client_token = next_tokens.back();
      const std::string request_topic =
          topic(protocol::JobsOperation::describe, std::string(protocol::kNextJobId),
                protocol::Reply::none);
      if (auto ok = connection.publish(request_topic, protocol::encode_jobs_message(request));
          !ok) {
        return failure(JobsStep::request_next, ok.error().message);
      }
      ++stats.requests;
      ask_next = false;
    }
    while (true) {
      auto message = inbox->take(deadline);
      if (!message) return std::optional<JobReport>();
      if (message->topic == next_rejected) {
        auto error = protocol::decode_jobs_reply<JobsErrorResponse>(message->payload);
        if (error && error->client_token && contains(next_tokens, *error->client_token)) {
          ask_next = true;  // asked again next time
          next_tokens.clear();
          JobsFailure f = make_failure(
              JobsStep::request_next,
              "the service rejected $next/get: " + error->code +
                  (error->message.empty() ? std::string() : " (" + error->message + ")"));
          f.rejection = std::move(*error);
          return tl::unexpected(std::move(f));
        }
        ++stats.ignored_messages;
        continue;
      }
      auto execution = candidate(*message);
      if (!execution) continue;
      auto report = run(*execution, false);
      if (!report) return tl::unexpected(report.error());
      return std::optional<JobReport>(std::move(*report));
    }
  }
};

Result<std::unique_ptr<JobsClient>, JobsFailure> JobsClient::create(JobsClientSettings settings,
                                                                    JobsConnection& connection,
                                                                    CurrentJobStore& store) {
  if (auto ok = check_settings(settings); !ok) {
    return failure(JobsStep::check_settings, ok.error().message);
  }
  auto random = crypto::random_bytes(6);
  if (!random) return failure(JobsStep::check_settings, random.error().message);
  auto state = std::make_unique<State>(std::move(settings), connection, store);
  state->token_prefix = to_hex(*random);
  return std::unique_ptr<JobsClient>(new JobsClient(std::move(state)));
}

JobsClient::JobsClient(std::unique_ptr<State> state) : state_(std::move(state)) {}

JobsClient::~JobsClient() {
  if (state_->started) state_->connection.set_message_sink({});
}

void JobsClient::register_handler(std::string job_type, std::shared_ptr<JobHandler> handler) {
  JobMatcher matcher = [key = state_->settings.job_type_key,
                        type = std::move(job_type)](const json& document) {
    auto value = document.find(key);
    return value != document.end() && value->is_string() &&
           value->get_ref<const std::string&>() == type;
  };
  state_->handlers.push_back({std::move(matcher), std::move(handler)});
}

void JobsClient::register_handler(JobMatcher matcher, std::shared_ptr<JobHandler> handler) {
  state_->handlers.push_back({std::move(matcher), std::move(handler)});
}

Result<std::optional<JobReport>, JobsFailure> JobsClient::run_next_job(milliseconds wait) {
  return state_->run_next_job(wait);
}

JobsClientStats JobsClient::stats() const {
  JobsClientStats out = state_->stats;
  out.dropped_messages = state_->inbox->dropped();
  return out;
}

}  // namespace ironroot::agent

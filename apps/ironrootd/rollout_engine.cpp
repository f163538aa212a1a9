#include "rollout_engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace ironroot::service {

namespace {

using namespace std::chrono_literals;
using fleet::RolloutTime;

constexpr const char* kActor = "rollout";
// The longest wait between rounds: execution timeouts are checked this often.
constexpr auto kMaxWait = 1s;
// What a job's rollout configuration may hold besides a bare jobExecutionsRolloutConfig.
constexpr std::string_view kPolicyKeys[] = {"jobExecutionsRolloutConfig", "abortConfig",
                                            "schedulingConfig", "rolloutGroups"};

RolloutTime rollout_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// The store keeps whole seconds: a dispatch stored as t happened in [t, t + 1 s), and before
// `now`. Counting it at the latest such instant keeps the sliding window conservative; the
// planner ignores dispatches after `now`, so it must not be later than that.
RolloutTime latest_instant(fleet::Time stored, RolloutTime now) {
  return std::min(std::chrono::time_point_cast<std::chrono::milliseconds>(stored) + 999ms, now);
}

// The job's rollout policy: its rollout configuration (a jobExecutionsRolloutConfig, or an
// object with the policy's keys) and its abort configuration.
Result<fleet::RolloutPolicy> policy_of(const fleet::Job& job) {
  nlohmann::json request = nlohmann::json::object();
  if (job.rollout_config) {
    auto parsed = nlohmann::json::parse(*job.rollout_config, nullptr, false);
    if (!parsed.is_object()) return fail("its rollout configuration is not a JSON object");
    const bool whole = std::any_of(std::begin(kPolicyKeys), std::end(kPolicyKeys),
                                   [&](std::string_view key) { return parsed.contains(key); });
    if (whole) {
      request = std::move(parsed);
    } else {
      request["jobExecutionsRolloutConfig"] = std::move(parsed);
    }
  }
  if (job.abort_config) {
    auto parsed = nlohmann::json::parse(*job.abort_config, nullptr, false);
    if (!parsed.is_object()) return fail("its abort configuration is not a JSON object");
    request["abortConfig"] = std::move(parsed);
  }
  return fleet::RolloutPolicy::from_json(request);
}

void count(fleet::ExecutionCounts& counts, protocol::JobExecutionStatus status) {
  ++counts.notified;
  switch (status) {
    case protocol::JobExecutionStatus::succeeded:
      ++counts.succeeded;
      break;
    case protocol::JobExecutionStatus::failed:
      ++counts.failed;
      break;
    case protocol::JobExecutionStatus::rejected:
      ++counts.rejected;
      break;
    case protocol::JobExecutionStatus::timed_out:
      ++counts.timed_out;
      break;
    default:
      break;
  }
}

}  // namespace

RolloutEngine::RolloutEngine(fleet::JobStore store, JobNotifier& notifier)
    : store_(std::move(store)), notifier_(notifier) {
  thread_ = std::thread([this] { run(); });
}

RolloutEngine::~RolloutEngine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  thread_.join();
}

void RolloutEngine::poke() {
  std::lock_guard lock(mutex_);
  poked_ = true;
  wake_.notify_all();
}

void RolloutEngine::registry_changed() {
  std::lock_guard lock(mutex_);
  poked_ = true;
  reconcile_ = true;
  wake_.notify_all();
}

void RolloutEngine::run() {
  for (;;) {
    bool reconcile = false;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      poked_ = false;
      reconcile = std::exchange(reconcile_, false);
    }
    if (reconcile) {
      auto reconciled = store_.reconcile_targets(kActor);
      if (!reconciled) {
        spdlog::error("rollouts: cannot update the jobs' targets: {}", reconciled.error().message);
      } else {
        for (const auto& added : reconciled->value.added) {
          spdlog::info("job {}: {} joined its targets", added.job_id, added.thing_name);
        }
        notifier_.publish(reconciled->notifications);
      }
    }
    const RolloutTime next = round();
    const auto wait =
        std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(next - rollout_now()),
                   std::chrono::milliseconds(0), std::chrono::milliseconds(kMaxWait));
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, wait, [&] { return stopping_ || poked_; });
  }
}

RolloutTime RolloutEngine::round() {
  RolloutTime now = rollout_now();
  RolloutTime next = now + kMaxWait;
  auto expired = store_.expire(kActor);
  if (!expired) {
    spdlog::error("rollouts: cannot time executions out: {}", expired.error().message);
  } else {
    for (const auto& execution : expired->value.timed_out) {
      spdlog::info("job {} on {}: TIMED_OUT", execution.job_id, execution.thing_name);
    }
    notifier_.publish(expired->notifications);
  }
  fleet::JobFilter running;
  running.status = fleet::JobStatus::in_progress;
  fleet::Page page{fleet::kMaxPageLimit, ""};
  do {
    auto jobs = store_.list_jobs(running, page);
    if (!jobs) {
      spdlog::error("rollouts: cannot list the jobs: {}", jobs.error().message);
      return next;
    }
    for (const fleet::Job& job : jobs->items) {
      if (auto wake = drive(job, now)) next = std::min(next, *wake);
    }
    page.next_token = jobs->next_token;
  } while (!page.next_token.empty());
  return next;
}

std::optional<RolloutTime> RolloutEngine::drive(const fleet::Job& job, RolloutTime now) {
  auto policy = policy_of(job);
  if (!policy) {
    spdlog::error("job {}: {}; not rolled out", job.job_id, policy.error().message);
    return std::nullopt;
  }
  const fleet::RolloutPlanner planner(std::move(*policy));

  // Every notified thing, in dispatch order, by its latest execution's status.
  auto dispatched = store_.dispatched_things(job.job_id);
  if (!dispatched) {
    spdlog::error("job {}: {}", job.job_id, dispatched.error().message);
    return std::nullopt;
  }
  std::vector<RolloutTime> recent;
  fleet::ExecutionCounts job_counts;
  for (const fleet::DispatchedThing& thing : *dispatched) {
    count(job_counts, thing.status);
    const RolloutTime at = latest_instant(thing.first_dispatched_at, now);
    if (at + 60s > now) recent.push_back(at);
  }
  const auto total = static_cast<std::uint64_t>(job.counts.things);
  std::vector<fleet::ExecutionCounts> groups;
  if (!planner.policy().groups.empty()) {
    const std::vector<std::uint64_t> bounds = planner.group_boundaries(total);
    groups.resize(bounds.size() - 1);
    std::size_t group = 0;
    for (std::size_t position = 0; position < dispatched->size(); ++position) {
      while (group + 1 < groups.size() && position >= bounds[group + 1]) ++group;
      count(groups[group], (*dispatched)[position].status);
    }
  }

  std::vector<std::string> approved;
  if (!planner.policy().groups.empty()) {
    auto approvals = store_.rollout_approvals(job.job_id);
    if (!approvals) {
      spdlog::error("job {}: {}", job.job_id, approvals.error().message);
      return std::nullopt;
    }
    for (const auto& approval : *approvals) approved.push_back(approval.group);
  }

  fleet::RolloutSnapshot snapshot;
  snapshot.now = now;
  snapshot.job_start = std::chrono::time_point_cast<std::chrono::milliseconds>(job.created_at);
  snapshot.total_things = total;
  snapshot.job = job_counts;
  snapshot.groups = groups;
  snapshot.recent_dispatches = recent;
  snapshot.approved_groups = approved;
  auto decision = planner.decide(snapshot);
  if (!decision) {
    spdlog::error("job {}: {}", job.job_id, decision.error().message);
    return std::nullopt;
  }

  if (auto [at, inserted] = phases_.try_emplace(job.job_id, decision->phase);
      inserted || at->second != decision->phase) {
    at->second = decision->phase;
    spdlog::info("job {}: {} ({})", job.job_id, fleet::to_string(decision->phase),
                 decision->summary);
  }

  auto cancel = [&](bool force, std::string reason, std::string comment) {
    fleet::JobCancellation cancellation;
    cancellation.force = force;
    cancellation.reason_code = reason;
    cancellation.comment = comment.substr(0, 2000);
    auto canceled = store_.cancel_job(kActor, job.job_id, cancellation);
    if (!canceled) {
      spdlog::error("job {}: cannot cancel it: {}", job.job_id, canceled.error().message);
      return;
    }
    spdlog::warn("job {}: canceled{} ({}): {}", job.job_id, force ? " with force" : "", reason,
                 comment);
    notifier_.publish(canceled->notifications);
  };
  switch (decision->phase) {
    case fleet::RolloutPhase::Aborted:
      cancel(false, "ROLLOUT_ABORTED", decision->abort->message);
      return std::nullopt;
    case fleet::RolloutPhase::Ended:
      if (decision->end_behavior != fleet::JobEndBehavior::StopRollout) {
        cancel(decision->end_behavior == fleet::JobEndBehavior::ForceCancel, "SCHEDULE_ENDED",
               decision->summary);
        return std::nullopt;
      }
      return decision->wake_at;
    case fleet::RolloutPhase::Dispatching: {
      const std::size_t limit = static_cast<std::size_t>(
          std::min<std::uint64_t>(decision->dispatch_count, fleet::kMaxPageLimit));
      auto things = store_.undispatched(job.job_id, limit);
      if (!things) {
        spdlog::error("job {}: {}", job.job_id, things.error().message);
        return std::nullopt;
      }
      if (things->empty()) return decision->wake_at;
      auto done = store_.dispatch(kActor, job.job_id, *things);
      if (!done) {
        spdlog::error("job {}: cannot dispatch: {}", job.job_id, done.error().message);
        return std::nullopt;
      }
      spdlog::info("job {}: dispatched {} ({} per minute)", job.job_id, done->value,
                   decision->rate_per_minute);
      notifier_.publish(done->notifications);
      return now;  // decide again at once, with these counted
    }
    default:
      return decision->wake_at;
  }
}

}  // namespace ironroot::service

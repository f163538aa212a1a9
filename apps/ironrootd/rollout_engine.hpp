// Drives every job that is IN_PROGRESS (docs/rollouts.md, docs/jobs.md): decides with
// fleet::RolloutPlanner, from the store's durable state only, how many executions may be
// dispatched now, dispatches them and tells their devices (notify-next); cancels a job whose
// abort criteria fired or whose schedule ended so; times executions out (JobStore::expire) and
// brings continuous jobs' targets up to date. Because every decision is made from what the store
// holds, a service restarted in the middle of a rollout carries on where it was.
//
// One thread. It runs a round when poked (a new job, a device's update, an operator's change)
// and otherwise at the earliest time a decision can change, at least once a second (for the
// timeouts).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ironroot/fleet/jobs.hpp"
#include "ironroot/fleet/rollout.hpp"
#include "jobs_api.hpp"

namespace ironroot::service {

class RolloutEngine {
 public:
  // `store` is the engine's own connection.
  RolloutEngine(fleet::JobStore store, JobNotifier& notifier);
  ~RolloutEngine();  // stops the thread
  RolloutEngine(const RolloutEngine&) = delete;
  RolloutEngine& operator=(const RolloutEngine&) = delete;

  // Something changed that may change a decision: run a round now.
  void poke();
  // The registry changed (things, groups): also bring the jobs' targets up to date.
  void registry_changed();

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  void run();
  // One round over every IN_PROGRESS job; returns when the next round is due at the latest.
  fleet::RolloutTime round();
  // Decides and acts for one job; returns the decision's wake_at (or now, to go again at once).
  std::optional<fleet::RolloutTime> drive(const fleet::Job& job, fleet::RolloutTime now);

  fleet::JobStore store_;
  JobNotifier& notifier_;
  // Each job's last phase, to log when it changes (engine thread only).
  std::map<std::string, fleet::RolloutPhase> phases_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool poked_ = false;
  bool reconcile_ = true;  // once at start
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ironroot::service

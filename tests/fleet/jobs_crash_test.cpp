// kill -9 in the middle of a rollout: a child process plays the devices of a dispatched job
// (start, then succeed; every third thing fails once first and is retried) and reports each
// change after the store acknowledged it. It is killed at a seeded random point. On reopen
// every acknowledged change must be there, no execution twice, none half-made, and the rollout
// must finish from where it stopped.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <string>

#include "ironroot/fleet/jobs.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::fleet {
namespace {

using ironroot::testing::TempDir;
using protocol::JobExecutionStatus;

constexpr int kThings = 60;

std::string thing_name(int i) {
  return "t-" + std::to_string(i);
}

// What the child reported for each thing: 1 started, 2 failed (retry queued), 3 restarted,
// 4 succeeded.
enum Step { kStarted = 1, kFailed = 2, kRestarted = 3, kSucceeded = 4 };

bool fails_once(int i) {
  return i % 3 == 0;
}

[[noreturn]] void play_devices(const std::filesystem::path& path, int report) {
  auto store = JobStore::open(path);
  if (!store) _exit(2);
  auto say = [&](int i, Step step) {
    const std::string line = std::to_string(i) + " " + std::to_string(step) + "\n";
    if (write(report, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
  };
  protocol::UpdateJobExecutionRequest failed;
  failed.status = JobExecutionStatus::failed;
  protocol::UpdateJobExecutionRequest succeeded;
  succeeded.status = JobExecutionStatus::succeeded;
  for (int i = 0; i < kThings; ++i) {
    const std::string thing = thing_name(i);
    auto started = store->start_next(thing, {});
    if (!started || !started->value) _exit(5);
    say(i, kStarted);
    if (fails_once(i)) {
      if (!store->update(thing, "rollout", failed)) _exit(6);
      say(i, kFailed);
      auto again = store->start_next(thing, {});
      if (!again || !again->value || again->value->execution_number != 2) _exit(7);
      say(i, kRestarted);
    }
    if (!store->update(thing, "rollout", succeeded)) _exit(8);
    say(i, kSucceeded);
  }
  // Done: wait to be killed, so that every round ends the same way.
  for (;;) pause();
}

std::map<int, int> read_reports(int fd, pid_t child, std::size_t kill_after) {
  std::map<int, int> last_step;
  std::size_t lines = 0;
  std::string pending;
  bool killed = kill_after == 0 && kill(child, SIGKILL) == 0;
  char buffer[256];
  for (;;) {
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(got));
    for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, eol);
      pending.erase(0, eol + 1);
      const auto space = line.find(' ');
      last_step[std::stoi(line.substr(0, space))] = std::stoi(line.substr(space + 1));
      ++lines;
      if (!killed && lines >= kill_after) killed = kill(child, SIGKILL) == 0;
    }
    // The child waits forever once done.
    if (!killed && last_step.size() == kThings && last_step.rbegin()->second == kSucceeded) {
      killed = kill(child, SIGKILL) == 0;
    }
  }
  return last_step;
}

void set_up_rollout(const std::filesystem::path& path) {
  auto registry = Registry::open(path);
  ASSERT_TRUE(registry) << registry.error().message;
  NewJob job;
  job.job_id = "rollout";
  job.document = R"({"operation":"update"})";
  job.retry_criteria = {{RetryFailureType::failed, 1}};
  for (int i = 0; i < kThings; ++i) {
    ASSERT_TRUE(registry->create_thing("setup", NewThing{thing_name(i), {}, {}, {}}));
    job.things.push_back(thing_name(i));
  }
  auto store = JobStore::open(path);
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE(store->create_job("setup", job));
  ASSERT_TRUE(store->dispatch("setup", "rollout", job.things));
}

TEST(JobsCrash, AKilledRolloutLosesNothingItAcknowledgedAndResumes) {
  std::mt19937 random(20260315);
  std::uniform_int_distribution<std::size_t> kill_point(0, 99);  // 100 reports in all
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    TempDir dir;
    const auto path = dir / "registry.db";
    set_up_rollout(path);
    const std::size_t kill_after = round == 0 ? 0 : kill_point(random);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      play_devices(path, fds[1]);
    }
    close(fds[1]);
    std::map<int, int> reported = read_reports(fds[0], child, kill_after);
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

    auto store = JobStore::open(path);
    ASSERT_TRUE(store) << store.error().message;
    for (int i = 0; i < kThings; ++i) {
      const std::string thing = thing_name(i);
      auto listed = store->list_executions_of_thing(thing, Page{});
      ASSERT_TRUE(listed) << listed.error().message;
      const auto& executions = listed->items;
      const int step = reported.count(i) != 0 ? reported.at(i) : 0;
      // At most the one retry, numbered 1 and 2, never two pending at once.
      ASSERT_GE(executions.size(), 1u) << thing;
      ASSERT_LE(executions.size(), 2u) << thing;
      EXPECT_EQ(executions[0].execution_number, 1) << thing;
      if (executions.size() == 2) {
        EXPECT_EQ(executions[0].status, JobExecutionStatus::failed) << thing;
        EXPECT_EQ(executions[1].execution_number, 2) << thing;
      }
      const JobExecutionRecord& latest = executions.back();
      switch (step) {
        case kSucceeded:
          EXPECT_EQ(latest.status, JobExecutionStatus::succeeded) << thing;
          EXPECT_EQ(executions.size(), fails_once(i) ? 2u : 1u) << thing;
          break;
        case kRestarted:
          ASSERT_EQ(executions.size(), 2u) << thing;
          EXPECT_NE(latest.status, JobExecutionStatus::queued) << thing;
          break;
        case kFailed:
          ASSERT_EQ(executions.size(), 2u) << thing;
          break;
        case kStarted:
          EXPECT_NE(executions[0].status, JobExecutionStatus::queued) << thing;
          break;
        default:
          break;
      }
    }
    // Every execution change has its audit row, and the other way round.
    auto registry = Registry::open(path);
    ASSERT_TRUE(registry);
    std::size_t device_changes = 0;
    Page page{kMaxPageLimit, ""};
    for (;;) {
      auto entries = registry->list_audit(AuditFilter{"job", "rollout", {}}, page);
      ASSERT_TRUE(entries);
      for (const AuditEntry& entry : entries->items) {
        if (entry.action == "job.start-execution" || entry.action == "job.update-execution") {
          ++device_changes;
        }
      }
      if (entries->next_token.empty()) break;
      page.next_token = entries->next_token;
    }
    std::size_t stored_changes = 0;
    auto executions = store->list_executions_of_job("rollout", Page{kMaxPageLimit, ""});
    ASSERT_TRUE(executions);
    for (const JobExecutionRecord& execution : executions->items) {
      stored_changes += static_cast<std::size_t>(execution.version_number - 1);
    }
    EXPECT_EQ(device_changes, stored_changes);

    // The rollout resumes: every device finishes what it has, and the job completes.
    for (int i = 0; i < kThings; ++i) {
      const std::string thing = thing_name(i);
      auto next = store->start_next(thing, {});
      ASSERT_TRUE(next);
      if (!next->value) continue;
      protocol::UpdateJobExecutionRequest succeeded;
      succeeded.status = JobExecutionStatus::succeeded;
      ASSERT_TRUE(store->update(thing, "rollout", succeeded)) << thing;
    }
    auto job = store->describe_job("rollout");
    ASSERT_TRUE(job);
    EXPECT_EQ(job->status, JobStatus::completed);
    EXPECT_EQ(job->counts.succeeded, kThings);
  }
}

}  // namespace
}  // namespace ironroot::fleet

// kill -9 during registry writes: a child process writes and reports each committed write through
// a pipe; it is killed at a random point (a seeded generator: the same points on every run). The
// database must then open cleanly and hold every write the child reported.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <set>
#include <string>

#include "ironroot/fleet/registry.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::fleet {
namespace {

using ironroot::testing::TempDir;

// The child: creates things t-0, t-1, ... and updates the previous one each time, reporting "i\n"
// after the create of t-i has committed. Never returns.
[[noreturn]] void write_until_killed(const std::filesystem::path& path, int report) {
  auto registry = Registry::open(path);
  if (!registry) _exit(2);
  for (int i = 0; i < 100000; ++i) {
    const std::string name = "t-" + std::to_string(i);
    NewThing thing{name, "lamp", {{"index", std::to_string(i)}}, "1.0.0"};
    if (!registry->create_thing("crash-writer", thing)) _exit(3);
    const std::string line = std::to_string(i) + "\n";
    if (write(report, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
    if (i > 0) {
      ThingUpdate update;
      update.firmware_version = "1.0." + std::to_string(i);
      if (!registry->update_thing("crash-writer", "t-" + std::to_string(i - 1), update)) _exit(5);
    }
  }
  _exit(0);
}

// Reads "i\n" lines until `count` have arrived (then kills the child) and then until the end;
// returns every number read.
std::set<int> read_reports(int fd, pid_t child, std::size_t kill_after) {
  std::set<int> reported;
  std::string pending;
  bool killed = false;
  if (kill_after == 0) killed = kill(child, SIGKILL) == 0;
  char buffer[256];
  for (;;) {
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(got));
    for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
      reported.insert(std::stoi(pending.substr(0, eol)));
      pending.erase(0, eol + 1);
      if (!killed && reported.size() >= kill_after) killed = kill(child, SIGKILL) == 0;
    }
  }
  return reported;
}

TEST(RegistryCrash, AKilledWriterLosesNothingItReported) {
  std::mt19937 random(20260314);
  std::uniform_int_distribution<std::size_t> kill_point(0, 40);
  for (int round = 0; round < 6; ++round) {
    TempDir dir;
    const auto path = dir / "registry.db";
    const std::size_t kill_after = round == 0 ? 0 : kill_point(random);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      write_until_killed(path, fds[1]);
    }
    close(fds[1]);
    std::set<int> reported = read_reports(fds[0], child, kill_after);
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "round " << round << ": the writer ended by itself, status " << status;
    EXPECT_GE(reported.size(), kill_after);

    {
      auto db = Database::open(path, registry_migrations());
      ASSERT_TRUE(db) << db.error().message;
      auto check = db->prepare("PRAGMA integrity_check");
      ASSERT_TRUE(check);
      ASSERT_TRUE(check->step().value());
      EXPECT_EQ(check->text(0), "ok");
    }
    auto registry = Registry::open(path);
    ASSERT_TRUE(registry) << "round " << round << ": " << registry.error().message;
    for (int i : reported) {
      auto thing = registry->describe_thing("t-" + std::to_string(i));
      ASSERT_TRUE(thing) << "round " << round << ": reported t-" << i << " is lost";
      EXPECT_EQ(thing->attributes.at("index"), std::to_string(i));
    }
    auto audit = registry->list_audit(AuditFilter{"thing", {}, {}}, Page{kMaxPageLimit, ""});
    ASSERT_TRUE(audit);
    std::set<std::string> created;
    for (const AuditEntry& entry : audit->items) {
      if (entry.action == "thing.create") created.insert(entry.target_id);
    }
    // Every thing present has its audit row, and the other way round: nothing half-written.
    auto things = registry->list_things(Page{kMaxPageLimit, ""});
    ASSERT_TRUE(things);
    std::set<std::string> present;
    for (const Thing& thing : things->items) present.insert(thing.name);
    EXPECT_EQ(present, created) << "round " << round;
    // And the registry takes new writes.
    EXPECT_TRUE(registry->create_thing("test", NewThing{"after-crash", {}, {}, {}}));
  }
}

}  // namespace
}  // namespace ironroot::fleet

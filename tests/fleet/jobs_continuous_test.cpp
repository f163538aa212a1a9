// Continuous jobs reaching things that join a target group later, and targets that go away.
#include <gtest/gtest.h>

#include "jobs_fixture.hpp"

namespace ironroot::fleet::testing {
namespace {

TEST_F(JobsTest, ContinuousJobReachesAThingAddedToItsGroupLater) {
  make_things({"a", "b"});
  ASSERT_TRUE(registry().create_group("test", {"fleet", "", {}}));
  ASSERT_TRUE(registry().add_to_group("test", "fleet", "a"));
  NewJob spec = job_for("config", {}, {"fleet"});
  spec.target_selection = TargetSelection::continuous;
  create_dispatched(spec);
  accept("a", "config", update_to(JobExecutionStatus::succeeded));
  // Every execution is done, but a continuous job runs on.
  EXPECT_EQ(job_status("config"), JobStatus::in_progress);

  now_ += 1h;
  ASSERT_TRUE(registry().add_to_group("test", "fleet", "b"));
  auto reconciled = jobs().reconcile_targets("reconciler");
  ASSERT_TRUE(reconciled) << reconciled.error().message;
  ASSERT_EQ(reconciled->value.added.size(), 1u);
  EXPECT_EQ(reconciled->value.added[0].thing_name, "b");
  EXPECT_TRUE(reconciled->value.removed.empty());
  // Not dispatched yet: nobody to notify; the rollout dispatches it.
  EXPECT_TRUE(reconciled->notifications.empty());
  JobExecutionRecord b = execution("config", "b");
  EXPECT_EQ(b.status, JobExecutionStatus::queued);
  EXPECT_EQ(b.queued_at, kStart + 1h);
  auto waiting = jobs().undispatched("config", 10);
  ASSERT_TRUE(waiting);
  EXPECT_EQ(*waiting, (std::vector<std::string>{"b"}));
  ASSERT_TRUE(jobs().dispatch("rollout", "config", *waiting));
  accept("b", "config", update_to(JobExecutionStatus::succeeded));

  // Nothing more to do: a second pass changes nothing, a done thing is not queued again.
  reconciled = jobs().reconcile_targets("reconciler");
  ASSERT_TRUE(reconciled);
  EXPECT_TRUE(reconciled->value.added.empty());
  EXPECT_TRUE(reconciled->value.removed.empty());
  EXPECT_EQ(execution("config", "a").execution_number, 1);
  EXPECT_EQ(audit(AuditFilter{"job", "config", {}}).back().action, "job.update-execution");
}

TEST_F(JobsTest, ContinuousJobRemovesQueuedExecutionsOfThingsThatLeftAndRequeuesOnReturn) {
  make_things({"a", "b"});
  ASSERT_TRUE(registry().create_group("test", {"fleet", "", {}}));
  ASSERT_TRUE(registry().add_to_group("test", "fleet", "a"));
  ASSERT_TRUE(registry().add_to_group("test", "fleet", "b"));
  NewJob spec = job_for("config", {}, {"fleet"});
  spec.target_selection = TargetSelection::continuous;
  create_dispatched(spec);
  accept("b", "config", update_to(JobExecutionStatus::in_progress));

  ASSERT_TRUE(registry().remove_from_group("test", "fleet", "a"));
  ASSERT_TRUE(registry().remove_from_group("test", "fleet", "b"));
  auto reconciled = jobs().reconcile_targets("reconciler");
  ASSERT_TRUE(reconciled);
  ASSERT_EQ(reconciled->value.removed.size(), 1u);
  EXPECT_EQ(reconciled->value.removed[0].thing_name, "a");
  EXPECT_EQ(reconciled->notifications.next_changed, (std::set<std::string>{"a"}));
  EXPECT_EQ(execution("config", "a").status, JobExecutionStatus::removed);
  // A running execution is left to finish.
  EXPECT_EQ(execution("config", "b").status, JobExecutionStatus::in_progress);
  auto counts = jobs().counts("config");
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->removed, 1);

  ASSERT_TRUE(registry().add_to_group("test", "fleet", "a"));
  reconciled = jobs().reconcile_targets("reconciler");
  ASSERT_TRUE(reconciled);
  ASSERT_EQ(reconciled->value.added.size(), 1u);
  EXPECT_EQ(reconciled->value.added[0].execution_number, 2);
  EXPECT_EQ(execution("config", "a").status, JobExecutionStatus::queued);
}

TEST_F(JobsTest, ContinuousJobOnADynamicGroupFollowsItsQuery) {
  make_things({"lamp-1", "lamp-2"});
  ASSERT_TRUE(registry().create_group("test", {"new-firmware", "", "firmwareVersion:2.*"}));
  NewJob spec = job_for("migrate", {}, {"new-firmware"});
  spec.target_selection = TargetSelection::continuous;
  Job job = create(spec);
  EXPECT_EQ(job.counts.things, 0);
  EXPECT_EQ(job.status, JobStatus::in_progress);  // continuous: not complete while empty

  ThingUpdate update;
  update.firmware_version = "2.1.0";
  ASSERT_TRUE(registry().update_thing("device", "lamp-2", update));
  auto reconciled = jobs().reconcile_targets("reconciler");
  ASSERT_TRUE(reconciled);
  ASSERT_EQ(reconciled->value.added.size(), 1u);
  EXPECT_EQ(reconciled->value.added[0].thing_name, "lamp-2");
}

TEST_F(JobsTest, SnapshotJobsKeepTheirTargetsButDropDeletedThings) {
  make_things({"a", "b", "c"});
  ASSERT_TRUE(registry().create_group("test", {"fleet", "", {}}));
  ASSERT_TRUE(registry().add_to_group("test", "fleet", "a"));
  ASSERT_TRUE(registry().add_to_group("test", "fleet", "b"));
  create_dispatched(job_for("ota", {}, {"fleet"}));
  ASSERT_TRUE(registry().add_to_group("test", "fleet", "c"));
  accept("a", "ota", update_to(JobExecutionStatus::succeeded));
  ASSERT_TRUE(registry().delete_thing("test", "b"));

  auto reconciled = jobs().reconcile_targets("reconciler");
  ASSERT_TRUE(reconciled);
  EXPECT_TRUE(reconciled->value.added.empty());  // snapshot: c joined too late
  ASSERT_EQ(reconciled->value.removed.size(), 1u);
  EXPECT_EQ(reconciled->value.removed[0].thing_name, "b");
  EXPECT_EQ(execution("ota", "b").status, JobExecutionStatus::removed);
  // b's was the last pending execution.
  EXPECT_EQ(job_status("ota"), JobStatus::completed);
}

}  // namespace
}  // namespace ironroot::fleet::testing

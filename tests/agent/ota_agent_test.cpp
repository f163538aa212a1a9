// OtaAgent over a real in-memory Board and the real bootloader, with an in-process stream service
// (stream_server.hpp): download, verification, staging, the self-test after the restart, revert,
// resumption after power cuts, refusals, lost and refused blocks.
#include "ironroot/agent/ota_agent.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "ota_world.hpp"

namespace ironroot::testing {
namespace {

using agent::JobOutcome;
using ::testing::HasSubstr;
using Kind = agent::JobOutcome::Kind;

constexpr std::size_t kUpdatePayload = 600 * 1024;

class OtaAgentTest : public ::testing::Test {
 protected:
  OtaWorld world;
  Bytes update = world.image("1.1.0", 2, kUpdatePayload);
  protocol::OtaJobDocument document = world.document(update, "1.1.0", 2);
  StreamServer server{std::string(kThing), std::string(kStream), update};
  RecordedProgress progress;

  std::uint32_t blocks() const { return static_cast<std::uint32_t>((update.size() + 4095) / 4096); }
};

TEST_F(OtaAgentTest, DownloadsVerifiesStagesThenConfirmsAfterTheSelfTest) {
  auto device = world.device();
  auto agent = world.agent(server, *device);
  const JobOutcome outcome = agent->handle(OtaWorld::job(document), progress);
  ASSERT_EQ(outcome.kind, Kind::continue_after_restart)
      << ::testing::PrintToString(outcome.status_details);

  // On the wire: QoS 0 subscriptions to data/cbor and rejected/cbor; CBOR GetStream {c,f,l,o,b,n}.
  ASSERT_EQ(server.subscriptions.size(), 2u);
  EXPECT_EQ(server.subscriptions[0].filter,
            "$aws/things/ota-device-1/streams/fw-stream-1/data/cbor");
  EXPECT_EQ(server.subscriptions[1].filter,
            "$aws/things/ota-device-1/streams/fw-stream-1/rejected/cbor");
  EXPECT_EQ(server.subscriptions[0].qos, 0);
  ASSERT_FALSE(server.raw_requests.empty());
  for (const auto& raw : server.raw_requests) {
    std::set<std::string> keys;
    for (const auto& [k, v] : raw.items()) keys.insert(k);
    EXPECT_EQ(keys, (std::set<std::string>{"c", "f", "l", "o", "b", "n"}));
    EXPECT_TRUE(raw["b"].is_binary());
  }
  for (int qos : server.request_qos) EXPECT_EQ(qos, 0);
  EXPECT_EQ(server.requests.front().block_size, 4096);
  EXPECT_EQ(server.requests.front().block_count, 8);
  EXPECT_EQ(server.requests.size(), (blocks() + 7) / 8);
  EXPECT_EQ(server.bytes_sent, update.size());

  // Progress every 64 blocks in AWS's form, then "ready".
  ASSERT_GE(progress.reports.size(), 2u);
  EXPECT_EQ(progress.reports.front(),
            (protocol::StatusDetails{{"receive", "64/" + std::to_string(blocks())}}));
  EXPECT_EQ(progress.reports.back(),
            (protocol::StatusDetails{{"self_test", "ready"}, {"updatedBy", "1.0.0"}}));

  EXPECT_EQ(world.secondary_bytes(update.size()), update);
  EXPECT_TRUE(world.update_pending());
  EXPECT_EQ(agent->stats().blocks_written, blocks());

  // The restart: the bootloader installs 1.1.0 as a test; the new image confirms itself.
  world.reboot();
  ASSERT_EQ(world.running.version, *image::ImageVersion::parse("1.1.0"));
  ASSERT_TRUE(world.running.test_boot);
  bool self_tested = false;
  auto new_device = world.device([&]() -> Status {
    self_tested = true;
    return {};
  });
  StreamServer idle{std::string(kThing), std::string(kStream), update};
  auto new_agent = world.agent(idle, *new_device);
  RecordedProgress after;
  const JobOutcome done = new_agent->resume(
      OtaWorld::job(document, {{"self_test", "ready"}, {"updatedBy", "1.0.0"}}), after);
  EXPECT_EQ(done.kind, Kind::succeeded);
  EXPECT_EQ(done.status_details,
            (protocol::StatusDetails{{"reason", "accepted v1.1.0"}, {"updatedBy", "1.0.0"}}));
  EXPECT_TRUE(self_tested);
  ASSERT_EQ(after.reports.size(), 1u);
  EXPECT_EQ(after.reports[0].at("self_test"), "active");
  EXPECT_TRUE(idle.requests.empty());

  // Confirmed: the next boot keeps it and advances the fused counter.
  world.reboot();
  EXPECT_EQ(world.running.version, *image::ImageVersion::parse("1.1.0"));
  EXPECT_FALSE(world.running.test_boot);
  EXPECT_EQ(world.board().otp().security_counter(boot::kFirmwareCounter), 2u);

  // A crash after the confirmation, before the report: the job is finished again as SUCCEEDED.
  auto confirmed_device = world.device();
  auto again = world.agent(idle, *confirmed_device);
  RecordedProgress third;
  EXPECT_EQ(again->resume(OtaWorld::job(document, {{"self_test", "ready"}}), third).kind,
            Kind::succeeded);
}

TEST_F(OtaAgentTest, AFailedSelfTestIsRevertedAndTheOldImageReportsWhy) {
  {
    auto device = world.device();
    auto agent = world.agent(server, *device);
    ASSERT_EQ(agent->handle(OtaWorld::job(document), progress).kind, Kind::continue_after_restart);
  }
  world.reboot();
  ASSERT_TRUE(world.running.test_boot);
  {
    auto device = world.device([] { return Status(fail("cannot reach the fleet")); });
    auto agent = world.agent(server, *device);
    RecordedProgress p;
    EXPECT_EQ(agent->resume(OtaWorld::job(document, progress.reports.back()), p).kind,
              Kind::continue_after_restart);
  }
  world.reboot();  // not confirmed: reverted
  ASSERT_EQ(world.running.version, *image::ImageVersion::parse("1.0.0"));
  ASSERT_FALSE(world.running.test_boot);
  auto device = world.device();
  auto agent = world.agent(server, *device);
  RecordedProgress p;
  const JobOutcome outcome = agent->resume(OtaWorld::job(document, progress.reports.back()), p);
  EXPECT_EQ(outcome.kind, Kind::failed);
  EXPECT_EQ(outcome.status_details.at("reason"),
            "the self-test of 1.1.0 failed (cannot reach the fleet); the bootloader reverted to "
            "1.0.0");
  EXPECT_FALSE(world.update_pending());
}

TEST_F(OtaAgentTest, ResumesAfterPowerCutsWithoutDownloadingAgain) {
  // Power cuts before flash operations counted from each power-on. A fresh download erases the
  // journal's sector and the image's 151 sectors, writes the journal header (operation 153), then
  // each block's data and its record: cut 1 hits block 23's data write; after it, a resumed run
  // writes data and record of each missing block from operation 1: cut 2 hits block 52's record
  // (its data is in flash, unrecorded: only that block is fetched again), cut 3 block 102's record.
  const std::uint64_t cuts[] = {200, 60, 101};
  std::uint64_t total_requested = 0;
  std::uint64_t resumed = 0;
  bool first = true;
  for (std::uint64_t cut : cuts) {
    world.board().flash().arm(
        {world.board().flash().operations() + cut, /*torn=*/false, /*seed=*/cut});
    StreamServer s{std::string(kThing), std::string(kStream), update};
    auto device = world.device();
    auto agent = world.agent(s, *device);
    RecordedProgress p;
    const JobOutcome outcome = first ? agent->handle(OtaWorld::job(document), p)
                                     : agent->resume(OtaWorld::job(document), p);
    first = false;
    EXPECT_EQ(outcome.kind, Kind::failed);
    EXPECT_TRUE(world.board().flash().power_lost());
    total_requested += s.bytes_requested;
    resumed += agent->stats().resumed_blocks;
    world.board().flash().restore_power();  // the power comes back; RAM is gone with the agent
  }
  StreamServer s{std::string(kThing), std::string(kStream), update};
  auto device = world.device();
  auto agent = world.agent(s, *device);
  RecordedProgress p;
  const JobOutcome outcome = agent->resume(OtaWorld::job(document), p);
  ASSERT_EQ(outcome.kind, Kind::continue_after_restart)
      << ::testing::PrintToString(outcome.status_details);
  total_requested += s.bytes_requested;
  resumed += agent->stats().resumed_blocks;
  EXPECT_GT(resumed, 0u);
  EXPECT_EQ(agent->stats().restarts, 0u);
  EXPECT_LE(static_cast<double>(total_requested), 1.2 * static_cast<double>(update.size()));
  EXPECT_EQ(world.secondary_bytes(update.size()), update);
  EXPECT_TRUE(world.update_pending());
}

TEST_F(OtaAgentTest, ABlockWriteTornByAPowerCutStartsTheDownloadOver) {
  // Operation 180 of a fresh download is block 13's data write (see above); torn, it leaves a
  // half-programmed unit that the resumed download cannot program again.
  world.board().flash().arm({world.board().flash().operations() + 180, /*torn=*/true, 7});
  {
    auto device = world.device();
    auto agent = world.agent(server, *device);
    EXPECT_EQ(agent->handle(OtaWorld::job(document), progress).kind, Kind::failed);
  }
  world.board().flash().restore_power();
  StreamServer s{std::string(kThing), std::string(kStream), update};
  auto device = world.device();
  auto agent = world.agent(s, *device);
  RecordedProgress p;
  ASSERT_EQ(agent->resume(OtaWorld::job(document), p).kind, Kind::continue_after_restart);
  EXPECT_EQ(agent->stats().restarts, 1u);
  EXPECT_EQ(world.secondary_bytes(update.size()), update);
}

TEST_F(OtaAgentTest, LostBlocksAreRequestedAgainAfterTheTimeout) {
  server.drop = {{3, 1}, {10, 2}, {static_cast<std::int64_t>(blocks() - 1), 1}};
  auto device = world.device();
  auto agent = world.agent(server, *device);
  ASSERT_EQ(agent->handle(OtaWorld::job(document), progress).kind, Kind::continue_after_restart);
  EXPECT_GE(agent->stats().timeouts, 3u);
  int asked_for_10 = 0;
  for (const auto& r : server.requests) {
    if (r.block_offset <= 10 &&
        protocol::is_block_requested(*r.block_bitmap,
                                     static_cast<std::size_t>(10 - r.block_offset))) {
      ++asked_for_10;
    }
  }
  EXPECT_EQ(asked_for_10, 3);
  EXPECT_EQ(world.secondary_bytes(update.size()), update);
}

TEST_F(OtaAgentTest, ReorderedAndRepeatedBlocksAreWrittenOnce) {
  server.reverse = true;
  server.repeat = true;
  auto device = world.device();
  auto agent = world.agent(server, *device);
  ASSERT_EQ(agent->handle(OtaWorld::job(document), progress).kind, Kind::continue_after_restart);
  EXPECT_EQ(agent->stats().blocks_written, blocks());
  EXPECT_EQ(agent->stats().duplicate_blocks, blocks());
  EXPECT_EQ(world.secondary_bytes(update.size()), update);
}

TEST_F(OtaAgentTest, AnInternalErrorIsRetriedAndOtherRefusalsFail) {
  server.refuse_with = {"InternalError", "InternalError"};
  {
    auto device = world.device();
    auto agent = world.agent(server, *device);
    ASSERT_EQ(agent->handle(OtaWorld::job(document), progress).kind, Kind::continue_after_restart);
    EXPECT_EQ(agent->stats().rejections, 2u);
  }
  OtaWorld other;
  StreamServer refusing{std::string(kThing), std::string(kStream), update};
  refusing.refuse_with = {"ResourceNotFound"};
  auto device = other.device();
  auto agent = other.agent(refusing, *device);
  RecordedProgress p;
  const JobOutcome outcome = agent->handle(OtaWorld::job(other.document(update, "1.1.0", 2)), p);
  EXPECT_EQ(outcome.kind, Kind::failed);
  EXPECT_THAT(outcome.status_details.at("reason"),
              HasSubstr("the stream service refused the request: ResourceNotFound"));
  EXPECT_FALSE(other.update_pending());
}

TEST_F(OtaAgentTest, AnAlteredImageFailsItsSignatureAndIsNotStaged) {
  Bytes altered = update;
  altered[altered.size() / 2] ^= std::byte{0x01};
  StreamServer s{std::string(kThing), std::string(kStream), altered};
  auto device = world.device();
  auto agent = world.agent(s, *device);
  const JobOutcome outcome = agent->handle(OtaWorld::job(document), progress);
  EXPECT_EQ(outcome.kind, Kind::failed);
  EXPECT_THAT(outcome.status_details.at("reason"),
              HasSubstr("the file's signature (sig-sha256-ecdsa) does not verify"));
  EXPECT_FALSE(world.update_pending());
  // The journal is discarded: the same job downloads afresh (and now succeeds).
  auto again = world.agent(server, *device);
  ASSERT_EQ(again->handle(OtaWorld::job(document), progress).kind, Kind::continue_after_restart);
  EXPECT_EQ(again->stats().resumed_blocks, 0u);
}

TEST_F(OtaAgentTest, TheImageMustPassTheBootloadersChecksAndMatchTheDocument) {
  // Signed by the fused key, file signature valid, but the image's counter is below the fused one
  // (the document claims more): the bootloader's own check refuses it.
  ASSERT_TRUE(world.board().otp().advance_security_counter(boot::kFirmwareCounter, 3));
  Bytes low = world.image("1.2.0", 2, 30000);
  StreamServer s{std::string(kThing), std::string(kStream), low};
  auto device = world.device();
  auto agent = world.agent(s, *device);
  JobOutcome outcome = agent->handle(OtaWorld::job(world.document(low, "1.2.0", 5)), progress);
  EXPECT_EQ(outcome.kind, Kind::failed);
  EXPECT_THAT(outcome.status_details.at("reason"), HasSubstr("the image does not verify"));
  EXPECT_THAT(outcome.status_details.at("reason"), HasSubstr("rollback refused"));
  EXPECT_FALSE(world.update_pending());

  // The document says 1.3.0, the image is 1.2.0.
  Bytes fine = world.image("1.2.0", 4, 30000);
  StreamServer s2{std::string(kThing), std::string(kStream), fine};
  auto agent2 = world.agent(s2, *device);
  outcome = agent2->handle(OtaWorld::job(world.document(fine, "1.3.0", 4)), progress);
  EXPECT_EQ(outcome.kind, Kind::failed);
  EXPECT_EQ(outcome.status_details.at("reason"),
            "the image is version 1.2.0, the job document says 1.3.0");
  EXPECT_FALSE(world.update_pending());

  // An image whose key the device does not trust, the file signed with the trusted key.
  auto stranger = *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  Bytes foreign = device_image(stranger, "1.2.0", 4, 30000, 1024 * 1024);
  StreamServer s3{std::string(kThing), std::string(kStream), foreign};
  auto agent3 = world.agent(s3, *device);
  outcome = agent3->handle(OtaWorld::job(world.document(foreign, "1.2.0", 4)), progress);
  EXPECT_EQ(outcome.kind, Kind::failed);
  EXPECT_THAT(outcome.status_details.at("reason"), HasSubstr("not one this device trusts"));
}

// Refusals before the download: nothing is requested and nothing in flash changes.
class OtaRefusalTest : public OtaAgentTest {
 protected:
  void expect_refused(const protocol::OtaJobDocument& d, const std::string& why) {
    const Bytes before = world.board().flash().snapshot();
    auto device = world.device();
    auto agent = world.agent(server, *device);
    const JobOutcome outcome = agent->handle(OtaWorld::job(d), progress);
    EXPECT_EQ(outcome.kind, Kind::rejected);
    EXPECT_THAT(outcome.status_details.at("reason"), HasSubstr(why));
    EXPECT_TRUE(server.requests.empty());
    EXPECT_TRUE(server.subscriptions.empty());
    EXPECT_EQ(world.board().flash().snapshot(), before);
  }
};

TEST_F(OtaRefusalTest, ADocumentForAnotherThing) {
  auto d = document;
  d.release->thing_name = "someone-else";
  expect_refused(d, "afr_ota.ironroot.thing: the job document is for \"someone-else\"");
}

TEST_F(OtaRefusalTest, AnExpiredDocument) {
  auto d = document;
  d.release->expires_at = kNow - 1;
  expect_refused(d, "afr_ota.ironroot.expires: the job document expired");
}

TEST_F(OtaRefusalTest, ADowngradeByVersion) {
  expect_refused(world.document(world.old_image, "1.0.0", 1),
                 "is not newer than the running 1.0.0");
  expect_refused(world.document(update, "0.9.0", 2), "downgrade refused");
}

TEST_F(OtaRefusalTest, ADowngradeBySecurityCounter) {
  ASSERT_TRUE(world.board().otp().advance_security_counter(boot::kFirmwareCounter, 5));
  expect_refused(document, "security counter 2 is below the device's fused 5");
}

TEST_F(OtaRefusalTest, AnImageTooLargeForTheSlotBesideTheJournal) {
  const std::uint64_t max = agent::max_update_file_size(world.board().secondary(), 4096);
  const std::uint64_t trailer = boot::slot_trailer_layout(world.board().secondary()).size();
  EXPECT_LE(max + agent::download_journal_size(world.board().secondary(), max, 4096) + trailer,
            world.board().secondary().size());
  EXPECT_GT(
      (max + 4) + agent::download_journal_size(world.board().secondary(), max + 4, 4096) + trailer,
      world.board().secondary().size());
  auto d = document;
  d.file.file_size = static_cast<std::int64_t>(max + 1);
  expect_refused(d, "does not fit the update slot");
}

TEST_F(OtaRefusalTest, ADocumentThatDoesNotDecode) {
  const Bytes before = world.board().flash().snapshot();
  auto device = world.device();
  auto agent = world.agent(server, *device);
  protocol::JobExecution j = OtaWorld::job(document);
  (*j.job_document)["afr_ota"]["files"][0]["filesize"] = 0;
  const JobOutcome outcome = agent->handle(j, progress);
  EXPECT_EQ(outcome.kind, Kind::rejected);
  EXPECT_THAT(outcome.status_details.at("reason"), HasSubstr("afr_ota.files[0].filesize"));
  EXPECT_TRUE(server.requests.empty());
}

TEST(OtaAgentSettingsTest, AreChecked) {
  OtaWorld world;
  StreamServer server{std::string(kThing), std::string(kStream), {}};
  auto device = world.device();
  auto s = OtaWorld::settings();
  s.block_size = 100;
  EXPECT_FALSE(agent::OtaAgent::create(s, server, *device));
  s = OtaWorld::settings();
  s.window_blocks = 33;  // 33 x 4096 > 128 KiB
  EXPECT_FALSE(agent::OtaAgent::create(s, server, *device));
  s = OtaWorld::settings();
  s.thing_name = "no spaces";
  EXPECT_FALSE(agent::OtaAgent::create(s, server, *device));
  EXPECT_TRUE(agent::OtaAgent::create(OtaWorld::settings(), server, *device));
}

TEST(OtaAgentMatcherTest, TakesDocumentsWithAfrOta) {
  EXPECT_TRUE(agent::OtaAgent::takes(nlohmann::json{{"afr_ota", nlohmann::json::object()}}));
  EXPECT_FALSE(agent::OtaAgent::takes(nlohmann::json{{"operation", "reboot"}}));
  EXPECT_FALSE(agent::OtaAgent::takes(nlohmann::json::array()));
}

}  // namespace
}  // namespace ironroot::testing

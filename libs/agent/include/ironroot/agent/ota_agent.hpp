// The device's OTA agent: a JobHandler for jobs whose document holds "afr_ota" (ota_job.hpp). It
// does on the wire what AWS's OTA agent does (ota.c, ota_mqtt.c; see
// docs/ota-agent.md): downloads the job's file over an MQTT file stream (CBOR GetStream
// {c, f, l, o, b, n}, one data message per block) straight into the update slot, checks the
// file's sig-sha256-ecdsa and then the MCUboot image the way the bootloader will, marks it pending
// as a test and asks for a restart; after the restart it finishes the job from what it finds: the
// new image on a test boot runs its self-test and confirms itself, the old image after a revert
// reports why the update failed.
//
// The download is power-cut safe and resumable: a journal at the end of the update slot, just
// before MCUboot's trailer, holds one write unit per received block (programmed after the block's
// data), so a restart carries on from the blocks already in flash. RAM: one block in flight (the
// message being written) plus a bitmap of ceil(blocks / 8) bytes; never a buffer of the image's
// size (except inside OtaDevice::verify_update_image, see there).
//
// The outside world is injected (STYLE.md): the MQTT connection is a StreamTransport plus
// on_message(), the device (slots, fuses, bootloader checks, self-test) an OtaDevice
// (BootOtaDevice: the real one over libs/boot), the time a clock in the settings.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/agent/jobs_client.hpp"
#include "ironroot/agent/stream_transport.hpp"
#include "ironroot/boot/bootloader.hpp"
#include "ironroot/boot/otp.hpp"
#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/flash/flash_area.hpp"
#include "ironroot/image/format.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/protocol/topics.hpp"

namespace ironroot::agent {

// ---------------------------------------------------------------------------------------------
// The device

// The image the bootloader started (boot::BootResult, or the boot record).
struct RunningFirmware {
  image::ImageVersion version;
  bool test_boot = false;  // not confirmed yet: the bootloader reverts it unless it confirms
};

// What the agent needs of the device. Called on the thread that runs the job, except
// update_slot(), which on_message also uses (under the agent's lock).
class OtaDevice {
 public:
  virtual ~OtaDevice() = default;

  virtual RunningFirmware running_firmware() = 0;
  // The slot the firmware runs from (MCUboot's primary), and the update slot (the secondary).
  // The same flash areas the bootloader works on; they outlive the agent.
  virtual flash::FlashArea& running_slot() = 0;
  virtual flash::FlashArea& update_slot() = 0;
  // The firmware security counter fused in OTP: nothing below it boots.
  virtual std::uint32_t fused_security_counter() = 0;
  // SHA-256 of each code-signing key the bootloader trusts (fused and not revoked): the keys
  // whose images boot, and so the keys whose signature on a job's file the agent accepts.
  virtual std::vector<crypto::Sha256Digest> trusted_key_hashes() = 0;
  // The image in the update slot as the bootloader will judge it at the next boot: signature by a
  // trusted key, hash, security counter not below the fused one. The message says what failed.
  virtual Result<boot::SlotImage> verify_update_image() = 0;
  // Marks the image in the update slot pending as a test (MCUboot's boot_set_pending(0)): the
  // next boot installs it, and reverts it unless it confirms itself.
  virtual Status mark_update_pending() = 0;
  // Marks the running image good (boot_set_confirmed). Does nothing when it already is.
  virtual Status confirm_running_image() = 0;
  // The firmware's own check that it works (on a test boot, before it confirms itself).
  virtual Status run_self_test() = 0;
};

// The real device over libs/boot: a Board's boot_areas() and otp() (device::Board), checked by a
// boot::Bootloader over the same areas and fuses, so that verify_update_image runs the very
// validation the bootloader runs at boot (Bootloader::inspect with the counter check), which
// reads the image into RAM as the bootloader does (image size, for the duration of the call).
class BootOtaDevice final : public OtaDevice {
 public:
  using SelfTest = std::function<Status()>;

  // The areas and the fuses must outlive the device. `running` comes from the boot that started
  // the firmware; `self_test` empty: the self-test passes. Fails when the areas do not fit
  // together (Bootloader::create).
  static Result<std::unique_ptr<BootOtaDevice>> create(boot::BootAreas areas, boot::Otp& otp,
                                                       boot::UpgradeStrategy strategy,
                                                       RunningFirmware running,
                                                       SelfTest self_test = {});

  RunningFirmware running_firmware() override { return running_; }
  flash::FlashArea& running_slot() override { return *areas_.primary; }
  flash::FlashArea& update_slot() override { return *areas_.secondary; }
  std::uint32_t fused_security_counter() override;
  std::vector<crypto::Sha256Digest> trusted_key_hashes() override;
  Result<boot::SlotImage> verify_update_image() override;
  Status mark_update_pending() override;
  Status confirm_running_image() override;
  Status run_self_test() override;

 private:
  BootOtaDevice(boot::BootAreas areas, boot::Otp& otp, boot::Bootloader bootloader,
                RunningFirmware running, SelfTest self_test);
  boot::BootAreas areas_;
  boot::Otp* otp_;
  boot::Bootloader bootloader_;
  RunningFirmware running_;
  SelfTest self_test_;
};

// ---------------------------------------------------------------------------------------------
// The MQTT connection

// The MQTT connection: a StreamTransport (stream_transport.hpp), such as MqttJobsConnection.

// ---------------------------------------------------------------------------------------------
// The agent

struct OtaAgentSettings {
  std::string thing_name;              // protocol::is_valid_thing_name
  protocol::TopicPrefix topic_prefix;  // "$aws"
  // l: bytes per block, 256 to 131072 and a multiple of the update slot's write alignment.
  // AWS's agent: 4096 (otaconfigFILE_BLOCK_SIZE).
  std::uint32_t block_size = 4096;
  // n: blocks asked for in one GetStream request, 1 to 131072 / block_size (the service sends at
  // most 128 KiB per request). AWS's agent: 8 (otaconfigMAX_NUM_BLOCKS_REQUEST).
  std::uint32_t window_blocks = 8;
  // How long the agent waits for a block before it asks again for the ones missing; 1 ms to
  // 10 min. AWS's agent: 10 s (otaconfigFILE_REQUEST_WAIT_MS).
  std::chrono::milliseconds block_timeout{std::chrono::seconds(10)};
  // How many requests in a row may go without a block (or be refused with InternalError)
  // before the download fails; 1 to 1000. AWS's agent: 32 (otaconfigMAX_NUM_REQUEST_MOMENTUM).
  int max_requests_without_progress = 32;
  // Report IN_PROGRESS {"receive": "x/y"} after every this many blocks; 1 to 2^31 - 1. AWS's
  // agent: 64 (otaconfigOTA_UPDATE_STATUS_FREQUENCY).
  std::uint32_t report_every_blocks = 64;
  // How long a subscription may take; 100 ms to 10 min.
  std::chrono::milliseconds subscribe_timeout{std::chrono::seconds(10)};
  // The time, for the document's expiry. Empty: std::chrono::system_clock::now.
  std::function<std::chrono::system_clock::time_point()> clock;
};

// Counters, for tests and status displays.
struct OtaAgentStats {
  std::uint64_t requests = 0;          // GetStream requests published
  std::uint64_t blocks_requested = 0;  // blocks those requests asked for
  std::uint64_t blocks_written = 0;    // blocks written to the update slot
  std::uint64_t duplicate_blocks = 0;  // blocks received again (already in flash)
  std::uint64_t ignored_messages = 0;  // undecodable, or not a block of the download
  std::uint64_t rejections = 0;        // error replies on .../rejected/cbor
  std::uint64_t timeouts = 0;          // waits that ended without the blocks asked for
  std::uint64_t resumed_blocks = 0;    // blocks found in flash when a download resumed
  std::uint64_t restarts = 0;          // downloads started over (damaged flash found)
};

// The bytes the download journal of a file of `file_size` bytes in blocks of `block_size` takes
// in `slot`, just below MCUboot's trailer (docs/ota-agent.md). An image fits the slot when
// file_size (rounded up to the write alignment) + this + the trailer <= the slot's size.
std::uint64_t download_journal_size(const flash::FlashArea& slot, std::uint64_t file_size,
                                    std::uint32_t block_size);

// The largest file the update slot can take in blocks of `block_size`.
std::uint64_t max_update_file_size(const flash::FlashArea& slot, std::uint32_t block_size);

class OtaAgent final : public JobHandler {
 public:
  // Checks the settings. `transport` and `device` must outlive the agent.
  static Result<std::unique_ptr<OtaAgent>> create(OtaAgentSettings settings,
                                                  StreamTransport& transport, OtaDevice& device);
  ~OtaAgent() override;
  OtaAgent(const OtaAgent&) = delete;
  OtaAgent& operator=(const OtaAgent&) = delete;

  // The jobs this agent takes: documents with an "afr_ota" object (register_handler's matcher).
  static bool takes(const nlohmann::json& job_document);

  // A new OTA job. Refuses (REJECTED, statusDetails {"reason": ...}) before any block is asked
  // for: a document that does not decode, has expired, is for another thing, offers no MQTT
  // stream, is not newer than the running image (version, or security counter below the fused
  // one), or is larger than the update slot can hold. Then downloads (carrying on from a journal
  // of the same download, if the slot holds one), verifies, marks the update pending and reports
  // IN_PROGRESS {"self_test": "ready", "updatedBy": "<running version>"}:
  // continue_after_restart (the firmware then restarts the device). A download or verification
  // failure is FAILED with a reason naming what failed, and leaves nothing pending.
  JobOutcome handle(const protocol::JobExecution& job, JobProgress& progress) override;

  // The same job after a restart:
  //  - the document's version runs on a test boot: reports {"self_test": "active"}, runs the
  //    self-test and confirms the image: SUCCEEDED {"reason": "accepted v<version>"}; a failed
  //    self-test leaves its reason in the journal and asks for a restart, so the bootloader
  //    reverts;
  //  - the document's version runs confirmed: SUCCEEDED;
  //  - the old image runs after the update was staged: FAILED {"reason": "the self-test of
  //    <new> failed (...); the bootloader reverted to <old>"};
  //  - otherwise as handle(), carrying on from the journal.
  JobOutcome resume(const protocol::JobExecution& job, JobProgress& progress) override;

  // Feeds a received MQTT message: blocks and error replies of the current download are taken,
  // everything else is ignored. Any thread; a block is written to flash before it returns.
  void on_message(const mqtt::Message& message);

  OtaAgentStats stats() const;

 private:
  struct State;
  explicit OtaAgent(std::unique_ptr<State> state);
  JobOutcome run(const protocol::JobExecution& job, JobProgress& progress, bool resuming);
  std::unique_ptr<State> state_;
};

}  // namespace ironroot::agent

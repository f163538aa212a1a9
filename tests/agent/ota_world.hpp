// A device for OTA agent tests: a real in-memory Board (uniform-4k NOR flash, fuses), a fused
// ECDSA P-256 firmware key, version 1.0.0 installed and booted by the real bootloader, a signed
// update, and its job document, served by StreamServer.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "../boot/device_fixture.hpp"
#include "ironroot/agent/ota_agent.hpp"
#include "ironroot/boot/slot_state.hpp"
#include "ironroot/device/board.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "stream_server.hpp"

namespace ironroot::testing {

inline constexpr std::string_view kThing = "ota-device-1";
inline constexpr std::string_view kStream = "fw-stream-1";
inline constexpr std::int64_t kNow = 1900000000;  // 2030-03-17

// Progress reports, as the jobs client would send them.
class RecordedProgress final : public agent::JobProgress {
 public:
  std::vector<protocol::StatusDetails> reports;
  std::optional<std::string> refuse;  // the service refuses every report with this
  Status report(const protocol::StatusDetails& details) override {
    if (refuse) return fail(*refuse);
    reports.push_back(details);
    return {};
  }
};

class OtaWorld {
 public:
  explicit OtaWorld(std::uint64_t slot_size = 1024 * 1024) : slot_size_(slot_size) {
    device::DeviceConfig config;
    config.slot_size = slot_size;
    auto board = device::Board::in_memory(config);
    EXPECT_TRUE(board) << board.error().message;
    board_ = std::make_unique<device::Board>(std::move(*board));
    key_ = std::make_unique<crypto::PrivateKey>(
        *crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256));
    EXPECT_TRUE(board_->otp().fuse_firmware_key(0, key_->public_key().key_hash()));
    old_image = image("1.0.0", 1, 20000);
    EXPECT_TRUE(boot::install_image(board_->primary(), old_image));
    EXPECT_TRUE(board_->otp().advance_security_counter(boot::kFirmwareCounter, 1));
    reboot();
  }

  device::Board& board() { return *board_; }
  crypto::PrivateKey& key() { return *key_; }

  // A signed image for this device's slot.
  Bytes image(const std::string& version, std::uint32_t counter, std::size_t payload_size) {
    return device_image(*key_, version, counter, payload_size, slot_size_);
  }

  // What a power-on runs: the real bootloader over the board.
  void reboot() {
    auto bootloader =
        boot::Bootloader::create(board_->boot_areas(), board_->otp(), boot::UpgradeStrategy::swap);
    ASSERT_TRUE(bootloader) << bootloader.error().message;
    auto booted = bootloader->boot();
    ASSERT_TRUE(booted) << booted.error().reason;
    running = {booted->firmware.version, booted->test_boot};
  }

  // The OTA job document for `file`, its signature made with `signer` (the fused key by default).
  protocol::OtaJobDocument document(ByteView file, const std::string& version,
                                    std::optional<std::int64_t> counter,
                                    crypto::Signer* signer = nullptr) {
    protocol::OtaJobDocument d;
    d.protocols = {protocol::OtaProtocol::mqtt};
    d.stream_name = std::string(kStream);
    d.file.file_path = "firmware.bin";
    d.file.file_size = static_cast<std::int64_t>(file.size());
    d.file.file_id = 0;
    d.file.certificate_path = "oem-signer.crt";
    d.file.signature = *(signer ? signer : key_.get())->sign_digest(crypto::sha256(file));
    protocol::OtaRelease release;
    release.version = version;
    release.expires_at = kNow + 3600;
    release.thing_name = std::string(kThing);
    release.security_counter = counter;
    d.release = release;
    return d;
  }

  static protocol::JobExecution job(const protocol::OtaJobDocument& document,
                                    protocol::StatusDetails details = {}) {
    protocol::JobExecution j;
    j.job_id = "ota-job-1";
    j.thing_name = std::string(kThing);
    j.job_document = document.encode();
    j.status_details = std::move(details);
    return j;
  }

  std::unique_ptr<agent::BootOtaDevice> device(agent::BootOtaDevice::SelfTest self_test = {}) {
    auto d =
        agent::BootOtaDevice::create(board_->boot_areas(), board_->otp(),
                                     boot::UpgradeStrategy::swap, running, std::move(self_test));
    EXPECT_TRUE(d) << d.error().message;
    return std::move(*d);
  }

  static agent::OtaAgentSettings settings() {
    agent::OtaAgentSettings s;
    s.thing_name = std::string(kThing);
    s.block_timeout = std::chrono::milliseconds(20);
    s.max_requests_without_progress = 4;
    s.clock = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(kNow)); };
    return s;
  }

  std::unique_ptr<agent::OtaAgent> agent(StreamServer& server, agent::OtaDevice& device,
                                         agent::OtaAgentSettings s = settings()) {
    auto a = agent::OtaAgent::create(std::move(s), server, device);
    EXPECT_TRUE(a) << a.error().message;
    server.attach(a->get());
    return std::move(*a);
  }

  // The first `n` bytes of the update slot.
  Bytes secondary_bytes(std::size_t n) {
    Bytes out(n);
    EXPECT_TRUE(board_->secondary().read(0, out));
    return out;
  }

  bool update_pending() {
    auto trailer = boot::read_slot_trailer(board_->secondary());
    return trailer && trailer->magic == image::MagicState::good;
  }

  Bytes old_image;
  agent::RunningFirmware running;

 private:
  std::uint64_t slot_size_;
  std::unique_ptr<device::Board> board_;
  std::unique_ptr<crypto::PrivateKey> key_;
};

}  // namespace ironroot::testing

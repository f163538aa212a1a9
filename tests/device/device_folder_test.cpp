// The device folder: made once, reopened by every command, refused with a clear message when it
// is missing, damaged or in use.
#include "ironroot/device/device_folder.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "ironroot/core/file.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using device::DeviceConfig;
using device::DeviceFolder;

DeviceConfig small_config() {
  DeviceConfig config;
  config.slot_size = 64 * 1024;
  return config;
}

void write_text(const fs::path& path, const std::string& text) {
  ASSERT_TRUE(write_file_atomic(path, as_bytes(text)));
}

// The message of a failed open, or "" when it succeeded.
std::string open_error(const fs::path& dir) {
  auto folder = DeviceFolder::open(dir);
  return folder ? "" : folder.error().message;
}

class DeviceFolderTest : public ::testing::Test {
 protected:
  fs::path dir() const { return temp_ / "device"; }
  void make(const DeviceConfig& config = small_config()) {
    auto folder = DeviceFolder::create(dir(), config);
    ASSERT_TRUE(folder) << folder.error().message;
  }
  TempDir temp_;
};

TEST_F(DeviceFolderTest, CreateThenOpenGivesTheSameDevice) {
  DeviceConfig config = small_config();
  config.layout = "stm32f4";
  config.write_align = 8;
  config.erased_value = std::byte{0x00};
  config.slot_size = 256 * 1024;
  config.strategy = boot::UpgradeStrategy::overwrite;
  {
    auto made = DeviceFolder::create(dir(), config);
    ASSERT_TRUE(made) << made.error().message;
    ASSERT_TRUE(made->board().primary().write(0, Bytes(8, std::byte{0x5a})));
  }
  for (const char* file : {"device.json", "flash.bin", "otp.bin"}) {
    EXPECT_TRUE(fs::exists(dir() / file)) << file;
  }
  auto opened = DeviceFolder::open(dir());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->dir(), fs::absolute(dir()));
  EXPECT_EQ(device::to_json(opened->config()), device::to_json(config));
  device::Board& board = opened->board();
  const boot::BootLayout layout = *config.boot_layout();
  EXPECT_EQ(board.primary().size(), layout.primary.size);
  EXPECT_EQ(board.secondary().size(), layout.secondary.size);
  EXPECT_EQ(board.bootloader().size(), layout.bootloader.size);
  EXPECT_EQ(board.primary().write_align(), 8u);
  EXPECT_EQ(board.primary().erased_value(), std::byte{0x00});
  Bytes back(8);
  ASSERT_TRUE(board.primary().read(0, back));
  EXPECT_EQ(back, Bytes(8, std::byte{0x5a}));  // what the first process wrote persisted
  EXPECT_FALSE(board.otp().rom_trust_anchor());
}

TEST_F(DeviceFolderTest, CreateRefusesAnExistingDeviceOrAFolderInUse) {
  make();
  auto again = DeviceFolder::create(dir(), small_config());
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already holds a device"), std::string::npos)
      << again.error().message;

  fs::create_directories(temp_ / "other");
  write_text(temp_ / "other" / "notes.txt", "keep me");
  auto full = DeviceFolder::create(temp_ / "other", small_config());
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("is not empty"), std::string::npos) << full.error().message;
  EXPECT_TRUE(fs::exists(temp_ / "other" / "notes.txt"));

  fs::create_directories(temp_ / "empty");
  EXPECT_TRUE(DeviceFolder::create(temp_ / "empty", small_config()));
}

TEST_F(DeviceFolderTest, CreateRefusesABadConfigurationWithoutMakingAnything) {
  DeviceConfig config = small_config();
  config.slot_size = 1024;
  auto made = DeviceFolder::create(dir(), config);
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().message.find("slot size 1024 is out of range"), std::string::npos)
      << made.error().message;
  EXPECT_FALSE(fs::exists(dir()));

  config = small_config();
  config.layout = "esp32";
  made = DeviceFolder::create(dir(), config);
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().message.find("unknown flash layout 'esp32'; known layouts: uniform-4k"),
            std::string::npos)
      << made.error().message;
}

TEST_F(DeviceFolderTest, OpenSaysWhatIsMissing) {
  EXPECT_NE(open_error(dir()).find("the folder does not exist (make a device with "
                                   "`ironroot-device init`)"),
            std::string::npos)
      << open_error(dir());
  fs::create_directories(dir());
  EXPECT_NE(open_error(dir()).find("is not a device folder: it has no device.json"),
            std::string::npos)
      << open_error(dir());
  write_text(temp_ / "file", "x");
  EXPECT_NE(open_error(temp_ / "file").find("not a folder"), std::string::npos);
}

TEST_F(DeviceFolderTest, OpenNamesTheDamagedFieldOrFile) {
  make();
  const nlohmann::json good = device::to_json(small_config());
  struct Case {
    std::string name;
    std::string document;
    std::string expected;
  };
  auto with = [&](const std::string& key, const nlohmann::json& value) {
    nlohmann::json doc = good;
    if (value.is_null()) {
      doc.erase(key);
    } else {
      doc[key] = value;
    }
    return doc.dump();
  };
  const std::vector<Case> cases = {
      {"not JSON", "{\"layout\": ", "device.json is damaged: not valid JSON"},
      {"not an object", "[1, 2]", "the document is not a JSON object"},
      {"missing field", with("slot_size", nullptr), "field 'slot_size' is missing"},
      {"wrong type", with("write_align", "4"), "field 'write_align' must be a number of bytes"},
      {"bad alignment", with("write_align", 3), "write alignment 3 is not supported"},
      {"bad erased value", with("erased_value", "0x55"), "field 'erased_value' must be"},
      {"bad strategy", with("upgrade_strategy", "copy"), "field 'upgrade_strategy' must be"},
      {"newer format", with("format_version", 2), "format version 2 is not supported"},
      {"unknown layout", with("layout", "esp32"), "unknown flash layout 'esp32'"},
  };
  for (const Case& c : cases) {
    write_text(dir() / "device.json", c.document);
    const std::string message = open_error(dir());
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.name << ": " << message;
    EXPECT_NE(message.find("device.json"), std::string::npos) << c.name << ": " << message;
  }
  // A flash or fuse file that does not fit the configuration.
  write_text(dir() / "device.json", good.dump());
  fs::resize_file(dir() / "flash.bin", 4096);
  EXPECT_NE(open_error(dir()).find("is damaged: flash"), std::string::npos) << open_error(dir());
  EXPECT_NE(open_error(dir()).find("is 4096 bytes"), std::string::npos) << open_error(dir());
  fs::remove(dir() / "flash.bin");
  EXPECT_NE(open_error(dir()).find("flash.bin"), std::string::npos) << open_error(dir());
}

TEST_F(DeviceFolderTest, OtpFileIsChecked) {
  make();
  fs::resize_file(dir() / "otp.bin", 10);
  const std::string message = open_error(dir());
  EXPECT_NE(message.find("is damaged"), std::string::npos) << message;
  EXPECT_NE(message.find("otp.bin"), std::string::npos) << message;
}

TEST_F(DeviceFolderTest, OneProcessAtATime) {
  make();
  {
    auto first = DeviceFolder::open(dir());
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_NE(open_error(dir()).find("is in use by another process"), std::string::npos)
        << open_error(dir());
  }
  EXPECT_EQ(open_error(dir()), "");  // released with the first
}

TEST_F(DeviceFolderTest, LastBootRoundTripsAndDamageIsReported) {
  make();
  auto none = DeviceFolder::read_last_boot(dir());
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  const nlohmann::json record = {{"result", "booted"}, {"events", {"a", "b"}}};
  ASSERT_TRUE(DeviceFolder::write_last_boot(dir(), record));
  auto back = DeviceFolder::read_last_boot(dir());
  ASSERT_TRUE(back && back->has_value());
  EXPECT_EQ(**back, record);
  write_text(dir() / "last_boot.json", "{");
  auto damaged = DeviceFolder::read_last_boot(dir());
  ASSERT_FALSE(damaged);
  EXPECT_NE(damaged.error().message.find("last_boot.json is damaged"), std::string::npos);
}

TEST_F(DeviceFolderTest, DiscardRemovesWhatCreateMade) {
  auto made = DeviceFolder::create(dir(), small_config());
  ASSERT_TRUE(made);
  DeviceFolder::discard(std::move(*made));
  EXPECT_FALSE(fs::exists(dir()));

  fs::create_directories(temp_ / "kept");
  auto in_existing = DeviceFolder::create(temp_ / "kept", small_config());
  ASSERT_TRUE(in_existing);
  DeviceFolder::discard(std::move(*in_existing));
  EXPECT_TRUE(fs::exists(temp_ / "kept"));  // the folder was the caller's
  EXPECT_TRUE(fs::is_empty(temp_ / "kept"));
}

}  // namespace
}  // namespace ironroot::testing

#include "ironroot/core/file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "support/temp_dir.hpp"

namespace ironroot {
namespace {

namespace fs = std::filesystem;

class FileTest : public ::testing::Test {
 protected:
  ironroot::testing::TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

TEST_F(FileTest, AtomicWriteReplacesWholeFileAndLeavesNoTemporary) {
  fs::path target = dir_ / "out.bin";
  ASSERT_TRUE(write_file_atomic(target, as_bytes("first version")));
  ASSERT_TRUE(write_file_atomic(target, as_bytes("second")));
  auto data = read_file(target, 1024);
  ASSERT_TRUE(data) << data.error().message;
  EXPECT_EQ(as_chars(*data), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);
}

TEST_F(FileTest, AtomicWriteAppliesMode) {
  fs::path target = dir_ / "key.pem";
  ASSERT_TRUE(write_file_atomic(target, as_bytes("secret"), 0600));
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST_F(FileTest, ReadRefusesFilesOverTheBound) {
  fs::path target = dir_ / "big.bin";
  ASSERT_TRUE(write_file_atomic(target, Bytes(100)));
  auto data = read_file(target, 99);
  ASSERT_FALSE(data);
  EXPECT_NE(data.error().message.find("more than the 99 bytes"), std::string::npos);
}

TEST_F(FileTest, ReadReportsMissingFileAndFolders) {
  EXPECT_FALSE(read_file(dir_ / "missing", 10));
  auto folder = read_file(dir_, 10);
  ASSERT_FALSE(folder);
  EXPECT_NE(folder.error().message.find("not a regular file"), std::string::npos);
}

TEST_F(FileTest, WriteIntoMissingFolderFailsClearly) {
  auto status = write_file_atomic(dir_ / "no" / "such" / "x", as_bytes("x"));
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("temporary file"), std::string::npos);
}

}  // namespace
}  // namespace ironroot

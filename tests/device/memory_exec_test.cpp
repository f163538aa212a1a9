// Programs run from a sealed memfd: exit codes, signals, environment, refusal of what cannot run,
// and no descriptor left behind.
#include "ironroot/device/memory_exec.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "ironroot/core/file.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;

// /bin/sh's bytes: a real ELF executable that can be told what to do.
const Bytes& shell() {
  static const Bytes bytes = *read_file("/bin/sh", 64 << 20);
  return bytes;
}

Result<device::ProgramExit> sh(const std::string& script, std::vector<std::string> env = {}) {
  device::ProgramLaunch launch;
  launch.name = "sh";
  launch.arguments = {"-c", script};
  launch.environment = std::move(env);
  return device::run_from_memory(shell(), launch);
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST(MemoryExec, ReportsTheExitCode) {
  auto ended = sh("exit 75");
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_FALSE(ended->killed());
  EXPECT_EQ(ended->exit_code, 75);
  EXPECT_EQ(ended->describe(), "exit code 75");
}

TEST(MemoryExec, ReportsTheSignalThatKilledIt) {
  auto ended = sh("kill -9 $$");
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_TRUE(ended->killed());
  EXPECT_EQ(ended->signal, 9);
  EXPECT_EQ(ended->describe().rfind("killed by signal 9", 0), 0u) << ended->describe();
}

TEST(MemoryExec, RunsFromTheMemfdWithTheGivenEnvironment) {
  ::setenv("IRONROOT_MEMORY_EXEC_KEPT", "kept", 1);
  ::setenv("IRONROOT_MEMORY_EXEC_REPLACED", "old", 1);
  auto ended = sh(
      "test \"$IRONROOT_MEMORY_EXEC_KEPT\" = kept && test \"$IRONROOT_MEMORY_EXEC_REPLACED\" = new"
      " && test \"$IRONROOT_MEMORY_EXEC_ADDED\" = 'a=b' && readlink /proc/$$/exe | grep -q "
      "'^/memfd:sh'",
      {"IRONROOT_MEMORY_EXEC_REPLACED=new", "IRONROOT_MEMORY_EXEC_ADDED=a=b"});
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(ended->exit_code, 0);
}

TEST(MemoryExec, SendsStdoutToStderrWhenAsked) {
  TempDir dir;
  const fs::path captured = dir / "stderr";
  const int saved = ::dup(STDERR_FILENO);
  const int file = ::open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(file, 0);
  ::dup2(file, STDERR_FILENO);
  ::close(file);
  device::ProgramLaunch launch;
  launch.name = "sh";
  launch.arguments = {"-c", "echo to-stdout"};
  launch.stdout_to_stderr = true;
  auto ended = device::run_from_memory(shell(), launch);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(as_chars(*read_file(captured, 1024)), "to-stdout\n");
}

TEST(MemoryExec, RefusesWhatIsNotAnElfExecutable) {
  for (const std::string& program : {std::string("#!/bin/sh\nexit 0\n"), std::string(4096, 'x')}) {
    auto ended = device::run_from_memory(as_bytes(program), {});
    ASSERT_FALSE(ended);
    EXPECT_NE(ended.error().message.find("must be an ELF executable"), std::string::npos)
        << ended.error().message;
  }
}

TEST(MemoryExec, LeavesNoDescriptorBehind) {
  const std::size_t before = open_descriptors();
  ASSERT_TRUE(sh("exit 0"));
  ASSERT_FALSE(device::run_from_memory(as_bytes(std::string("not a program")), {}));
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace ironroot::testing

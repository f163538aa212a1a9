#include "ironroot/device/memory_exec.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>

#include "ironroot/core/unique_fd.hpp"

extern char** environ;

namespace ironroot::device {

namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

// The sealed memfd holding `executable`.
Result<UniqueFd> sealed_memfd(const std::string& name, ByteView executable) {
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return fail("memfd_create: " + errno_text(errno));
  std::size_t done = 0;
  while (done < executable.size()) {
    ssize_t n = ::write(fd.get(), executable.data() + done, executable.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("writing the program into its memfd: " + errno_text(errno));
    done += static_cast<std::size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) !=
      0) {
    return fail("sealing the program's memfd: " + errno_text(errno));
  }
  return fd;
}

// This process's environment with `overrides` ("NAME=value") added or replacing.
std::vector<std::string> merged_environment(const std::vector<std::string>& overrides) {
  std::map<std::string, std::string> merged;
  auto add = [&](const std::string& entry) { merged[entry.substr(0, entry.find('='))] = entry; };
  for (char** e = environ; *e != nullptr; ++e) add(*e);
  for (const std::string& entry : overrides) add(entry);
  std::vector<std::string> out;
  for (auto& [name, entry] : merged) out.push_back(entry);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string ProgramExit::describe() const {
  if (!killed()) return "exit code " + std::to_string(exit_code);
  const char* name = ::strsignal(signal);
  return "killed by signal " + std::to_string(signal) +
         (name ? " (" + std::string(name) + ")" : "");
}

Result<ProgramExit> run_from_memory(ByteView executable, const ProgramLaunch& launch) {
  auto program = sealed_memfd(launch.name, executable);
  if (!program) return tl::unexpected(program.error());

  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> args = {launch.name};
  args.insert(args.end(), launch.arguments.begin(), launch.arguments.end());
  std::vector<std::string> env = merged_environment(launch.environment);
  std::vector<char*> argv = pointers(args);
  std::vector<char*> envp = pointers(env);

  // The child reports a failed exec through this pipe; a successful exec closes it (O_CLOEXEC).
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) return fail("pipe2: " + errno_text(errno));
  UniqueFd report_read(ends[0]), report_write(ends[1]);

  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return fail("fork: " + errno_text(errno));
  if (pid == 0) {
    if (launch.stdout_to_stderr) ::dup2(STDERR_FILENO, STDOUT_FILENO);
    ::fexecve(program->get(), argv.data(), envp.data());
    const int error = errno;
    [[maybe_unused]] ssize_t ignored = ::write(report_write.get(), &error, sizeof error);
    ::_exit(127);
  }
  report_write.reset();
  int exec_error = 0;
  ssize_t got = 0;
  do {
    got = ::read(report_read.get(), &exec_error, sizeof exec_error);
  } while (got < 0 && errno == EINTR);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail("waitpid: " + errno_text(errno));
  }
  if (got == static_cast<ssize_t>(sizeof exec_error)) {
    return fail("cannot start " + launch.name + " from memory: " + errno_text(exec_error) +
                (exec_error == ENOEXEC || exec_error == ENOENT
                     ? " (the payload must be an ELF executable for this machine)"
                     : ""));
  }
  ProgramExit exit;
  if (WIFSIGNALED(status)) {
    exit.signal = WTERMSIG(status);
  } else {
    exit.exit_code = WEXITSTATUS(status);
  }
  return exit;
}

}  // namespace ironroot::device

// Pre-provisioning hooks: parsing the hook text and answers, and running command hooks.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

#include "ironroot/fleet/pre_provisioning_hook.hpp"

extern char** environ;

namespace ironroot::fleet {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// Owns one file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

struct FileActions {
  posix_spawn_file_actions_t actions;
  FileActions() { posix_spawn_file_actions_init(&actions); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
};

struct SpawnAttributes {
  posix_spawnattr_t attributes;
  SpawnAttributes() { posix_spawnattr_init(&attributes); }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes); }
};

Result<Fd> request_file(const std::string& input) {
  Fd fd(memfd_create("ironroot-hook-request", MFD_CLOEXEC));
  if (fd.get() < 0) return fail(errno_text("pre-provisioning hook: memfd_create"));
  std::size_t written = 0;
  while (written < input.size()) {
    const ssize_t n = ::write(fd.get(), input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(errno_text("pre-provisioning hook: writing the request"));
    written += static_cast<std::size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) {
    return fail(errno_text("pre-provisioning hook: rewinding the request"));
  }
  return fd;
}

// A child process in its own process group, killed with the group unless it was reaped.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      wait();
    }
  }
  pid_t pid() const { return pid_; }
  // Waits for the child to exit; returns its wait status.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }
  void kill_group() { ::kill(-pid_, SIGKILL); }

 private:
  pid_t pid_;
};

std::string tail(const std::string& text) {
  constexpr std::size_t kShown = 512;
  std::string shown = text.size() > kShown ? "..." + text.substr(text.size() - kShown) : text;
  while (!shown.empty() && (shown.back() == '\n' || shown.back() == '\r')) shown.pop_back();
  return shown;
}

}  // namespace

Result<HookDecision> parse_hook_answer(std::string_view text) {
  if (text.size() > kMaxHookAnswerSize) {
    return fail("pre-provisioning hook answer is " + std::to_string(text.size()) +
                " bytes long; the limit is " + std::to_string(kMaxHookAnswerSize));
  }
  auto answer = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object()) {
    return fail("pre-provisioning hook answer is not a JSON object: '" + tail(std::string(text)) +
                "'");
  }
  auto allow = answer.find("allowProvisioning");
  if (allow == answer.end() || !allow->is_boolean()) {
    return fail("pre-provisioning hook answer has no boolean allowProvisioning");
  }
  HookDecision decision;
  decision.allow_provisioning = allow->get<bool>();
  if (auto overrides = answer.find("parameterOverrides"); overrides != answer.end()) {
    if (!overrides->is_object()) {
      return fail("pre-provisioning hook answer: parameterOverrides is not an object");
    }
    for (const auto& [name, value] : overrides->items()) {
      if (!value.is_string() || name.empty()) {
        return fail("pre-provisioning hook answer: parameterOverrides." + name +
                    " is not a string");
      }
      decision.parameter_overrides[name] = value.get<std::string>();
    }
  }
  return decision;
}

Result<PreProvisioningHook> PreProvisioningHook::parse(std::string_view spec) {
  PreProvisioningHook hook;
  hook.spec_ = std::string(spec);
  constexpr std::string_view kCommand = "command:";
  constexpr std::string_view kHttp = "http://";
  if (spec.substr(0, kCommand.size()) == kCommand) {
    std::string_view rest = spec.substr(kCommand.size());
    std::size_t start = 0;
    while (start < rest.size()) {
      const std::size_t end = std::min(rest.find(' ', start), rest.size());
      if (end > start) hook.argv_.emplace_back(rest.substr(start, end - start));
      start = end + 1;
    }
    if (hook.argv_.empty() || hook.argv_[0].front() != '/') {
      return fail("pre-provisioning hook '" + hook.spec_ +
                  "': a command hook needs an absolute program path (command:/path/to/hook)");
    }
    hook.kind_ = Kind::command;
    return hook;
  }
  if (spec.substr(0, kHttp.size()) == kHttp) {
    std::string_view rest = spec.substr(kHttp.size());
    const std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    hook.path_ = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    const std::size_t colon = authority.rfind(':');
    hook.host_ = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      std::string_view port = authority.substr(colon + 1);
      auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), hook.port_);
      if (ec != std::errc() || end != port.data() + port.size() || hook.port_ < 1 ||
          hook.port_ > 65535) {
        return fail("pre-provisioning hook '" + hook.spec_ + "': '" + std::string(port) +
                    "' is not a port number");
      }
    }
    if (hook.host_.empty() || hook.host_.find_first_of("@ ") != std::string::npos) {
      return fail("pre-provisioning hook '" + hook.spec_ + "': expected http://host:port/path");
    }
    hook.kind_ = Kind::http;
    return hook;
  }
  return fail("pre-provisioning hook '" + hook.spec_ +
              "': expected command:/path/to/program [args] or http://host:port/path");
}

Result<HookDecision> PreProvisioningHook::call(const HookRequest& request,
                                               std::chrono::milliseconds timeout) const {
  nlohmann::json parameters = nlohmann::json::object();
  for (const auto& [name, value] : request.parameters) parameters[name] = value;
  const std::string input = nlohmann::json{
      {"claimCertificateId", request.claim_certificate_id},
      {"certificateId", request.certificate_id},
      {"certificatePem", request.certificate_pem},
      {"templateArn", request.template_arn},
      {"clientId", request.client_id},
      {"parameters",
       parameters}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto answer = kind_ == Kind::command ? run_command(input, timeout) : post_http(input, timeout);
  if (!answer) return tl::unexpected(answer.error());
  return parse_hook_answer(*answer);
}

Result<std::string> PreProvisioningHook::run_command(const std::string& input,
                                                     std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  auto in = request_file(input);
  if (!in) return tl::unexpected(in.error());
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail(errno_text("pre-provisioning hook: pipe"));
  Fd out_read(out_pipe[0]);
  Fd out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail(errno_text("pre-provisioning hook: pipe"));
  Fd err_read(err_pipe[0]);
  Fd err_write(err_pipe[1]);

  FileActions actions;
  posix_spawn_file_actions_adddup2(&actions.actions, in->get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions.actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions.actions, err_write.get(), STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions.actions, 3);
  SpawnAttributes attributes;
  sigset_t no_signals;
  sigemptyset(&no_signals);
  sigset_t default_signals;
  sigemptyset(&default_signals);
  sigaddset(&default_signals, SIGPIPE);
  posix_spawnattr_setsigmask(&attributes.attributes, &no_signals);
  posix_spawnattr_setsigdefault(&attributes.attributes, &default_signals);
  posix_spawnattr_setpgroup(&attributes.attributes, 0);
  posix_spawnattr_setflags(&attributes.attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const std::string& arg : argv_) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = posix_spawn(&pid, argv[0], &actions.actions, &attributes.attributes, argv.data(),
                           environ);
      rc != 0) {
    return fail("pre-provisioning hook: cannot run " + argv_[0] + ": " + std::strerror(rc));
  }
  Child child(pid);
  in->reset();
  out_write.reset();
  err_write.reset();
  Fd exited(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (exited.get() < 0) return fail(errno_text("pre-provisioning hook: pidfd_open"));

  std::string out;
  std::string err;
  bool out_open = true;
  bool err_open = true;
  bool has_exited = false;
  while (out_open || err_open || !has_exited) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      child.kill_group();
      child.wait();
      return fail("pre-provisioning hook timed out: " + argv_[0] + " did not answer within " +
                  std::to_string(timeout.count()) + " ms and was killed");
    }
    pollfd fds[3] = {{out_open ? out_read.get() : -1, POLLIN, 0},
                     {err_open ? err_read.get() : -1, POLLIN, 0},
                     {has_exited ? -1 : exited.get(), POLLIN, 0}};
    const int ready = ::poll(fds, 3, static_cast<int>(left));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return fail(errno_text("pre-provisioning hook: poll"));
    }
    char buffer[4096];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      std::string& sink = i == 0 ? out : err;
      if (sink.size() + static_cast<std::size_t>(n) > kMaxHookAnswerSize) {
        if (i == 1) continue;  // stderr beyond the bound is dropped
        return fail("pre-provisioning hook answer is longer than " +
                    std::to_string(kMaxHookAnswerSize) + " bytes");
      }
      sink.append(buffer, static_cast<std::size_t>(n));
    }
    if (fds[2].fd >= 0 && fds[2].revents != 0) has_exited = true;
  }
  const int status = child.wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status)
                                ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                : "was killed by signal " + std::to_string(WTERMSIG(status));
    return fail("pre-provisioning hook " + argv_[0] + " " + how +
                (err.empty() ? std::string() : ": " + tail(err)));
  }
  return out;
}

}  // namespace ironroot::fleet

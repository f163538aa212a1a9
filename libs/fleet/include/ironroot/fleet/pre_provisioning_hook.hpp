// Pre-provisioning hooks: what the fleet asks before RegisterThing provisions a device, as AWS
// IoT asks a Lambda function (developer guide: "Pre-provisioning hooks"). A template's hook is
// one of
//   command:/absolute/path [arg ...]   a program run without a shell (arguments split on spaces);
//                                      the request is its stdin, the answer its stdout, and it
//                                      must exit with status 0
//   http://host:port/path              an HTTP POST of the request (Content-Type
//                                      application/json); the answer is a 200 response's body
// The request is AWS's hook input:
//   {"claimCertificateId", "certificateId", "certificatePem", "templateArn", "clientId",
//    "parameters": {"<name>": "<value>", ...}}
// and the answer AWS's hook output: {"allowProvisioning": true|false,
// "parameterOverrides": {"<name>": "<value>", ...}} (overrides optional, string values).
// Anything else (no answer in time, a failing command, another HTTP status, malformed JSON, a
// missing allowProvisioning) is an error, and the provisioning is denied.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"

namespace ironroot::fleet {

// AWS gives a hook 5 seconds.
inline constexpr std::chrono::milliseconds kDefaultHookTimeout{5000};
// Answers (and a command's stderr, kept for the error message) are read up to this size; a
// longer answer is malformed.
inline constexpr std::size_t kMaxHookAnswerSize = 64 * 1024;

struct HookRequest {
  std::string claim_certificate_id;
  std::string certificate_id;
  std::string certificate_pem;
  std::string template_arn;
  std::string client_id;
  std::map<std::string, std::string> parameters;
};

struct HookDecision {
  bool allow_provisioning = false;
  std::map<std::string, std::string> parameter_overrides;

  bool operator==(const HookDecision&) const = default;
};

// Reads a hook's answer. Fails, saying why, unless it is a JSON object with a boolean
// allowProvisioning and, if present, an object of strings as parameterOverrides.
Result<HookDecision> parse_hook_answer(std::string_view text);

class PreProvisioningHook {
 public:
  // Parses a template's hook text (see above). Fails for another scheme (https included: put
  // TLS in front of the hook on the same host), a relative command path, or a malformed URL.
  static Result<PreProvisioningHook> parse(std::string_view spec);

  // Asks the hook, waiting at most `timeout` (connecting, sending and answering together for
  // HTTP; until the command exits for a command, which is killed with its process group when
  // time runs out). The error says what happened; on a timeout it starts "pre-provisioning hook
  // timed out". Blocks the calling thread; safe to call from several threads at once.
  Result<HookDecision> call(const HookRequest& request, std::chrono::milliseconds timeout) const;

  const std::string& spec() const { return spec_; }

 private:
  enum class Kind { command, http };
  PreProvisioningHook() = default;

  Result<std::string> run_command(const std::string& input,
                                  std::chrono::milliseconds timeout) const;
  Result<std::string> post_http(const std::string& input, std::chrono::milliseconds timeout) const;

  std::string spec_;
  Kind kind_ = Kind::command;
  std::vector<std::string> argv_;  // command
  std::string host_;               // http
  int port_ = 80;
  std::string path_;
};

}  // namespace ironroot::fleet

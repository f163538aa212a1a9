// The operator REST API of the fleet service: versioned JSON routes under /v1 over the registry,
// mounted on a cpp-httplib server (ironrootd's, or a test's). docs/rest-api.md lists every route,
// its request and response bodies, and the errors.
//
// Authentication: every route except GET /v1/health needs `Authorization: Bearer <token>`, where
// the token is one of the operator tokens the API was created with. The API keeps only each
// token's SHA-256 and compares digests in constant time; the token's name is the actor the
// audit log records for every change made with it.
//
// Errors are JSON {"error": {"code": "...", "message": "..."}}: 400 invalid (bad JSON, a field of
// the wrong type, an unknown field, a value the registry refuses), 401 unauthorized, 404
// not_found, 409 already_exists or conflict, 413 payload_too_large (a body over
// kMaxRequestBodyBytes), 500 internal. A refused request changes nothing.
//
// Thread-safety: httplib serves requests from a thread pool; the API serializes every use of
// the registry (one SQLite connection), of the provisioning service over it and of the jobs
// store, with a mutex of its own, so none must be used by anyone else while the API is mounted.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/fleet/registry.hpp"

namespace httplib {
class Server;
}

namespace ironroot::fleet {

class ProvisioningService;
class JobStore;
struct JobNotifications;
class FirmwareStore;

// The largest request body the API reads; larger ones get 413 and are discarded unread.
inline constexpr std::size_t kMaxRequestBodyBytes = 1024 * 1024;
// JSON nesting deeper than this is refused (400), so that no request can exhaust the stack.
inline constexpr std::size_t kMaxRequestJsonDepth = 64;

// An operator credential: the name the audit log shows (fleet::check_actor's rules) and the
// SHA-256 of the secret token text. The secret itself is never kept.
struct OperatorToken {
  std::string name;
  crypto::Sha256Digest sha256{};
};

// A new operator secret: 32 bytes from the operating system's CSPRNG, as 64 lower-case hex digits.
Result<std::string> generate_operator_token();
// The credential for `secret` (which may carry a trailing newline from a file: it is stripped).
OperatorToken operator_token(std::string name, std::string_view secret);

// What the API serves beyond the registry. Each is optional: without it, its routes answer 501
// with code "unavailable".
struct RestApiOptions {
  // Operator (bulk) provisioning, POST /v1/templates/{name}/provision. REQUIRES: built over the
  // same Registry object as the API (the API's mutex then serializes it with every other use of
  // that connection), and outlives the API.
  ProvisioningService* provisioning = nullptr;
  // The CA certificates (PEM) a device needs to verify the broker's certificate, served by
  // GET /v1/device-trust for provisioning bundles: the CA's root, in ironrootd.
  std::string device_trust_pem;
  // The operator's jobs (/v1/jobs..., /v1/things/{name}/jobs; docs/rest-api.md, "Jobs"): a
  // JobStore connection of the API's own on the registry's database file. The API's mutex
  // serializes it with the registry, so nothing else may use this JobStore object while the API
  // is mounted (the service's rollout and device handling use other JobStore objects on the same
  // file). REQUIRES: outlives the API.
  JobStore* jobs = nullptr;
  // Called after a jobs request whose change devices must hear of (a job or an execution
  // canceled, a job deleted), with whom to tell what, outside the API's lock, on the server's
  // thread, after the answer was prepared: the service publishes .../jobs/notify-next and
  // .../jobs/notify. Never called with empty notifications.
  std::function<void(const JobNotifications&)> on_job_notifications;
  // The firmware repository (/v1/firmware..., /v1/code-signing-keys...;
  // docs/firmware-repository.md): a FirmwareStore connection of the API's own on the registry's
  // database file, serialized by the API's mutex like `jobs`. POST /v1/firmware takes the image
  // as a binary body of up to its max_image_size() bytes. REQUIRES: outlives the API.
  FirmwareStore* firmware = nullptr;
};

class RestApi {
 public:
  // Fails when a token's name is not a valid actor, or when two tokens share a name or a digest.
  // An empty list is allowed: every authenticated route then answers 401.
  static Result<std::unique_ptr<RestApi>> create(Registry& registry,
                                                 std::vector<OperatorToken> tokens,
                                                 RestApiOptions options = {});

  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;

  // Registers the routes under /v1 on `server` (and JSON 404 answers for any other /v1 path), and
  // sets the server's payload limit to kMaxRequestBodyBytes, or to the firmware store's
  // max_image_size() when that is larger (raise it afterwards if other routes need more: the
  // API's own routes still refuse larger bodies). REQUIRES: this API and the
  // registry outlive the server's last request (stop the server first).
  void mount(httplib::Server& server);

  // Called after every request that changed the registry (committed), outside the registry's
  // lock, on the server's thread: ironrootd tells the broker to re-check connected devices.
  // REQUIRES: set before mount().
  void on_change(std::function<void()> callback) { on_change_ = std::move(callback); }

 private:
  RestApi(Registry& registry, std::vector<OperatorToken> tokens, RestApiOptions options)
      : registry_(registry), tokens_(std::move(tokens)), options_(std::move(options)) {}

  // The operator whose token an Authorization header value carries, or nullptr.
  const OperatorToken* authenticate(std::string_view authorization) const;

  Registry& registry_;
  std::vector<OperatorToken> tokens_;
  RestApiOptions options_;
  std::mutex registry_mutex_;
  std::function<void()> on_change_;
};

}  // namespace ironroot::fleet

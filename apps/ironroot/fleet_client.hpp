// The operator CLI's side of ironrootd's REST API (docs/rest-api.md): where the service is, the
// operator token, and JSON requests whose failures read as one actionable line.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ironroot/core/bytes.hpp"
#include "ironroot/core/result.hpp"

namespace httplib {
class Client;
}

namespace ironroot::cli {

inline constexpr const char* kDefaultServer = "http://127.0.0.1:8443";
inline constexpr const char* kServerVariable = "IRONROOT_SERVER";
inline constexpr const char* kTokenVariable = "IRONROOT_TOKEN";
inline constexpr const char* kDataDirVariable = "IRONROOT_DATA_DIR";
inline constexpr const char* kTokenFileName = "operator.token";  // in ironrootd's data folder

// The global options as given on the command line (empty: not given).
struct FleetOptions {
  std::string server;
  std::string token;
  std::string token_file;
};

// Where to send requests and the token to send. The server is --server, else $IRONROOT_SERVER,
// else kDefaultServer. The token is --token, else the file --token-file, else $IRONROOT_TOKEN,
// else the file operator.token in $IRONROOT_DATA_DIR. Fails, saying how to give one, when none
// of these yields a token.
struct FleetEndpoint {
  std::string server;  // "http://host:port"
  std::string token;
};
Result<FleetEndpoint> resolve_endpoint(const FleetOptions& options);

using Query = std::vector<std::pair<std::string, std::string>>;

// A path segment with every byte outside [A-Za-z0-9-._~] percent-encoded.
std::string path_segment(std::string_view text);

class FleetClient {
 public:
  // Fails unless the server is "http://host[:port]" (no path).
  static Result<FleetClient> open(FleetEndpoint endpoint);
  FleetClient(FleetClient&&) noexcept;
  FleetClient& operator=(FleetClient&&) noexcept;
  ~FleetClient();

  // Each returns the answer's JSON (null for 204 No Content). A failure's message is one line:
  // the API's own message for a refused request, and for an unreachable server or a refused
  // token, what to do about it.
  Result<nlohmann::json> get(const std::string& path, const Query& query = {});
  Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> put(const std::string& path, const nlohmann::json& body = nullptr);
  Result<nlohmann::json> patch(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> remove(const std::string& path, const Query& query = {});
  // POSTs `bytes` as the body, Content-Type application/octet-stream (POST /v1/firmware).
  Result<nlohmann::json> post_bytes(const std::string& path, const Query& query, ByteView bytes);

  // A list route's items: follows `next` to the end, or stops after `limit` items (then
  // `next` is kept in the answer when there is more). Returns {"items": [...], "next"?: ...}.
  Result<nlohmann::json> list(const std::string& path, Query query,
                              std::optional<std::size_t> limit);

 private:
  FleetClient(FleetEndpoint endpoint, std::unique_ptr<httplib::Client> http);
  // An empty content type sends no body.
  Result<nlohmann::json> call(const std::string& method, const std::string& path,
                              const Query& query, std::string body,
                              const std::string& content_type);

  FleetEndpoint endpoint_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace ironroot::cli

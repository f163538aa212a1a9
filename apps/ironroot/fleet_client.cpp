#include "fleet_client.hpp"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "ironroot/core/file.hpp"

namespace ironroot::cli {

namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxTokenFileSize = 4096;
constexpr std::size_t kMaxAnswerBytes = 64 * 1024 * 1024;
constexpr std::size_t kPageLimit = 250;  // the API's largest page
constexpr time_t kConnectTimeoutSeconds = 5;
constexpr time_t kReadTimeoutSeconds = 60;

const char* kTokenHelp =
    "give an operator token with --token, --token-file or IRONROOT_TOKEN (ironrootd writes one "
    "to operator.token in its data folder; IRONROOT_DATA_DIR=<folder> makes ironroot read it)";

std::string trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.remove_prefix(1);
  }
  return std::string(text);
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

Result<std::string> read_token_file(const fs::path& path, std::string_view from) {
  auto data = read_file(path, kMaxTokenFileSize);
  if (!data) return prefixed(data.error(), "operator token file (" + std::string(from) + ")");
  std::string token = trimmed(as_chars(*data));
  if (token.empty()) return fail("operator token file " + path.string() + " is empty");
  if (token.find_first_of(" \t\r\n") != std::string::npos) {
    return fail("operator token file " + path.string() + " holds more than one line");
  }
  return token;
}

std::string describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "connection refused or host unreachable";
    case httplib::Error::ConnectionTimeout:
      return "no connection within " + std::to_string(kConnectTimeoutSeconds) + " s";
    case httplib::Error::Read:
      return "the connection broke, or no answer came within " +
             std::to_string(kReadTimeoutSeconds) + " s";
    case httplib::Error::Write:
      return "the connection broke while sending the request";
    default:
      return "HTTP client error " + httplib::to_string(error);
  }
}

std::string query_string(const Query& query) {
  std::string out;
  for (const auto& [name, value] : query) {
    out += (out.empty() ? "?" : "&") + path_segment(name) + "=" + path_segment(value);
  }
  return out;
}

}  // namespace

Result<FleetEndpoint> resolve_endpoint(const FleetOptions& options) {
  FleetEndpoint endpoint;
  endpoint.server = options.server;
  if (endpoint.server.empty()) endpoint.server = environment(kServerVariable);
  if (endpoint.server.empty()) endpoint.server = kDefaultServer;
  while (!endpoint.server.empty() && endpoint.server.back() == '/') endpoint.server.pop_back();

  if (!options.token.empty()) {
    endpoint.token = trimmed(options.token);
  } else if (!options.token_file.empty()) {
    auto token = read_token_file(options.token_file, "--token-file");
    if (!token) return tl::unexpected(token.error());
    endpoint.token = *token;
  } else if (std::string env = environment(kTokenVariable); !env.empty()) {
    endpoint.token = trimmed(env);
  } else if (std::string dir = environment(kDataDirVariable); !dir.empty()) {
    auto token = read_token_file(fs::path(dir) / kTokenFileName, kDataDirVariable);
    if (!token) return tl::unexpected(token.error());
    endpoint.token = *token;
  }
  if (endpoint.token.empty()) return fail(std::string("no operator token: ") + kTokenHelp);
  return endpoint;
}

std::string path_segment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

Result<FleetClient> FleetClient::open(FleetEndpoint endpoint) {
  const std::string& url = endpoint.server;
  constexpr std::string_view kScheme = "http://";
  std::string_view rest = std::string_view(url).substr(std::min(url.size(), kScheme.size()));
  bool ok = url.rfind(kScheme, 0) == 0 && !rest.empty() &&
            rest.find_first_of("/?#@ ") == std::string_view::npos;
  if (!ok) {
    return fail("--server '" + url + "' must be http://<host>[:<port>], e.g. " + kDefaultServer);
  }
  auto http = std::make_unique<httplib::Client>(url);
  if (!http->is_valid()) return fail("--server '" + url + "' is not a usable address");
  http->set_connection_timeout(kConnectTimeoutSeconds);
  http->set_read_timeout(kReadTimeoutSeconds);
  http->set_write_timeout(kReadTimeoutSeconds);
  http->set_url_encode(false);  // paths are encoded here, segment by segment
  return FleetClient(std::move(endpoint), std::move(http));
}

FleetClient::FleetClient(FleetEndpoint endpoint, std::unique_ptr<httplib::Client> http)
    : endpoint_(std::move(endpoint)), http_(std::move(http)) {}
FleetClient::FleetClient(FleetClient&&) noexcept = default;
FleetClient& FleetClient::operator=(FleetClient&&) noexcept = default;
FleetClient::~FleetClient() = default;

namespace {

// A JSON body, or none for null (as before a body existed for every method).
std::string json_body(const nlohmann::json& body) {
  return body.is_null() ? std::string() : body.dump();
}
const char* json_type(const nlohmann::json& body) {
  return body.is_null() ? "" : "application/json";
}

}  // namespace

Result<nlohmann::json> FleetClient::get(const std::string& path, const Query& query) {
  return call("GET", path, query, {}, {});
}
Result<nlohmann::json> FleetClient::post(const std::string& path, const nlohmann::json& body) {
  return call("POST", path, {}, json_body(body), json_type(body));
}
Result<nlohmann::json> FleetClient::put(const std::string& path, const nlohmann::json& body) {
  return call("PUT", path, {}, json_body(body), json_type(body));
}
Result<nlohmann::json> FleetClient::patch(const std::string& path, const nlohmann::json& body) {
  return call("PATCH", path, {}, json_body(body), json_type(body));
}
Result<nlohmann::json> FleetClient::remove(const std::string& path, const Query& query) {
  return call("DELETE", path, query, {}, {});
}
Result<nlohmann::json> FleetClient::post_bytes(const std::string& path, const Query& query,
                                               ByteView bytes) {
  return call("POST", path, query, std::string(as_chars(bytes)), "application/octet-stream");
}

Result<nlohmann::json> FleetClient::list(const std::string& path, Query query,
                                         std::optional<std::size_t> limit) {
  nlohmann::json items = nlohmann::json::array();
  std::string next;
  for (;;) {
    std::size_t want = kPageLimit;
    if (limit) want = std::min(want, *limit - items.size());
    Query page = query;
    page.emplace_back("limit", std::to_string(want));
    if (!next.empty()) page.emplace_back("next", next);
    auto answer = get(path, page);
    if (!answer) return answer;
    if (!answer->is_object() || !answer->contains("items") || !(*answer)["items"].is_array()) {
      return fail("ironrootd at " + endpoint_.server + " answered " + path +
                  " without an item list");
    }
    for (auto& item : (*answer)["items"]) items.push_back(std::move(item));
    auto found = answer->find("next");
    next = found != answer->end() && found->is_string() ? found->get<std::string>() : "";
    if (next.empty() || (limit && items.size() >= *limit)) break;
  }
  nlohmann::json out = {{"items", std::move(items)}};
  if (!next.empty()) out["next"] = next;
  return out;
}

Result<nlohmann::json> FleetClient::call(const std::string& method, const std::string& path,
                                         const Query& query, std::string body,
                                         const std::string& content_type) {
  httplib::Request req;
  req.method = method;
  req.path = path + query_string(query);
  req.headers.emplace("Authorization", "Bearer " + endpoint_.token);
  req.headers.emplace("Accept", "application/json");
  if (!content_type.empty()) {
    req.body = std::move(body);
    req.headers.emplace("Content-Type", content_type);
  }
  std::string text;
  bool too_large = false;
  req.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    if (text.size() + size > kMaxAnswerBytes) {
      too_large = true;
      return false;
    }
    text.append(data, size);
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const std::string& server = endpoint_.server;
  if (!http_->send(req, res, error)) {
    if (too_large) {
      return fail("ironrootd at " + server + " sent an answer over " +
                  std::to_string(kMaxAnswerBytes) + " bytes");
    }
    if (error == httplib::Error::Connection || error == httplib::Error::ConnectionTimeout) {
      return fail("cannot reach ironrootd at " + server + ": " + describe(error) +
                  " (is it running? give its address with --server or " + kServerVariable + ")");
    }
    return fail("lost the connection to ironrootd at " + server + ": " + describe(error));
  }
  nlohmann::json answer;
  if (!text.empty()) {
    answer = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (answer.is_discarded()) {
      return fail(server + " answered " + method + " " + path + " with HTTP " +
                  std::to_string(res.status) + " and a body that is not JSON (is --server " +
                  "ironrootd's REST API?)");
    }
  }
  if (res.status >= 200 && res.status < 300) return answer;

  std::string message;
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object() &&
      answer["error"].value("message", nlohmann::json()).is_string()) {
    message = answer["error"]["message"].get<std::string>();
  } else {
    message = "ironrootd at " + server + " answered HTTP " + std::to_string(res.status);
  }
  if (res.status == 401) {
    return fail("ironrootd at " + server + " refused the request: " + message + "; " + kTokenHelp);
  }
  return fail(message);
}

}  // namespace ironroot::cli

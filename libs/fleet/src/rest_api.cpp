// The REST API's machinery: operator tokens, and the dispatch every route goes through
// (authentication, bounded body, JSON parsing, query and body checks, the registry lock, the
// answer). The routes themselves are in rest_api_<resource>.cpp.
#include "ironroot/fleet/rest_api.hpp"

#include <httplib.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <regex>

#include "ironroot/crypto/random.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/fleet/jobs.hpp"
#include "ironroot/fleet/names.hpp"
#include "rest_api_internal.hpp"

namespace ironroot::fleet {

namespace {

using nlohmann::json;
using rest::Answer;
using rest::ApiError;
using rest::Reply;
using rest::Route;

constexpr std::size_t kTokenBytes = 32;
// A bearer token longer than this is not one of ours; it is refused without hashing.
constexpr std::size_t kMaxBearerTokenLength = 512;
// A body over kMaxRequestBodyBytes is read and dropped, so that the client gets its 413 rather
// than a broken connection; past this much, the connection is cut instead.
constexpr std::size_t kMaxDiscardedBodyBytes = 64 * kMaxRequestBodyBytes;

std::string_view trim_right(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  return text;
}

void send(httplib::Response& res, const Reply& reply) {
  res.status = reply.status;
  res.set_header("Cache-Control", "no-store");
  if (reply.body.is_null()) return;
  res.set_content(reply.body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

void send(httplib::Response& res, const ApiError& error) {
  if (error.status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"ironroot\"");
  send(res, Reply{error.status, {{"error", {{"code", error.code}, {"message", error.message}}}}});
}

// A request body, read up to `limit` bytes (kMaxRequestBodyBytes, or the binary body limit).
struct Body {
  std::string text;
  bool too_large = false;
  bool unreadable = false;  // the connection failed or the transfer was malformed
};

Body read_body(const httplib::Response& res, const httplib::ContentReader& reader,
               std::size_t limit = kMaxRequestBodyBytes) {
  Body body;
  std::size_t total = 0;
  bool ok = reader([&](const char* data, std::size_t size) {
    total += size;
    if (total > std::max(kMaxDiscardedBodyBytes, limit)) return false;
    if (total > limit) {
      body.too_large = true;
      std::string().swap(body.text);
    } else {
      body.text.append(data, size);
    }
    return true;
  });
  if (!ok) {
    // httplib answers a Content-Length over the server's payload limit by skipping the body and
    // setting 413.
    if (res.status == 413 || total > limit) {
      body.too_large = true;
    } else {
      body.unreadable = true;
    }
  }
  return body;
}

// Parses a request body, refusing nesting deeper than kMaxRequestJsonDepth.
Result<json, ApiError> parse_body(const std::string& text) {
  if (text.empty()) return json();
  struct TooDeep {};
  try {
    return json::parse(text, [](int depth, json::parse_event_t, json&) {
      if (static_cast<std::size_t>(depth) > kMaxRequestJsonDepth) throw TooDeep{};
      return true;
    });
  } catch (const json::parse_error& e) {
    return rest::bad_request(std::string("the request body is not valid JSON: ") + e.what());
  } catch (const TooDeep&) {
    return rest::bad_request("the request body nests JSON deeper than " +
                             std::to_string(kMaxRequestJsonDepth) + " levels");
  }
}

std::string route_regex(const std::string& path) {
  std::string out;
  for (char c : path) out += c == '*' ? std::string("([^/]+)") : std::string(1, c);
  return out;
}

std::vector<Route> all_routes() {
  std::vector<Route> routes;
  for (auto table :
       {rest::thing_routes, rest::group_routes, rest::certificate_routes, rest::ca_routes,
        rest::policy_routes, rest::template_routes, rest::audit_routes, rest::provisioning_routes,
        rest::job_routes, rest::firmware_routes, rest::code_signing_key_routes}) {
    for (Route& route : table()) routes.push_back(std::move(route));
  }
  return routes;
}

// The answer for a /v1 path no route takes: 405 when other methods take it, else 404.
ApiError no_route(const std::vector<std::pair<std::regex, std::string>>& routes,
                  const httplib::Request& req) {
  std::string allowed;
  for (const auto& [pattern, method] : routes) {
    if (std::regex_match(req.path, pattern) && allowed.find(method) == std::string::npos) {
      allowed += (allowed.empty() ? "" : ", ") + method;
    }
  }
  std::string path = req.path.substr(0, 200);
  if (!allowed.empty()) {
    return ApiError{405, "method_not_allowed",
                    req.method + " is not allowed on " + path + " (allowed: " + allowed + ")"};
  }
  return ApiError{404, "not_found",
                  "no API route " + req.method + " " + path + " (see docs/rest-api.md)"};
}

}  // namespace

Result<std::string> generate_operator_token() {
  auto bytes = crypto::random_bytes(kTokenBytes);
  if (!bytes) return prefixed(bytes.error(), "generating an operator token");
  return to_hex(*bytes);
}

OperatorToken operator_token(std::string name, std::string_view secret) {
  return OperatorToken{std::move(name), crypto::sha256(as_bytes(trim_right(secret)))};
}

Result<std::unique_ptr<RestApi>> RestApi::create(Registry& registry,
                                                 std::vector<OperatorToken> tokens,
                                                 RestApiOptions options) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (auto ok = check_actor(tokens[i].name); !ok) {
      return prefixed(ok.error(), "operator token name");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (tokens[j].name == tokens[i].name) {
        return fail("two operator tokens are named '" + tokens[i].name + "'");
      }
      if (tokens[j].sha256 == tokens[i].sha256) {
        return fail("operator tokens '" + tokens[j].name + "' and '" + tokens[i].name +
                    "' are the same secret");
      }
    }
  }
  return std::unique_ptr<RestApi>(new RestApi(registry, std::move(tokens), std::move(options)));
}

const OperatorToken* RestApi::authenticate(std::string_view authorization) const {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return nullptr;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return nullptr;
  }
  std::string_view secret = authorization.substr(kScheme.size());
  while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
  secret = trim_right(secret);
  if (secret.empty() || secret.size() > kMaxBearerTokenLength) return nullptr;
  const crypto::Sha256Digest digest = crypto::sha256(as_bytes(secret));
  const OperatorToken* match = nullptr;
  for (const OperatorToken& token : tokens_) {  // every token, whichever matches
    if (CRYPTO_memcmp(digest.data(), token.sha256.data(), digest.size()) == 0) match = &token;
  }
  return match;
}

void RestApi::mount(httplib::Server& server) {
  // Binary bodies (firmware images) go up to the firmware store's limit.
  const std::size_t binary_limit =
      options_.firmware == nullptr ? kMaxRequestBodyBytes
                                   : static_cast<std::size_t>(options_.firmware->max_image_size());
  server.set_payload_max_length(std::max(kMaxRequestBodyBytes, binary_limit));
  server.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
    send(res, Reply{200, {{"status", "ok"}}});
  });

  auto known = std::make_shared<std::vector<std::pair<std::regex, std::string>>>();
  for (Route& route : all_routes()) {
    const std::string pattern = route_regex(route.path);
    known->emplace_back(std::regex(pattern), route.method);
    auto shared = std::make_shared<const Route>(std::move(route));

    // Everything between the body arriving and the answer leaving.
    auto serve = [this, shared, binary_limit](const httplib::Request& req, httplib::Response& res,
                                              Body& body) {
      const OperatorToken* token = authenticate(req.get_header_value("Authorization"));
      if (token == nullptr) {
        send(res, ApiError{401, "unauthorized",
                           req.has_header("Authorization")
                               ? "the operator token is not accepted"
                               : "an operator token is required: send 'Authorization: Bearer "
                                 "<token>'"});
        return;
      }
      if (body.too_large) {
        const bool binary = shared->takes_body == rest::kBinaryBody;
        send(res,
             ApiError{413, "payload_too_large",
                      "the request body is over " +
                          std::to_string(binary ? binary_limit : kMaxRequestBodyBytes) + " bytes"});
        return;
      }
      if (body.unreadable) {
        send(res, ApiError{400, "invalid", "the request body could not be read"});
        return;
      }
      for (const auto& [name, value] : req.params) {
        const auto& allowed = shared->query_parameters;
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
          std::string list;
          for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
          send(res, ApiError{400, "invalid",
                             "unknown query parameter '" + name.substr(0, 64) + "'" +
                                 (list.empty() ? " (this request takes none)"
                                               : " (expected: " + list + ")")});
          return;
        }
      }
      Result<json, ApiError> parsed = json();
      if (shared->takes_body != rest::kBinaryBody) parsed = parse_body(body.text);
      if (!parsed) {
        send(res, parsed.error());
        return;
      }
      if (shared->takes_body == rest::kNoBody && !parsed->is_null() && *parsed != json::object()) {
        send(res, ApiError{400, "invalid", "this request takes no body"});
        return;
      }
      rest::Call call{registry_, token->name, {}, {}, std::move(*parsed)};
      call.provisioning = options_.provisioning;
      call.device_trust_pem = options_.device_trust_pem;
      call.jobs = options_.jobs;
      call.firmware = options_.firmware;
      if (shared->takes_body == rest::kBinaryBody) {
        call.content = std::move(body.text);
        call.content_type = req.get_header_value("Content-Type");
      }
      for (std::size_t i = 1; i < req.matches.size(); ++i) call.segments.push_back(req.matches[i]);
      call.query.insert(req.params.begin(), req.params.end());
      bool changed = false;
      try {
        std::lock_guard lock(registry_mutex_);
        Answer answer = shared->handler(call);
        if (answer) {
          send(res, *answer);
          changed = shared->method != "GET";
        } else {
          send(res, answer.error());
        }
      } catch (const std::exception& e) {
        send(res, ApiError{500, "internal", std::string("internal error: ") + e.what()});
      }
      if (changed && on_change_) on_change_();
      if (!call.notifications.empty() && options_.on_job_notifications) {
        options_.on_job_notifications(call.notifications);
      }
    };

    if (shared->method == "GET") {
      server.Get(pattern, [serve](const httplib::Request& req, httplib::Response& res) {
        Body body{req.body};
        serve(req, res, body);
      });
      continue;
    }
    httplib::Server::HandlerWithContentReader with_body =
        [serve, shared, binary_limit](const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) {
          Body body = read_body(
              res, reader,
              shared->takes_body == rest::kBinaryBody ? binary_limit : kMaxRequestBodyBytes);
          serve(req, res, body);
        };
    if (shared->method == "POST") server.Post(pattern, with_body);
    if (shared->method == "PUT") server.Put(pattern, with_body);
    if (shared->method == "PATCH") server.Patch(pattern, with_body);
    if (shared->method == "DELETE") server.Delete(pattern, with_body);
  }

  // Any other /v1 path: a JSON 404 or 405 (routes registered after this under /v1 are shadowed).
  const std::string any = "/v1(/.*)?";
  server.Get(any, [known](const httplib::Request& req, httplib::Response& res) {
    send(res, no_route(*known, req));
  });
  httplib::Server::HandlerWithContentReader refuse_with_body =
      [known](const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader) {
        read_body(res, reader);
        send(res, no_route(*known, req));
      };
  server.Post(any, refuse_with_body);
  server.Put(any, refuse_with_body);
  server.Patch(any, refuse_with_body);
  server.Delete(any, refuse_with_body);
}

}  // namespace ironroot::fleet

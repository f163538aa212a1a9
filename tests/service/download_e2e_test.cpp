// HTTPS firmware downloads against the real ironrootd (embedded Mosquitto's TLS files, SQLite):
// a signed image uploaded through the REST API, an OTA job whose afr_ota document has the HTTP
// form, and devices provisioned by claim that fetch the image with curl and their own
// certificate (mutual TLS), whole and in byte ranges, at the update_data_url the document names
// and at the thing's own path; who gets past the handshake and the checks; and the per-client
// request limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "ota_fleet.hpp"
#include "support/process.hpp"

namespace ironroot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What curl got: no HTTP answer at all (status 0) when the TLS handshake failed.
struct HttpAnswer {
  int exit_code = -1;
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  Bytes body;
  std::string error;  // curl's stderr

  std::string header(const std::string& name) const {
    auto found = headers.find(name);
    return found == headers.end() ? "" : found->second;
  }
  json error_body() const { return json::parse(as_chars(body), nullptr, false); }
};

// A client certificate and its key as files, for curl.
struct ClientFiles {
  fs::path certificate;
  fs::path key;
};

class DownloadE2E : public OtaFleetTest {
 protected:
  ClientFiles files_of(const FileIdentity& identity, const std::string& name) {
    const fs::path certificate = temp_.path() / (name + ".crt");
    EXPECT_TRUE(write_file_atomic(certificate, as_bytes(identity.certificate.pem()), 0644));
    return {certificate, identity.key_file};
  }

  // GET (or what `options` make it) of `target`, a path on the download listener or a whole URL,
  // as `client` (none: no client certificate), trusting the CA of the broker's certificate.
  HttpAnswer fetch(const std::optional<ClientFiles>& client, const std::string& target,
                   const std::vector<std::string>& options = {}) {
    const fs::path body = temp_.path() / "body.bin", headers = temp_.path() / "headers.txt",
                   root = temp_.path() / "root.crt";
    std::error_code ec;
    fs::remove(body, ec);
    fs::remove(headers, ec);
    EXPECT_TRUE(write_file_atomic(root, as_bytes(broker_root().pem()), 0644));
    std::vector<std::string> argv = {
        "curl",        "-sS", "--max-time",     "60", "--cacert",    root.string(), "-o",
        body.string(), "-D",  headers.string(), "-w", "%{http_code}"};
    if (client) {
      argv.insert(argv.end(),
                  {"--cert", client->certificate.string(), "--key", client->key.string()});
    }
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(target.starts_with("https://")
                       ? target
                       : "https://127.0.0.1:" + std::to_string(ports_.download) + target);
    const ProcessResult run = run_process(argv);
    HttpAnswer answer;
    answer.exit_code = run.exit_code;
    answer.error = run.err;
    answer.status = std::atoi(run.out.c_str());
    if (auto bytes = read_file(body, 64 << 20)) answer.body = std::move(*bytes);
    if (auto text = read_file(headers, 1 << 20)) {
      std::string all(as_chars(*text));
      std::size_t at = 0;
      while (at < all.size()) {
        std::size_t end = all.find("\r\n", at);
        if (end == std::string::npos) end = all.size();
        const std::string line = all.substr(at, end - at);
        at = end + 2;
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        answer.headers[name] = value;
      }
    }
    return answer;
  }

  static std::string thing_path(const std::string& thing, const std::string& stream) {
    return "/ota/things/" + thing + "/streams/" + stream;
  }
  static Bytes slice(const Bytes& bytes, std::size_t first, std::size_t last) {
    return Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(first),
                 bytes.begin() + static_cast<std::ptrdiff_t>(last + 1));
  }
  // Expects a refusal with a JSON error of `code` whose message contains `part`.
  static void expect_refused(const HttpAnswer& answer, int status, const std::string& code,
                             const std::string& part) {
    EXPECT_EQ(answer.status, status) << answer.error;
    const json error = answer.error_body();
    EXPECT_EQ(error.value("/error/code"_json_pointer, ""), code) << error.dump();
    EXPECT_TRUE(contains(error.value("/error/message"_json_pointer, ""), part)) << error.dump();
    EXPECT_EQ(answer.header("content-type"), "application/json");
  }
};

TEST_F(DownloadE2E, ADeviceWithAnOtaJobDownloadsTheImageWholeAndInRanges) {
  auto lamp = provision("lamp-1");
  ASSERT_TRUE(lamp);
  const Firmware firmware = upload(200'000);
  ASSERT_FALSE(firmware.id.empty());
  const json document = http_ota_document(firmware);
  ASSERT_NO_FATAL_FAILURE(create_ota_job("ota-1", document, {"lamp-1"}));
  const ClientFiles client = files_of(*lamp, "lamp-1");
  const std::size_t size = firmware.bytes.size();
  const std::string etag = "\"" + firmware.id + "\"";

  // The whole image, at the URL the job document names and at the thing's own path.
  const std::string url = document["afr_ota"]["files"][0]["update_data_url"];
  EXPECT_EQ(url, "https://127.0.0.1:" + std::to_string(ports_.download) + "/ota/streams/" +
                     firmware.stream);
  EXPECT_EQ(document["afr_ota"]["files"][0]["auth_scheme"], "ironroot.mtls");
  for (const std::string& target : {url, thing_path("lamp-1", firmware.stream)}) {
    const HttpAnswer whole = fetch(client, target);
    ASSERT_EQ(whole.status, 200) << target << ": " << whole.error << daemon_->log();
    EXPECT_TRUE(whole.body == firmware.bytes) << target;
    EXPECT_EQ(whole.header("content-length"), std::to_string(size));
    EXPECT_EQ(whole.header("content-type"), "application/octet-stream");
    EXPECT_EQ(whole.header("etag"), etag);
    EXPECT_EQ(whole.header("accept-ranges"), "bytes");
    EXPECT_EQ(whole.header("content-range"), "");
  }
  EXPECT_TRUE(contains(daemon_->log(), "firmware download client: certificate " +
                                           to_hex(lamp->certificate.fingerprint()) +
                                           " (thing lamp-1)"))
      << daemon_->log();

  // Single ranges: a-b, a-, -n, and a last byte past the end.
  const std::string path = thing_path("lamp-1", firmware.stream);
  struct Case {
    std::string range;
    std::size_t first, last;
  };
  for (const Case& c : std::vector<Case>{{"1000-1999", 1000, 1999},
                                         {std::to_string(size - 100) + "-", size - 100, size - 1},
                                         {"-500", size - 500, size - 1},
                                         {"0-0", 0, 0},
                                         {"150000-99999999", 150000, size - 1},
                                         {"-99999999", 0, size - 1}}) {
    const HttpAnswer part = fetch(client, path, {"-H", "Range: bytes=" + c.range});
    ASSERT_EQ(part.status, 206) << c.range << ": " << part.error;
    EXPECT_EQ(part.header("content-range"), "bytes " + std::to_string(c.first) + "-" +
                                                std::to_string(c.last) + "/" + std::to_string(size))
        << c.range;
    EXPECT_EQ(part.header("content-length"), std::to_string(c.last - c.first + 1)) << c.range;
    EXPECT_EQ(part.header("etag"), etag);
    EXPECT_TRUE(part.body == slice(firmware.bytes, c.first, c.last)) << c.range;
  }

  // Unsatisfiable: starts at the end; a suffix of 0 bytes.
  for (const std::string& range : {std::to_string(size) + "-", std::string("-0")}) {
    const HttpAnswer none = fetch(client, path, {"-H", "Range: bytes=" + range});
    expect_refused(none, 416, "range_not_satisfiable", std::to_string(size) + " bytes");
    EXPECT_EQ(none.header("content-range"), "bytes */" + std::to_string(size)) << range;
  }

  // Several ranges, and an If-Range that is not the ETag: the whole image. The ETag: the range.
  for (const std::vector<std::string>& options :
       {std::vector<std::string>{"-H", "Range: bytes=0-9,20-29"},
        std::vector<std::string>{"-H", "Range: bytes=0-9", "-H", "If-Range: \"other\""},
        std::vector<std::string>{"-H", "Range: bytes=0-9", "-H",
                                 "If-Range: Wed, 21 Oct 2015 07:28:00 GMT"}}) {
    const HttpAnswer whole = fetch(client, path, options);
    EXPECT_EQ(whole.status, 200) << options[1];
    EXPECT_TRUE(whole.body == firmware.bytes) << options[1];
  }
  const HttpAnswer same =
      fetch(client, path, {"-H", "Range: bytes=0-9", "-H", "If-Range: " + etag});
  EXPECT_EQ(same.status, 206);
  EXPECT_TRUE(same.body == slice(firmware.bytes, 0, 9));

  // HEAD: the headers alone (curl --head writes them to its output too; no image bytes follow).
  const HttpAnswer head = fetch(client, path, {"--head"});
  EXPECT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.header("content-length"), std::to_string(size));
  EXPECT_EQ(head.header("etag"), etag);
  EXPECT_EQ(head.header("accept-ranges"), "bytes");
  const std::string_view text = as_chars(head.body);
  EXPECT_TRUE(text.starts_with("HTTP/1.1 200")) << text;
  EXPECT_TRUE(text.ends_with("\r\n\r\n")) << text;
  EXPECT_LT(text.size(), 1024u);
}

TEST_F(DownloadE2E, OnlyDevicesWithAPendingOtaExecutionGetPastTheChecks) {
  auto lamp1 = provision("lamp-1");
  auto lamp2 = provision("lamp-2");
  ASSERT_TRUE(lamp1 && lamp2);
  const Firmware firmware = upload(5'000);
  const Firmware other = upload(6'000, "2.0.0");
  ASSERT_NO_FATAL_FAILURE(create_ota_job("ota-1", http_ota_document(firmware, true), {"lamp-1"}));
  const ClientFiles client1 = files_of(*lamp1, "lamp-1"), client2 = files_of(*lamp2, "lamp-2");
  const std::string path = thing_path("lamp-1", firmware.stream);
  ASSERT_EQ(fetch(client1, path).status, 200) << daemon_->log();

  // No client certificate, or one that does not chain to the devices' CAs (self-signed, with
  // the thing's name): the handshake fails, there is no HTTP answer.
  const HttpAnswer anonymous = fetch(std::nullopt, path);
  EXPECT_EQ(anonymous.status, 0);
  EXPECT_NE(anonymous.exit_code, 0);
  const ClientFiles stranger{temp_.path() / "stranger.crt", temp_.path() / "stranger.key"};
  const ProcessResult made =
      run_process({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=lamp-1", "-days", "2",
                   "-keyout", stranger.key.string(), "-out", stranger.certificate.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const HttpAnswer untrusted = fetch(stranger, path);
  EXPECT_EQ(untrusted.status, 0);
  EXPECT_NE(untrusted.exit_code, 0);

  // Another thing's device: on lamp-1's path, on its own, at the thing-less URL.
  expect_refused(fetch(client2, path), 403, "forbidden", "not attached to thing lamp-1");
  expect_refused(fetch(client2, thing_path("lamp-2", firmware.stream)), 403, "forbidden",
                 "thing lamp-2 has a pending OTA job execution");
  expect_refused(fetch(client2, "/ota/streams/" + firmware.stream), 403, "forbidden",
                 "no thing of certificate");
  // lamp-1 and streams no pending job of it names, existing or not: 403 alike.
  const std::string nowhere = "fw-" + std::string(40, '0');
  const HttpAnswer unknown = fetch(client1, thing_path("lamp-1", nowhere));
  const HttpAnswer unnamed = fetch(client1, thing_path("lamp-1", other.stream));
  expect_refused(unknown, 403, "forbidden", "pending OTA job execution for stream " + nowhere);
  expect_refused(unnamed, 403, "forbidden", "pending OTA job execution for stream " + other.stream);

  // The certificate INACTIVE: refused; ACTIVE again: served.
  const std::string certificate_id = to_hex(lamp1->certificate.fingerprint());
  call("PUT", "/v1/certificates/" + certificate_id + "/status", {{"status", "INACTIVE"}});
  expect_refused(fetch(client1, path), 403, "forbidden", "INACTIVE, not ACTIVE");
  call("PUT", "/v1/certificates/" + certificate_id + "/status", {{"status", "ACTIVE"}});
  EXPECT_EQ(fetch(client1, path, {"-H", "Range: bytes=0-9"}).status, 206);

  // The image deleted, the job still naming it: 404 for lamp-1 (authorized), 403 for lamp-2.
  call("DELETE", "/v1/firmware/" + firmware.id, nullptr, 204);
  expect_refused(fetch(client1, path), 404, "not_found", "no firmware image");
  expect_refused(fetch(client2, path), 403, "forbidden", "not attached to thing lamp-1");
  // The execution over (canceled): the stream is closed to the thing.
  call("PUT", "/v1/jobs/ota-1/things/lamp-1/cancel", json::object());
  expect_refused(fetch(client1, path), 403, "forbidden",
                 "thing lamp-1 has a pending OTA job execution");
}

TEST_F(DownloadE2E, RequestsOverAClientsLimitAreRefusedAndItsBytesPaced) {
  // ironrootd again, with small limits: 2 requests, then 1 a minute; 4 KiB of bytes, then
  // 200,000 a second.
  daemon_.reset();
  const auto config = temp_.path() / "ironrootd.toml";
  std::ofstream(config) << "[download]\nrequests_per_minute = 1\nrequest_burst = 2\n"
                           "bytes_per_second = 200000\nburst_bytes = 4096\n";
  auto args = ports_.args(data_);
  args.insert(args.end(), {"--config", config.string()});
  daemon_ = std::make_unique<Daemon>(args);
  ASSERT_TRUE(daemon_->wait_for_log("ironrootd is running")) << daemon_->log();

  auto lamp1 = provision("lamp-1");
  auto lamp2 = provision("lamp-2");
  ASSERT_TRUE(lamp1 && lamp2);
  const Firmware firmware = upload(300'000);
  ASSERT_NO_FATAL_FAILURE(
      create_ota_job("ota-1", http_ota_document(firmware), {"lamp-1", "lamp-2"}));
  const ClientFiles client1 = files_of(*lamp1, "lamp-1"), client2 = files_of(*lamp2, "lamp-2");
  const std::string path = "/ota/streams/" + firmware.stream;

  // Bytes over the burst are paced, not refused: the whole image arrives, no sooner than the
  // byte rate allows.
  const auto started = std::chrono::steady_clock::now();
  const HttpAnswer whole = fetch(client1, path);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(whole.status, 200) << whole.error;
  EXPECT_TRUE(whole.body == firmware.bytes);
  const double least = static_cast<double>(firmware.bytes.size() - 4096) / 200000.0;
  EXPECT_GE(std::chrono::duration<double>(took).count(), least);

  // Requests: the second passes, the third is refused.
  EXPECT_EQ(fetch(client1, path, {"-H", "Range: bytes=0-99"}).status, 206);
  const HttpAnswer over = fetch(client1, path, {"-H", "Range: bytes=0-99"});
  expect_refused(over, 429, "too_many_requests", "request limit");
  EXPECT_EQ(over.header("retry-after"), "60");
  EXPECT_TRUE(contains(daemon_->log(), "over its limits (download.requests_per_minute 1"))
      << daemon_->log();
  // The limits are the client's: another device is served.
  const HttpAnswer other = fetch(client2, path, {"-H", "Range: bytes=100-199"});
  EXPECT_EQ(other.status, 206);
  EXPECT_TRUE(other.body == slice(firmware.bytes, 100, 199));
}

}  // namespace
}  // namespace ironroot::testing

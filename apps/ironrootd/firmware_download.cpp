#include "firmware_download.hpp"

#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "byte_range.hpp"
#include "ironroot/core/bytes.hpp"
#include "ironroot/crypto/x509.hpp"

namespace ironroot::service {

namespace {

// The most one write of a download sends, and so the most it holds in memory.
constexpr std::size_t kMaxChunk = 64 * 1024;
// How long a paced chunk waits at most before it checks that the client is still there.
constexpr std::chrono::seconds kMaxPaceWait{1};
// A request carries no body.
constexpr std::size_t kMaxRequestBody = 1024;
// The certificate ids remembered for the "new client" log line; forgotten all at once when full.
constexpr std::size_t kMaxKnownClients = StreamThrottle::kMaxClients;

std::string short_id(const std::string& certificate_id) {
  return certificate_id.substr(0, 12) + "...";
}

void send_error(httplib::Response& response, int status, std::string_view code,
                const std::string& message) {
  response.status = status;
  const nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  response.set_content(body.dump(), "application/json");
}

// The client certificate of the TLS connection; nullopt without one (the handshake requires one,
// so only a misconfigured server sees that).
std::optional<crypto::Certificate> peer_certificate(const httplib::Request& request) {
  if (request.ssl == nullptr) return std::nullopt;
  X509* peer = SSL_get1_peer_certificate(request.ssl);
  if (peer == nullptr) return std::nullopt;
  auto certificate = crypto::Certificate::adopt(peer);
  if (!certificate) return std::nullopt;
  return std::move(*certificate);
}

}  // namespace

FirmwareDownload::FirmwareDownload(Options options, fleet::FirmwareStore firmware,
                                   fleet::JobStore jobs, fleet::Registry registry)
    : options_(std::move(options)),
      chunk_size_(static_cast<std::size_t>(
          std::min<std::uint64_t>(kMaxChunk, options_.config.burst_bytes))),
      jobs_(std::move(jobs)),
      registry_(std::move(registry)),
      images_(std::move(firmware), options_.config.open_images),
      throttle_(options_.config) {}

Result<std::unique_ptr<FirmwareDownload>> FirmwareDownload::start(Options options,
                                                                  fleet::FirmwareStore firmware,
                                                                  fleet::JobStore jobs,
                                                                  fleet::Registry registry) {
  std::unique_ptr<FirmwareDownload> download(new FirmwareDownload(
      std::move(options), std::move(firmware), std::move(jobs), std::move(registry)));
  FirmwareDownload& d = *download;
  const Options& o = d.options_;
  // httplib's SSLServer: the certificate chain and key, the client CAs (the file, and the folder
  // looked up at each handshake), and SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT.
  d.server_ =
      std::make_unique<httplib::SSLServer>(o.server_certificate.c_str(), o.server_key.c_str(),
                                           o.client_ca_file.c_str(), o.client_ca_dir.c_str());
  if (!d.server_->is_valid()) {
    return fail("the firmware download listener cannot use the TLS files " +
                o.server_certificate.string() + ", " + o.server_key.string() + " and " +
                o.client_ca_file.string() + " (readable PEM, a key that matches the certificate?)");
  }
  // As the broker's listeners (tls_version tlsv1.2).
  SSL_CTX_set_min_proto_version(d.server_->ssl_context(), TLS1_2_VERSION);
  const std::size_t workers = o.config.workers;
  d.server_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  d.server_->set_payload_max_length(kMaxRequestBody);
  auto on_thing = [&d](const httplib::Request& request, httplib::Response& response) {
    d.handle(request, response, request.matches[1].str(), request.matches[2].str());
  };
  auto on_any = [&d](const httplib::Request& request, httplib::Response& response) {
    d.handle(request, response, std::nullopt, request.matches[1].str());
  };
  // GET routes answer HEAD too (httplib sends the headers alone).
  d.server_->Get(R"(/ota/things/([^/]+)/streams/([^/]+))", on_thing);
  d.server_->Get(std::string(fleet::kFirmwareDownloadPath) + "([^/]+)", on_any);
  if (!d.server_->bind_to_port(o.bind.c_str(), o.config.port)) {
    return fail("the firmware download listener cannot listen on " + o.bind + ":" +
                std::to_string(o.config.port) +
                " (in use? set download.port or --download-port, or download.enabled = false)");
  }
  d.thread_ = std::thread([&d] { d.server_->listen_after_bind(); });
  spdlog::info("firmware downloads on https://{}:{} (job documents: {}{}<stream>)", o.bind,
               o.config.port, o.base_url, fleet::kFirmwareDownloadPath);
  return download;
}

FirmwareDownload::~FirmwareDownload() {
  stop();
}

void FirmwareDownload::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stopping_cv_.notify_all();
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::optional<FirmwareDownload::Refusal> FirmwareDownload::authorize(
    const std::string& certificate_id, const std::optional<std::string>& thing,
    const std::string& stream, std::string& reader) {
  auto internal = [](const std::string& what, const fleet::RegistryError& error) {
    spdlog::error("firmware download: {}: {}", what, error.message);
    return Refusal{500, "internal", "the fleet service cannot read its " + what};
  };
  auto certificate = registry_.describe_certificate(certificate_id);
  if (!certificate) {
    if (certificate.error().code != fleet::RegistryErrorCode::not_found) {
      return internal("registry", certificate.error());
    }
    return Refusal{403, "forbidden",
                   "certificate " + short_id(certificate_id) + " is not registered"};
  }
  if (certificate->status != fleet::CertificateStatus::active) {
    return Refusal{403, "forbidden",
                   "certificate " + short_id(certificate_id) + " is " +
                       std::string(fleet::certificate_status_name(certificate->status)) +
                       ", not ACTIVE"};
  }
  auto things = registry_.things_of(certificate_id);
  if (!things) return internal("registry", things.error());
  std::vector<std::string> readers;
  if (thing) {
    if (std::find(things->begin(), things->end(), *thing) == things->end()) {
      return Refusal{
          403, "forbidden",
          "certificate " + short_id(certificate_id) + " is not attached to thing " + *thing};
    }
    readers = {*thing};
  } else {
    readers = std::move(*things);
  }
  for (const std::string& candidate : readers) {
    auto pending = jobs_.has_pending_ota_execution(candidate, stream);
    if (!pending) return internal("jobs", pending.error());
    if (*pending) {
      reader = candidate;
      return std::nullopt;
    }
  }
  return Refusal{
      403, "forbidden",
      (thing ? "thing " + *thing : "no thing of certificate " + short_id(certificate_id)) +
          " has a pending OTA job execution for stream " + stream};
}

Result<FirmwareDownload::Authorized, FirmwareDownload::Refusal> FirmwareDownload::admit(
    const std::string& certificate_id, const std::optional<std::string>& thing,
    const std::string& stream, const std::string& peer) {
  std::lock_guard lock(mutex_);
  Authorized out;
  if (auto refusal = authorize(certificate_id, thing, stream, out.thing)) {
    return tl::unexpected(std::move(*refusal));
  }
  auto content = images_.open(stream);
  if (!content) {
    if (content.error().code == fleet::RegistryErrorCode::not_found) {
      return tl::unexpected(Refusal{404, "not_found", "no firmware image for stream " + stream});
    }
    spdlog::error("firmware download of stream {}: {}", stream, content.error().message);
    return tl::unexpected(
        Refusal{500, "internal", "the fleet service cannot read the stream's firmware image"});
  }
  out.content = std::move(*content);
  if (known_clients_.size() >= kMaxKnownClients) known_clients_.clear();
  if (known_clients_.insert(certificate_id).second) {
    spdlog::info("firmware download client: certificate {} (thing {}) from {}", certificate_id,
                 out.thing, peer);
  }
  return out;
}

void FirmwareDownload::handle(const httplib::Request& request, httplib::Response& response,
                              const std::optional<std::string>& thing, const std::string& stream) {
  // httplib 0.11 applies the parsed Range header to every content provider again, unchecked
  // (a range past the end gives a wrong Content-Length): ranges are answered here alone.
  const_cast<httplib::Request&>(request).ranges.clear();
  auto certificate = peer_certificate(request);
  if (!certificate) {
    return send_error(response, 403, "forbidden", "a client certificate is required");
  }
  const std::string certificate_id = to_hex(certificate->fingerprint());
  {
    std::lock_guard lock(throttle_mutex_);
    auto admitted = throttle_.request(certificate_id);
    if (!admitted.allowed) {
      if (admitted.dropped == 1) {
        spdlog::warn(
            "firmware download request from certificate {} refused: over its limits "
            "(download.requests_per_minute {}, request_burst {}); further refusals are counted",
            short_id(certificate_id), options_.config.requests_per_minute,
            options_.config.request_burst);
      }
      const auto retry =
          (60 + options_.config.requests_per_minute - 1) / options_.config.requests_per_minute;
      response.set_header("Retry-After", std::to_string(retry));
      return send_error(response, 429, "too_many_requests",
                        "over this client's request limit; retry later");
    }
    if (admitted.dropped > 0) {
      spdlog::warn("firmware download: {} requests of certificate {} were refused over its limits",
                   admitted.dropped, short_id(certificate_id));
    }
  }
  auto admitted = admit(certificate_id, thing, stream, request.remote_addr);
  if (!admitted) {
    spdlog::info("firmware download of stream {} by certificate {}{}: {} {}", stream,
                 short_id(certificate_id), thing ? " for thing " + *thing : "",
                 admitted.error().status, admitted.error().message);
    return send_error(response, admitted.error().status, admitted.error().code,
                      admitted.error().message);
  }
  std::shared_ptr<const fleet::FirmwareContent> content = std::move(admitted->content);
  const std::uint64_t size = content->size();
  const std::string etag = "\"" + content->image().id + "\"";

  std::optional<std::string> range;
  if (request.has_header("Range")) range = request.get_header_value("Range");
  // If-Range (RFC 9110 13.1.5): the range only while the client holds this representation; a
  // date never matches (no Last-Modified is sent), nor does a weak or another tag.
  if (range && request.has_header("If-Range") && request.get_header_value("If-Range") != etag) {
    range.reset();
  }
  const RangeAnswer answer = answer_range(range, size);
  response.set_header("ETag", etag);
  response.set_header("Accept-Ranges", "bytes");
  if (answer.kind == RangeAnswer::Kind::unsatisfiable) {
    response.set_header("Content-Range", answer.content_range(size));
    spdlog::debug("firmware download of stream {} by {} (thing {}): range {} not satisfiable",
                  stream, short_id(certificate_id), admitted->thing, *range);
    return send_error(response, 416, "range_not_satisfiable",
                      "the image is " + std::to_string(size) + " bytes; the range '" + *range +
                          "' starts past its end");
  }
  if (answer.kind == RangeAnswer::Kind::partial) {
    response.status = 206;
    response.set_header("Content-Range", answer.content_range(size));
  } else {
    response.status = 200;
  }
  spdlog::debug("firmware download: {} of stream {} by {} (thing {}): bytes {}-{} of {} ({})",
                request.method, stream, short_id(certificate_id), admitted->thing,
                answer.range.first, answer.range.last, size, response.status);
  const std::uint64_t first = answer.range.first;
  response.set_content_provider(
      static_cast<std::size_t>(answer.range.length()), "application/octet-stream",
      [this, content, first, certificate_id](std::size_t offset, std::size_t length,
                                             httplib::DataSink& sink) {
        return send_chunk(*content, first + offset, length, certificate_id, sink);
      });
}

bool FirmwareDownload::send_chunk(const fleet::FirmwareContent& content, std::uint64_t at,
                                  std::size_t length, const std::string& client,
                                  httplib::DataSink& sink) {
  const std::size_t chunk = std::min(length, chunk_size_);
  for (;;) {
    std::chrono::nanoseconds wait;
    {
      std::lock_guard lock(throttle_mutex_);
      wait = throttle_.pace(client, chunk);
    }
    if (wait == std::chrono::nanoseconds::zero()) break;
    std::unique_lock lock(stop_mutex_);
    if (stopping_cv_.wait_for(lock, std::min<std::chrono::nanoseconds>(wait, kMaxPaceWait),
                              [this] { return stopping_; })) {
      return false;
    }
    lock.unlock();
    if (!sink.is_writable()) return false;
  }
  auto bytes = content.read_range(at, chunk);
  if (!bytes) {
    spdlog::error("firmware download of {}: {}", content.image().id, bytes.error().message);
    return false;
  }
  return sink.write(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

}  // namespace ironroot::service

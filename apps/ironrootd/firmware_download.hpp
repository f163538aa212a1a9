// HTTPS downloads of firmware images for OTA jobs (docs/ota-download.md): the second data plane
// beside the MQTT file streams (streams_api.hpp), for devices that fetch an OTA job's file over
// HTTP, as AWS's OTA agent does when the job document lists "HTTP" (files[0].update_data_url).
//
// The listener is TLS with the broker's server certificate and requires a client certificate
// that chains to the devices' trusted CAs (the broker's ca-chain.crt and trusted-cas/, the latter
// read at each handshake): any other client fails the handshake. It serves
//
//   GET|HEAD /ota/streams/<S>              for any thing the client certificate is attached to
//   GET|HEAD /ota/things/<T>/streams/<S>   for thing T
//
// where S is a firmware stream id (fleet::firmware_stream_id). A request is answered only when
// the client certificate (its SHA-256, the registry's certificate id) is registered and ACTIVE,
// is attached to T (to some thing, for the first form), and that thing has a pending OTA execution
// for S (fleet::JobStore::has_pending_ota_execution); otherwise 403, whether or not S exists.
// Then an unknown stream (or a deleted image) is 404. The image is served as
// application/octet-stream with ETag "<image id>" and Accept-Ranges: bytes; one byte range per
// request (byte_range.hpp: 206 with Content-Range, or 416 with Content-Range: bytes */size; no
// Range, several ranges, or an If-Range other than the ETag: 200 with the whole image), streamed
// in chunks of at most 64 KiB read from the open image, never buffered whole.
//
// Per client certificate (StreamThrottle, download.* limits): a request over the request limit is
// answered 429 with Retry-After; bytes over the byte limit are paced (the chunks wait), not
// refused. Errors are JSON: {"error": {"code": "...", "message": "..."}}.
//
// Requests are served on a pool of download.workers threads. The registry, jobs and firmware
// connections are used under one mutex (a few indexed queries per request); the bytes are sent
// outside it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "firmware_content_cache.hpp"
#include "ironroot/core/result.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/fleet/jobs.hpp"
#include "ironroot/fleet/registry.hpp"
#include "service_config.hpp"
#include "stream_throttle.hpp"

namespace httplib {
class SSLServer;
struct Request;
struct Response;
class DataSink;
}  // namespace httplib

namespace ironroot::service {

class FirmwareDownload {
 public:
  struct Options {
    DownloadConfig config;
    std::string bind;                          // an IP address
    std::string base_url;                      // what job documents name, for the log
    std::filesystem::path server_certificate;  // PEM: the certificate, then its chain
    std::filesystem::path server_key;          // PEM, unencrypted
    std::filesystem::path client_ca_file;      // PEM: CA certificates client certificates chain to
    std::filesystem::path client_ca_dir;       // and a hashed folder of more (`openssl rehash`)
  };

  // Loads the TLS files, binds download.bind:port and serves on threads of its own. `firmware`,
  // `jobs` and `registry` are its own connections. Fails, saying which, when a TLS file cannot be
  // used or the port cannot be bound; nothing is left running then.
  static Result<std::unique_ptr<FirmwareDownload>> start(Options options,
                                                         fleet::FirmwareStore firmware,
                                                         fleet::JobStore jobs,
                                                         fleet::Registry registry);

  // Stops listening, ends the downloads in progress and joins the threads. Idempotent.
  void stop();
  ~FirmwareDownload();

  FirmwareDownload(const FirmwareDownload&) = delete;
  FirmwareDownload& operator=(const FirmwareDownload&) = delete;

 private:
  struct Refusal {
    int status = 403;
    std::string code;
    std::string message;
  };
  struct Authorized {
    std::string thing;
    std::shared_ptr<const fleet::FirmwareContent> content;
  };

  FirmwareDownload(Options options, fleet::FirmwareStore firmware, fleet::JobStore jobs,
                   fleet::Registry registry);

  void handle(const httplib::Request& request, httplib::Response& response,
              const std::optional<std::string>& thing, const std::string& stream);
  // Under mutex_: the request limit, who may read the stream, and its open image.
  Result<Authorized, Refusal> admit(const std::string& certificate_id,
                                    const std::optional<std::string>& thing,
                                    const std::string& stream, const std::string& peer);
  std::optional<Refusal> authorize(const std::string& certificate_id,
                                   const std::optional<std::string>& thing,
                                   const std::string& stream, std::string& reader);
  // Sends the next chunk of [at, at + length) of `content` once `client`'s byte budget allows.
  // False ends the response (stopping, the client gone, or the image unreadable).
  bool send_chunk(const fleet::FirmwareContent& content, std::uint64_t at, std::size_t length,
                  const std::string& client, httplib::DataSink& sink);

  Options options_;
  std::size_t chunk_size_;
  std::mutex mutex_;  // guards the connections, the cache, the known clients
  fleet::JobStore jobs_;
  fleet::Registry registry_;
  FirmwareContentCache images_;
  std::set<std::string> known_clients_;  // certificate ids served, for the log; bounded
  std::mutex throttle_mutex_;
  StreamThrottle throttle_;
  std::mutex stop_mutex_;
  std::condition_variable stopping_cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
};

}  // namespace ironroot::service

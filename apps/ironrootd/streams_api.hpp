// AWS IoT's MQTT-based file delivery in the fleet service (docs/ota-streams.md): the firmware
// images of the repository (fleet::FirmwareStore) served as MQTT file streams, one stream per
// image (fleet::firmware_stream_id, one file of id 0, stream version 1), to the devices that have
// an OTA job pending for them. The broker plugin hands each GetStream and DescribeStream request
// over as
// `$ironroot/from/<clientId>/<certificateId>/<prefix>/things/<T>/streams/<S>/get|describe/F` (F:
// cbor or json); the replies go back through `$ironroot/to/<clientId>/...` on
// .../data/F (one message per block, QoS 0, as AWS's OTA agent subscribes), .../description/F and
// .../rejected/F (QoS 1), with the codes of the developer guide.
//
// Who may read stream S of thing T: a certificate attached to T (else Unauthorized), while T has
// a pending OTA execution for S (fleet::JobStore::has_pending_ota_execution; else Unauthorized).
// An unknown stream or file id is ResourceNotFound. Requests over a client's limits
// (StreamThrottle) are dropped and logged, without a reply.
//
// Requests are handled one at a time on a worker thread of their own. The images served stay
// open in a FirmwareContentCache (StreamsConfig::open_streams images, least recently used closed
// first), so an image is hashed once when it is opened, not per request; each request still looks
// its stream up in the repository (one indexed query), so a deleted image stops being served at
// once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device_api.hpp"
#include "firmware_content_cache.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/fleet/jobs.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/mqtt/client.hpp"
#include "ironroot/protocol/streams.hpp"
#include "message_worker.hpp"
#include "service_config.hpp"
#include "stream_throttle.hpp"

namespace ironroot::service {

// The version of every firmware stream (DescribeStream's s; a GetStream with another s is
// VersionMismatch): a stream's content never changes, since its id is its image's hash.
inline constexpr std::int64_t kFirmwareStreamVersion = 1;

class StreamsApi {
 public:
  // `firmware`, `jobs` and `registry` are this API's own connections; `fleet` must outlive it.
  StreamsApi(fleet::FirmwareStore firmware, fleet::JobStore jobs, fleet::Registry registry,
             mqtt::Client& fleet, protocol::TopicPrefix prefix, const StreamsConfig& config);
  // Destruction finishes the request in hand and drops the rest.
  StreamsApi(const StreamsApi&) = delete;
  StreamsApi& operator=(const StreamsApi&) = delete;

  // The filters the fleet connection subscribes to: the get and describe requests.
  std::vector<std::string> subscriptions() const;
  // True for a device's request on a streams topic (<prefix>/things/<T>/streams/...).
  bool handles(std::string_view topic) const;
  void enqueue(const mqtt::Message& message) { worker_.enqueue(message); }

 private:
  // A refusal to send on .../rejected/F.
  struct Refusal {
    std::string_view code;  // protocol::stream_errors
    std::string message;
  };

  void handle(const mqtt::Message& message);
  bool speaks_for(const DeviceRequest& request, const std::string& thing);
  // The open content of the stream, from the cache or opened now. Refusal: ResourceNotFound for
  // no such stream, InternalError when the repository cannot be read.
  tl::expected<std::shared_ptr<const fleet::FirmwareContent>, Refusal> content_of(
      const std::string& stream_id);
  // Whether the thing may read the stream; the refusal otherwise.
  std::optional<Refusal> authorize(const DeviceRequest& request,
                                   const protocol::StreamTopic& topic);
  // Sends the planned blocks, one message each; stops at a failure (logged): the device asks
  // again for the blocks it lacks.
  void send_blocks(const DeviceRequest& to, const protocol::StreamTopic& topic,
                   const fleet::FirmwareContent& content, const protocol::BlockPlan& plan);
  void reply(const DeviceRequest& to, const std::string& topic, const Bytes& payload, int qos);
  void log_drop(const DeviceRequest& request, std::string_view what,
                const StreamThrottle::Admission& admission);

  FirmwareContentCache firmware_;
  fleet::JobStore jobs_;
  fleet::Registry registry_;
  mqtt::Client& fleet_;
  protocol::TopicPrefix prefix_;
  StreamsConfig config_;
  StreamThrottle throttle_;
  MessageWorker worker_;  // last: it stops before the rest goes
};

}  // namespace ironroot::service

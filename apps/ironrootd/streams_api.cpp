#include "streams_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ironroot::service {

namespace {

namespace errors = protocol::stream_errors;
using protocol::PayloadFormat;
using protocol::StreamMessage;

static_assert(kMinStreamBurstBytes == protocol::kMaxBytesPerGetStream,
              "streams.burst_bytes must let the largest GetStream answer through");

std::string_view request_name(const protocol::StreamTopic& topic) {
  return topic.message == StreamMessage::get ? "GetStream" : "DescribeStream";
}

std::string_view format_name(PayloadFormat format) {
  return format == PayloadFormat::cbor ? "cbor" : "json";
}

}  // namespace

StreamsApi::StreamsApi(fleet::FirmwareStore firmware, fleet::JobStore jobs,
                       fleet::Registry registry, mqtt::Client& fleet, protocol::TopicPrefix prefix,
                       const StreamsConfig& config)
    : firmware_(std::move(firmware), config.open_streams),
      jobs_(std::move(jobs)),
      registry_(std::move(registry)),
      fleet_(fleet),
      prefix_(std::move(prefix)),
      config_(config),
      throttle_(config),
      worker_("stream requests", [this](const mqtt::Message& m) { handle(m); }) {}

std::vector<std::string> StreamsApi::subscriptions() const {
  std::vector<std::string> filters;
  for (const std::string& filter : protocol::stream_request_filters(prefix_)) {
    filters.push_back(std::string(kFromPrefix) + "+/+/" + filter);
  }
  return filters;
}

bool StreamsApi::handles(std::string_view topic) const {
  auto request = parse_device_request_topic(topic);
  if (!request) return false;
  // <prefix>/things/<thing>/streams/...
  const std::string things = prefix_.str() + "/things/";
  std::string_view rest = request->topic;
  if (!rest.starts_with(things)) return false;
  rest.remove_prefix(things.size());
  const auto slash = rest.find('/');
  return slash != std::string_view::npos && rest.substr(slash + 1).starts_with("streams/");
}

bool StreamsApi::speaks_for(const DeviceRequest& request, const std::string& thing) {
  auto things = registry_.things_of(request.certificate_id);
  return things && std::find(things->begin(), things->end(), thing) != things->end();
}

void StreamsApi::reply(const DeviceRequest& to, const std::string& topic, const Bytes& payload,
                       int qos) {
  const std::string relay = std::string(kToPrefix) + to.client_id + "/" + topic;
  if (auto sent = fleet_.publish_or_wait(relay, payload, kPublishWait, qos); !sent) {
    spdlog::error("cannot reply to {} on {}: {}", to.client_id, topic, sent.error().message);
  }
}

void StreamsApi::log_drop(const DeviceRequest& request, std::string_view what,
                          const StreamThrottle::Admission& admission) {
  if (admission.dropped != 1) return;  // counted; said when the client is served again
  spdlog::warn(
      "{} from {} dropped: the client is over its stream limits (streams.requests_per_minute "
      "{}, request_burst {}, bytes_per_second {}, burst_bytes {}); further drops are counted",
      what, request.client_id, config_.requests_per_minute, config_.request_burst,
      config_.bytes_per_second, config_.burst_bytes);
}

tl::expected<std::shared_ptr<const fleet::FirmwareContent>, StreamsApi::Refusal>
StreamsApi::content_of(const std::string& stream_id) {
  auto content = firmware_.open(stream_id);
  if (content) return std::move(*content);
  if (content.error().code == fleet::RegistryErrorCode::not_found) {
    return tl::unexpected(Refusal{errors::kResourceNotFound, content.error().message});
  }
  spdlog::error("stream {}: {}", stream_id, content.error().message);
  return tl::unexpected(
      Refusal{errors::kInternalError, "the fleet service cannot read the stream's firmware image"});
}

std::optional<StreamsApi::Refusal> StreamsApi::authorize(const DeviceRequest& request,
                                                         const protocol::StreamTopic& topic) {
  // The broker let the device publish here under its policy; the thing must still be its own.
  if (!speaks_for(request, topic.thing_name)) {
    return Refusal{errors::kUnauthorized, "certificate " + request.certificate_id.substr(0, 12) +
                                              "... is not attached to thing " + topic.thing_name};
  }
  auto pending = jobs_.has_pending_ota_execution(topic.thing_name, topic.stream_id);
  if (!pending) {
    spdlog::error("stream {} for {}: {}", topic.stream_id, topic.thing_name,
                  pending.error().message);
    return Refusal{errors::kInternalError, "the fleet service cannot read its jobs"};
  }
  if (!*pending) {
    return Refusal{errors::kUnauthorized, "thing " + topic.thing_name +
                                              " has no pending OTA job execution for stream " +
                                              topic.stream_id};
  }
  return std::nullopt;
}

void StreamsApi::send_blocks(const DeviceRequest& to, const protocol::StreamTopic& topic,
                             const fleet::FirmwareContent& content,
                             const protocol::BlockPlan& plan) {
  const std::string data_topic =
      *protocol::stream_topic(prefix_, protocol::reply_topic(topic, protocol::Reply::accepted));
  const std::string relay = std::string(kToPrefix) + to.client_id + "/" + data_topic;
  for (std::uint32_t block_id : plan.block_ids) {
    auto bytes = content.read_range(plan.offset_of(block_id), plan.size_of(block_id));
    if (!bytes) {
      spdlog::error("stream {} for {}: {}", topic.stream_id, to.client_id, bytes.error().message);
      return;  // the device asks again for what it lacks
    }
    protocol::DataBlockResponse block;
    block.client_token = plan.client_token;
    block.file_id = plan.file_id;
    block.block_id = block_id;
    block.payload = std::move(*bytes);
    const Bytes payload = protocol::encode_stream_message(block, topic.format);
    // QoS 0, as the devices subscribe: a lost block is asked for again.
    if (auto sent = fleet_.publish_or_wait(relay, payload, kPublishWait, 0); !sent) {
      spdlog::error("cannot send block {} of stream {} to {}: {}", block_id, topic.stream_id,
                    to.client_id, sent.error().message);
      return;
    }
  }
}

void StreamsApi::handle(const mqtt::Message& message) {
  auto request = parse_device_request_topic(message.topic);
  if (!request) return;
  // Every request counts, even one that is not understood.
  if (auto admitted = throttle_.request(request->client_id); !admitted.allowed) {
    return log_drop(*request, "a streams request", admitted);
  } else if (admitted.dropped > 0) {
    spdlog::warn("{}: {} stream requests were dropped over its limits", request->client_id,
                 admitted.dropped);
  }
  auto topic = protocol::parse_stream_topic(prefix_, request->topic);
  if (!topic || !topic->is_request()) {
    spdlog::warn("ignoring {} from {}: {}", request->topic, request->client_id,
                 topic ? "not a streams request" : topic.error().message);
    return;
  }
  const std::string_view what = request_name(*topic);

  const std::string rejected_topic =
      *protocol::stream_topic(prefix_, protocol::reply_topic(*topic, protocol::Reply::rejected));
  auto reject = [&](const protocol::StreamErrorResponse& error) {
    reply(*request, rejected_topic, protocol::encode_stream_message(error, topic->format), 1);
    spdlog::info("{} of stream {} for {} (thing {}): rejected, {}: {}", what, topic->stream_id,
                 request->client_id, topic->thing_name, error.code, error.message);
  };
  auto refuse = [&](const Refusal& refusal, const std::optional<std::string>& client_token) {
    reject(protocol::StreamErrorResponse{std::string(refusal.code), refusal.message, client_token});
  };

  if (topic->message == StreamMessage::describe) {
    auto decoded = protocol::decode_stream_request<protocol::DescribeStreamRequest>(message.payload,
                                                                                    topic->format);
    if (!decoded) return reject(protocol::StreamErrorResponse::from(decoded.error()));
    if (auto refusal = authorize(*request, *topic)) return refuse(*refusal, decoded->client_token);
    auto content = content_of(topic->stream_id);
    if (!content) return refuse(content.error(), decoded->client_token);
    const fleet::FirmwareImage& image = (*content)->image();
    protocol::DescribeStreamResponse response;
    response.client_token = decoded->client_token;
    response.stream_version = kFirmwareStreamVersion;
    response.description = "firmware " + image.version.to_string() +
                           (image.name ? " (" + *image.name + ")" : std::string());
    response.files = {protocol::StreamFile{0, static_cast<std::int64_t>(image.size)}};
    const std::string description_topic =
        *protocol::stream_topic(prefix_, protocol::reply_topic(*topic, protocol::Reply::accepted));
    reply(*request, description_topic, protocol::encode_stream_message(response, topic->format), 1);
    spdlog::debug("DescribeStream of stream {} for {} ({})", topic->stream_id, request->client_id,
                  format_name(topic->format));
    return;
  }

  auto decoded =
      protocol::decode_stream_request<protocol::GetStreamRequest>(message.payload, topic->format);
  if (!decoded) return reject(protocol::StreamErrorResponse::from(decoded.error()));
  if (auto refusal = authorize(*request, *topic)) return refuse(*refusal, decoded->client_token);
  auto content = content_of(topic->stream_id);
  if (!content) return refuse(content.error(), decoded->client_token);
  const protocol::StreamFile files[] = {{0, static_cast<std::int64_t>((*content)->size())}};
  auto plan = protocol::plan_get_stream(*decoded, kFirmwareStreamVersion, files);
  if (!plan) return reject(protocol::StreamErrorResponse::from(plan.error()));
  std::uint64_t bytes = 0;
  for (std::uint32_t block_id : plan->block_ids) bytes += plan->size_of(block_id);
  if (auto admitted = throttle_.bytes(request->client_id, bytes); !admitted.allowed) {
    return log_drop(*request, what, admitted);
  }
  send_blocks(*request, *topic, **content, *plan);
  spdlog::debug("GetStream of stream {} for {} ({}): {} blocks of {} bytes, {} bytes in all",
                topic->stream_id, request->client_id, format_name(topic->format),
                plan->block_ids.size(), plan->block_size, bytes);
}

}  // namespace ironroot::service

// An in-process MQTT file stream service for OTA agent tests: a StreamTransport that answers each
// GetStream request at once, from a byte buffer, with the plan the fleet service uses
// (protocol::plan_get_stream), delivering each block to the agent's on_message on the caller's
// thread. It can lose, reorder and repeat blocks, and refuse requests.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ironroot/agent/ota_agent.hpp"
#include "ironroot/protocol/streams.hpp"

namespace ironroot::testing {

class StreamServer final : public agent::StreamTransport {
 public:
  StreamServer(std::string thing, std::string stream, Bytes file, std::int64_t file_id = 0)
      : thing_(std::move(thing)),
        stream_(std::move(stream)),
        file_(std::move(file)),
        file_id_(file_id) {}

  void attach(agent::OtaAgent* agent) { agent_ = agent; }

  // Faults.
  std::map<std::int64_t, int> drop;      // block id -> how many more times to lose it
  std::vector<std::string> refuse_with;  // codes for the next requests, in order
  bool reverse = false;                  // send each plan's blocks last first
  bool repeat = false;                   // send every block twice
  // Called after each block is delivered (a test cuts the power here).
  std::function<void(std::int64_t block_id)> after_block;

  // What happened. With `keep_history` false the requests are not kept (a memory test's baseline
  // must not grow with the number of requests).
  bool keep_history = true;
  struct Subscription {
    std::string filter;
    int qos;
  };
  std::vector<Subscription> subscriptions;
  std::vector<protocol::GetStreamRequest> requests;
  std::vector<nlohmann::json> raw_requests;  // each request as decoded CBOR
  std::vector<int> request_qos;
  std::uint64_t blocks_sent = 0;
  std::uint64_t bytes_sent = 0;       // block payload bytes delivered
  std::uint64_t bytes_requested = 0;  // payload bytes the plans of every request covered

  std::string topic(protocol::StreamMessage message) const {
    return *protocol::stream_topic({}, {thing_, stream_, message, protocol::PayloadFormat::cbor});
  }

  Status subscribe(std::string_view filter, int qos, std::chrono::milliseconds) override {
    subscriptions.push_back({std::string(filter), qos});
    return {};
  }

  Status publish(std::string_view topic_name, ByteView payload, int qos) override {
    if (std::string(topic_name) != topic(protocol::StreamMessage::get)) {
      return fail("unexpected topic " + std::string(topic_name));
    }
    if (keep_history) {
      request_qos.push_back(qos);
      raw_requests.push_back(nlohmann::json::from_cbor(payload.begin(), payload.end()));
    }
    auto request = protocol::decode_stream_request<protocol::GetStreamRequest>(
        payload, protocol::PayloadFormat::cbor);
    if (!request) {
      reject(protocol::StreamErrorResponse::from(request.error()));
      return {};
    }
    if (keep_history) requests.push_back(*request);
    if (!refuse_with.empty()) {
      protocol::StreamErrorResponse error;
      error.code = refuse_with.front();
      error.message = "refused by the test";
      error.client_token = request->client_token;
      refuse_with.erase(refuse_with.begin());
      reject(error);
      return {};
    }
    const protocol::StreamFile files[] = {{file_id_, static_cast<std::int64_t>(file_.size())}};
    auto plan = protocol::plan_get_stream(*request, 0, files);
    if (!plan) {
      reject(protocol::StreamErrorResponse::from(plan.error()));
      return {};
    }
    std::vector<std::uint32_t> ids = plan->block_ids;
    for (auto id : ids) bytes_requested += plan->size_of(id);
    if (reverse) std::reverse(ids.begin(), ids.end());
    for (auto id : ids) {
      auto lost = drop.find(id);
      if (lost != drop.end() && lost->second > 0) {
        --lost->second;
        continue;
      }
      protocol::DataBlockResponse block;
      block.client_token = plan->client_token;
      block.file_id = plan->file_id;
      block.block_id = id;
      const auto offset = static_cast<std::ptrdiff_t>(plan->offset_of(id));
      block.payload.assign(file_.begin() + offset,
                           file_.begin() + offset + static_cast<std::ptrdiff_t>(plan->size_of(id)));
      mqtt::Message message{topic(protocol::StreamMessage::data),
                            protocol::encode_stream_message(block, protocol::PayloadFormat::cbor)};
      for (int copy = 0; copy < (repeat ? 2 : 1); ++copy) {
        ++blocks_sent;
        bytes_sent += block.payload.size();
        if (agent_) agent_->on_message(message);
      }
      if (after_block) after_block(id);
    }
    return {};
  }

 private:
  void reject(const protocol::StreamErrorResponse& error) {
    mqtt::Message message{topic(protocol::StreamMessage::rejected),
                          protocol::encode_stream_message(error, protocol::PayloadFormat::cbor)};
    if (agent_) agent_->on_message(message);
  }

  std::string thing_;
  std::string stream_;
  Bytes file_;
  std::int64_t file_id_;
  agent::OtaAgent* agent_ = nullptr;
};

}  // namespace ironroot::testing

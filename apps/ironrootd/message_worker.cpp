#include "message_worker.hpp"

#include <spdlog/spdlog.h>

namespace ironroot::service {

MessageWorker::MessageWorker(std::string name, std::function<void(const mqtt::Message&)> handle,
                             std::size_t max_queued)
    : name_(std::move(name)), handle_(std::move(handle)), max_queued_(max_queued) {
  thread_ = std::thread([this] { work(); });
}

MessageWorker::~MessageWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queued_.notify_all();
  }
  thread_.join();
}

void MessageWorker::enqueue(const mqtt::Message& message) {
  std::lock_guard lock(mutex_);
  if (queue_.size() >= max_queued_) {
    spdlog::warn("{}: {} waiting; refusing one on {}", name_, queue_.size(), message.topic);
    return;
  }
  queue_.push_back(message);
  queued_.notify_one();
}

void MessageWorker::work() {
  for (;;) {
    mqtt::Message message;
    {
      std::unique_lock lock(mutex_);
      queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      message = std::move(queue_.front());
      queue_.pop_front();
    }
    handle_(message);
  }
}

}  // namespace ironroot::service

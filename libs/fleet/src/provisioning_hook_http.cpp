// Pre-provisioning hooks over HTTP (cpp-httplib's client). The only file in libs/fleet that
// includes httplib.h.
#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "ironroot/fleet/pre_provisioning_hook.hpp"

namespace ironroot::fleet {

Result<std::string> PreProvisioningHook::post_http(const std::string& input,
                                                   std::chrono::milliseconds timeout) const {
  httplib::Client client(host_, port_);
  // Backstops, a little longer than the overall deadline below, which is what bounds the call.
  const auto backstop = timeout + std::chrono::seconds(1);
  client.set_connection_timeout(backstop);
  client.set_read_timeout(backstop);
  client.set_write_timeout(backstop);
  client.set_keep_alive(false);

  httplib::Request request;
  request.method = "POST";
  request.path = path_;
  request.body = input;
  request.set_header("Content-Type", "application/json");
  std::string body;
  bool too_long = false;
  request.content_receiver = [&](const char* data, std::size_t length, std::uint64_t,
                                 std::uint64_t) {
    if (body.size() + length > kMaxHookAnswerSize) {
      too_long = true;
      return false;
    }
    body.append(data, length);
    return true;
  };

  std::mutex mutex;
  std::condition_variable done_changed;
  bool done = false;
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  bool sent = false;
  std::thread worker([&] {
    const bool ok = client.send(request, response, error);
    std::lock_guard lock(mutex);
    sent = ok;
    done = true;
    done_changed.notify_all();
  });
  bool timed_out = false;
  {
    std::unique_lock lock(mutex);
    if (!done_changed.wait_for(lock, timeout, [&] { return done; })) {
      timed_out = true;
      lock.unlock();
      client.stop();  // shuts the socket down; the worker returns promptly
    }
  }
  worker.join();
  const std::string where = "pre-provisioning hook " + spec_;
  if (timed_out) {
    return fail("pre-provisioning hook timed out: " + spec_ + " did not answer within " +
                std::to_string(timeout.count()) + " ms");
  }
  if (too_long) {
    return fail(where + ": the answer is longer than " + std::to_string(kMaxHookAnswerSize) +
                " bytes");
  }
  if (!sent) return fail(where + ": " + httplib::to_string(error));
  if (response.status != 200) {
    return fail(where + " answered HTTP " + std::to_string(response.status));
  }
  return body;
}

}  // namespace ironroot::fleet

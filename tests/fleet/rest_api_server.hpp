// The operator REST API served for real: a registry in a fresh folder, RestApi mounted on an
// httplib::Server bound to a free loopback port, listening on its own thread. Used by the API's
// tests and by the CLI's (tests/cli/cli_fleet_test.cpp).
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ironroot/fleet/registry.hpp"
#include "ironroot/fleet/rest_api.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::fleet::testing {

// The tokens every server here accepts.
inline constexpr const char* kAliceToken = "alice-0123456789abcdef0123456789abcdef";
inline constexpr const char* kBobToken = "bob-fedcba9876543210fedcba9876543210";

class RestApiServer {
 public:
  // `options`, when given, makes the API's options from the server's registry (before the API
  // exists): a provisioning service over it, for example.
  explicit RestApiServer(std::function<RestApiOptions(Registry&)> options = nullptr)
      : RestApiServer(WithDatabase{}, [options](Registry& registry, const std::filesystem::path&) {
          return options ? options(registry) : RestApiOptions{};
        }) {}
  // The same, with the registry's database file too, for services that open a connection of
  // their own to it (a JobStore).
  struct WithDatabase {};
  RestApiServer(WithDatabase,
                std::function<RestApiOptions(Registry&, const std::filesystem::path&)> options) {
    auto registry = Registry::open(database());
    if (!registry) throw std::runtime_error(registry.error().message);
    registry_.emplace(std::move(*registry));
    auto api = RestApi::create(
        *registry_, {operator_token("alice", kAliceToken), operator_token("bob", kBobToken)},
        options(*registry_, database()));
    if (!api) throw std::runtime_error(api.error().message);
    api_ = std::move(*api);
    api_->mount(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a loopback port");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // The socket already listens (connections queue in its backlog); wait for the accept loop
    // so that stop() in the destructor cannot run before it starts.
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~RestApiServer() {
    server_.stop();
    thread_.join();
  }
  RestApiServer(const RestApiServer&) = delete;
  RestApiServer& operator=(const RestApiServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // For setting up and checking state directly; only between requests.
  Registry& registry() { return *registry_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path database() const { return dir_ / "registry.db"; }

 private:
  ironroot::testing::TempDir dir_;
  std::optional<Registry> registry_;
  std::unique_ptr<RestApi> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace ironroot::fleet::testing

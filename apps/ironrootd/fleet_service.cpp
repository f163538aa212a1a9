#include "fleet_service.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "broker_supervisor.hpp"
#include "data_folder.hpp"
#include "device_api.hpp"
#include "firmware_download.hpp"
#include "ironroot/ca/ca_folder.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/fleet/firmware.hpp"
#include "ironroot/fleet/provisioning.hpp"
#include "ironroot/fleet/registry.hpp"
#include "ironroot/fleet/rest_api.hpp"
#include "ironroot/mosquitto/broker_folder.hpp"
#include "ironroot/mqtt/client.hpp"
#include "jobs_api.hpp"
#include "rollout_engine.hpp"
#include "streams_api.hpp"
#include "trusted_cas.hpp"

namespace ironroot::service {

namespace fs = std::filesystem;

namespace {

constexpr const char* kActor = "ironrootd";
constexpr std::chrono::seconds kBrokerStartTimeout{20};
constexpr std::chrono::seconds kFleetConnectTimeout{20};
constexpr std::uintmax_t kMaxPemSize = 1024 * 1024;
// The largest message the fleet connection publishes: a stream's data message for a block of
// 128 KiB, base64 in JSON, with its keys (protocol::kMaxStreamReplySize), and room to spare. The
// embedded Mosquitto sets no message_size_limit, so such messages reach the devices.
constexpr std::size_t kMaxFleetPayload = 256 * 1024;
static_assert(kMaxFleetPayload >= protocol::kMaxStreamReplySize);

// The CA in data/ca, made on first start, and its device CA registered in the registry so that
// the certificates it issues are known to come from it.
Result<ca::CaFolder> open_ca(const DataFolder& data, const CaConfig& config,
                             fleet::Registry& registry) {
  const fs::path dir = data.path(kCaDir);
  std::error_code ec;
  ca::CaInitOptions options;
  options.name = config.name;
  auto folder =
      fs::exists(dir / "ca.json", ec) ? ca::CaFolder::open(dir) : ca::CaFolder::init(dir, options);
  if (!folder) return prefixed(folder.error(), "the CA in " + dir.string());
  const crypto::Certificate& device_ca = folder->device_ca_certificate();
  const std::string id = to_hex(device_ca.fingerprint());
  if (auto known = registry.describe_ca(id); !known) {
    if (known.error().code != fleet::RegistryErrorCode::not_found) {
      return fail(known.error().message);
    }
    fleet::NewCa new_ca;
    new_ca.pem = device_ca.pem();
    auto registered = registry.register_ca(kActor, new_ca);
    if (!registered) return fail("registering the device CA: " + registered.error().message);
    spdlog::info("registered the device CA {} ({})", device_ca.subject(), id);
  }
  return folder;
}

// How both provisioning services (the devices' and the operators') issue certificates.
fleet::ProvisioningOptions provisioning_options(const ServiceConfig& config) {
  fleet::ProvisioningOptions options;
  options.certificate_validity = std::chrono::days(config.ca.device_validity_days);
  return options;
}

// data/broker, written on first start from the configuration and the CA.
Status prepare_broker(const DataFolder& data, const BrokerConfig& config, const ca::CaFolder& ca) {
  const fs::path dir = data.path(kBrokerDir);
  std::error_code ec;
  if (fs::exists(dir / "mosquitto.conf", ec)) {
    if (auto ok = mosquitto::check_broker_folder(dir); !ok) {
      return prefixed(ok.error(), "the broker folder " + dir.string());
    }
    return {};
  }
  mosquitto::BrokerOptions options;
  options.ca_dir = ca.dir();
  options.port = config.port;
  options.fleet_port = config.fleet_port;
  options.bind = config.bind;
  options.server_names = config.server_names;
  options.user = config.user;
  options.topic_prefix = config.topic_prefix;
  // The plugin authorizes every device against the registry, which it reads itself.
  mosquitto::BrokerPlugin plugin;
  plugin.library =
      config.plugin.empty() ? fs::path(IRONROOT_BROKER_PLUGIN) : fs::path(config.plugin);
  plugin.device_options = {{"role", "device"}, {"registry", data.path(kRegistryFile).string()}};
  plugin.fleet_options = {{"role", "fleet"}};
  options.plugin = plugin;
  if (auto ok = mosquitto::init_broker_folder(dir, options); !ok) {
    return prefixed(ok.error(), "writing the broker configuration in " + dir.string());
  }
  spdlog::info("wrote the broker configuration in {}", dir.string());
  return {};
}

// ironrootd's own MQTT connection, on the broker's fleet listener with the fleet identity.
Result<std::unique_ptr<mqtt::Client>> connect_fleet(
    const DataFolder& data, const BrokerConfig& config, const ca::CaFolder& ca,
    std::function<void(const mqtt::Message&)> on_message) {
  const fs::path broker = data.path(kBrokerDir);
  mqtt::TlsSettings tls;
  tls.trusted = {ca.root_certificate()};
  tls.server_name = config.bind == "0.0.0.0" || config.bind == "::" ? "127.0.0.1" : config.bind;
  auto pem = read_file(broker / "fleet.crt", kMaxPemSize);
  if (!pem) return prefixed(pem.error(), "the fleet identity");
  auto certificate = crypto::Certificate::from_pem(*pem);
  if (!certificate) return prefixed(certificate.error(), "the fleet identity");
  tls.client_chain = {*certificate};
  tls.client_key = (broker / "fleet.key").string();
  auto context = mqtt::TlsContext::create(tls);
  if (!context) return prefixed(context.error(), "the fleet connection's TLS");
  mqtt::ClientOptions options;
  options.host = tls.server_name;
  options.port = config.fleet_port;
  options.client_id = "ironrootd";
  options.tls = *context;
  options.max_payload = kMaxFleetPayload;
  options.on_message = std::move(on_message);
  auto client = mqtt::Client::create(std::move(options));
  if (!client) return tl::unexpected(client.error());
  (*client)->start();
  if (auto ok = (*client)->wait_connected(kFleetConnectTimeout); !ok) {
    return prefixed(ok.error(), "connecting to the broker's fleet listener");
  }
  return std::move(*client);
}

// The HTTPS download listener, with the broker's server certificate and its device CAs.
Result<std::unique_ptr<FirmwareDownload>> start_download(const DataFolder& data,
                                                         const ServiceConfig& config,
                                                         fleet::JobStore jobs) {
  auto firmware = fleet::FirmwareStore::open(data.path(kRegistryFile), data.path(kFirmwareDir));
  if (!firmware) return fail("the firmware repository: " + firmware.error().message);
  auto registry = fleet::Registry::open(data.path(kRegistryFile));
  if (!registry) return fail("the registry: " + registry.error().message);
  const fs::path broker = data.path(kBrokerDir);
  FirmwareDownload::Options options;
  options.config = config.download;
  options.bind = download_bind(config);
  options.base_url = download_base_url(config);
  options.server_certificate = broker / mosquitto::kServerCertFile;
  options.server_key = broker / mosquitto::kServerKeyFile;
  options.client_ca_file = broker / mosquitto::kDeviceCaFile;
  options.client_ca_dir = broker / mosquitto::kTrustedCasDir;
  return FirmwareDownload::start(std::move(options), std::move(*firmware), std::move(jobs),
                                 std::move(*registry));
}

}  // namespace

struct FleetService::State {
  ServiceConfig config;
  std::optional<DataFolder> data;
  std::optional<fleet::Registry> registry;         // the REST API's connection
  std::optional<fleet::Registry> device_registry;  // the device API's
  std::optional<crypto::CertificateAuthority> device_ca;
  std::unique_ptr<DeviceApi> device_api;
  std::atomic<DeviceApi*> device_api_ready{nullptr};
  std::unique_ptr<JobNotifier> job_notifier;
  std::unique_ptr<RolloutEngine> rollouts;
  std::unique_ptr<JobsApi> jobs_api;
  std::atomic<JobsApi*> jobs_api_ready{nullptr};
  std::unique_ptr<StreamsApi> streams_api;
  std::atomic<StreamsApi*> streams_api_ready{nullptr};
  std::unique_ptr<FirmwareDownload> download;
  std::optional<ca::CaFolder> ca;
  std::unique_ptr<TrustedCas> trusted_cas;
  std::unique_ptr<BrokerSupervisor> broker;
  std::unique_ptr<mqtt::Client> fleet;
  // The REST API's services: provisioning over the API's registry connection (the API's mutex
  // serializes both) with a device CA signer of its own, and a jobs store connection.
  std::optional<crypto::CertificateAuthority> rest_device_ca;
  std::unique_ptr<fleet::ProvisioningService> rest_provisioning;
  std::optional<fleet::JobStore> rest_jobs;
  std::optional<fleet::FirmwareStore> firmware;
  std::unique_ptr<fleet::RestApi> api;
  std::unique_ptr<httplib::Server> http;
  std::thread http_thread;
  bool stopped = false;
};

FleetService::FleetService(std::unique_ptr<State> state) : state_(std::move(state)) {}

FleetService::~FleetService() {
  stop();
}

Result<std::unique_ptr<FleetService>> FleetService::start(const ServiceConfig& config) {
  auto state = std::make_unique<State>();
  state->config = config;
  // Whatever starts below is stopped again if a later step fails.
  std::unique_ptr<FleetService> service(new FleetService(std::move(state)));
  State& s = *service->state_;

  auto data = DataFolder::open(config.data_dir);
  if (!data) return tl::unexpected(data.error());
  s.data.emplace(std::move(*data));
  spdlog::info("data folder {}", s.data->dir().string());

  auto registry = fleet::Registry::open(s.data->path(kRegistryFile));
  if (!registry) return fail("the registry: " + registry.error().message);
  s.registry.emplace(std::move(*registry));

  auto ca = open_ca(*s.data, config.ca, *s.registry);
  if (!ca) return tl::unexpected(ca.error());
  s.ca.emplace(std::move(*ca));

  auto token = s.data->operator_token();  // the REST API's; the CLI reads the file
  if (!token) return tl::unexpected(token.error());

  if (config.broker.embedded) {
    if (auto ok = prepare_broker(*s.data, config.broker, *s.ca); !ok) {
      return tl::unexpected(ok.error());
    }
    const fs::path broker = s.data->path(kBrokerDir);
    auto trust_registry = fleet::Registry::open(s.data->path(kRegistryFile));
    if (!trust_registry) return fail("the registry: " + trust_registry.error().message);
    s.trusted_cas = std::make_unique<TrustedCas>(std::move(*trust_registry), broker);
    if (auto ok = s.trusted_cas->sync(); !ok) {
      return prefixed(ok.error(), "the broker's trusted CAs");
    }
    BrokerSupervisor::Options options;
    options.mosquitto = config.broker.mosquitto;
    options.config = broker / "mosquitto.conf";
    options.log = broker / "mosquitto.log";
    options.pid_file = broker / "mosquitto.pid";
    options.host = config.broker.bind == "0.0.0.0" ? "127.0.0.1" : config.broker.bind;
    options.port = config.broker.port;
    options.fleet_port = config.broker.fleet_port;
    s.broker = std::make_unique<BrokerSupervisor>(options);
    if (auto ok = s.broker->start(kBrokerStartTimeout); !ok) {
      return prefixed(ok.error(), "the embedded broker");
    }
    auto fleet = connect_fleet(*s.data, config.broker, *s.ca, [&s](const mqtt::Message& m) {
      if (JobsApi* jobs = s.jobs_api_ready.load(); jobs && jobs->handles(m.topic)) {
        return jobs->enqueue(m);
      }
      if (StreamsApi* streams = s.streams_api_ready.load(); streams && streams->handles(m.topic)) {
        return streams->enqueue(m);
      }
      if (DeviceApi* api = s.device_api_ready.load()) api->enqueue(m);
    });
    if (!fleet) return tl::unexpected(fleet.error());
    s.fleet = std::move(*fleet);
    spdlog::info("connected to the broker's fleet listener on port {}", config.broker.fleet_port);

    auto device_registry = fleet::Registry::open(s.data->path(kRegistryFile));
    if (!device_registry) return fail("the registry: " + device_registry.error().message);
    s.device_registry.emplace(std::move(*device_registry));
    auto device_ca = s.ca->device_ca();
    if (!device_ca) return prefixed(device_ca.error(), "the device CA");
    s.device_ca.emplace(std::move(*device_ca));
    auto prefix = protocol::TopicPrefix::create(config.broker.topic_prefix);
    if (!prefix) return prefixed(prefix.error(), "broker.topic_prefix");
    s.device_api = std::make_unique<DeviceApi>(*s.device_registry, *s.device_ca, *s.fleet, *prefix,
                                               provisioning_options(config));
    s.device_api_ready = s.device_api.get();

    // Jobs: the devices' API, the notifications, the rollouts; each on its own connection.
    auto job_store = [&]() -> Result<fleet::JobStore> {
      auto store = fleet::JobStore::open(s.data->path(kRegistryFile));
      if (!store) return fail("the jobs store: " + store.error().message);
      return std::move(*store);
    };
    auto notifier_store = job_store(), engine_store = job_store(), api_store = job_store();
    if (!notifier_store || !engine_store || !api_store) {
      return tl::unexpected(!notifier_store ? notifier_store.error()
                            : !engine_store ? engine_store.error()
                                            : api_store.error());
    }
    auto jobs_registry = fleet::Registry::open(s.data->path(kRegistryFile));
    if (!jobs_registry) return fail("the registry: " + jobs_registry.error().message);
    s.job_notifier = std::make_unique<JobNotifier>(std::move(*notifier_store), *s.fleet, *prefix);
    s.rollouts = std::make_unique<RolloutEngine>(std::move(*engine_store), *s.job_notifier);
    s.jobs_api =
        std::make_unique<JobsApi>(std::move(*api_store), std::move(*jobs_registry), *s.job_notifier,
                                  *s.fleet, *prefix, [&s] { s.rollouts->poke(); });
    s.jobs_api_ready = s.jobs_api.get();
    for (const std::string& filter : s.jobs_api->subscriptions()) {
      if (auto ok = s.fleet->subscribe(filter, 1); !ok) {
        return prefixed(ok.error(), "subscribing to " + filter);
      }
    }
    // MQTT file streams: the firmware repository's images, for devices with an OTA job.
    auto stream_firmware =
        fleet::FirmwareStore::open(s.data->path(kRegistryFile), s.data->path(kFirmwareDir));
    if (!stream_firmware) {
      return fail("the firmware repository: " + stream_firmware.error().message);
    }
    auto stream_jobs = job_store();
    if (!stream_jobs) return tl::unexpected(stream_jobs.error());
    auto stream_registry = fleet::Registry::open(s.data->path(kRegistryFile));
    if (!stream_registry) return fail("the registry: " + stream_registry.error().message);
    s.streams_api = std::make_unique<StreamsApi>(
        std::move(*stream_firmware), std::move(*stream_jobs), std::move(*stream_registry), *s.fleet,
        *prefix, config.streams);
    s.streams_api_ready = s.streams_api.get();
    for (const std::string& filter : s.streams_api->subscriptions()) {
      if (auto ok = s.fleet->subscribe(filter, 1); !ok) {
        return prefixed(ok.error(), "subscribing to " + filter);
      }
    }
    for (const std::string& filter : s.device_api->subscriptions()) {
      if (auto ok = s.fleet->subscribe(filter, 1); !ok) {
        return prefixed(ok.error(), "subscribing to " + filter);
      }
    }
    // HTTPS downloads: the same images, for the same devices, over the broker's TLS identity.
    if (config.download.enabled) {
      auto download_jobs = job_store();
      if (!download_jobs) return tl::unexpected(download_jobs.error());
      auto download = start_download(*s.data, config, std::move(*download_jobs));
      if (!download) return tl::unexpected(download.error());
      s.download = std::move(*download);
    }
  } else if (config.download.enabled) {
    spdlog::info("firmware downloads off: they need the embedded broker's TLS files");
  }

  auto rest_device_ca = s.ca->device_ca();
  if (!rest_device_ca) return prefixed(rest_device_ca.error(), "the device CA");
  s.rest_device_ca.emplace(std::move(*rest_device_ca));
  s.rest_provisioning = std::make_unique<fleet::ProvisioningService>(
      *s.registry, *s.rest_device_ca, nullptr, provisioning_options(config));
  fleet::RestApiOptions api_options;
  api_options.provisioning = s.rest_provisioning.get();
  api_options.device_trust_pem = s.ca->root_certificate().pem();
  // The operators' jobs, on a store connection of the API's own; what a cancel or delete owes
  // the devices goes out through the same notifier as the rest.
  auto rest_jobs = fleet::JobStore::open(s.data->path(kRegistryFile));
  if (!rest_jobs) return fail("the jobs store: " + rest_jobs.error().message);
  s.rest_jobs.emplace(std::move(*rest_jobs));
  api_options.jobs = &*s.rest_jobs;
  // The firmware repository: its records in the registry, its images in a folder of their own.
  auto firmware =
      fleet::FirmwareStore::open(s.data->path(kRegistryFile), s.data->path(kFirmwareDir));
  if (!firmware) return fail("the firmware repository: " + firmware.error().message);
  s.firmware.emplace(std::move(*firmware));
  api_options.firmware = &*s.firmware;
  if (s.job_notifier) {
    api_options.on_job_notifications = [&s](const fleet::JobNotifications& notifications) {
      s.job_notifier->publish(notifications);
    };
  }
  auto api = fleet::RestApi::create(*s.registry, {fleet::operator_token("operator", *token)},
                                    std::move(api_options));
  if (!api) return prefixed(api.error(), "the REST API");
  s.api = std::move(*api);
  if (s.fleet) {
    // Tell the broker plugin, which then re-checks every connected device: a revoked
    // certificate is disconnected at once.
    s.api->on_change([&s] {
      // Things and groups may have joined or left continuous jobs' targets; a new job waits.
      s.rollouts->registry_changed();
      // A CA registered, activated or deactivated is trusted, or not, from the next handshake.
      if (auto ok = s.trusted_cas->sync(); !ok) {
        spdlog::error("cannot update the broker's trusted CAs: {}", ok.error().message);
      }
      if (auto sent = s.fleet->publish(kRegistryChangedTopic, {}, 1); !sent) {
        spdlog::error("cannot tell the broker about a registry change: {}", sent.error().message);
      }
    });
  }
  s.http = std::make_unique<httplib::Server>();
  s.api->mount(*s.http);
  if (!s.http->bind_to_port(config.api.bind.c_str(), config.api.port)) {
    return fail("the REST API cannot listen on " + config.api.bind + ":" +
                std::to_string(config.api.port) + " (in use? set api.port or --api-port)");
  }
  s.http_thread = std::thread([&s] { s.http->listen_after_bind(); });
  // bind_to_port() already listens: connections made from now on wait for the accept loop.
  spdlog::info("REST API on http://{}:{}", config.api.bind, config.api.port);
  return service;
}

void FleetService::stop() {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  if (s.http) {
    s.http->stop();
    if (s.http_thread.joinable()) s.http_thread.join();
  }
  s.download.reset();
  if (s.fleet) s.fleet->stop();
  s.device_api_ready = nullptr;
  s.device_api.reset();
  s.jobs_api_ready = nullptr;
  s.jobs_api.reset();
  s.streams_api_ready = nullptr;
  s.streams_api.reset();
  s.rollouts.reset();
  s.job_notifier.reset();
  if (s.broker) s.broker->stop();
  spdlog::info("stopped");
}

}  // namespace ironroot::service

// OTA goodput against a real ironrootd (embedded Mosquitto, broker plugin, firmware repository):
// firmware bytes delivered per second over MQTT file streams to 1 and to many devices, for several
// block sizes, against the broker's raw throughput for the same bytes measured in the same run with
// mosquitto_pub and mosquitto_sub.
//
// The devices download as AWS's OTA agent does (ota_mqtt.c): CBOR GetStream requests at QoS 0 with
// a bitmap of the blocks still missing in a window of at most 128 KiB, one CBOR data message per
// block, the window asked for again when it stalls. They are lightweight (tests/support/
// device_swarm.hpp: one thread drives them all) and keep nothing but counts, so the figure is the
// service's and the broker's.
//
// The yardstick, per block size and device count: one mosquitto_pub per device on the fleet
// listener (the path the service's blocks take) publishing the same number of blocks of that size
// with --repeat at QoS 0 to a topic of the device, and one mosquitto_sub per device, connected as
// the device with its certificate, counting them (-C).
//
// The service runs with its per-device stream limits lifted (they are a policy, not a capacity).
//
// Writes one JSON document (scripts/bench turns it into docs/BENCHMARKS.md).
// Usage: ota_bench OUT.json [devices] [image KiB]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "bulk_devices.hpp"
#include "claim_fleet.hpp"
#include "daemon.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "ironroot/protocol/streams.hpp"
#include "operator_client.hpp"
#include "support/device_swarm.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace {

using namespace ironroot;
using namespace ironroot::testing;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr std::size_t kMaxWindowBytes = protocol::kMaxBytesPerGetStream;
constexpr auto kStall = 2s;  // a window without a block for this long is asked for again

void require(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "ota_bench: %s\n", what.c_str());
    std::exit(1);
  }
}

double mib_per_second(std::uint64_t bytes, Clock::duration elapsed) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0) /
         std::chrono::duration<double>(elapsed).count();
}

std::string run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {IRONROOT_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult r = run_process(argv);
  require(r.exit_code == 0, "ironroot " + args[0] + " " + args[1] + ": " + r.err + r.out);
  return r.out;
}

// ---------------------------------------------------------------------------------------------
// Downloads over the service's streams

// One device's download: which blocks it has, and when its window last moved.
struct Download {
  std::vector<bool> have;
  std::size_t missing = 0;
  std::uint64_t bytes = 0;  // payload bytes received, duplicates included
  std::size_t requests = 0;
  std::size_t window_start = 0;  // the blocks of the last request: [window_start, window_end)
  std::size_t window_end = 0;
  std::size_t window_missing = 0;  // of those, still missing
  Clock::time_point last_progress{};
};

class StreamDownloads {
 public:
  StreamDownloads(std::vector<std::string> things, std::string stream, std::uint64_t file_size,
                  std::size_t block_size)
      : things_(std::move(things)),
        stream_(std::move(stream)),
        file_size_(file_size),
        block_size_(block_size),
        blocks_((file_size + block_size - 1) / block_size),
        downloads_(things_.size()) {
    for (Download& d : downloads_) {
      d.have.assign(blocks_, false);
      d.missing = blocks_;
    }
  }

  std::string topic(std::size_t device, protocol::StreamMessage message) const {
    return *protocol::stream_topic(protocol::TopicPrefix{}, {things_[device], stream_, message,
                                                             protocol::PayloadFormat::cbor});
  }

  // Asks for the missing blocks of the window that starts at the first missing block.
  void request(DeviceSwarm& swarm, std::size_t device) {
    Download& d = downloads_[device];
    const std::size_t first =
        static_cast<std::size_t>(std::find(d.have.begin(), d.have.end(), false) - d.have.begin());
    const std::size_t window = std::min(kMaxWindowBytes / block_size_, blocks_ - first);
    Bytes bitmap((window + 7) / 8, std::byte{0});
    d.window_start = first;
    d.window_end = first + window;
    d.window_missing = 0;
    for (std::size_t k = 0; k < window; ++k) {
      if (!d.have[first + k]) {
        protocol::set_block_requested(bitmap, k, true);
        ++d.window_missing;
      }
    }
    protocol::GetStreamRequest get;
    get.client_token = "rdy";
    get.file_id = 0;
    get.block_size = static_cast<std::int64_t>(block_size_);
    get.block_offset = static_cast<std::int64_t>(first);
    get.block_count = static_cast<std::int64_t>(window);
    get.block_bitmap = std::move(bitmap);
    d.last_progress = Clock::now();
    ++d.requests;
    (void)swarm.publish(device, topic(device, protocol::StreamMessage::get),
                        protocol::encode_stream_message(get, protocol::PayloadFormat::cbor), 0);
  }

  void on_block(DeviceSwarm& swarm, std::size_t device, ByteView payload) {
    auto block = protocol::decode_stream_reply<protocol::DataBlockResponse>(
        payload, protocol::PayloadFormat::cbor);
    if (!block) return;
    Download& d = downloads_[device];
    const auto id = static_cast<std::size_t>(block->block_id);
    if (id >= blocks_) return;
    d.bytes += block->payload.size();
    d.last_progress = Clock::now();
    if (d.have[id]) return;
    d.have[id] = true;
    if (--d.missing == 0) {
      std::lock_guard lock(mutex_);
      ++finished_;
      last_ = Clock::now();
      done_.notify_all();
      return;
    }
    if (id >= d.window_start && id < d.window_end && --d.window_missing == 0)
      request(swarm, device);
  }

  // Everything runs on the swarm's thread: the downloads start at its first tick after start().
  void on_tick(DeviceSwarm& swarm, Clock::time_point now) {
    if (!started_ && start_requested_.load()) {
      started_ = true;
      for (std::size_t i = 0; i < downloads_.size(); ++i) request(swarm, i);
      return;
    }
    for (std::size_t i = 0; i < downloads_.size(); ++i) {
      if (downloads_[i].missing > 0 && started_ && now - downloads_[i].last_progress > kStall) {
        request(swarm, i);
      }
    }
  }

  void start() { start_requested_ = true; }

  bool wait(std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return done_.wait_for(lock, timeout, [&] { return finished_ == downloads_.size(); });
  }
  Clock::time_point last() const { return last_; }
  std::uint64_t bytes_received() const {
    std::uint64_t total = 0;
    for (const Download& d : downloads_) total += d.bytes;
    return total;
  }
  std::size_t requests() const {
    std::size_t total = 0;
    for (const Download& d : downloads_) total += d.requests;
    return total;
  }

 private:
  std::vector<std::string> things_;
  std::string stream_;
  std::uint64_t file_size_;
  std::size_t block_size_;
  std::size_t blocks_;
  std::vector<Download> downloads_;  // touched on the swarm's thread only
  bool started_ = false;
  std::atomic<bool> start_requested_{false};
  std::mutex mutex_;
  std::condition_variable done_;
  std::size_t finished_ = 0;
  Clock::time_point last_{};
};

struct Measured {
  double mib_per_second = 0;
  double overhead = 0;  // bytes received / bytes needed
  std::size_t requests = 0;
};

Measured ota_goodput(const std::vector<SwarmDevice>& devices, const SwarmOptions& options,
                     const std::string& stream, std::uint64_t file_size, std::size_t block_size) {
  std::vector<std::string> things;
  for (const SwarmDevice& d : devices) things.push_back(d.client_id);
  StreamDownloads downloads(things, stream, file_size, block_size);
  DeviceSwarm::Handlers handlers;
  handlers.on_message = [&](DeviceSwarm& swarm, std::size_t device, const std::string& topic,
                            ByteView payload) {
    if (topic.ends_with("/data/cbor")) downloads.on_block(swarm, device, payload);
  };
  handlers.on_tick = [&](DeviceSwarm& swarm, Clock::time_point now) {
    downloads.on_tick(swarm, now);
  };
  auto swarm = DeviceSwarm::start(devices, options, handlers);
  require(swarm.has_value(), swarm ? "" : swarm.error().message);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    for (auto message : {protocol::StreamMessage::data, protocol::StreamMessage::rejected}) {
      require((*swarm)->subscribe(i, downloads.topic(i, message), 0).has_value(), "subscribe");
    }
  }
  require((*swarm)->wait_all_ready(300s),
          "the devices did not all connect: " + (*swarm)->stats().last_error);
  const auto start = Clock::now();
  downloads.start();
  require(downloads.wait(600s), "the downloads did not all finish");
  const std::uint64_t needed = file_size * devices.size();
  return {mib_per_second(needed, downloads.last() - start),
          static_cast<double>(downloads.bytes_received()) / static_cast<double>(needed),
          downloads.requests()};
}

// ---------------------------------------------------------------------------------------------
// The yardstick: mosquitto_pub and mosquitto_sub

class Spawned {
 public:
  Spawned(const std::vector<std::string>& args, bool pipe_stdout) {
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    int out[2] = {-1, -1};
    if (pipe_stdout) {
      require(::pipe2(out, O_CLOEXEC) == 0, "pipe2");
      posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    require(posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ) == 0,
            "cannot start " + args[0]);
    posix_spawn_file_actions_destroy(&actions);
    if (pipe_stdout) {
      ::close(out[1]);
      out_ = ::fdopen(out[0], "r");
    }
  }
  ~Spawned() {
    if (out_ != nullptr) std::fclose(out_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // The next line of its standard output; false at its end.
  bool read_line(std::string& line) {
    char* text = nullptr;
    std::size_t capacity = 0;
    const ssize_t n = ::getline(&text, &capacity, out_);
    if (n >= 0) line.assign(text, static_cast<std::size_t>(n));
    std::free(text);
    return n >= 0;
  }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  std::FILE* out_ = nullptr;
};

struct RawSetup {
  std::uint16_t device_port = 0;
  std::uint16_t fleet_port = 0;
  fs::path ca;          // the broker's CA (root-ca.crt)
  fs::path fleet_cert;  // the fleet listener's identity
  fs::path fleet_key;
  fs::path work;
};

double raw_throughput(const std::vector<SwarmDevice>& devices, const RawSetup& setup,
                      std::uint64_t file_size, std::size_t block_size) {
  const std::size_t blocks = (file_size + block_size - 1) / block_size;
  const fs::path block = setup.work / ("block-" + std::to_string(block_size) + ".bin");
  require(write_file_atomic(block, Bytes(block_size, std::byte{0x5a})).has_value(), "block file");
  std::vector<std::unique_ptr<Spawned>> subscribers;
  for (const SwarmDevice& d : devices) {
    const fs::path cert = setup.work / (d.client_id + ".crt");
    require(write_file_atomic(cert, as_bytes(d.identity.certificate.pem())).has_value(),
            "certificate file");
    subscribers.push_back(
        std::make_unique<Spawned>(std::vector<std::string>{"stdbuf",
                                                           "-oL",
                                                           "mosquitto_sub",
                                                           "-h",
                                                           "127.0.0.1",
                                                           "-p",
                                                           std::to_string(setup.device_port),
                                                           "--cafile",
                                                           setup.ca.string(),
                                                           "--cert",
                                                           cert.string(),
                                                           "--key",
                                                           d.identity.key_file.string(),
                                                           "-i",
                                                           d.client_id,
                                                           "-t",
                                                           "things/" + d.client_id + "/raw",
                                                           "-q",
                                                           "0",
                                                           "-C",
                                                           std::to_string(blocks),
                                                           "-F",
                                                           "%l",
                                                           "-d"},
                                  true));
  }
  // Each subscriber says when its subscription is acknowledged.
  for (auto& s : subscribers) {
    std::string line;
    bool subscribed = false;
    while (!subscribed && s->read_line(line)) subscribed = line.find("SUBACK") != std::string::npos;
    require(subscribed, "mosquitto_sub did not subscribe");
  }
  const auto start = Clock::now();
  std::vector<std::unique_ptr<Spawned>> publishers;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    publishers.push_back(std::make_unique<Spawned>(
        std::vector<std::string>{"mosquitto_pub",
                                 "-h",
                                 "127.0.0.1",
                                 "-p",
                                 std::to_string(setup.fleet_port),
                                 "--cafile",
                                 setup.ca.string(),
                                 "--cert",
                                 setup.fleet_cert.string(),
                                 "--key",
                                 setup.fleet_key.string(),
                                 "-i",
                                 "raw-bench-" + std::to_string(i),
                                 "-t",
                                 "things/" + devices[i].client_id + "/raw",
                                 "-q",
                                 "0",
                                 "-f",
                                 block.string(),
                                 "--repeat",
                                 std::to_string(blocks)},
        false));
  }
  // One reader per subscriber, so that none waits on a full pipe while another is read.
  std::vector<std::uint64_t> received(subscribers.size(), 0);
  std::vector<int> exits(subscribers.size(), -1);
  {
    std::vector<std::jthread> readers;
    for (std::size_t i = 0; i < subscribers.size(); ++i) {
      readers.emplace_back([&, i] {
        std::string line;
        while (subscribers[i]->read_line(line)) {
          if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0])) &&
              line.find(' ') == std::string::npos) {
            received[i] += std::stoull(line);
          }
        }
        exits[i] = subscribers[i]->wait();
      });
    }
  }
  const auto elapsed = Clock::now() - start;
  for (auto& p : publishers) p->wait();
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    require(exits[i] == 0, "mosquitto_sub failed");
    total += received[i];
  }
  require(total == blocks * block_size * devices.size(),
          "mosquitto_sub counted " + std::to_string(total) + " bytes");
  return mib_per_second(total, elapsed);
}

}  // namespace

int main(int argc, char** argv) {
  require(argc >= 2, "usage: ota_bench OUT.json [devices] [image KiB]");
  const int many = argc > 2 ? std::atoi(argv[2]) : 50;
  const int image_kib = argc > 3 ? std::atoi(argv[3]) : 1024;
  require(many > 0 && image_kib > 0, "devices and image KiB must be positive");

  TempDir temp;
  ::chmod(temp.path().c_str(), 0755);  // Mosquitto runs as its own user
  const fs::path data = temp.path() / "data";
  ServicePorts ports;
  // The streams' per-device limits (1 MiB/s by default) would set the pace: lift them, so that
  // the figure is what the service and the broker can do.
  const fs::path config = temp.path() / "ironrootd.toml";
  require(write_file_atomic(config, as_bytes("[streams]\nrequests_per_minute = 6000000\n"
                                             "request_burst = 100000\n"
                                             "bytes_per_second = 10737418240\n"
                                             "burst_bytes = 10737418240\n"))
              .has_value(),
          "config file");
  std::vector<std::string> args = ports.args(data);
  args.insert(args.end(), {"--config", config.string()});
  Daemon daemon(args);
  require(daemon.wait_for_log("ironrootd is running"), "ironrootd did not start:\n" + daemon.log());
  OperatorClient api(ports.api, data);
  auto fleet = set_up_claim_fleet(api, data, temp.path());
  require(fleet.has_value(), fleet ? "" : fleet.error().message);
  std::vector<std::string> things;
  for (int i = 0; i < many; ++i) things.push_back("ota-" + std::to_string(i));
  auto provisioned = provision_bulk_devices(things, ports.api, data, temp.path());
  require(provisioned.has_value(), provisioned ? "" : provisioned.error().message);
  const std::vector<SwarmDevice> devices = std::move(*provisioned);

  // A signed image of `image_kib` KiB, its key registered, uploaded, and an OTA job for every
  // device, which is what lets a device read the image's stream.
  const fs::path key = temp.path() / "oem.pem";
  const fs::path payload = temp.path() / "payload.bin";
  const fs::path image_file = temp.path() / "image.bin";
  run_cli({"image", "keygen", "-k", key.string()});
  Bytes random_payload(static_cast<std::size_t>(image_kib) * 1024);
  for (std::size_t i = 0; i < random_payload.size(); ++i) {
    random_payload[i] = static_cast<std::byte>((i * 2654435761u) >> 24);
  }
  require(write_file_atomic(payload, random_payload).has_value(), "payload file");
  run_cli({"image", "sign", "-k", key.string(), "-v", "1.1.0", "-H", "0x200", "--pad-header", "-S",
           std::to_string(2 * random_payload.size() + 65536), "--align", "4", payload.string(),
           image_file.string()});
  const std::string public_pem = run_cli({"image", "getpub", "-k", key.string(), "-e", "pem"});
  auto registered =
      api.request("POST", "/v1/code-signing-keys", {{"name", "oem"}, {"publicKeyPem", public_pem}});
  require(registered.status == 201, "register the key: " + registered.body.dump());
  const Bytes image = *read_file(image_file, 1u << 30);
  httplib::Client http("127.0.0.1", ports.api);
  {
    const std::string token(as_chars(*read_file(data / "operator.token", 4096)));
    http.set_bearer_token_auth(token.substr(0, token.find('\n')).c_str());
  }
  http.set_read_timeout(120, 0);
  auto uploaded =
      http.Post("/v1/firmware", std::string(as_chars(image)), "application/octet-stream");
  require(uploaded && (uploaded->status == 201 || uploaded->status == 200),
          "upload: " + (uploaded ? uploaded->body : std::string("no answer")));
  const std::string firmware_id = json::parse(uploaded->body)["firmwareId"];
  const std::string stream = "fw-" + firmware_id.substr(0, 40);

  auto signer = crypto::PrivateKey::from_pem(*read_file(key, 65536));
  require(signer.has_value(), "the key");
  protocol::OtaJobDocument doc;
  doc.protocols = {protocol::OtaProtocol::mqtt};
  doc.stream_name = stream;
  doc.file.file_path = "/mcuboot/secondary";
  doc.file.file_size = static_cast<std::int64_t>(image.size());
  doc.file.certificate_path = "code-signing.pem";
  doc.file.signature = *signer->sign_digest(crypto::sha256(image));
  doc.file.file_type = 0;
  auto job = api.request(
      "POST", "/v1/jobs",
      {{"jobId", "ota-bench"}, {"document", doc.encode()}, {"targets", {{"things", things}}}});
  require(job.status == 201, "job: " + job.body.dump());

  SwarmOptions options;
  options.broker.port = ports.broker;
  options.broker.trusted = {
      *crypto::Certificate::from_pem(*read_file(data / "ca" / "root-ca.crt", 1 << 20))};
  options.max_unacknowledged = 1024;
  RawSetup raw;
  raw.device_port = ports.broker;
  raw.fleet_port = ports.fleet;
  raw.ca = data / "ca" / "root-ca.crt";
  raw.fleet_cert = data / "broker" / "fleet.crt";
  raw.fleet_key = data / "broker" / "fleet.key";
  raw.work = temp.path();

  json rows = json::array();
  const std::vector<SwarmDevice> one(devices.begin(), devices.begin() + 1);
  for (std::size_t block_size : {1024u, 4096u, 16384u, 65536u}) {
    for (const auto* group : {&one, &devices}) {
      const Measured ota = ota_goodput(*group, options, stream, image.size(), block_size);
      const double baseline = raw_throughput(*group, raw, image.size(), block_size);
      rows.push_back({{"block_size", block_size},
                      {"devices", group->size()},
                      {"ota_mib_per_second", ota.mib_per_second},
                      {"raw_mib_per_second", baseline},
                      {"ratio", ota.mib_per_second / baseline},
                      {"bytes_received_per_byte", ota.overhead},
                      {"requests", ota.requests}});
      std::printf("%s\n", rows.back().dump().c_str());
    }
  }
  json result = {{"image_bytes", image.size()}, {"rows", rows}};
  std::ofstream(argv[1]) << result.dump(2) << "\n";
  std::printf("%s\n", result.dump(2).c_str());
  return 0;
}

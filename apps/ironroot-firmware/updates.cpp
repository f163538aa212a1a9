#include "updates.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>

#include "connection.hpp"
#include "ironroot/agent/jobs_client.hpp"
#include "ironroot/agent/ota_agent.hpp"
#include "ironroot/image/format.hpp"
#include "ironroot/protocol/streams.hpp"

namespace ironroot::firmware {

namespace {

using Clock = std::chrono::steady_clock;

// A job the service does not answer for is tried again (the broker may be restarting); this many
// failures in a row end the session.
constexpr int kMaxFailuresInARow = 3;

std::string outcome_text(const agent::JobReport& report) {
  if (!report.outcome) return "ended by the service";
  const agent::JobOutcome& outcome = *report.outcome;
  std::string text;
  switch (outcome.kind) {
    case agent::JobOutcome::Kind::succeeded:
      text = "SUCCEEDED";
      break;
    case agent::JobOutcome::Kind::failed:
      text = "FAILED";
      break;
    case agent::JobOutcome::Kind::rejected:
      text = "REJECTED";
      break;
    case agent::JobOutcome::Kind::continue_after_restart:
      return "the update is pending: restarting to boot it";
  }
  if (auto reason = outcome.status_details.find("reason"); reason != outcome.status_details.end()) {
    text += " (" + reason->second + ")";
  }
  if (report.ended_by_service) text += "; the service had ended it first";
  return text;
}

// Everything one session holds, destroyed in the order that keeps each part's references valid:
// the jobs client, then the connection (no message arrives after it stopped the client), then the
// agent and the device it uses.
struct Session {
  std::unique_ptr<agent::BootOtaDevice> device;
  std::shared_ptr<agent::OtaAgent> agent;
  std::unique_ptr<agent::MqttJobsConnection> connection;
  std::unique_ptr<agent::CurrentJobFile> store;
  std::unique_ptr<agent::JobsClient> jobs;
};

}  // namespace

bool remembers_a_job(const std::filesystem::path& device_dir) {
  agent::CurrentJobFile store(device_dir / kCurrentJobFile);
  auto job = store.load();
  return job && job->has_value();
}

Result<JobsOutcome> take_jobs(device::DeviceFolder& folder, const JobsSession& session) {
  auto identity = device_connection(folder.dir());
  if (!identity) return tl::unexpected(identity.error());
  if (!identity->options) {
    return fail("no device certificate in the secure element yet (" + identity->not_enrolled +
                "): the device takes no jobs");
  }
  auto version = image::ImageVersion::parse(session.version);
  if (!version) return prefixed(version.error(), "the running firmware's version");

  Session s;
  auto device = agent::BootOtaDevice::create(folder.board().boot_areas(), folder.board().otp(),
                                             folder.config().strategy,
                                             {*version, session.test_boot}, session.self_test);
  if (!device) return prefixed(device.error(), "the OTA agent's device");
  s.device = std::move(*device);

  // Messages reach the agent once it exists; until then (and after) they go only to the jobs
  // client's sink.
  auto agent_slot = std::make_shared<std::atomic<agent::OtaAgent*>>(nullptr);
  mqtt::ClientOptions options = *identity->options;
  options.on_message = [agent_slot](const mqtt::Message& message) {
    if (agent::OtaAgent* agent = agent_slot->load()) agent->on_message(message);
  };
  auto connection = agent::MqttJobsConnection::create(std::move(options));
  if (!connection) return prefixed(connection.error(), "connecting to the fleet");
  s.connection = std::move(*connection);
  if (auto connected = s.connection->client().wait_connected(session.connect_timeout); !connected) {
    return prefixed(connected.error(), "the broker at " + identity->broker() +
                                           " did not accept the connection within " +
                                           std::to_string(session.connect_timeout.count()) + " s");
  }

  agent::OtaAgentSettings ota;
  ota.thing_name = identity->settings.thing_name;
  ota.block_size = session.ota_block_size;
  // AWS's agent asks for 8 blocks at a time; never more than the 128 KiB a request may return.
  ota.window_blocks = std::max<std::uint32_t>(
      1, std::min<std::uint32_t>(8, static_cast<std::uint32_t>(protocol::kMaxBytesPerGetStream) /
                                        session.ota_block_size));
  auto ota_agent = agent::OtaAgent::create(std::move(ota), *s.connection, *s.device);
  if (!ota_agent) return prefixed(ota_agent.error(), "the OTA agent");
  s.agent = std::move(*ota_agent);
  agent_slot->store(s.agent.get());

  agent::JobsClientSettings settings;
  settings.thing_name = identity->settings.thing_name;
  s.store = std::make_unique<agent::CurrentJobFile>(folder.dir() / kCurrentJobFile);
  auto jobs = agent::JobsClient::create(std::move(settings), *s.connection, *s.store);
  if (!jobs) return fail("the jobs client: " + jobs.error().message);
  s.jobs = std::move(*jobs);
  s.jobs->register_handler(agent::OtaAgent::takes, s.agent);

  std::cout << "connected to " << identity->broker() << " as " << identity->settings.thing_name
            << "; taking jobs until none comes for " << session.idle.count() << " s" << std::endl;
  JobsOutcome outcome;
  auto deadline = Clock::now() + session.idle;
  int failures = 0;
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    auto report =
        s.jobs->run_next_job(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (!report) {
      std::cout << "jobs: " << report.error().message << std::endl;
      if (++failures >= kMaxFailuresInARow) {
        agent_slot->store(nullptr);
        return fail("the jobs service did not answer: " + report.error().message);
      }
      continue;
    }
    failures = 0;
    if (!report->has_value()) break;  // no job within the wait
    const agent::JobReport& job = **report;
    std::cout << "job " << job.job_id << (job.resumed ? " (resumed)" : "") << ": "
              << outcome_text(job) << std::endl;
    if (job.outcome && job.outcome->kind == agent::JobOutcome::Kind::continue_after_restart) {
      outcome.next = AfterJobs::reboot;
      break;
    }
    if (session.test_boot && job.resumed && job.outcome &&
        job.outcome->kind == agent::JobOutcome::Kind::succeeded) {
      outcome.confirmed = true;
    }
    deadline = Clock::now() + session.idle;
  }
  agent_slot->store(nullptr);
  return outcome;
}

}  // namespace ironroot::firmware

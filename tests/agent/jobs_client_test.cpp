// JobsClient against a real Mosquitto (`ironroot broker init`, mutual TLS) and a scripted jobs
// service on the fleet listener (jobs_service.hpp); CurrentJobFile on its own.
#include "ironroot/agent/jobs_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <set>

#include "ironroot/core/file.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/crypto/x509.hpp"
#include "jobs_service.hpp"
#include "support/broker_process.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::testing {
namespace {

using namespace std::chrono_literals;
using agent::CurrentJob;
using agent::CurrentJobFile;
using agent::JobOutcome;
using agent::JobProgress;
using nlohmann::json;
using protocol::JobExecution;
using protocol::JobExecutionStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kThing = "thing-7";

crypto::Certificate certificate_file(const std::filesystem::path& path) {
  auto data = read_file(path, 1 << 20);
  auto cert = data ? crypto::Certificate::from_pem(*data)
                   : Result<crypto::Certificate>(tl::unexpected(data.error()));
  if (!cert) throw std::runtime_error(path.string() + ": " + cert.error().message);
  return *cert;
}

// A handler whose behaviour each test scripts; it records what it was given.
class ScriptedHandler : public agent::JobHandler {
 public:
  using Step = std::function<JobOutcome(const JobExecution&, JobProgress&)>;
  explicit ScriptedHandler(Step handle, Step resume = nullptr)
      : handle_(std::move(handle)), resume_(std::move(resume)) {}
  JobOutcome handle(const JobExecution& job, JobProgress& progress) override {
    calls.push_back("handle " + job.job_id);
    seen.push_back(job);
    return handle_(job, progress);
  }
  JobOutcome resume(const JobExecution& job, JobProgress& progress) override {
    calls.push_back("resume " + job.job_id);
    seen.push_back(job);
    return resume_ ? resume_(job, progress) : JobHandler::resume(job, progress);
  }
  std::vector<std::string> calls;
  std::vector<JobExecution> seen;

 private:
  Step handle_;
  Step resume_;
};

class JobsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0755);  // Mosquitto runs as user mosquitto
    port_ = free_port();
    do {
      fleet_port_ = free_port();
    } while (fleet_port_ == port_);
    const std::string ca = (dir_ / "ca").string();
    const std::string broker = (dir_ / "broker").string();
    ASSERT_NO_FATAL_FAILURE(cli({"ca", "init", "--dir", ca, "--name", "Acme"}));
    ASSERT_NO_FATAL_FAILURE(
        cli({"broker", "init", "--dir", broker, "--ca", ca, "--port", std::to_string(port_),
             "--fleet-port", std::to_string(fleet_port_)}));
    broker_ = std::make_unique<BrokerProcess>(broker, port_, fleet_port_);
    const std::string started = broker_->start();
    ASSERT_TRUE(started.empty()) << started;

    // The device: a key file and a certificate for CN kThing from the device CA.
    auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
    ASSERT_TRUE(key);
    const std::string key_path = (dir_ / "device.key").string();
    ASSERT_TRUE(write_file_atomic(key_path, as_bytes(*key->pem()), 0600));
    const std::string csr = (dir_ / "device.csr").string();
    const std::string crt = (dir_ / "device.crt").string();
    ASSERT_NO_FATAL_FAILURE(cli({"ca", "csr", "-k", key_path, "--cn", kThing, "-o", csr}));
    ASSERT_NO_FATAL_FAILURE(cli({"ca", "issue", "--dir", ca, "--csr", csr, "-o", crt}));
    const crypto::Certificate root = certificate_file(std::filesystem::path(ca) / "root-ca.crt");
    device_tls_.trusted = {root};
    device_tls_.server_name = "127.0.0.1";
    device_tls_.client_chain = {certificate_file(crt)};
    device_tls_.client_key = key_path;

    mqtt::TlsSettings fleet;
    fleet.trusted = {root};
    fleet.server_name = "127.0.0.1";
    fleet.client_chain = {certificate_file(std::filesystem::path(broker) / "fleet.crt")};
    fleet.client_key = (std::filesystem::path(broker) / "fleet.key").string();
    auto tls = mqtt::TlsContext::create(fleet);
    ASSERT_TRUE(tls) << tls.error().message;
    mqtt::ClientOptions o;
    o.host = "127.0.0.1";
    o.port = fleet_port_;
    o.client_id = "fleet-jobs";
    o.clean_start = true;
    o.tls = *tls;
    o.backoff = {50ms, 500ms, 2.0, 0.5};
    service_ = ScriptedJobsService::start(std::move(o), kThing);
    ASSERT_TRUE(service_);
    connect_device();
  }

  // (Re)connects the device, as after a restart.
  void connect_device() {
    client_.reset();
    connection_.reset();
    auto tls = mqtt::TlsContext::create(device_tls_);
    ASSERT_TRUE(tls) << tls.error().message;
    mqtt::ClientOptions o;
    o.host = "127.0.0.1";
    o.port = port_;
    o.client_id = kThing;
    o.clean_start = true;
    o.session_expiry = 0s;
    o.tls = *tls;
    o.backoff = {50ms, 500ms, 2.0, 0.5};
    auto connection = agent::MqttJobsConnection::create(std::move(o));
    ASSERT_TRUE(connection) << connection.error().message;
    connection_ = std::move(*connection);
    ASSERT_TRUE(connection_->client().wait_connected(20s));
    auto client = agent::JobsClient::create(settings(), *connection_, store_);
    ASSERT_TRUE(client) << client.error().message;
    client_ = std::move(*client);
  }

  agent::JobsClientSettings settings() const {
    agent::JobsClientSettings s;
    s.thing_name = kThing;
    s.subscribe_to_replies = true;  // a plain broker delivers nothing unsubscribed
    s.reply_timeout = reply_timeout_;
    return s;
  }

  void cli(std::vector<std::string> args) {
    args.insert(args.begin(), IRONROOT_CLI);
    ProcessResult r = run_process(args);
    ASSERT_EQ(r.exit_code, 0) << args[1] << " " << args[2] << ": " << r.err << r.out;
  }

  agent::JobReport run_one(std::chrono::milliseconds wait = 20s) {
    auto report = client_->run_next_job(wait);
    EXPECT_TRUE(report) << report.error().message;
    if (!report) return {};
    EXPECT_TRUE(report->has_value()) << "no job came";
    return report->value_or(agent::JobReport{});
  }

  std::vector<std::string> summaries() const {
    std::vector<std::string> out;
    for (const auto& r : service_->requests()) out.push_back(r.summary);
    return out;
  }

  TempDir dir_;
  std::uint16_t port_ = 0;
  std::uint16_t fleet_port_ = 0;
  mqtt::TlsSettings device_tls_;
  std::chrono::milliseconds reply_timeout_{10s};
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<ScriptedJobsService> service_;
  CurrentJobFile store_{dir_ / "current-job.json"};
  std::unique_ptr<agent::MqttJobsConnection> connection_;
  std::unique_ptr<agent::JobsClient> client_;
};

TEST_F(JobsClientTest, RunsAJobToSucceededWithProgressAndExpectedVersions) {
  service_->add("greet-1", json{{"operation", "greet"}, {"to", "world"}});
  auto handler = std::make_shared<ScriptedHandler>([](const JobExecution& job, JobProgress& p) {
    EXPECT_EQ(job.job_document->at("to"), "world");
    EXPECT_EQ(job.status, JobExecutionStatus::in_progress);
    EXPECT_TRUE(p.report({{"step", "half"}}));
    return JobOutcome::succeeded({{"result", "hello world"}});
  });
  client_->register_handler("greet", handler);
  agent::JobReport report = run_one();
  EXPECT_EQ(report.job_id, "greet-1");
  EXPECT_FALSE(report.resumed);
  EXPECT_EQ(report.final_status, JobExecutionStatus::succeeded);
  EXPECT_FALSE(report.ended_by_service);
  EXPECT_EQ(handler->calls, std::vector<std::string>{"handle greet-1"});

  auto e = service_->execution("greet-1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, JobExecutionStatus::succeeded);
  EXPECT_EQ(e->status_details, (protocol::StatusDetails{{"result", "hello world"}}));
  EXPECT_THAT(summaries(), ElementsAre("describe $next", "update greet-1 IN_PROGRESS",
                                       "update greet-1 IN_PROGRESS", "update greet-1 SUCCEEDED"));
  // Every request carried its own clientToken; every update the version the service held.
  auto requests = service_->requests();
  std::set<std::string> tokens;
  for (const auto& r : requests) tokens.insert(r.payload.at("clientToken").get<std::string>());
  EXPECT_EQ(tokens.size(), requests.size());
  EXPECT_EQ(requests[1].payload.at("expectedVersion"), 1);
  EXPECT_EQ(requests[2].payload.at("expectedVersion"), 2);
  EXPECT_EQ(requests[3].payload.at("expectedVersion"), 3);
  // Forgotten once the service accepted it.
  auto remembered = store_.load();
  ASSERT_TRUE(remembered) << remembered.error().message;
  EXPECT_FALSE(*remembered);

  // Nothing else pending: the client asks again and waits.
  auto none = client_->run_next_job(300ms);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
}

TEST_F(JobsClientTest, TakesAJobThatNotifyNextAnnounces) {
  auto idle = client_->run_next_job(200ms);
  ASSERT_TRUE(idle) << idle.error().message;
  EXPECT_FALSE(*idle);
  auto handler = std::make_shared<ScriptedHandler>(
      [](const JobExecution&, JobProgress&) { return JobOutcome::succeeded(); });
  client_->register_handler([](const json& d) { return d.contains("afr_ota"); }, handler);
  service_->add("ota-1", json{{"afr_ota", {{"streamname", "s"}}}});
  agent::JobReport report = run_one();
  EXPECT_EQ(report.job_id, "ota-1");
  EXPECT_EQ(report.final_status, JobExecutionStatus::succeeded);
  // One $next/get only: the job came with notify-next.
  EXPECT_THAT(summaries(),
              ElementsAre("describe $next", "update ota-1 IN_PROGRESS", "update ota-1 SUCCEEDED"));
}

TEST_F(JobsClientTest, ReportsAHandlersFailure) {
  service_->add("flash-1", json{{"operation", "flash"}});
  client_->register_handler(
      "flash", std::make_shared<ScriptedHandler>([](const JobExecution&, JobProgress&) {
        return JobOutcome::failed({{"reason", "disk full"}});
      }));
  agent::JobReport report = run_one();
  EXPECT_EQ(report.final_status, JobExecutionStatus::failed);
  EXPECT_EQ(service_->execution("flash-1")->status, JobExecutionStatus::failed);
  EXPECT_EQ(service_->execution("flash-1")->status_details.at("reason"), "disk full");
}

TEST_F(JobsClientTest, RejectsAJobTypeWithoutHandler) {
  service_->add("dance-1", json{{"operation", "dance"}});
  auto handler = std::make_shared<ScriptedHandler>(
      [](const JobExecution&, JobProgress&) { return JobOutcome::succeeded(); });
  client_->register_handler("greet", handler);
  agent::JobReport report = run_one();
  EXPECT_EQ(report.final_status, JobExecutionStatus::rejected);
  EXPECT_TRUE(handler->calls.empty());
  auto e = service_->execution("dance-1");
  EXPECT_EQ(e->status, JobExecutionStatus::rejected);
  EXPECT_THAT(e->status_details.at("reason"), HasSubstr("no handler for job type \"dance\""));
  EXPECT_THAT(summaries(), ElementsAre("describe $next", "update dance-1 REJECTED"));
}

TEST_F(JobsClientTest, DescribesAndRetriesOnceOnVersionMismatch) {
  service_->add("greet-2", json{{"operation", "greet"}});
  client_->register_handler(
      "greet", std::make_shared<ScriptedHandler>([&](const JobExecution&, JobProgress&) {
        service_->bump_version_before_next_update();
        return JobOutcome::succeeded();
      }));
  agent::JobReport report = run_one();
  EXPECT_EQ(report.final_status, JobExecutionStatus::succeeded);
  EXPECT_EQ(service_->execution("greet-2")->status, JobExecutionStatus::succeeded);
  EXPECT_THAT(summaries(), ElementsAre("describe $next", "update greet-2 IN_PROGRESS",
                                       "update greet-2 SUCCEEDED", "describe greet-2",
                                       "update greet-2 SUCCEEDED"));
  auto requests = service_->requests();
  EXPECT_EQ(requests[2].payload.at("expectedVersion"), 2);
  EXPECT_EQ(requests[4].payload.at("expectedVersion"), 3);
}

TEST_F(JobsClientTest, SendsARequestAgainWhenNoReplyComes) {
  reply_timeout_ = 1s;
  ASSERT_NO_FATAL_FAILURE(connect_device());
  service_->add("greet-3", json{{"operation", "greet"}});
  client_->register_handler(
      "greet", std::make_shared<ScriptedHandler>([&](const JobExecution&, JobProgress&) {
        service_->ignore_requests(1);
        return JobOutcome::succeeded();
      }));
  agent::JobReport report = run_one();
  EXPECT_EQ(report.final_status, JobExecutionStatus::succeeded);
  EXPECT_EQ(client_->stats().retries, 1u);
  EXPECT_THAT(summaries(), ElementsAre("describe $next", "update greet-3 IN_PROGRESS",
                                       "update greet-3 SUCCEEDED", "update greet-3 SUCCEEDED"));

  // A service that never answers: the failure says so, after every attempt.
  service_->add("greet-4", json{{"operation", "greet"}});
  service_->ignore_requests(100);
  auto silent = client_->run_next_job(5s);
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().step, agent::JobsStep::start_job);
  EXPECT_TRUE(silent.error().timed_out);
  EXPECT_THAT(silent.error().message, HasSubstr("after 3 attempt(s)"));
}

TEST_F(JobsClientTest, ResumesTheRememberedJobAfterARestart) {
  service_->add("ota-2", json{{"operation", "update"}});
  auto before = std::make_shared<ScriptedHandler>([](const JobExecution&, JobProgress& p) {
    EXPECT_TRUE(p.report({{"self_test", "ready"}}));
    return JobOutcome::continue_after_restart();
  });
  client_->register_handler("update", before);
  agent::JobReport first = run_one();
  EXPECT_EQ(first.outcome, JobOutcome::continue_after_restart());
  EXPECT_FALSE(first.final_status);
  auto remembered = store_.load();
  ASSERT_TRUE(remembered && *remembered) << "the job is remembered";
  EXPECT_EQ((*remembered)->job_id, "ota-2");
  EXPECT_FALSE((*remembered)->outcome);

  // The "reboot": a new connection and a new client over the same store.
  ASSERT_NO_FATAL_FAILURE(connect_device());
  const std::size_t seen_before = service_->requests().size();
  auto after = std::make_shared<ScriptedHandler>(
      [](const JobExecution&, JobProgress&) { return JobOutcome::failed(); },
      [](const JobExecution& job, JobProgress&) {
        EXPECT_EQ(job.status_details.at("self_test"), "ready");
        return JobOutcome::succeeded({{"reason", "accepted v2"}});
      });
  client_->register_handler("update", after);
  agent::JobReport resumed = run_one();
  EXPECT_TRUE(resumed.resumed);
  EXPECT_EQ(resumed.final_status, JobExecutionStatus::succeeded);
  EXPECT_EQ(after->calls, std::vector<std::string>{"resume ota-2"});
  auto all = summaries();
  // It described the remembered job instead of asking for the next one.
  EXPECT_THAT(
      std::vector<std::string>(all.begin() + static_cast<std::ptrdiff_t>(seen_before), all.end()),
      ElementsAre("describe ota-2", "update ota-2 SUCCEEDED"));
  EXPECT_EQ(service_->execution("ota-2")->status, JobExecutionStatus::succeeded);
  EXPECT_FALSE(*store_.load());
}

TEST_F(JobsClientTest, ReportsARememberedOutcomeWithoutRunningTheHandlerAgain) {
  service_->add("greet-5", json{{"operation", "greet"}}, JobExecutionStatus::in_progress);
  ASSERT_TRUE(store_.save(CurrentJob{"greet-5", 1, JobOutcome::succeeded({{"n", "1"}})}));
  ASSERT_NO_FATAL_FAILURE(connect_device());
  auto handler = std::make_shared<ScriptedHandler>(
      [](const JobExecution&, JobProgress&) { return JobOutcome::failed(); });
  client_->register_handler("greet", handler);
  agent::JobReport report = run_one();
  EXPECT_TRUE(report.resumed);
  EXPECT_EQ(report.final_status, JobExecutionStatus::succeeded);
  EXPECT_TRUE(handler->calls.empty());
  EXPECT_EQ(service_->execution("greet-5")->status_details.at("n"), "1");
}

TEST_F(JobsClientTest, ForgetsARememberedJobTheServiceEnded) {
  service_->add("greet-6", json{{"operation", "greet"}}, JobExecutionStatus::in_progress);
  service_->cancel("greet-6");
  ASSERT_TRUE(store_.save(CurrentJob{"greet-6", 1, std::nullopt}));
  ASSERT_NO_FATAL_FAILURE(connect_device());
  agent::JobReport report = run_one();
  EXPECT_TRUE(report.ended_by_service);
  EXPECT_FALSE(report.outcome);
  EXPECT_FALSE(*store_.load());
}

TEST_F(JobsClientTest, ACorruptStoreIsClearedAndTheRunningJobResumed) {
  service_->add("greet-7", json{{"operation", "greet"}}, JobExecutionStatus::in_progress,
                {{"step", "half"}});
  {
    std::ofstream corrupt(store_.path(), std::ios::trunc);
    corrupt << "{\"format\":1,\"job\":{\"jobId\":\"greet-7\",\"executionNum";
  }
  ASSERT_NO_FATAL_FAILURE(connect_device());
  auto handler = std::make_shared<ScriptedHandler>(
      [](const JobExecution&, JobProgress&) { return JobOutcome::failed(); },
      [](const JobExecution& job, JobProgress&) {
        EXPECT_EQ(job.status_details.at("step"), "half");
        return JobOutcome::succeeded();
      });
  client_->register_handler("greet", handler);
  agent::JobReport report = run_one();
  EXPECT_THAT(client_->stats().store_error, HasSubstr("corrupt"));
  // The job the device had started is resumed (it is IN_PROGRESS), not handled afresh.
  EXPECT_EQ(handler->calls, std::vector<std::string>{"resume greet-7"});
  EXPECT_EQ(report.final_status, JobExecutionStatus::succeeded);
  auto loaded = store_.load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_FALSE(*loaded);
}

TEST_F(JobsClientTest, AProgressReportAfterACancellationFails) {
  service_->add("greet-8", json{{"operation", "greet"}});
  client_->register_handler(
      "greet", std::make_shared<ScriptedHandler>([&](const JobExecution&, JobProgress& p) {
        service_->cancel("greet-8");
        auto ok = p.report({{"step", "2"}});
        EXPECT_FALSE(ok);
        if (!ok) {
          EXPECT_THAT(ok.error().message, HasSubstr("ended the job as CANCELED"));
        }
        return JobOutcome::failed();
      }));
  agent::JobReport report = run_one();
  EXPECT_TRUE(report.ended_by_service);
  EXPECT_EQ(report.final_status, JobExecutionStatus::canceled);
  EXPECT_EQ(service_->execution("greet-8")->status, JobExecutionStatus::canceled);
}

// ---- without a broker

TEST(JobsClientSettings, AreChecked) {
  class NoConnection : public agent::JobsConnection {
   public:
    Status publish(std::string_view, ByteView) override { return fail("none"); }
    Status subscribe(std::string_view, std::chrono::milliseconds) override { return fail("none"); }
    void set_message_sink(MessageSink) override {}
  } connection;
  TempDir dir;
  CurrentJobFile store(dir / "job.json");
  agent::JobsClientSettings s;
  s.thing_name = "bad name";
  auto client = agent::JobsClient::create(s, connection, store);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().step, agent::JobsStep::check_settings);
  EXPECT_THAT(client.error().message, HasSubstr("thing name \"bad name\""));
  s.thing_name = "t";
  s.attempts = 0;
  EXPECT_FALSE(agent::JobsClient::create(s, connection, store));
  s.attempts = 3;
  auto good = agent::JobsClient::create(s, connection, store);
  ASSERT_TRUE(good);
  // A connection that cannot subscribe: the failure is the subscribe step's.
  auto run = (*good)->run_next_job(10ms);
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().step, agent::JobsStep::subscribe);
}

TEST(CurrentJobFile, RemembersAndForgets) {
  TempDir dir;
  CurrentJobFile store(dir / "job.json");
  auto none = store.load();
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
  const CurrentJob running{"job-1", 4, std::nullopt};
  ASSERT_TRUE(store.save(running));
  EXPECT_EQ(*store.load(), running);
  const CurrentJob done{"job-1", 4, JobOutcome::rejected({{"reason", "no"}})};
  ASSERT_TRUE(store.save(done));
  EXPECT_EQ(*store.load(), done);
  auto text = read_file(store.path(), 1 << 16);
  EXPECT_THAT(std::string(as_chars(*text)), HasSubstr("\"format\":1"));
  ASSERT_TRUE(store.clear());
  EXPECT_FALSE(*store.load());
  EXPECT_FALSE(store.save(CurrentJob{"bad id!", 1, std::nullopt}));
  EXPECT_FALSE(store.save(CurrentJob{"job-1", 1, JobOutcome::continue_after_restart()}));
}

TEST(CurrentJobFile, RefusesWhatItCannotTrust) {
  TempDir dir;
  CurrentJobFile store(dir / "job.json");
  auto load_of = [&](const std::string& text) {
    EXPECT_TRUE(write_file_atomic(store.path(), as_bytes(text)));
    auto loaded = store.load();
    EXPECT_FALSE(loaded) << text;
    return loaded ? std::string() : loaded.error().message;
  };
  EXPECT_THAT(load_of(""), HasSubstr("corrupt"));
  EXPECT_THAT(load_of("garbage"), HasSubstr("corrupt"));
  EXPECT_THAT(load_of("[1]"), HasSubstr("corrupt"));
  EXPECT_THAT(load_of(R"({"job":{}})"), HasSubstr("no \"format\""));
  EXPECT_THAT(load_of(R"({"format":2})"), HasSubstr("has format 2; this version reads format 1"));
  EXPECT_THAT(load_of(R"({"format":1,"job":{"jobId":"a/b","executionNumber":1}})"),
              HasSubstr("job.jobId"));
  EXPECT_THAT(load_of(R"({"format":1,"job":{"jobId":"a","executionNumber":-1}})"),
              HasSubstr("job.executionNumber"));
  EXPECT_THAT(load_of(R"({"format":1,"job":{"jobId":"a","executionNumber":1,
                          "outcome":{"status":"IN_PROGRESS"}}})"),
              HasSubstr("not SUCCEEDED, FAILED or REJECTED"));
  EXPECT_THAT(load_of(R"({"format":1,"job":{"jobId":"a","executionNumber":1,
                          "outcome":{"status":"FAILED","statusDetails":{"k":""}}}})"),
              HasSubstr("job.outcome"));
  EXPECT_THAT(load_of(std::string(CurrentJobFile::kMaxCurrentJobFileSize + 1, ' ')),
              HasSubstr("current job file"));
}

}  // namespace
}  // namespace ironroot::testing

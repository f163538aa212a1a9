// Pre-provisioning hooks: a real shell script as command hook, a real cpp-httplib server on a
// loopback port (bound to port 0) as HTTP hook.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "ironroot/fleet/pre_provisioning_hook.hpp"
#include "support/temp_dir.hpp"

namespace ironroot::fleet::testing {
namespace {

using namespace std::chrono_literals;

HookRequest sample_request() {
  return HookRequest{std::string(64, 'a'),
                     std::string(64, 'b'),
                     "-----BEGIN CERTIFICATE-----",
                     "arn:ironroot:iot:::provisioningtemplate/t",
                     "client-1",
                     {{"SerialNumber", "SN-1"}}};
}

// Writes an executable shell script.
std::string script(const ironroot::testing::TempDir& dir, const std::string& name,
                   const std::string& body) {
  const std::string path = (dir / name).string();
  std::ofstream(path) << "#!/bin/sh\n" << body;
  ::chmod(path.c_str(), 0755);
  return path;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(PreProvisioningHook, ParsesHookTexts) {
  auto command = PreProvisioningHook::parse("command:/usr/bin/hook --flag value");
  ASSERT_TRUE(command) << command.error().message;
  auto http = PreProvisioningHook::parse("http://127.0.0.1:8080/hooks/provision");
  ASSERT_TRUE(http) << http.error().message;
  EXPECT_FALSE(PreProvisioningHook::parse("command:relative/hook"));
  EXPECT_FALSE(PreProvisioningHook::parse("https://example.com/hook"));
  EXPECT_FALSE(PreProvisioningHook::parse("http://host:99999/"));
  EXPECT_FALSE(PreProvisioningHook::parse("lambda:arn:aws:lambda:..."));
}

TEST(PreProvisioningHook, ReadsAnswers) {
  auto allow =
      parse_hook_answer(R"({"allowProvisioning": true, "parameterOverrides": {"A": "b"}})");
  ASSERT_TRUE(allow) << allow.error().message;
  EXPECT_EQ(*allow, (HookDecision{true, {{"A", "b"}}}));
  EXPECT_EQ(*parse_hook_answer(R"({"allowProvisioning": false})"), (HookDecision{false, {}}));
  EXPECT_FALSE(parse_hook_answer("yes"));
  EXPECT_FALSE(parse_hook_answer(R"({"allowProvisioning": "true"})"));
  EXPECT_FALSE(parse_hook_answer(R"({"allowProvisioning": true, "parameterOverrides": {"A": 1}})"));
  EXPECT_FALSE(parse_hook_answer(std::string(kMaxHookAnswerSize + 1, ' ')));
}

TEST(PreProvisioningHook, CommandGetsTheRequestOnStdinAndAnswersOnStdout) {
  ironroot::testing::TempDir dir;
  const std::string path = script(dir, "hook.sh", R"(cat > "$1/request.json"
echo '{"allowProvisioning": true, "parameterOverrides": {"ThingName": "from-hook"}}'
)");
  auto hook = PreProvisioningHook::parse("command:" + path + " " + dir.path().string());
  ASSERT_TRUE(hook) << hook.error().message;
  auto decision = hook->call(sample_request(), 5s);
  ASSERT_TRUE(decision) << decision.error().message;
  EXPECT_TRUE(decision->allow_provisioning);
  EXPECT_EQ(decision->parameter_overrides.at("ThingName"), "from-hook");
  auto request = nlohmann::json::parse(read_file(dir / "request.json"));
  EXPECT_EQ(request["claimCertificateId"], std::string(64, 'a'));
  EXPECT_EQ(request["certificateId"], std::string(64, 'b'));
  EXPECT_EQ(request["certificatePem"], "-----BEGIN CERTIFICATE-----");
  EXPECT_EQ(request["templateArn"], "arn:ironroot:iot:::provisioningtemplate/t");
  EXPECT_EQ(request["clientId"], "client-1");
  EXPECT_EQ(request["parameters"], nlohmann::json({{"SerialNumber", "SN-1"}}));
}

TEST(PreProvisioningHook, CommandFailuresAreErrors) {
  ironroot::testing::TempDir dir;
  auto call = [&](const std::string& body) {
    auto hook = PreProvisioningHook::parse("command:" + script(dir, "hook.sh", body));
    EXPECT_TRUE(hook);
    return hook->call(sample_request(), 5s);
  };
  auto malformed = call("echo 'allow please'\n");
  ASSERT_FALSE(malformed);
  EXPECT_NE(malformed.error().message.find("not a JSON object"), std::string::npos);
  auto failing = call("echo 'no database' >&2\nexit 3\n");
  ASSERT_FALSE(failing);
  EXPECT_NE(failing.error().message.find("exited with status 3: no database"), std::string::npos)
      << failing.error().message;
  auto missing = PreProvisioningHook::parse("command:" + (dir / "absent.sh").string());
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->call(sample_request(), 5s));
}

TEST(PreProvisioningHook, CommandThatOverrunsIsKilled) {
  ironroot::testing::TempDir dir;
  const std::string path = script(dir, "slow.sh", "echo $$ > \"$1/pid\"\nexec sleep 600\n");
  auto hook = PreProvisioningHook::parse("command:" + path + " " + dir.path().string());
  ASSERT_TRUE(hook);
  const auto started = std::chrono::steady_clock::now();
  auto decision = hook->call(sample_request(), 300ms);
  ASSERT_FALSE(decision);
  EXPECT_EQ(decision.error().message.rfind("pre-provisioning hook timed out", 0), 0u)
      << decision.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  // The hook has been killed and reaped.
  const pid_t pid = std::stoi(read_file(dir / "pid"));
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// An HTTP hook server on 127.0.0.1, on a port the kernel chooses.
class HookServer {
 public:
  explicit HookServer(httplib::Server::Handler handler) {
    server_.Post("/hook", std::move(handler));
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~HookServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(PreProvisioningHook, HttpHookGetsAPostAndAnswers) {
  std::string received;
  std::string content_type;
  HookServer server([&](const httplib::Request& request, httplib::Response& response) {
    received = request.body;
    content_type = request.get_header_value("Content-Type");
    response.set_content(R"({"allowProvisioning": false})", "application/json");
  });
  auto hook = PreProvisioningHook::parse(server.url());
  ASSERT_TRUE(hook) << hook.error().message;
  auto decision = hook->call(sample_request(), 5s);
  ASSERT_TRUE(decision) << decision.error().message;
  EXPECT_FALSE(decision->allow_provisioning);
  EXPECT_EQ(content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(received)["clientId"], "client-1");
}

TEST(PreProvisioningHook, HttpErrorsAndTimeoutsAreErrors) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  HookServer server([&](const httplib::Request& request, httplib::Response& response) {
    if (request.body.find("slow") != std::string::npos) released.wait();
    if (request.body.find("broken") != std::string::npos) {
      response.status = 500;
      return;
    }
    response.set_content("{}", "application/json");
  });
  auto hook = PreProvisioningHook::parse(server.url());
  ASSERT_TRUE(hook);
  HookRequest request = sample_request();
  request.client_id = "broken";
  auto broken = hook->call(request, 5s);
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("HTTP 500"), std::string::npos);
  request.client_id = "fine";
  auto malformed = hook->call(request, 5s);  // {} has no allowProvisioning
  ASSERT_FALSE(malformed);
  EXPECT_NE(malformed.error().message.find("allowProvisioning"), std::string::npos);
  request.client_id = "slow";
  auto slow = hook->call(request, 300ms);
  release.set_value();
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().message.rfind("pre-provisioning hook timed out", 0), 0u)
      << slow.error().message;
}

}  // namespace
}  // namespace ironroot::fleet::testing

// What the tests of the CLI's fleet verbs share: the real `ironroot` binary run against the real
// REST API served in the test process (tests/fleet/rest_api_server.hpp), with only the server and
// token a test gives, and the checks every command's output must pass.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.hpp"
#include "rest_api_server.hpp"

namespace ironroot::testing {

inline bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A failure: the exit code and exactly one line on stderr that names the cause.
inline void expect_failure(const ProcessResult& r, const std::string& cause, int exit_code = 1) {
  EXPECT_EQ(r.exit_code, exit_code) << r.out << r.err;
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_TRUE(has(r.err, cause)) << r.err;
}

// The environment without any of the CLI's own variables, so that only what a test gives counts.
inline const std::vector<std::string> kCleanEnvironment = {
    "IRONROOT_SERVER=", "IRONROOT_TOKEN=", "IRONROOT_DATA_DIR="};

// `ironroot ARGS... --server URL --token alice's`, with `env` added to the clean environment.
inline ProcessResult run_against(const fleet::testing::RestApiServer& server,
                                 std::vector<std::string> args,
                                 const std::vector<std::string>& env = {}) {
  args.insert(args.end(), {"--server", server.url(), "--token", fleet::testing::kAliceToken});
  std::vector<std::string> environment = kCleanEnvironment;
  environment.insert(environment.end(), env.begin(), env.end());
  return ironroot_cli(args, environment);
}

// The same with --json; asserts success and returns the parsed document.
inline nlohmann::json run_json_against(const fleet::testing::RestApiServer& server,
                                       std::vector<std::string> args,
                                       const std::vector<std::string>& env = {}) {
  args.push_back("--json");
  ProcessResult r = run_against(server, args, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json document = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(document.is_discarded()) << r.out;
  return document;
}

// Writes `text` to `name` in `dir` and returns the path.
inline std::string write_text(const TempDir& dir, const std::string& name,
                              const std::string& text) {
  std::string path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

}  // namespace ironroot::testing

// The operator's REST API of a running ironrootd, as tests and benchmarks call it: the operator
// token read from the data folder, JSON in and out.
#pragma once

#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ironroot/core/file.hpp"

namespace ironroot::testing {

struct ApiResponse {
  int status = 0;  // 0: no answer (the service is not listening)
  nlohmann::json body;
};

class OperatorClient {
 public:
  OperatorClient(std::uint16_t port, const std::filesystem::path& data_dir) : port_(port) {
    if (auto text = read_file(data_dir / "operator.token", 4096)) {
      token_.assign(reinterpret_cast<const char*>(text->data()), text->size());
      while (!token_.empty() && token_.back() == '\n') token_.pop_back();
    }
  }

  // `method` is GET, POST, PUT or DELETE; a null body sends none.
  ApiResponse request(const std::string& method, const std::string& path,
                      const nlohmann::json& body = nullptr) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_bearer_token_auth(token_.c_str());
    client.set_read_timeout(120, 0);
    const std::string payload = body.is_null() ? "" : body.dump();
    auto r = method == "POST"     ? client.Post(path.c_str(), payload, "application/json")
             : method == "PUT"    ? client.Put(path.c_str(), payload, "application/json")
             : method == "DELETE" ? client.Delete(path.c_str())
                                  : client.Get(path.c_str());
    if (!r) return {};
    return {r->status, r->body.empty() ? nlohmann::json(nullptr)
                                       : nlohmann::json::parse(r->body, nullptr, false)};
  }

 private:
  std::uint16_t port_;
  std::string token_;
};

}  // namespace ironroot::testing

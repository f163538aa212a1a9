#include "provision_commands.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "fleet_client.hpp"
#include "fleet_command_support.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/fleet/device_list.hpp"
#include "ironroot/protocol/provisioning.hpp"

namespace ironroot::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A device list of a million rows is about this size; the whole file is read at once.
constexpr std::uintmax_t kMaxDeviceListBytes = 256 * 1024 * 1024;
constexpr std::uintmax_t kMaxBundleFileBytes = 64 * 1024;
constexpr const char* kThingNameColumn = "ThingName";

// The files of a device bundle, in <out>/<thing name>/. device.json is written last: a bundle
// with it is complete.
constexpr const char* kKeyFile = "private-key.pem";
constexpr const char* kCertificateFile = "certificate.pem";
constexpr const char* kRootFile = "root-ca.pem";
constexpr const char* kDeviceFile = "device.json";

constexpr const char* kHelpFooter =
    R"(The device list is CSV (RFC 4180: fields separated by ',', a field holding ',', '"' or a
line break enclosed in '"' with each '"' inside doubled; CRLF or LF line ends). Its first line
names the columns: the template's parameters (ThingName, SerialNumber, ...), and optionally
`csr`, the path of the device's certificate signing request (PEM), relative to the CSV's folder.
An empty field leaves its parameter out (the template's Default applies).

A row with a CSR gets its certificate from it. A row without one gets a P-256 key made here for
factory programming: it needs ThingName, which names its bundle <out>/<ThingName>/ with
private-key.pem (mode 0600, written first), certificate.pem, root-ca.pem (what the device needs
to verify the broker) and device.json (thing and certificate id). Rows with a CSR get a bundle
without the key.

Running the same list again is safe: complete bundles are skipped, a bundle's key is reused, and
ironrootd returns the certificate it already issued for a thing and key. A bad row is reported as
<file>:<line>: <reason> and the other rows go on; the exit code is 1 if any row failed.

Example devices.csv:
  ThingName,SerialNumber,csr
  sensor-1,SN-0001,
  sensor-2,SN-0002,csrs/sensor-2.csr
)";

enum class Outcome { created, unchanged, failed };

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::created:
      return "created";
    case Outcome::unchanged:
      return "unchanged";
    case Outcome::failed:
      break;
  }
  return "failed";
}

struct RowReport {
  std::size_t line = 0;
  Outcome outcome = Outcome::failed;
  std::string thing_name;
  std::string certificate_id;
  std::string bundle;
  std::string error;
  bool server_failed = false;  // the request to ironrootd failed (refused or unreachable)

  json to_json() const {
    json row = {{"line", line}, {"outcome", outcome_name(outcome)}};
    if (!thing_name.empty()) row["thingName"] = thing_name;
    if (!certificate_id.empty()) row["certificateId"] = certificate_id;
    if (!bundle.empty()) row["bundle"] = bundle;
    if (!error.empty()) row["error"] = error;
    return row;
  }
};

struct Counts {
  std::size_t created = 0;
  std::size_t unchanged = 0;
  std::size_t failed = 0;
  std::size_t done() const { return created + unchanged + failed; }
};

void draw(ProgressLine& bar, const Counts& counts, std::size_t total) {
  bar.draw("", static_cast<std::int64_t>(counts.done()), static_cast<std::int64_t>(total),
           "created " + std::to_string(counts.created) + "  unchanged " +
               std::to_string(counts.unchanged) + "  failed " + std::to_string(counts.failed));
}

Status sync_folder(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(dir.string() + ": " + std::strerror(errno));
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (synced != 0) return fail("syncing " + dir.string() + ": " + std::strerror(error));
  return {};
}

// A folder only its owner can read (it will hold a private key); its entry is made durable.
Status make_private_folder(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST && fs::is_directory(dir)) return {};
    return fail("cannot create " + dir.string() + ": " + std::strerror(errno));
  }
  return sync_folder(dir.parent_path().empty() ? fs::path(".") : dir.parent_path());
}

// Whether the bundle holds every file, with device.json naming `thing`; its certificate id.
std::optional<std::string> complete_bundle(const fs::path& bundle, const std::string& thing) {
  std::error_code ec;
  for (const char* file : {kKeyFile, kCertificateFile, kRootFile}) {
    if (!fs::is_regular_file(bundle / file, ec)) return std::nullopt;
  }
  auto text = read_file(bundle / kDeviceFile, kMaxBundleFileBytes);
  if (!text) return std::nullopt;
  json device = json::parse(as_chars(*text), nullptr, false);
  if (!device.is_object() || device.value("thingName", json()) != thing ||
      !device.value("certificateId", json()).is_string()) {
    return std::nullopt;
  }
  return device["certificateId"].get<std::string>();
}

// The bundle's key, made (and made durable, mode 0600) if the bundle has none yet.
Result<crypto::PrivateKey> bundle_key(const fs::path& bundle) {
  const fs::path path = bundle / kKeyFile;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    auto pem = read_file(path, kMaxBundleFileBytes);
    if (!pem) return prefixed(pem.error(), "the bundle's key");
    auto key = crypto::PrivateKey::from_pem(*pem);
    if (!key) return prefixed(key.error(), path.string());
    return key;
  }
  if (auto ok = make_private_folder(bundle); !ok) return tl::unexpected(ok.error());
  auto key = crypto::PrivateKey::generate(crypto::KeyType::ecdsa_p256);
  if (!key) return tl::unexpected(key.error());
  auto pem = key->pem();
  if (!pem) return tl::unexpected(pem.error());
  if (auto ok = write_file_atomic(path, as_bytes(*pem), 0600); !ok) {
    return prefixed(ok.error(), "writing " + path.string());
  }
  return key;
}

// Writes certificate.pem, root-ca.pem, then device.json.
Status write_bundle(const fs::path& bundle, const json& answer, const std::string& trust_pem) {
  if (auto ok = make_private_folder(bundle); !ok) return ok;
  const json device = {{"thingName", answer["thingName"]},
                       {"certificateId", answer["certificateId"]}};
  const std::pair<const char*, std::string> files[] = {
      {kCertificateFile, answer["certificatePem"].get<std::string>()},
      {kRootFile, trust_pem},
      {kDeviceFile, device.dump(2) + "\n"}};
  for (const auto& [name, text] : files) {
    if (auto ok = write_file_atomic(bundle / name, as_bytes(text), 0644); !ok) {
      return prefixed(ok.error(), "writing " + (bundle / name).string());
    }
  }
  return {};
}

struct BulkArgs {
  std::string template_name;
  std::string out = "bundles";
  std::string device_list;
};

class BulkRun {
 public:
  BulkRun(const BulkArgs& args, FleetClient& client, std::string trust_pem)
      : args_(args), client_(client), trust_pem_(std::move(trust_pem)) {
    list_dir_ = fs::path(args.device_list).parent_path();
  }

  RowReport provision(const fleet::DeviceRow& row) {
    RowReport report;
    report.line = row.line;
    if (!row.error.empty()) return failed(std::move(report), row.error);
    auto thing = row.parameters.find(kThingNameColumn);
    if (thing != row.parameters.end()) report.thing_name = thing->second;

    std::string csr_pem;
    std::optional<fs::path> bundle;
    if (row.csr_path) {
      fs::path path(*row.csr_path);
      if (path.is_relative()) path = list_dir_ / path;
      auto pem = read_file(path, protocol::kMaxCsrPemSize);
      if (!pem) return failed(std::move(report), "csr: " + pem.error().message);
      csr_pem = std::string(as_chars(*pem));
    } else {
      if (report.thing_name.empty()) {
        return failed(std::move(report),
                      "no csr and no ThingName: a row without a CSR needs a ThingName column "
                      "value, which names its bundle folder");
      }
      if (auto ok = crypto::check_thing_name(report.thing_name); !ok) {
        return failed(std::move(report), "ThingName: " + ok.error().message);
      }
      bundle = fs::path(args_.out) / report.thing_name;
      report.bundle = bundle->string();
      if (auto id = complete_bundle(*bundle, report.thing_name)) {
        report.certificate_id = *id;
        report.outcome = Outcome::unchanged;
        return report;
      }
      auto key = bundle_key(*bundle);
      if (!key) return failed(std::move(report), key.error().message);
      auto csr = crypto::CertificateRequest::create({report.thing_name, "", ""}, *key);
      if (!csr) return failed(std::move(report), csr.error().message);
      csr_pem = csr->pem();
    }

    json parameters = json::object();
    for (const auto& [name, value] : row.parameters) parameters[name] = value;
    auto answer =
        client_.post("/v1/templates/" + path_segment(args_.template_name) + "/provision",
                     {{"parameters", parameters}, {"certificateSigningRequest", csr_pem}});
    if (!answer) {
      report.server_failed = true;
      return failed(std::move(report), answer.error().message);
    }
    if (!answer->is_object() || !answer->value("thingName", json()).is_string() ||
        !answer->value("certificateId", json()).is_string() ||
        !answer->value("certificatePem", json()).is_string() ||
        !answer->value("created", json()).is_boolean()) {
      return failed(std::move(report),
                    "ironrootd's answer lacks thingName, certificateId, "
                    "certificatePem or created");
    }
    report.thing_name = (*answer)["thingName"].get<std::string>();
    report.certificate_id = (*answer)["certificateId"].get<std::string>();
    if (!bundle) {
      if (auto ok = crypto::check_thing_name(report.thing_name); !ok) {
        return failed(std::move(report), "thingName from ironrootd: " + ok.error().message);
      }
      bundle = fs::path(args_.out) / report.thing_name;
      report.bundle = bundle->string();
      std::error_code ec;
      if (fs::exists(*bundle / kKeyFile, ec)) {
        return failed(
            std::move(report),
            "bundle " + report.bundle +
                " holds a key made here for this thing, which "
                "the certificate of this row's CSR would not match: remove the folder, or "
                "the row's csr");
      }
    }
    if (auto ok = write_bundle(*bundle, *answer, trust_pem_); !ok) {
      return failed(std::move(report), ok.error().message);
    }
    report.outcome = (*answer)["created"].get<bool>() ? Outcome::created : Outcome::unchanged;
    return report;
  }

 private:
  static RowReport failed(RowReport report, std::string error) {
    report.outcome = Outcome::failed;
    report.error = std::move(error);
    return report;
  }

  const BulkArgs& args_;
  FleetClient& client_;
  std::string trust_pem_;
  fs::path list_dir_;
};

void run_bulk(const BulkArgs& args, const FleetOptions& options, const Output& out,
              int& exit_code) {
  const std::string& file = args.device_list;
  auto text = read_file(file, kMaxDeviceListBytes);
  if (!text) {
    exit_code = out.failure(text.error().message);
    return;
  }
  auto list = fleet::parse_device_list(as_chars(*text));
  if (!list) {
    exit_code = out.failure(file + ": " + list.error().message);
    return;
  }
  auto endpoint = resolve_endpoint(options);
  if (!endpoint) {
    exit_code = out.failure(endpoint.error().message);
    return;
  }
  auto client = FleetClient::open(std::move(*endpoint));
  if (!client) {
    exit_code = out.usage_error(client.error().message);
    return;
  }
  // Things that would fail every row are reported once, before any row.
  if (auto found = client->get("/v1/templates/" + path_segment(args.template_name)); !found) {
    exit_code = out.failure("template '" + args.template_name + "': " + found.error().message);
    return;
  }
  auto trust = client->get("/v1/device-trust");
  if (!trust || !trust->is_object() || !trust->value("certificatesPem", json()).is_string()) {
    exit_code = out.failure(
        "the devices' root CA from ironrootd (GET /v1/device-trust): " +
        (trust ? std::string("no certificatesPem in the answer") : trust.error().message));
    return;
  }
  std::error_code ec;
  if (!fs::exists(args.out, ec)) {
    if (auto ok = make_private_folder(args.out); !ok) {
      exit_code = out.failure("--out: " + ok.error().message);
      return;
    }
  } else if (!fs::is_directory(args.out, ec)) {
    exit_code = out.failure("--out " + args.out + " is not a folder");
    return;
  }

  BulkRun run(args, *client, (*trust)["certificatesPem"].get<std::string>());
  ProgressLine bar(ProgressLine::enabled_for(out));
  Counts counts;
  json rows = json::array();
  std::size_t not_attempted = 0;
  std::string stopped;
  draw(bar, counts, list->rows.size());
  for (std::size_t i = 0; i < list->rows.size(); ++i) {
    RowReport report = run.provision(list->rows[i]);
    switch (report.outcome) {
      case Outcome::created:
        ++counts.created;
        break;
      case Outcome::unchanged:
        ++counts.unchanged;
        break;
      case Outcome::failed:
        ++counts.failed;
        if (!out.json) {
          bar.clear();
          std::fprintf(stderr, "%s:%zu: %s\n", file.c_str(), report.line, report.error.c_str());
        }
        break;
    }
    rows.push_back(report.to_json());
    draw(bar, counts, list->rows.size());
    // A refused row is that row's problem; a service that no longer answers is everyone's.
    if (report.server_failed) {
      if (auto health = client->get("/v1/health"); !health) {
        not_attempted = list->rows.size() - i - 1;
        stopped = health.error().message;
        break;
      }
    }
  }
  bar.clear();

  const bool ok = counts.failed == 0 && not_attempted == 0;
  std::string text_out = "template " + args.template_name + ": " + std::to_string(counts.created) +
                         " created, " + std::to_string(counts.unchanged) + " unchanged, " +
                         std::to_string(counts.failed) + " failed";
  if (not_attempted > 0) {
    text_out += ", " + std::to_string(not_attempted) +
                " not attempted (ironrootd stopped answering: " + stopped +
                "; run the same list again to finish)";
  }
  text_out += "; bundles in " + args.out;
  json document = {{"template", args.template_name}, {"created", counts.created},
                   {"unchanged", counts.unchanged},  {"failed", counts.failed},
                   {"notAttempted", not_attempted},  {"bundles", args.out},
                   {"rows", std::move(rows)}};
  out.result(text_out, document);
  exit_code = ok ? kExitOk : kExitFailure;
}

}  // namespace

void add_provision_commands(CLI::App& app, const Output& out, int& exit_code) {
  auto* provision =
      app.add_subcommand("provision", "Provision devices: certificates and things from a template");
  provision->require_subcommand(1);

  auto a = std::make_shared<BulkArgs>();
  auto* cmd = provision->add_subcommand(
      "bulk", "Provision every device of a CSV list through a provisioning template");
  cmd->add_option("--template", a->template_name, "Provisioning template to apply")->required();
  cmd->add_option("--out", a->out,
                  "Folder for the per-device bundles (made with mode 0700 if absent)")
      ->capture_default_str();
  cmd->add_option("devices", a->device_list, "The device list (CSV, see below)")->required();
  cmd->footer(kHelpFooter);
  CLI::App* root = &app;
  cmd->callback(
      [a, root, &out, &exit_code] { run_bulk(*a, fleet_options(*root), out, exit_code); });
}

}  // namespace ironroot::cli

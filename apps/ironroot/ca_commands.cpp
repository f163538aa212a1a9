#include "ca_commands.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <tuple>

#include "ironroot/ca/ca_folder.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/crypto/certificate_authority.hpp"
#include "ironroot/crypto/x509.hpp"
#include "ironroot/keystore/pkcs11_uri.hpp"
#include "key_source.hpp"

namespace ironroot::cli {

namespace {

namespace fs = std::filesystem;
using crypto::Time;

constexpr std::uintmax_t kMaxPemFileSize = 64 * 1024;
constexpr long kMaxDays = 36500;  // a century
constexpr long kDefaultCrlHours = 7 * 24;
constexpr long kMaxCrlHours = 366 * 24;

Time now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

bool looks_like_pem(ByteView data) {
  return as_chars(data).find("-----BEGIN ") != std::string_view::npos;
}

Status write_text(const fs::path& path, const std::string& text) {
  return write_file_atomic(path, as_bytes(text));
}

// A PEM CA key encrypted by hand is opened with the passphrase the other commands take.
std::optional<std::string> key_passphrase() {
  const char* pass = std::getenv("IRONROOT_KEY_PASSPHRASE");
  if (pass == nullptr) return std::nullopt;
  return std::string(pass);
}

nlohmann::json certificate_json(const crypto::Certificate& cert) {
  return {{"subject", cert.subject()},
          {"issuer", cert.issuer()},
          {"serial", cert.serial_hex()},
          {"not_before", crypto::format_time(cert.not_before())},
          {"not_after", crypto::format_time(cert.not_after())},
          {"sha256", to_hex(cert.fingerprint())}};
}

// ---- init -----------------------------------------------------------------------------------

void add_init(CLI::App& ca, const Output& out, int& exit_code) {
  struct Args {
    std::string dir;
    std::string name = "ironroot";
    long validity_days = crypto::kDefaultCaValidity.count();
    std::string root_key;
    std::string device_ca_key;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ca.add_subcommand(
      "init", "Create a CA folder: a root CA and an intermediate device CA (ECDSA P-256)");
  cmd->add_option("--dir", a->dir, "CA folder to create (new or empty)")->required();
  cmd->add_option("--name", a->name, "Organisation: the CAs' O and the start of their CN")
      ->capture_default_str();
  cmd->add_option("--validity-days", a->validity_days,
                  "Validity of the root and device CA certificates, in days")
      ->check(CLI::Range(1L, kMaxDays))
      ->capture_default_str();
  cmd->add_option("--root-key", a->root_key,
                  "Generate the root CA key in a PKCS#11 token (pkcs11: URI) instead of a file");
  cmd->add_option("--device-ca-key", a->device_ca_key,
                  "Generate the device CA key in a PKCS#11 token (pkcs11: URI) instead of a file");
  cmd->callback([a, &out, &exit_code] {
    if (auto ok = ca::check_ca_name(a->name); !ok) {
      exit_code = out.usage_error(ok.error().message);
      return;
    }
    for (const std::string* uri : {&a->root_key, &a->device_ca_key}) {
      if (!uri->empty() && !keystore::is_pkcs11_uri(*uri)) {
        exit_code = out.usage_error("--root-key and --device-ca-key take a pkcs11: URI, not '" +
                                    *uri + "' (without them the keys are files in the folder)");
        return;
      }
    }
    ca::CaInitOptions options;
    options.name = a->name;
    options.validity = std::chrono::days{a->validity_days};
    for (auto [uri, key, what] : {std::tuple{&a->root_key, &options.root_key, "root CA key"},
                                  {&a->device_ca_key, &options.device_ca_key, "device CA key"}}) {
      if (uri->empty()) continue;
      auto parsed = keystore::Pkcs11Uri::parse(*uri);
      if (!parsed) {
        exit_code = out.failure(std::string(what) + ": " + *uri + ": " + parsed.error().message);
        return;
      }
      *key = std::move(*parsed);
    }
    fs::path dir = a->dir;
    auto created = ca::CaFolder::init(dir, options);
    if (!created) {
      exit_code = out.failure(created.error().message);
      return;
    }
    const crypto::Certificate& root_cert = created->root_certificate();
    const crypto::Certificate& device_ca_cert = created->device_ca_certificate();
    spdlog::info("created CA {} in {}: root {}, device CA {}", a->name, dir.string(),
                 root_cert.serial_hex(), device_ca_cert.serial_hex());
    nlohmann::json root = certificate_json(root_cert);
    root["certificate"] = created->root_certificate_file().string();
    root["key"] = created->root_key();
    nlohmann::json device_ca = certificate_json(device_ca_cert);
    device_ca["certificate"] = created->device_ca_certificate_file().string();
    device_ca["key"] = created->device_ca_key();
    out.result("created CA " + a->name + " in " + dir.string() +
                   "\nroot CA:   " + root_cert.subject() + ", serial " + root_cert.serial_hex() +
                   "\ndevice CA: " + device_ca_cert.subject() + ", serial " +
                   device_ca_cert.serial_hex() + "\nvalid until " +
                   crypto::format_time(root_cert.not_after()) +
                   "\nchain:     " + created->chain_file().string(),
               {{"dir", dir.string()},
                {"name", a->name},
                {"root_ca", root},
                {"device_ca", device_ca},
                {"chain", created->chain_file().string()}});
    exit_code = kExitOk;
  });
}

// ---- csr ------------------------------------------------------------------------------------

void add_csr(CLI::App& ca, const Output& out, int& exit_code) {
  struct Args {
    std::string key;
    std::string cn;
    std::string serial;
    std::string output;
  };
  auto a = std::make_shared<Args>();
  auto* cmd =
      ca.add_subcommand("csr", "Make a certificate signing request for a device key (ECDSA P-256)");
  cmd->add_option("-k,--key", a->key, "Device key: PEM file or pkcs11: URI")->required();
  cmd->add_option("--cn", a->cn, "Thing name, the certificate's CN")->required();
  cmd->add_option("--serial", a->serial, "Device serial number, the subject's serialNumber");
  cmd->add_option("-o,--output", a->output, "CSR file to write (PEM)")->required();
  cmd->callback([a, &out, &exit_code] {
    if (auto ok = crypto::check_thing_name(a->cn); !ok) {
      exit_code = out.usage_error("--cn: " + ok.error().message);
      return;
    }
    if (!a->serial.empty()) {
      if (auto ok = crypto::check_device_serial(a->serial); !ok) {
        exit_code = out.usage_error("--serial: " + ok.error().message);
        return;
      }
    }
    auto signer = open_signer(a->key);
    if (!signer) {
      exit_code = out.failure(signer.error().message);
      return;
    }
    auto csr = crypto::CertificateRequest::create({a->cn, a->serial, ""}, **signer);
    if (!csr) {
      exit_code = out.failure(a->key + ": " + csr.error().message);
      return;
    }
    if (auto written = write_text(a->output, csr->pem()); !written) {
      exit_code = out.failure(written.error().message);
      return;
    }
    std::string key_hash = to_hex((*signer)->public_key().key_hash());
    out.result("wrote CSR " + a->output + " for " + csr->subject() + " (key hash " + key_hash + ")",
               {{"csr", a->output}, {"subject", csr->subject()}, {"key_hash", key_hash}});
    exit_code = kExitOk;
  });
}

// ---- issue ----------------------------------------------------------------------------------

struct IssueArgs {
  std::string dir;
  std::string csr;
  std::string output;
  long days = crypto::kDefaultDeviceValidity.count();
  std::string not_before;
  std::string not_after;
  bool chain = false;
};

// --not-before defaults to now less the clock-skew allowance; --not-after to --days after
// --not-before (when given) or after now.
Result<crypto::Validity> issue_validity(const IssueArgs& a) {
  Time start = now();
  crypto::Validity validity = crypto::validity_from_now(std::chrono::days{a.days}, start);
  if (!a.not_before.empty()) {
    auto t = crypto::parse_time(a.not_before);
    if (!t) return prefixed(t.error(), "--not-before");
    validity.not_before = *t;
    validity.not_after = *t + std::chrono::days{a.days};
  }
  if (!a.not_after.empty()) {
    auto t = crypto::parse_time(a.not_after);
    if (!t) return prefixed(t.error(), "--not-after");
    validity.not_after = *t;
  }
  if (validity.not_after <= validity.not_before) {
    return fail("--not-after (" + crypto::format_time(validity.not_after) +
                ") must come after --not-before (" + crypto::format_time(validity.not_before) +
                ")");
  }
  return validity;
}

Result<crypto::CertificateRequest> read_csr(const std::string& path) {
  auto data = read_file(path, kMaxPemFileSize);
  if (!data) return tl::unexpected(data.error());
  if (looks_like_pem(*data)) {
    auto csr = crypto::CertificateRequest::from_pem(*data);
    if (!csr) return prefixed(csr.error(), path);
    return csr;
  }
  auto csr = crypto::CertificateRequest::from_der(*data);
  if (!csr) return fail(path + " is not a certificate request (CSR), in PEM or DER");
  return csr;
}

void add_issue(CLI::App& ca, const Output& out, int& exit_code) {
  auto a = std::make_shared<IssueArgs>();
  auto* cmd = ca.add_subcommand(
      "issue", "Issue a device certificate (mutual TLS client) from a CSR, with the device CA");
  cmd->add_option("--dir", a->dir, "CA folder")->required();
  cmd->add_option("--csr", a->csr, "The device's CSR (PEM or DER)")->required();
  cmd->add_option("-o,--output", a->output, "Certificate file to write (PEM)")->required();
  auto* days = cmd->add_option("--days", a->days, "Validity in days")
                   ->check(CLI::Range(1L, kMaxDays))
                   ->capture_default_str();
  cmd->add_option("--not-before", a->not_before,
                  "Start of validity, YYYY-MM-DD[THH:MM:SSZ] (default: now less 1 hour)");
  cmd->add_option("--not-after", a->not_after,
                  "End of validity, YYYY-MM-DD[THH:MM:SSZ]; a date in the past makes an expired "
                  "certificate, for tests")
      ->excludes(days);
  cmd->add_flag("--chain", a->chain, "Append the device CA certificate to the output");
  cmd->callback([a, &out, &exit_code] {
    auto validity = issue_validity(*a);
    if (!validity) {
      exit_code = out.usage_error(validity.error().message);
      return;
    }
    auto csr = read_csr(a->csr);
    if (!csr) {
      exit_code = out.failure(csr.error().message);
      return;
    }
    auto folder = ca::CaFolder::open(a->dir);
    if (!folder) {
      exit_code = out.failure(folder.error().message);
      return;
    }
    auto device_ca = folder->device_ca({}, key_passphrase());
    if (!device_ca) {
      exit_code = out.failure(device_ca.error().message);
      return;
    }
    auto cert = folder->issue_device_certificate(*device_ca, *csr, *validity);
    if (!cert) {
      const ca::IssueError& error = cert.error();
      exit_code = out.failure(error.signing ? a->csr + ": " + error.message : error.message);
      return;
    }
    std::string pem = cert->pem();
    if (a->chain) pem += device_ca->certificate().pem();
    if (auto written = write_text(a->output, pem); !written) {
      exit_code = out.failure(written.error().message);
      return;
    }
    spdlog::info("issued {} serial {} until {}", cert->subject(), cert->serial_hex(),
                 crypto::format_time(cert->not_after()));
    nlohmann::json doc = certificate_json(*cert);
    doc["certificate"] = a->output;
    out.result("issued " + a->output + ": " + cert->subject() + ", serial " + cert->serial_hex() +
                   ", valid " + crypto::format_time(cert->not_before()) + " to " +
                   crypto::format_time(cert->not_after()),
               doc);
    exit_code = kExitOk;
  });
}

// ---- revoke ---------------------------------------------------------------------------------

void add_revoke(CLI::App& ca, const Output& out, int& exit_code) {
  struct Args {
    std::string dir;
    std::string serial;
    std::string cert;
    std::string reason = "unspecified";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ca.add_subcommand("revoke",
                                "Revoke a device certificate (publish it with `ironroot ca crl`)");
  cmd->add_option("--dir", a->dir, "CA folder")->required();
  auto* serial_option =
      cmd->add_option("--serial", a->serial, "Serial number of the certificate (hex)");
  cmd->add_option("--cert", a->cert, "The certificate itself (PEM or DER)")
      ->excludes(serial_option);
  cmd->add_option("--reason", a->reason, "CRL reason code")
      ->check(CLI::IsMember(crypto::revocation_reason_names()))
      ->capture_default_str();
  cmd->callback([a, &out, &exit_code] {
    if (a->serial.empty() == a->cert.empty()) {
      exit_code = out.usage_error("give --serial HEX or --cert FILE");
      return;
    }
    std::string serial;
    if (!a->serial.empty()) {
      auto normal = crypto::normalize_serial_hex(a->serial);
      if (!normal) {
        exit_code = out.usage_error("--serial '" + a->serial +
                                    "' is not a serial number in hex (as `ca issue` prints it)");
        return;
      }
      serial = *normal;
    }
    auto folder = ca::CaFolder::open(a->dir);
    if (!folder) {
      exit_code = out.failure(folder.error().message);
      return;
    }
    if (!a->cert.empty()) {
      auto cert = ca::read_certificate_file(a->cert);
      if (!cert) {
        exit_code = out.failure(cert.error().message);
        return;
      }
      auto ca_key = folder->device_ca_certificate().public_key();
      if (!ca_key || !cert->verify_signature(*ca_key)) {
        exit_code = out.failure(a->cert + " (" + cert->subject() + ", issuer " + cert->issuer() +
                                ") was not issued by this CA's device CA");
        return;
      }
      serial = cert->serial_hex();
    }
    auto record = folder->revoke(serial, *crypto::parse_revocation_reason(a->reason));
    if (!record) {
      exit_code = out.failure(record.error().message);
      return;
    }
    std::string at = crypto::format_time(record->revocation->revoked_at);
    spdlog::info("revoked {} serial {} ({})", record->subject, serial, a->reason);
    out.result("revoked " + record->subject + ", serial " + serial + " (" + a->reason +
                   "); publish a new CRL with `ironroot ca crl`",
               {{"serial", serial},
                {"subject", record->subject},
                {"revoked_at", at},
                {"reason", a->reason}});
    exit_code = kExitOk;
  });
}

// ---- crl ------------------------------------------------------------------------------------

void add_crl(CLI::App& ca, const Output& out, int& exit_code) {
  struct Args {
    std::string dir;
    std::string output;
    long next_update_hours = kDefaultCrlHours;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = ca.add_subcommand(
      "crl", "Issue a CRL of the device CA listing every revoked device certificate");
  cmd->add_option("--dir", a->dir, "CA folder")->required();
  cmd->add_option("-o,--output", a->output, "CRL file to write (PEM)")->required();
  cmd->add_option("--next-update-hours", a->next_update_hours,
                  "Hours until the CRL's nextUpdate (relying parties refuse it after that)")
      ->check(CLI::Range(1L, kMaxCrlHours))
      ->capture_default_str();
  cmd->callback([a, &out, &exit_code] {
    auto folder = ca::CaFolder::open(a->dir);
    if (!folder) {
      exit_code = out.failure(folder.error().message);
      return;
    }
    auto device_ca = folder->device_ca({}, key_passphrase());
    if (!device_ca) {
      exit_code = out.failure(device_ca.error().message);
      return;
    }
    auto issued = folder->issue_crl(*device_ca, std::chrono::hours{a->next_update_hours});
    if (!issued) {
      exit_code = out.failure(issued.error().message);
      return;
    }
    const crypto::RevocationList& crl = issued->crl;
    if (auto written = write_text(a->output, crl.pem()); !written) {
      exit_code = out.failure(written.error().message);
      return;
    }
    const std::uint64_t crl_number = issued->number;
    const std::size_t revoked = crl.revoked().size();
    const std::string this_update = crypto::format_time(crl.this_update());
    const std::string next = crypto::format_time(crl.next_update().value_or(crl.this_update()));
    spdlog::info("issued CRL {} with {} revoked certificates", crl_number, revoked);
    out.result("wrote CRL " + std::to_string(crl_number) + " to " + a->output + ": " +
                   std::to_string(revoked) + " revoked, next update " + next,
               {{"crl", a->output},
                {"crl_number", crl_number},
                {"issuer", crl.issuer()},
                {"this_update", this_update},
                {"next_update", next},
                {"revoked", revoked}});
    exit_code = kExitOk;
  });
}

}  // namespace

void add_ca_commands(CLI::App& app, const Output& out, int& exit_code) {
  auto* ca = app.add_subcommand("ca", "Certificate authority for device identity (mutual TLS)");
  ca->require_subcommand(1);
  add_init(*ca, out, exit_code);
  add_csr(*ca, out, exit_code);
  add_issue(*ca, out, exit_code);
  add_revoke(*ca, out, exit_code);
  add_crl(*ca, out, exit_code);
}

}  // namespace ironroot::cli

// `ironroot ca ...`: the certificate authority for device identity (a root, an intermediate
// device CA, device certificates from CSRs, revocation and CRLs), kept in one folder.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/x509.hpp"
#include "output.hpp"

namespace ironroot::cli {

// The files of a CA folder that other commands read (docs/ca.md).
inline constexpr const char* kCaRootCertFile = "root-ca.crt";
inline constexpr const char* kCaChainFile = "ca-chain.crt";

// For `broker init`: a TLS server certificate for `key` from the device CA of the CA folder `dir`
// (see crypto::CertificateAuthority::issue_server_certificate), recorded in its ca.json like every
// certificate it issues, so that it can be revoked.
Result<crypto::Certificate> issue_server_certificate_from_ca(const std::filesystem::path& dir,
                                                             const crypto::PublicKey& key,
                                                             std::span<const std::string> names,
                                                             std::chrono::days validity);

// A new CRL of the CA folder `dir`, as `ca crl` issues it: every revocation, the next cRLNumber
// (recorded in ca.json), nextUpdate `next_update` from now.
struct IssuedCrl {
  crypto::RevocationList crl;
  std::uint64_t number;
};
Result<IssuedCrl> issue_crl_from_ca(const std::filesystem::path& dir,
                                    std::chrono::hours next_update);

// Registers the `ca` noun and its verbs on `app`. A verb's exit code goes to `exit_code`.
void add_ca_commands(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli

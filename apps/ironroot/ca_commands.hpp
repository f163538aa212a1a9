// `ironroot ca ...`: the certificate authority for device identity (a root, an intermediate
// device CA, device certificates from CSRs, revocation and CRLs), kept in one folder
// (libs/ca, ironroot/ca/ca_folder.hpp).
#pragma once

#include <CLI/CLI.hpp>

#include "output.hpp"

namespace ironroot::cli {

// Registers the `ca` noun and its verbs on `app`. A verb's exit code goes to `exit_code`.
void add_ca_commands(CLI::App& app, const Output& out, int& exit_code);

}  // namespace ironroot::cli

#include "connection.hpp"

#include "options.hpp"

namespace ironroot::keystore {

Result<Connection> connect(const Pkcs11Uri& uri, const TokenOptions& options, bool read_write) {
  auto resolved = resolve_options(uri, options);
  if (!resolved) return tl::unexpected(resolved.error());
  auto module = Module::load(resolved->module_path);
  if (!module) return tl::unexpected(module.error());
  auto token = find_token(*module, uri);
  if (!token) return tl::unexpected(token.error());
  auto session = Session::open(*module, std::move(*token), read_write);
  if (!session) return tl::unexpected(session.error());
  if (auto login = session->login(resolved->pin); !login) return tl::unexpected(login.error());
  return Connection{std::move(*module), std::move(*session), std::move(resolved->pin)};
}

}  // namespace ironroot::keystore

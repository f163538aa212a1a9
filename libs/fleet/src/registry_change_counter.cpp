// Change detection for readers that cache what they read (authorization.hpp).
#include <sqlite3.h>

#include "registry_internal.hpp"

namespace ironroot::fleet {

RegistryResult<Registry::ChangeCounter> Registry::change_counter() {
  auto stmt = db_.prepare("PRAGMA data_version");
  if (!stmt) return internal(stmt.error());
  auto row = stmt->step();
  if (!row) return internal(row.error());
  if (!*row) return internal(Error{"PRAGMA data_version returned no row"});
  return ChangeCounter{stmt->integer(0), sqlite3_total_changes64(db_.native())};
}

}  // namespace ironroot::fleet

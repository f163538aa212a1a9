// The registry's schema. Released migrations are never edited: a change is a new migration.
#include <array>

#include "ironroot/fleet/registry.hpp"

namespace ironroot::fleet {

namespace {

// Times are seconds since the Unix epoch, UTC. JSON columns hold objects written by the registry.
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE things (
  name TEXT PRIMARY KEY,
  thing_type TEXT,
  attributes TEXT NOT NULL,
  firmware_version TEXT,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE thing_groups (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  query TEXT,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE group_members (
  group_name TEXT NOT NULL REFERENCES thing_groups(name) ON DELETE CASCADE,
  thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
  PRIMARY KEY (group_name, thing_name)
) WITHOUT ROWID;
CREATE INDEX group_members_by_thing ON group_members(thing_name);

CREATE TABLE provisioning_templates (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  body TEXT NOT NULL,
  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  pre_provisioning_hook TEXT,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE ca_certificates (
  id TEXT PRIMARY KEY,
  pem TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
  subject TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  provisioning_template TEXT REFERENCES provisioning_templates(name),
  auto_registration INTEGER NOT NULL CHECK (auto_registration IN (0, 1)),
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ca_certificates_by_subject ON ca_certificates(subject);
CREATE INDEX ca_certificates_by_template ON ca_certificates(provisioning_template);

CREATE TABLE certificates (
  id TEXT PRIMARY KEY,
  pem TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('ACTIVE', 'INACTIVE', 'REVOKED', 'PENDING_ACTIVATION')),
  ca_id TEXT REFERENCES ca_certificates(id),
  subject TEXT NOT NULL,
  common_name TEXT NOT NULL,
  serial_hex TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX certificates_by_status ON certificates(status, id);
CREATE INDEX certificates_by_ca ON certificates(ca_id, id);

CREATE TABLE thing_principals (
  certificate_id TEXT NOT NULL REFERENCES certificates(id),
  thing_name TEXT NOT NULL REFERENCES things(name),
  PRIMARY KEY (certificate_id, thing_name)
) WITHOUT ROWID;
CREATE INDEX thing_principals_by_thing ON thing_principals(thing_name);

CREATE TABLE policies (
  name TEXT PRIMARY KEY,
  document TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE certificate_policies (
  policy_name TEXT NOT NULL REFERENCES policies(name),
  certificate_id TEXT NOT NULL REFERENCES certificates(id),
  PRIMARY KEY (certificate_id, policy_name)
) WITHOUT ROWID;
CREATE INDEX certificate_policies_by_policy ON certificate_policies(policy_name);

CREATE TABLE group_policies (
  policy_name TEXT NOT NULL REFERENCES policies(name),
  group_name TEXT NOT NULL REFERENCES thing_groups(name) ON DELETE CASCADE,
  PRIMARY KEY (group_name, policy_name)
) WITHOUT ROWID;
CREATE INDEX group_policies_by_policy ON group_policies(policy_name);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target_type TEXT NOT NULL,
  target_id TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE INDEX audit_log_by_target ON audit_log(target_type, target_id, id);
CREATE INDEX audit_log_by_time ON audit_log(at, id);
)sql";

// Fleet provisioning's certificate ownership tokens: only the SHA-256 of each token is kept.
constexpr std::string_view kVersion2 = R"sql(
CREATE TABLE certificate_ownership_tokens (
  token_hash TEXT PRIMARY KEY,
  certificate_id TEXT NOT NULL REFERENCES certificates(id),
  claim_certificate_id TEXT NOT NULL REFERENCES certificates(id),
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX certificate_ownership_tokens_by_expiry ON certificate_ownership_tokens(expires_at);
CREATE INDEX certificate_ownership_tokens_by_certificate
  ON certificate_ownership_tokens(certificate_id);
)sql";

// Jobs (jobs.hpp): jobs, their targets, and one row per job execution (a retry is a new row with
// the next execution number). At most one pending (QUEUED or IN_PROGRESS) execution per job and
// thing. A QUEUED execution without dispatched_at is not visible to its device yet. Executions
// name their thing without a foreign key: they outlive a deleted thing, as AWS IoT keeps them.
constexpr std::string_view kVersion3 = R"sql(
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  document TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('IN_PROGRESS', 'CANCELED', 'COMPLETED')),
  target_selection TEXT NOT NULL CHECK (target_selection IN ('SNAPSHOT', 'CONTINUOUS')),
  description TEXT NOT NULL,
  in_progress_timeout_minutes INTEGER,
  retry_config TEXT NOT NULL,
  rollout_config TEXT,
  abort_config TEXT,
  force_canceled INTEGER NOT NULL CHECK (force_canceled IN (0, 1)),
  reason_code TEXT,
  comment TEXT,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  completed_at INTEGER
) WITHOUT ROWID;
CREATE INDEX jobs_by_status ON jobs(status, id);

CREATE TABLE job_targets (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('thing', 'group')),
  name TEXT NOT NULL,
  PRIMARY KEY (job_id, kind, name)
) WITHOUT ROWID;
CREATE INDEX job_targets_by_name ON job_targets(kind, name);

CREATE TABLE job_executions (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  thing_name TEXT NOT NULL,
  execution_number INTEGER NOT NULL CHECK (execution_number >= 1),
  status TEXT NOT NULL CHECK (status IN ('QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED',
                                         'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED')),
  status_details TEXT NOT NULL,
  version_number INTEGER NOT NULL,
  queued_at INTEGER NOT NULL,
  started_at INTEGER,
  last_updated_at INTEGER NOT NULL,
  dispatched_at INTEGER,
  step_timeout_at INTEGER,
  in_progress_timeout_at INTEGER,
  retry_attempt INTEGER NOT NULL,
  force_canceled INTEGER NOT NULL CHECK (force_canceled IN (0, 1)),
  PRIMARY KEY (job_id, thing_name, execution_number)
) WITHOUT ROWID;
CREATE UNIQUE INDEX job_executions_one_pending ON job_executions(job_id, thing_name)
  WHERE status IN ('QUEUED', 'IN_PROGRESS');
CREATE INDEX job_executions_by_thing ON job_executions(thing_name, job_id, execution_number);
CREATE INDEX job_executions_pending_by_thing ON job_executions(thing_name, status, queued_at)
  WHERE status IN ('QUEUED', 'IN_PROGRESS');
CREATE INDEX job_executions_undispatched ON job_executions(job_id, thing_name)
  WHERE status = 'QUEUED' AND dispatched_at IS NULL;
CREATE INDEX job_executions_by_step_deadline ON job_executions(step_timeout_at)
  WHERE step_timeout_at IS NOT NULL;
CREATE INDEX job_executions_by_in_progress_deadline ON job_executions(in_progress_timeout_at)
  WHERE in_progress_timeout_at IS NOT NULL;
)sql";

// Rollout approvals (jobs.hpp, JobStore::approve_rollout_group): the pause gates of a job's
// rollout groups that an operator opened. They go with their job.
constexpr std::string_view kVersion4 = R"sql(
CREATE TABLE job_rollout_approvals (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  group_name TEXT NOT NULL,
  approved_by TEXT NOT NULL,
  approved_at INTEGER NOT NULL,
  PRIMARY KEY (job_id, group_name)
) WITHOUT ROWID;
)sql";

// The firmware repository (firmware.hpp): code-signing keys by MCUboot key hash, and uploaded
// images by the SHA-256 of their bytes (their file in the content folder). `seq` orders uploads.
// An image keeps the key that signed it: keys are revoked, never deleted.
constexpr std::string_view kVersion5 = R"sql(
CREATE TABLE code_signing_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  key_type TEXT NOT NULL CHECK (key_type IN ('ecdsa-p256', 'ed25519')),
  pem TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'REVOKED')),
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
) WITHOUT ROWID;

CREATE TABLE firmware_images (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT,
  description TEXT,
  version_major INTEGER NOT NULL,
  version_minor INTEGER NOT NULL,
  version_revision INTEGER NOT NULL,
  version_build INTEGER NOT NULL,
  security_counter INTEGER,
  image_hash TEXT NOT NULL,
  signing_key_id TEXT NOT NULL REFERENCES code_signing_keys(id),
  size INTEGER NOT NULL,
  load_addr INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  uploaded_at INTEGER NOT NULL,
  uploaded_by TEXT NOT NULL
);
CREATE INDEX firmware_images_by_version
  ON firmware_images(version_major, version_minor, version_revision, version_build, seq);
CREATE INDEX firmware_images_by_key ON firmware_images(signing_key_id);
)sql";

constexpr std::array<Migration, 5> kMigrations{kVersion1, kVersion2, kVersion3, kVersion4,
                                               kVersion5};

}  // namespace

std::span<const Migration> registry_migrations() {
  return kMigrations;
}

}  // namespace ironroot::fleet

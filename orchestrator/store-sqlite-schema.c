/* store-sqlite-schema.c — the sqlite store's schema, as the ordered list of
 * migration steps that store-sqlite.c applies at open (one transaction each,
 * user_version counting the steps done).
 *
 * To change the schema, append a step; never edit a released one. Keep the
 * PostgreSQL equivalent in mind: plain types, named constraints. */
#include "orchestrator/store-sqlite.h"

#include "common/cleanup.h"

/* Step i takes user_version i to i + 1. */
const char *const orch_sqlite_migrations[] = {
        /* 1: images, workspaces, the event log. */
        "CREATE TABLE images ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  format TEXT NOT NULL,"
        "  sha256 TEXT NOT NULL,"
        "  virtual_size INTEGER NOT NULL CHECK (virtual_size >= 0),"
        "  file_size INTEGER NOT NULL CHECK (file_size >= 0),"
        "  imported_at INTEGER NOT NULL);"
        "CREATE TABLE workspaces ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  name TEXT NOT NULL,"
        "  owner TEXT NOT NULL,"
        "  image TEXT REFERENCES images(name) ON DELETE RESTRICT,"
        "  template TEXT,"
        "  vcpus INTEGER NOT NULL CHECK (vcpus > 0),"
        "  memory_mib INTEGER NOT NULL CHECK (memory_mib > 0),"
        "  disk_gib INTEGER NOT NULL CHECK (disk_gib > 0),"
        "  state TEXT NOT NULL,"
        "  reason TEXT,"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL,"
        "  state_changed_at INTEGER NOT NULL,"
        "  agent_token_hash TEXT,"
        "  ip_addresses TEXT CONSTRAINT ip_addresses_is_json"
        "    CHECK (ip_addresses IS NULL OR json_valid(ip_addresses)),"
        "  last_heartbeat TEXT CONSTRAINT last_heartbeat_is_json"
        "    CHECK (last_heartbeat IS NULL OR json_valid(last_heartbeat)),"
        "  last_heartbeat_at INTEGER,"
        "  ssh_user TEXT,"
        "  deleted_at INTEGER);"
        /* Names are unique host-wide among the workspaces not deleted. */
        "CREATE UNIQUE INDEX workspaces_live_name ON workspaces(name)"
        "  WHERE state <> 'deleted';"
        "CREATE INDEX workspaces_owner ON workspaces(owner);"
        "CREATE INDEX workspaces_image ON workspaces(image);"
        /* No foreign key to workspaces: the log outlives a purged row. */
        "CREATE TABLE events ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  workspace_id TEXT NOT NULL,"
        "  time INTEGER NOT NULL,"
        "  kind TEXT NOT NULL,"
        "  from_state TEXT,"
        "  to_state TEXT,"
        "  reason TEXT,"
        "  detail TEXT CONSTRAINT detail_is_json CHECK (detail IS NULL OR json_valid(detail)));"
        "CREATE INDEX events_workspace ON events(workspace_id, id);"
        /* Append-only: hostd never edits its log, and refuses to. */
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
        "  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
        "  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;",

        /* 2: GPUs and who holds them. A gpus row stays when the inventory no
         * longer sees the card (present = 0): a workspace may still hold it,
         * and a quarantine must survive a refresh. The primary key of
         * gpu_assignments is what makes giving one GPU to two workspaces
         * impossible, whatever the callers do. What a workspace asks for is
         * kept on its row, so a start re-claims the same kind of GPUs. */
        "CREATE TABLE gpus ("
        "  address TEXT PRIMARY KEY NOT NULL,"
        "  vendor_device TEXT NOT NULL,"
        "  model TEXT,"
        "  numa_node INTEGER NOT NULL DEFAULT -1,"
        "  present INTEGER NOT NULL DEFAULT 1 CONSTRAINT gpus_present_bool"
        "    CHECK (present IN (0, 1)),"
        "  quarantined INTEGER NOT NULL DEFAULT 0 CONSTRAINT gpus_quarantined_bool"
        "    CHECK (quarantined IN (0, 1)),"
        "  quarantine_reason TEXT,"
        "  updated_at INTEGER NOT NULL);"
        "CREATE TABLE gpu_assignments ("
        "  address TEXT PRIMARY KEY NOT NULL"
        "    CONSTRAINT gpu_assignments_gpu REFERENCES gpus(address) ON DELETE RESTRICT,"
        "  workspace_id TEXT NOT NULL"
        "    CONSTRAINT gpu_assignments_workspace REFERENCES workspaces(id) ON DELETE RESTRICT,"
        "  assigned_at INTEGER NOT NULL);"
        "CREATE INDEX gpu_assignments_by_workspace ON gpu_assignments(workspace_id);"
        "ALTER TABLE workspaces ADD COLUMN gpu_count INTEGER NOT NULL DEFAULT 0"
        "  CONSTRAINT workspaces_gpu_count CHECK (gpu_count >= 0);"
        "ALTER TABLE workspaces ADD COLUMN gpu_model TEXT;"
        "ALTER TABLE workspaces ADD COLUMN gpu_numa TEXT CONSTRAINT workspaces_gpu_numa"
        "  CHECK (gpu_numa IS NULL OR gpu_numa IN ('required', 'preferred'));",

        /* 3: template versions. A version is immutable and named by the
         * SHA-256 of its canonical JSON; seq orders the pushes of one name
         * (the highest is the current version), also within one second. A
         * workspace keeps the hash of the version it was made from. */
        "CREATE TABLE template_versions ("
        "  name TEXT NOT NULL,"
        "  hash TEXT NOT NULL,"
        "  canonical_json TEXT NOT NULL CONSTRAINT template_versions_json"
        "    CHECK (json_valid(canonical_json)),"
        "  pushed_at INTEGER NOT NULL,"
        "  pushed_by TEXT,"
        "  seq INTEGER NOT NULL,"
        "  PRIMARY KEY (name, hash));"
        "CREATE INDEX template_versions_by_seq ON template_versions(name, seq);"
        "ALTER TABLE workspaces ADD COLUMN template_version TEXT;",

        /* 4: idle auto-stop and lifetimes (orchestrator/policy.h): a
         * workspace's settings and the engine's state, as its one-line text
         * form (NULL: no policy recorded, e.g. a workspace older than this). */
        "ALTER TABLE workspaces ADD COLUMN idle_timeout_s INTEGER NOT NULL DEFAULT 0"
        "  CONSTRAINT workspaces_idle_timeout CHECK (idle_timeout_s >= 0);"
        "ALTER TABLE workspaces ADD COLUMN lifetime_s INTEGER NOT NULL DEFAULT 0"
        "  CONSTRAINT workspaces_lifetime CHECK (lifetime_s >= 0);"
        "ALTER TABLE workspaces ADD COLUMN lifetime_action TEXT NOT NULL DEFAULT 'stop'"
        "  CONSTRAINT workspaces_lifetime_action CHECK (lifetime_action IN ('stop', 'delete'));"
        "ALTER TABLE workspaces ADD COLUMN policy_state TEXT;",

        /* 5: users and API tokens (orchestrator/users.h). Groups and roles are
         * space-separated names (their characters exclude spaces). A token
         * is kept only as its SHA-256, unique so that it finds its row;
         * tokens go with their user. */
        "CREATE TABLE users ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  email TEXT,"
        "  group_names TEXT NOT NULL DEFAULT '',"
        "  role_names TEXT NOT NULL DEFAULT '',"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL,"
        "  disabled_at INTEGER,"
        "  last_login_at INTEGER,"
        "  created_by TEXT);"
        "CREATE TABLE api_tokens ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  hash TEXT NOT NULL CONSTRAINT api_tokens_hash_unique UNIQUE"
        "    CONSTRAINT api_tokens_hash_hex CHECK (length(hash) = 64),"
        "  name TEXT NOT NULL,"
        "  owner TEXT NOT NULL"
        "    CONSTRAINT api_tokens_owner REFERENCES users(name) ON DELETE CASCADE,"
        "  created_by TEXT,"
        "  created_at INTEGER NOT NULL,"
        "  expires_at INTEGER NOT NULL,"
        "  last_used_at INTEGER,"
        "  revoked_at INTEGER,"
        "  read_only INTEGER NOT NULL DEFAULT 0 CONSTRAINT api_tokens_read_only_bool"
        "    CHECK (read_only IN (0, 1)),"
        "  workspace TEXT);"
        "CREATE INDEX api_tokens_by_owner ON api_tokens(owner, created_at);",
        /* 6: the audit log (orchestrator/store-audit.c, docs/audit.md). A
         * record is its canonical JSON body, kept byte for byte because its
         * hash covers those bytes; filters read the body with json_extract,
         * so no copied column can disagree with what the hash covers.
         * Append-only: a record may go only once the retention anchor (the
         * seq and hash of the last record pruned) has passed it, and the
         * anchor only moves forward. */
        "CREATE TABLE audit_log ("
        "  seq INTEGER PRIMARY KEY NOT NULL CONSTRAINT audit_log_seq CHECK (seq > 0),"
        "  body TEXT NOT NULL CONSTRAINT audit_log_body_is_json CHECK (json_valid(body)),"
        "  hash TEXT NOT NULL CONSTRAINT audit_log_hash CHECK (length(hash) = 64));"
        "CREATE INDEX audit_log_time ON audit_log(json_extract(body, '$.time'));"
        "CREATE TABLE audit_anchor ("
        "  id INTEGER PRIMARY KEY NOT NULL CONSTRAINT audit_anchor_one CHECK (id = 1),"
        "  seq INTEGER NOT NULL CONSTRAINT audit_anchor_seq CHECK (seq > 0),"
        "  hash TEXT NOT NULL CONSTRAINT audit_anchor_hash CHECK (length(hash) = 64),"
        "  pruned_at INTEGER NOT NULL);"
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
        "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
        "  WHEN OLD.seq > COALESCE((SELECT seq FROM audit_anchor WHERE id = 1), 0)"
        "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: only records up to the"
        " retention anchor may be removed'); END;"
        "CREATE TRIGGER audit_anchor_forward BEFORE UPDATE ON audit_anchor"
        "  WHEN NEW.seq <= OLD.seq"
        "  BEGIN SELECT RAISE(ABORT, 'the audit anchor only moves forward'); END;"
        "CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor"
        "  BEGIN SELECT RAISE(ABORT, 'the audit anchor cannot be removed'); END;",
        /* 7: quotas (orchestrator/quota.h): one row per limit set on a user
         * or a group. resource is "workspaces", "vcpus", "memory_mib",
         * "disk_gib" or "gpus:<model>"; NOCASE, as models match without case.
         * A workspace keeps its owner's groups at create (a JSON array), so
         * that a later start is admitted under the same group limits. */
        "CREATE TABLE quotas ("
        "  scope TEXT NOT NULL CONSTRAINT quotas_scope CHECK (scope IN ('user', 'group')),"
        "  name TEXT NOT NULL,"
        "  resource TEXT NOT NULL COLLATE NOCASE,"
        "  value INTEGER NOT NULL CONSTRAINT quotas_value CHECK (value >= 0),"
        "  updated_at INTEGER NOT NULL,"
        "  PRIMARY KEY (scope, name, resource));"
        "ALTER TABLE workspaces ADD COLUMN owner_groups TEXT CONSTRAINT workspaces_owner_groups"
        "  CHECK (owner_groups IS NULL OR json_valid(owner_groups));",
        /* 8: the run of a template's startup script, one row per workspace
         * whose template has one; it goes with the workspace's row. output
         * is the end of what the script wrote (64 KiB at most). */
        "CREATE TABLE workspace_startup ("
        "  workspace_id TEXT PRIMARY KEY NOT NULL"
        "    CONSTRAINT workspace_startup_workspace REFERENCES workspaces(id) ON DELETE CASCADE,"
        "  status TEXT NOT NULL CONSTRAINT workspace_startup_status"
        "    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'timed_out')),"
        "  exit_status INTEGER,"
        "  signal INTEGER,"
        "  started_at INTEGER,"
        "  finished_at INTEGER,"
        "  timeout_s INTEGER NOT NULL DEFAULT 0 CONSTRAINT workspace_startup_timeout CHECK (timeout_s >= 0),"
        "  output TEXT,"
        "  output_bytes INTEGER NOT NULL DEFAULT 0"
        "    CONSTRAINT workspace_startup_output_bytes CHECK (output_bytes >= 0),"
        "  output_truncated INTEGER NOT NULL DEFAULT 0"
        "    CONSTRAINT workspace_startup_truncated_bool CHECK (output_truncated IN (0, 1)),"
        "  note TEXT,"
        "  updated_at INTEGER NOT NULL);",
};

const size_t orch_sqlite_migration_count = HD_ARRAY_SIZE(orch_sqlite_migrations);

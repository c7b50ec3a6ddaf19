/* store.h — hostd's persistent state (images, workspaces, the event log)
 * behind one interface.
 *
 * Callers see an opaque orch_store and the functions below; which database
 * holds the rows is chosen at open time from the location string. Today the
 * only backend is embedded sqlite (store-sqlite.c); a PostgreSQL backend for
 * many hosts plugs in behind the same functions (see store-backend.h) without
 * touching callers.
 *
 * Rules every backend keeps:
 *   - Each call is atomic and committed when it returns 0: a caller that
 *     changed a state may act on it at once (a crash afterwards cannot bring
 *     the old state back).
 *   - A store handle may be used from several threads at once; calls on one
 *     handle are serialized. Several handles (threads, processes) on the same
 *     database are fine too: writers wait for each other.
 *   - Workspace rows are kept in state `deleted` (with deleted_at) so that who
 *     had what, and when, stays answerable; their name is free for reuse at
 *     once. orch_store_workspace_purge() removes such a row for good. The
 *     event log is never changed by the store after the fact, purge included.
 *   - Times are Unix seconds (UTC); 0 in a struct means "not set".
 *
 * Errors: HD_E_NOT_FOUND (no such row), HD_E_CONFLICT (name taken, wrong
 * state, still in use), HD_E_INVALID (a missing field, a JSON field that is
 * not JSON), HD_E_STORE (the database itself failed; the message carries the
 * operation and the database's own message). */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct orch_store orch_store;

/* ---- workspace states and the transition table --------------------------- */

typedef enum orch_ws_state {
        ORCH_WS_PENDING,
        ORCH_WS_PROVISIONING,
        ORCH_WS_RUNNING,
        ORCH_WS_READY,
        ORCH_WS_STOPPING,
        ORCH_WS_STOPPED,
        ORCH_WS_STARTING,
        ORCH_WS_DELETING,
        ORCH_WS_DELETED,
        ORCH_WS_FAILED,
        ORCH_WS__STATE_COUNT
} orch_ws_state;

/* A set of states, for "expected from" and list filters. */
#define ORCH_WS_BIT(s) (1u << (s))
#define ORCH_WS_ANY 0u

/* "pending", "ready", … ; NULL for a value outside the enum. */
const char *orch_ws_state_name(orch_ws_state s);
/* Parse a state name; -1 with HD_E_INVALID for an unknown one. */
int orch_ws_state_from_name(const char *name, orch_ws_state *out, hd_error *err);
/* Whether the transition table (store.c) allows from -> to. */
bool orch_ws_transition_allowed(orch_ws_state from, orch_ws_state to);

/* ---- rows ----------------------------------------------------------------- */

typedef struct orch_image {
        char *name;
        char *format;       /* "qcow2", "raw" */
        char *sha256;       /* lowercase hex */
        uint64_t virtual_size;
        uint64_t file_size;
        int64_t imported_at; /* on insert, 0 = now */
} orch_image;

typedef struct orch_workspace {
        char *id;            /* "ws-" + 16 lowercase hex, made by the store */
        char *name;          /* unique among workspaces not deleted */
        char *owner;
        char *image;         /* NULL once a deleted workspace's image is gone */
        char *template_name; /* column "template"; may be NULL */
        char *template_version; /* the version's hash when made from a template */
        unsigned vcpus;
        uint64_t memory_mib;
        uint64_t disk_gib;
        orch_ws_state state;
        char *reason;        /* why the last state change happened; may be NULL */
        int64_t created_at;
        int64_t updated_at;
        int64_t state_changed_at;
        char *agent_token_hash;
        char *ip_addresses;  /* JSON text, NULL until known */
        char *last_heartbeat; /* JSON text, the agent's last report */
        int64_t last_heartbeat_at;
        char *ssh_user;
        int64_t deleted_at;
        /* What it asks for (the GPUs it holds: orch_store_gpu_held()). */
        unsigned gpu_count;  /* whole GPUs; 0 = none */
        char *gpu_model;     /* filter: "H100" or "10de:2330"; NULL = any model */
        char *gpu_numa;      /* "required", "preferred", or NULL (= preferred) */
} orch_workspace;

typedef struct orch_event {
        int64_t id;          /* increasing: the log's order */
        char *workspace_id;
        int64_t time;
        char *kind;          /* "created", "state", or a caller's kind */
        char *from_state;    /* state names as text, NULL when not a change */
        char *to_state;
        char *reason;
        char *detail;        /* JSON text or NULL */
        /* The workspace as of the event (from its row, or from its "created"
         * event once the row is purged): */
        char *name;
        char *owner;
        char *state;         /* its state after the event */
} orch_event;

/* One pushed version of a template (see orchestrator/template.h). */
typedef struct orch_template_version {
        char *name;
        char *hash;           /* SHA-256 hex of canonical_json: the version's identity */
        char *canonical_json;
        int64_t pushed_at;    /* on push, 0 = now */
        char *pushed_by;      /* may be NULL */
} orch_template_version;

typedef struct orch_template_version_list {
        orch_template_version *items;
        size_t count;
} orch_template_version_list;

typedef struct orch_image_list {
        orch_image *items;
        size_t count;
} orch_image_list;

typedef struct orch_workspace_list {
        orch_workspace *items;
        size_t count;
} orch_workspace_list;

typedef struct orch_event_list {
        orch_event *items;
        size_t count;
} orch_event_list;

/* Free what a row owns (the _clear ones leave the struct itself). NULL-safe. */
void orch_image_clear(orch_image *img);
void orch_image_free(orch_image *img);
void orch_workspace_clear(orch_workspace *ws);
void orch_workspace_free(orch_workspace *ws);
void orch_event_clear(orch_event *ev);
void orch_template_version_clear(orch_template_version *v);
void orch_template_version_free(orch_template_version *v);
void orch_template_version_list_free(orch_template_version_list *l);
void orch_image_list_free(orch_image_list *l);
void orch_workspace_list_free(orch_workspace_list *l);
void orch_event_list_free(orch_event_list *l);

/* ---- open / close --------------------------------------------------------- */

/* Open (creating when missing, mode 0600) the store at location: a file path
 * for sqlite. Brings the schema up to date, one transaction per migration
 * step; refuses (HD_E_STORE) a database written by a newer hostd. */
orch_store *orch_store_open(const char *location, hd_error *err);
void orch_store_close(orch_store *st);

/* The schema version the database now has (for status output). */
int orch_store_schema_version(orch_store *st);

/* ---- images --------------------------------------------------------------- */

/* HD_E_CONFLICT when the name is taken. */
int orch_store_image_insert(orch_store *st, const orch_image *img, hd_error *err);
orch_image *orch_store_image_get(orch_store *st, const char *name, hd_error *err);
/* By name. */
int orch_store_image_list(orch_store *st, orch_image_list *out, hd_error *err);
/* HD_E_CONFLICT naming the workspaces (not deleted) that still use it.
 * Deleted workspaces that used it keep their history in the event log and
 * get image = NULL. */
int orch_store_image_delete(orch_store *st, const char *name, hd_error *err);

/* ---- template versions ----------------------------------------------------- *
 *
 * Versions of a name are kept in push order; the last pushed is the current
 * one, which new workspaces use. Versions never change once stored. */

/* Store v (name, hash, canonical_json required; the caller has validated
 * the template and computed the hash). Pushing the current version again
 * changes nothing (*created = false); pushing an older version again makes
 * it current once more (pushed_at and pushed_by updated, *created = false);
 * anything else adds a version (*created = true). created may be NULL. */
int orch_store_template_push(orch_store *st, const orch_template_version *v, bool *created,
                             hd_error *err);
/* Version hash of name, or its current version when hash is NULL.
 * HD_E_NOT_FOUND naming what is missing. */
orch_template_version *orch_store_template_get(orch_store *st, const char *name,
                                               const char *hash, hd_error *err);
/* Every version of name, current first. HD_E_NOT_FOUND when it has none. */
int orch_store_template_versions(orch_store *st, const char *name,
                                 orch_template_version_list *out, hd_error *err);
/* The current version of every template, by name. */
int orch_store_template_list(orch_store *st, orch_template_version_list *out, hd_error *err);
/* Remove every version of name. HD_E_CONFLICT naming the workspaces (not
 * deleted) made from it: a workspace still being provisioned reads its
 * version. Deleted workspaces keep the name and hash on their row and in
 * their "created" event. HD_E_NOT_FOUND when it has no version. */
int orch_store_template_delete(orch_store *st, const char *name, hd_error *err);

/* ---- workspaces ----------------------------------------------------------- */

/* A new workspace in state `pending`, committed, with an "created" event.
 * Taken from spec: name, owner, image (all required), template_name,
 * template_version, vcpus,
 * memory_mib, disk_gib (> 0), ssh_user, agent_token_hash, gpu_count,
 * gpu_model, gpu_numa (NULL, "required" or "preferred"); the rest is set
 * here. HD_E_CONFLICT when a workspace (not deleted) has that name,
 * HD_E_NOT_FOUND when the image is not in the store. */
orch_workspace *orch_store_workspace_create(orch_store *st, const orch_workspace *spec,
                                            hd_error *err);

/* By id (deleted ones included). */
orch_workspace *orch_store_workspace_get(orch_store *st, const char *id, hd_error *err);
/* By name, among workspaces not deleted. */
orch_workspace *orch_store_workspace_get_by_name(orch_store *st, const char *name,
                                                 hd_error *err);
/* By id first, then by name. */
orch_workspace *orch_store_workspace_find(orch_store *st, const char *id_or_name,
                                          hd_error *err);

typedef struct orch_ws_filter {
        const char *owner; /* NULL: any owner */
        unsigned states;   /* ORCH_WS_BIT set; ORCH_WS_ANY: every state but deleted */
} orch_ws_filter;

/* Ordered by name, then creation. filter may be NULL (= all not deleted). */
int orch_store_workspace_list(orch_store *st, const orch_ws_filter *filter,
                              orch_workspace_list *out, hd_error *err);

/* Fields a running workspace reports. NULL keeps a field, "" clears it. */
typedef struct orch_ws_update {
        const char *ip_addresses;     /* JSON */
        const char *last_heartbeat;   /* JSON; sets last_heartbeat_at too */
        int64_t last_heartbeat_at;    /* with last_heartbeat; 0 = now */
        const char *agent_token_hash;
} orch_ws_update;

/* HD_E_CONFLICT on a deleted workspace, HD_E_INVALID for JSON that is not. */
int orch_store_workspace_update(orch_store *st, const char *id, const orch_ws_update *u,
                                hd_error *err);

/* Move workspace id to state `to` in one transaction: check that its state
 * is in expected_from (ORCH_WS_BIT set; ORCH_WS_ANY = any) and that the table
 * allows the move, update state, reason (NULL clears it) and times, and add
 * one "state" event. Refused with HD_E_CONFLICT naming both states, and then
 * nothing changed. Committed when it returns 0. */
int orch_store_transition(orch_store *st, const char *id, unsigned expected_from,
                          orch_ws_state to, const char *reason, hd_error *err);

/* A workspace's idle and lifetime settings and the policy engine's state
 * (orchestrator/policy.h), kept on its row. */
typedef struct orch_ws_policy {
        unsigned idle_timeout_s;  /* 0: no idle auto-stop */
        unsigned lifetime_s;      /* 0: no hard lifetime */
        bool lifetime_delete;     /* at the end of the lifetime: delete (else stop) */
        char *state;              /* orch_policy_state_format() text; NULL: none recorded */
} orch_ws_policy;

void orch_ws_policy_clear(orch_ws_policy *p);
/* Read workspace id's policy (HD_E_NOT_FOUND for no such row). */
int orch_store_policy_get(orch_store *st, const char *id, orch_ws_policy *out, hd_error *err);
/* Replace it (state NULL clears the state). HD_E_CONFLICT on a deleted
 * workspace. */
int orch_store_policy_set(orch_store *st, const char *id, const orch_ws_policy *p,
                          hd_error *err);

/* The run of a template's startup script in the guest (docs/agent-protocol.md,
 * "startup"): kept for workspaces whose template has one, from creation
 * (pending) to its result; removed with the workspace row. */
typedef enum orch_startup_status {
        ORCH_STARTUP_PENDING,   /* not started yet (cloud-init still running, or no report yet) */
        ORCH_STARTUP_RUNNING,
        ORCH_STARTUP_SUCCEEDED, /* exit status 0 */
        ORCH_STARTUP_FAILED,    /* non-zero exit, a signal, or it could not run */
        ORCH_STARTUP_TIMED_OUT, /* ended at its time limit */
        ORCH_STARTUP__COUNT
} orch_startup_status;

typedef struct orch_ws_startup {
        orch_startup_status status;
        int exit_status;          /* -1: none */
        int signal;               /* the signal that ended it; 0: none */
        int64_t started_at;       /* the guest's clock; 0: not yet */
        int64_t finished_at;      /* 0: not yet, or unknown */
        unsigned timeout_s;       /* its time limit; 0: the agent's default */
        char *output;             /* the end of its output, UTF-8; NULL until finished (or not read) */
        uint64_t output_bytes;    /* all it wrote */
        bool output_truncated;    /* output is only the end of it */
        char *note;               /* why it did not run as usual; NULL */
        int64_t updated_at;       /* set by the store */
} orch_ws_startup;

/* "pending", "running", "succeeded", "failed", "timed_out"; NULL outside the enum. */
const char *orch_startup_status_name(orch_startup_status s);
/* -1 with HD_E_INVALID for an unknown name. */
int orch_startup_status_from_name(const char *name, orch_startup_status *out, hd_error *err);
void orch_ws_startup_clear(orch_ws_startup *s);
/* Workspace id's startup run: 1 and *out filled, 0 when it has none (no
 * script, or no such workspace). with_output: read the output too. */
int orch_store_startup_get(orch_store *st, const char *id, bool with_output, orch_ws_startup *out,
                           hd_error *err);
/* Record it (replacing what was there). HD_E_NOT_FOUND for no such
 * workspace, HD_E_CONFLICT for a deleted one. */
int orch_store_startup_set(orch_store *st, const char *id, const orch_ws_startup *s, hd_error *err);

/* Remove a workspace row in state deleted for good (HD_E_CONFLICT otherwise).
 * Its events stay, its startup run goes. */
int orch_store_workspace_purge(orch_store *st, const char *id, hd_error *err);

/* ---- event log ------------------------------------------------------------ */

/* Append an operation to workspace id's log. kind: 1-32 of [a-z0-9_.];
 * reason and detail (JSON) may be NULL. */
int orch_store_event_add(orch_store *st, const char *id, const char *kind,
                         const char *reason, const char *detail_json, hd_error *err);

/* Events of workspace id with an id above after_id, oldest first, at most
 * limit (0 = all). Events outlive their workspace row. */
int orch_store_event_list(orch_store *st, const char *id, int64_t after_id, size_t limit,
                          orch_event_list *out, hd_error *err);

/* Events of every workspace with an id above after_id, oldest first, at
 * most limit (0 = all): what the event stream replays. */
int orch_store_event_feed(orch_store *st, int64_t after_id, size_t limit, orch_event_list *out,
                          hd_error *err);
/* The id of the newest event (0 when the log is empty). */
int orch_store_event_last_id(orch_store *st, int64_t *out, hd_error *err);

/* Call fn(ctx) after each call that committed events (workspace create,
 * transition, event add, GPU claim and release, purge), in the committing
 * thread, after the handle's lock is released; fn may read the store.
 * fn NULL removes it. One listener per handle (orchestrator/events.h). Set
 * it before the handle is shared between threads. */
void orch_store_on_commit(orch_store *st, void (*fn)(void *ctx), void *ctx);

/* ---- GPUs ----------------------------------------------------------------- *
 *
 * The store keeps every GPU an inventory has reported (orch_store_gpu_sync),
 * and which workspace holds which, one row per GPU with the GPU's address as
 * its key: no GPU can be given to two workspaces, whatever callers do at the
 * same time. A GPU is claimable when it is present (the last inventory saw
 * it usable), not quarantined and not held. A workspace holds its GPUs until
 * orch_store_gpu_release(), a move to stopped, failed or deleted (same
 * transaction as the move), or its purge. */

typedef struct orch_gpu_row {
        char *address;           /* the GPU function, "0000:3b:00.0" */
        char *vendor_device;     /* "10de:2330" (lowercase hex) */
        char *model;             /* "GH100 [H100 SXM5 80GB]"; may be NULL */
        int numa_node;           /* -1 unknown */
        bool present;            /* the last inventory saw it usable */
        bool quarantined;        /* until an admin clears it */
        char *quarantine_reason;
        char *workspace_id;      /* its holder, or NULL */
} orch_gpu_row;

typedef struct orch_gpu_row_list {
        orch_gpu_row *items;
        size_t count;
} orch_gpu_row_list;

void orch_gpu_row_clear(orch_gpu_row *g);
void orch_gpu_row_list_free(orch_gpu_row_list *l);
/* Frees an address array from a claim or orch_store_gpu_held(). NULL-safe. */
void orch_gpu_addresses_free(char **addresses, size_t n);

/* Whether a GPU matches a model filter: a case-insensitive substring of its
 * model ("H100", "a100 80gb") or its exact vendor:device ("10de:2330").
 * NULL matches every GPU. */
bool orch_gpu_row_matches(const orch_gpu_row *g, const char *model_filter);

/* Record the GPUs an inventory found usable (address, vendor_device, model,
 * numa_node are read; the rest ignored): they become present, with these
 * details; every other known GPU becomes not present. Rows are never
 * removed: a holder keeps a GPU that vanished, and quarantines stay. */
int orch_store_gpu_sync(orch_store *st, const orch_gpu_row *usable, size_t n, hd_error *err);

/* Give workspace_id `count` (>= 1) claimable GPUs matching model_filter
 * (NULL = any), in one write transaction, and log a "gpu.claimed" event.
 * numa_policy: "required" (all on one NUMA node, or refuse), "preferred" or
 * NULL (one node when any node can, else across nodes).
 * Choice, deterministic: among the nodes with at least `count` free
 * matching GPUs, the one with the fewest free (ties: the lowest node
 * number), so that nodes with more free GPUs stay whole for bigger
 * requests; on that node the lowest addresses. Across nodes: the nodes
 * with the most free GPUs first (ties: lowest number), lowest addresses
 * first. A node of -1 (unknown) counts as one node.
 * *addresses_out (by address; free with orch_gpu_addresses_free) gets the
 * GPUs now held. Idempotent: a workspace that already holds exactly count
 * GPUs gets those back; one holding another number gets HD_E_CONFLICT.
 * Refusals, HD_E_NO_RESOURCES, nothing changed ("H100" is the filter, "GPU"
 * without one; totals count present matching GPUs, quarantined included):
 *   "no free H100: 0 of 8 free", "no free H100: this host has none",
 *   "only 3 of 8 H100 free, 4 requested",
 *   "4 H100 free but not 2 on one NUMA node (numa=required)".
 * HD_E_NOT_FOUND for an unknown workspace, HD_E_CONFLICT for a deleted one. */
int orch_store_gpu_claim(orch_store *st, const char *workspace_id, unsigned count,
                         const char *model_filter, const char *numa_policy,
                         char ***addresses_out, size_t *n_out, hd_error *err);

/* Release every GPU workspace_id holds, logging "gpu.released" when there
 * were any. Idempotent: 0 when it holds none (or does not exist). */
int orch_store_gpu_release(orch_store *st, const char *workspace_id, hd_error *err);

/* Every known GPU with its holder, by address. */
int orch_store_gpu_list(orch_store *st, orch_gpu_row_list *out, hd_error *err);

/* The GPUs workspace_id holds, by address (none: *n = 0, *addresses NULL). */
int orch_store_gpu_held(orch_store *st, const char *workspace_id, char ***addresses,
                        size_t *n, hd_error *err);

/* Take a GPU out of allocation (e.g. its reset failed) until cleared; a
 * holder keeps it. reason is required. HD_E_NOT_FOUND for an unknown
 * address. */
int orch_store_gpu_quarantine(orch_store *st, const char *address, const char *reason,
                              hd_error *err);
/* Make a quarantined GPU claimable again. HD_E_NOT_FOUND for an unknown address. */
int orch_store_gpu_clear(orch_store *st, const char *address, hd_error *err);

/* ---- quotas and admission (orchestrator/quota.h, docs/quotas.md) ---------- */
#include "orchestrator/quota.h"

/* The states whose workspaces hold vCPUs and memory. */
#define ORCH_QUOTA_HOLDING                                                                         \
        (ORCH_WS_BIT(ORCH_WS_PENDING) | ORCH_WS_BIT(ORCH_WS_PROVISIONING) |                       \
         ORCH_WS_BIT(ORCH_WS_RUNNING) | ORCH_WS_BIT(ORCH_WS_READY) | ORCH_WS_BIT(ORCH_WS_STARTING) | \
         ORCH_WS_BIT(ORCH_WS_STOPPING))
/* The states whose workspaces count toward the workspace count and disk. */
#define ORCH_QUOTA_EXISTING \
        (((1u << ORCH_WS__STATE_COUNT) - 1) & ~ORCH_WS_BIT(ORCH_WS_DELETING) & ~ORCH_WS_BIT(ORCH_WS_DELETED))

/* orch_store_workspace_create and, in the same transaction: adm->groups kept
 * on the row, its GPUs claimed when gpu_count > 0 (as orch_store_gpu_claim;
 * a service checks first that the host can pass GPUs through at all), and
 * admission decided: the owner's quotas, then the host's capacity. Any
 * refusal (HD_E_FORBIDDEN for a quota, HD_E_NO_RESOURCES for the host or
 * its GPUs, messages in quota.h and above) leaves nothing: no row, no
 * claim, no event. */
orch_workspace *orch_store_workspace_create_admit(orch_store *st, const orch_workspace *spec,
                                                  const orch_admission *adm, hd_error *err);
/* orch_store_transition to ORCH_WS_STARTING and, in the same transaction,
 * the row's GPUs claimed and admission decided for what a start takes back
 * (vCPUs, memory, GPUs), with the groups the row kept at create. A refusal
 * leaves the workspace where it was. */
int orch_store_transition_admit(orch_store *st, const char *id, unsigned expected_from,
                                orch_ws_state to, const char *reason, const orch_admission *adm,
                                hd_error *err);

/* Replace every limit set on one user or group by limits (checked and
 * sorted in place: orch_quota_limits_check). */
int orch_store_quota_set(orch_store *st, orch_quota_scope scope, const char *name,
                         orch_quota_limit *limits, size_t n, hd_error *err);
/* Remove them all; HD_E_NOT_FOUND when none is set. */
int orch_store_quota_delete(orch_store *st, orch_quota_scope scope, const char *name,
                            hd_error *err);
/* Every user and group with limits: users then groups, by name. */
int orch_store_quota_list(orch_store *st, orch_quota_set_list *out, hd_error *err);
/* The limits of one user or group (HD_E_NOT_FOUND when none is set). */
int orch_store_quota_get(orch_store *st, orch_quota_scope scope, const char *name,
                         orch_quota_set *out, hd_error *err);
/* The limits in effect for user in groups, where each comes from, and the
 * user's use now (orch_quota_resolve with use). Free with orch_quota_report_free. */
int orch_store_quota_report(orch_store *st, const char *user, const char *const *groups,
                            size_t n_groups, orch_quota_report *out, hd_error *err);

/* ---- ids ------------------------------------------------------------------ */

#define ORCH_WS_ID_LEN 19 /* "ws-" + 16 hex */

/* A fresh workspace id from the system's CSPRNG (OpenSSL RAND_bytes). */
int orch_ws_new_id(char out[ORCH_WS_ID_LEN + 1], hd_error *err);
/* Whether s has the shape of a workspace id. */
bool orch_ws_id_valid(const char *s);

/* _cleanup_(orch_workspace_freep) orch_workspace *ws = …; and friends. */
#include "common/cleanup.h"
HD_DEFINE_CLEANUP(orch_image *, orch_image_free)
HD_DEFINE_CLEANUP(orch_workspace *, orch_workspace_free)
#define _cleanup_gpu_rows_ _cleanup_(orch_gpu_row_list_free)

/* store-audit.h — the audit log's rows in hostd's database (table audit_log,
 * migration step "the audit log" in store-sqlite-schema.c).
 *
 * The store keeps what api/audit.c gives it: each record's canonical body,
 * byte for byte, and its hash; it knows nothing of the chain beyond the
 * retention anchor. It has its own connection to the database (opened after
 * orch_store_open has brought the schema up to date), so that an append can
 * run a caller's step (writing the JSONL file) inside its transaction
 * without holding the main store's lock.
 *
 * Errors: HD_E_STORE (the database failed), HD_E_NOT_FOUND, HD_E_CONFLICT (a
 * seq already taken). */
#pragma once

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct orch_audit_store orch_audit_store;

typedef struct orch_audit_row {
        int64_t seq;
        char *body;        /* the canonical JSON body */
        char hash[65];     /* SHA-256 hex of body */
} orch_audit_row;

typedef struct orch_audit_rows {
        orch_audit_row *items;
        size_t count;
} orch_audit_rows;

/* Filters of orch_audit_store_list; NULL / 0 leaves one out. */
typedef struct orch_audit_query {
        const char *actor;         /* actor.user or actor.on_behalf_of */
        const char *action;        /* exact; a trailing '*' makes it a prefix */
        const char *resource_type;
        const char *resource_id;   /* only with resource_type */
        const char *since;         /* record times as written ("…T10:00:00.000Z"): since <= time */
        const char *until;         /* time < until */
        int64_t after, before;     /* after < seq, seq < before */
        bool newest_first;
        size_t limit;              /* 1 or more */
} orch_audit_query;

void orch_audit_row_clear(orch_audit_row *row);
void orch_audit_rows_free(orch_audit_rows *rows);

/* Open a connection to the database at location (the file orch_store_open
 * opened and migrated). HD_E_STORE when the audit tables are missing. */
orch_audit_store *orch_audit_store_open(const char *location, hd_error *err);
void orch_audit_store_close(orch_audit_store *st);

/* Whether a record could be committed now: a write transaction starts (and
 * is rolled back). */
int orch_audit_store_check(orch_audit_store *st, hd_error *err);

/* The newest record's seq and hash; the anchor's when every record is gone;
 * 0 and "" when the log is empty. */
int orch_audit_store_head(orch_audit_store *st, int64_t *seq, char hash[65], hd_error *err);
/* The retention anchor: 0, or 1 when nothing was ever pruned. */
int orch_audit_store_anchor(orch_audit_store *st, int64_t *seq, char hash[65], hd_error *err);
/* One record by seq (HD_E_NOT_FOUND). */
int orch_audit_store_get(orch_audit_store *st, int64_t seq, orch_audit_row *out, hd_error *err);
/* The newest record whose time is before time: 0, or 1 when there is none. */
int orch_audit_store_last_before(orch_audit_store *st, const char *time, orch_audit_row *out, hd_error *err);
/* Records matching q, by seq (ascending unless q->newest_first), at most q->limit. */
int orch_audit_store_list(orch_audit_store *st, const orch_audit_query *q, orch_audit_rows *out, hd_error *err);

/* Runs inside an append's transaction, after the rows changed: a failure
 * (-1 with err) rolls the whole append back. */
typedef int (*orch_audit_hook)(void *ctx, hd_error *err);

/* In one transaction: insert row; when prune_seq > 0, remove every record
 * up to prune_seq and make it (with its hash, which must be prune_hash) the
 * anchor, pruned at now (Unix seconds); then run hook (may be NULL); commit.
 * Nothing is changed when any step fails. */
int orch_audit_store_append(orch_audit_store *st, const orch_audit_row *row, int64_t prune_seq,
                            const char *prune_hash, int64_t now, orch_audit_hook hook, void *ctx,
                            hd_error *err);

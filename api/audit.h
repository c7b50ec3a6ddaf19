/* audit.h — the audit log inside api/ (docs/audit.md): one record per
 * mutating request and per authentication failure, chained by SHA-256, kept
 * in hostd's database and appended to a JSONL file for the site's SIEM.
 *
 * audit.c owns the log (the file, the store, the chain's head, the queue of
 * records not yet written, retention); audit-record.c builds a request's
 * record; audit-redact.c takes secrets out of it; audit-chain.c is the
 * chain itself. server.c calls api_audit_begin before a handler and
 * api_audit_end after it. */
#pragma once

#include "api/audit-chain.h"
#include "api/internal.h"
#include "orchestrator/store-audit.h"

typedef struct api_audit api_audit;

typedef struct api_audit_config {
        const char *file;          /* the JSONL file (config audit_file) */
        const char *db;            /* hostd's database, already migrated by the store */
        unsigned retention_days;   /* records older than this leave the database; 0 keeps all */
        /* Where hostd says what the log cannot record itself (a record that
         * waits in memory, a file that disagrees with the database): the
         * daemon's log. May be NULL. */
        void (*alert)(const char *line);
} api_audit_config;

/* Open the store and the file, and reconcile the file's last record with
 * the database (docs/audit.md, "Crashes and restarts"). A file that cannot
 * be opened is not fatal: mutating requests are refused until it can. NULL
 * with err when the database cannot be used. Starts the retention job when
 * retention_days > 0. */
api_audit *api_audit_open(const api_audit_config *cfg, hd_error *err);
void api_audit_close(api_audit *a);

/* The gate before a mutating request's handler: 0 when, now, the file is
 * open for appending (with room reserved where the file system can), the
 * database starts a write transaction and no earlier record is waiting;
 * else -1 with the reason. */
int api_audit_ready(api_audit *a, hd_error *err);

/* Seal rec (steals it) as the next record and write it to the database and
 * the file (one transaction; the file fdatasync'ed before the commit). On
 * failure the record waits in memory, in order, is written before any later
 * one, and mutating requests are refused until it is: -1 with why. */
int api_audit_append(api_audit *a, json_t *rec, hd_error *err);

/* Retention: remove from the database every record up to the newest one
 * written before cutoff_ms (Unix milliseconds), recording that record's
 * seq and hash as the anchor, in a record of its own ("hostd audit.prune").
 * Returns how many records went (0: none was old enough), or -1. */
long long api_audit_prune(api_audit *a, int64_t cutoff_ms, hd_error *err);

orch_audit_store *api_audit_store(api_audit *a);

/* "2024-05-01T10:00:00.123Z" for Unix milliseconds (buf of 32). */
void api_audit_time(int64_t ms, char buf[32]);
int64_t api_audit_now_ms(void);
/* A record's fields for something hostd did by itself (retention, lost
 * records): actor "hostd", method "internal". */
json_t *api_audit_internal_record(const char *action, json_t *diff);

/* server.c: the server's audit log (NULL when it has none: tests). */
api_audit *api_audit_of(const api_request *req);

/* ---- audit-record.c: a request's record ------------------------------------- */
/* Whether req gets a record: a mutating method (POST, PUT, PATCH, DELETE),
 * or any request answered 401. */
bool api_audit_wanted(const api_request *req);
/* The record of a request that has its answer (req->status, req->response). */
json_t *api_audit_request_record(const api_request *req);
/* server.c's hooks: begin answers 500 "audit log unavailable" (and returns
 * -1) when a mutating request must not run; end writes the record. */
int api_audit_begin(api_request *req);
void api_audit_end(api_request *req);

/* ---- audit-redact.c ---------------------------------------------------------- */
/* A copy of a request body for the record's "diff": secrets (by field name
 * or by look: hostd tokens, JWTs, private keys, the request's own bearer
 * token) replaced by "[redacted]", SSH public keys by their type, SHA256
 * fingerprint and comment, long strings by their length and SHA-256, deep
 * or large structures cut. bearer may be NULL. */
json_t *api_audit_redact(const json_t *body, const char *bearer);
/* One string as the record may show it (the same rules; NULL stays null). */
json_t *api_audit_redact_string(const char *s, const char *bearer);
/* Any C string as a JSON string: bytes that are not UTF-8 become '?'. */
json_t *api_audit_text(const char *s);

/* ---- audit-api.c: GET /v1/audit ----------------------------------------------- */
void api_list_audit(api_request *req);

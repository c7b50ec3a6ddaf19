/* audit-chain.h — the audit log's hash chain (docs/audit.md): SHA-256, the
 * canonical body of a record, its JSON line, and the verifier that walks a
 * sequence of records and names the first bad one.
 *
 * Depends on jansson and common/ only: wsctl compiles the same two files
 * (tools/wsctl/audit-chain.c), so that hostd and `wsctl audit verify` can
 * never disagree on the algorithm. */
#pragma once

#include "common/common.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_AUDIT_HASH_LEN 64
/* What the first record chains from. */
#define API_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
/* `,"hash":"` + 64 hex digits + `"}`: what a line has after its body's last member. */
#define API_AUDIT_HASH_SUFFIX_LEN 75

/* ---- SHA-256 (audit-sha256.c, OpenSSL) ---------------------------------------- */
typedef struct api_sha256 {
        struct evp_md_ctx_st *md; /* EVP_MD_CTX; freed by api_sha256_final */
} api_sha256;

void api_sha256_init(api_sha256 *c);
void api_sha256_update(api_sha256 *c, const void *data, size_t len);
void api_sha256_final(api_sha256 *c, unsigned char out[32]);
/* Lowercase hex of the SHA-256 of data. */
void api_sha256_hex(const void *data, size_t len, char out[API_AUDIT_HASH_LEN + 1]);

/* ---- records (audit-chain.c) ----------------------------------------------- */

/* The canonical text of a record: compact, keys sorted, everything outside
 * printable ASCII escaped (caller frees; NULL if rec cannot be written). */
char *api_audit_canonical(const json_t *rec);
/* Set rec's "seq" and "prev_hash", and return its canonical body (caller
 * frees); hash gets the SHA-256 hex of that body. */
char *api_audit_seal(json_t *rec, int64_t seq, const char *prev_hash, char hash[API_AUDIT_HASH_LEN + 1]);
/* The line of the JSONL file: body with `,"hash":"<hash>"` before its
 * closing brace, and a newline (caller frees). */
char *api_audit_line(const char *body, const char *hash);
/* The inverse, for a line without its newline: 0 with *body (caller frees)
 * and hash filled, -1 when the line does not end as api_audit_line makes it. */
int api_audit_split_line(const char *line, size_t len, char **body, char hash[API_AUDIT_HASH_LEN + 1]);
/* Whether s is 64 lowercase hex digits. */
bool api_audit_is_hash(const char *s);

/* ---- verification ------------------------------------------------------------ */
typedef struct api_audit_verifier {
        int64_t next_seq;        /* the seq the next record must have */
        char prev[API_AUDIT_HASH_LEN + 1]; /* the hash it must chain from */
        int64_t count;           /* good records so far */
        int64_t first_seq, last_seq; /* of the good records (0: none) */
        /* The first bad record, once found; later records are not checked. */
        bool bad;
        int64_t bad_seq;         /* its seq; 0 when it has none that can be read */
        char why[320];
} api_audit_verifier;

/* Start a walk at genesis (anchor_hash NULL: the first record must be seq 1
 * with prev_hash API_AUDIT_GENESIS) or after a known record (anchor_seq,
 * anchor_hash: a retention checkpoint or the last line of an earlier file). */
void api_audit_verify_start(api_audit_verifier *v, int64_t anchor_seq, const char *anchor_hash);
/* Check the next record, given as a line of the file (without its newline)
 * or as an object of the API's export (with its "hash"). 0 when good, -1
 * when bad: v->bad_seq and v->why say which and why (hash mismatch, missing
 * predecessor, out of order, malformed). */
int api_audit_verify_line(api_audit_verifier *v, const char *line, size_t len);
int api_audit_verify_object(api_audit_verifier *v, const json_t *rec);

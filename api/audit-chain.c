/* audit-chain.c — the audit log's hash chain: a record's canonical body and
 * hash, its line in the JSONL file, and the verifier (docs/audit.md has the
 * same algorithm for people and SIEMs).
 *
 *   body = the record without "hash", compact, keys sorted, non-ASCII escaped
 *   hash = hex(SHA-256(body)); the body holds "seq" and "prev_hash", the
 *          hash of the record before it (API_AUDIT_GENESIS for seq 1)
 *   line = body with ,"hash":"<hash>" put before its final '}'
 *
 * A line is checked on its exact bytes (cut the hash member off the end);
 * a record of the API's export is checked by writing its body again, which
 * gives the same bytes since hostd wrote it canonically. */
#include "api/audit-chain.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char hash_key[] = ",\"hash\":\"";

bool api_audit_is_hash(const char *s)
{
        if (!s || strlen(s) != API_AUDIT_HASH_LEN)
                return false;
        return strspn(s, "0123456789abcdef") == API_AUDIT_HASH_LEN;
}

char *api_audit_canonical(const json_t *rec)
{
        return json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

char *api_audit_seal(json_t *rec, int64_t seq, const char *prev_hash, char hash[API_AUDIT_HASH_LEN + 1])
{
        char *body;

        json_object_set_new(rec, "seq", json_integer(seq));
        json_object_set_new(rec, "prev_hash", json_string(prev_hash));
        body = api_audit_canonical(rec);
        if (body)
                api_sha256_hex(body, strlen(body), hash);
        return body;
}

char *api_audit_line(const char *body, const char *hash)
{
        size_t len = strlen(body);

        /* A body is an object with members: it ends with '}' and is longer than "{}". */
        return hd_asprintf("%.*s%s%s\"}\n", (int)(len - 1), body, hash_key, hash);
}

int api_audit_split_line(const char *line, size_t len, char **body, char hash[API_AUDIT_HASH_LEN + 1])
{
        const char *tail;

        if (len < API_AUDIT_HASH_SUFFIX_LEN + 2 || line[0] != '{')
                return -1;
        tail = line + len - API_AUDIT_HASH_SUFFIX_LEN;
        if (memcmp(tail, hash_key, sizeof(hash_key) - 1) != 0 || memcmp(line + len - 2, "\"}", 2) != 0)
                return -1;
        memcpy(hash, tail + sizeof(hash_key) - 1, API_AUDIT_HASH_LEN);
        hash[API_AUDIT_HASH_LEN] = '\0';
        if (!api_audit_is_hash(hash))
                return -1;
        *body = hd_asprintf("%.*s}", (int)(tail - line), line);
        return 0;
}

/* ---- the verifier --------------------------------------------------------------- */

void api_audit_verify_start(api_audit_verifier *v, int64_t anchor_seq, const char *anchor_hash)
{
        memset(v, 0, sizeof(*v));
        v->next_seq = anchor_hash ? anchor_seq + 1 : 1;
        snprintf(v->prev, sizeof(v->prev), "%s", anchor_hash ? anchor_hash : API_AUDIT_GENESIS);
}

static int bad(api_audit_verifier *v, int64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(api_audit_verifier *v, int64_t seq, const char *fmt, ...)
{
        va_list ap;

        v->bad = true;
        v->bad_seq = seq;
        va_start(ap, fmt);
        vsnprintf(v->why, sizeof(v->why), fmt, ap);
        va_end(ap);
        return -1;
}

/* The checks, on a body's exact bytes and the hash its record claims. */
static int check_body(api_audit_verifier *v, const char *body, size_t len, const char *hash)
{
        _cleanup_(json_decrefp) json_t *rec = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        json_t *jseq = json_object_get(rec, "seq");
        const char *prev = json_string_value(json_object_get(rec, "prev_hash"));
        char got[API_AUDIT_HASH_LEN + 1];
        int64_t seq;

        if (!json_is_integer(jseq) || json_integer_value(jseq) < 1)
                return bad(v, v->next_seq, "malformed: not a record with a seq (expected record %lld here)",
                           (long long)v->next_seq);
        seq = json_integer_value(jseq);
        api_sha256_hex(body, len, got);
        if (!api_audit_is_hash(hash) || strcmp(got, hash) != 0)
                return bad(v, seq, "hash mismatch: its content hashes to %.16s..., not to its hash %.16s...: "
                           "the record was changed after it was written", got, hash ? hash : "(none)");
        if (seq > v->next_seq)
                return bad(v, seq, "missing predecessor: record %lld should come before it%s", (long long)v->next_seq,
                           v->count == 0 ? " (if the log starts later on purpose, give the seq and hash of the "
                                           "record before it as the anchor)" : "");
        if (seq < v->next_seq)
                return bad(v, seq, "out of order: record %lld was expected here (records repeated or moved)",
                           (long long)v->next_seq);
        if (!prev || strcmp(prev, v->prev) != 0)
                return bad(v, seq, "missing predecessor: its prev_hash %.16s... is not the hash of %s (%.16s...): "
                           "the record before it was changed, replaced or removed", prev ? prev : "(none)",
                           seq == 1 ? "the genesis value" : "the record before it", v->prev);
        v->count++;
        if (!v->first_seq)
                v->first_seq = seq;
        v->last_seq = seq;
        v->next_seq = seq + 1;
        memcpy(v->prev, got, sizeof(got));
        return 0;
}

int api_audit_verify_line(api_audit_verifier *v, const char *line, size_t len)
{
        _cleanup_free_ char *body = NULL;
        char hash[API_AUDIT_HASH_LEN + 1];

        if (v->bad)
                return -1;
        if (api_audit_split_line(line, len, &body, hash) < 0)
                return bad(v, v->next_seq, "malformed: the line does not end with its hash (truncated or "
                           "cut?); expected record %lld here", (long long)v->next_seq);
        return check_body(v, body, strlen(body), hash);
}

int api_audit_verify_object(api_audit_verifier *v, const json_t *rec)
{
        _cleanup_(json_decrefp) json_t *copy = NULL;
        _cleanup_free_ char *body = NULL;
        const char *hash = json_string_value(json_object_get(rec, "hash"));

        if (v->bad)
                return -1;
        if (!json_is_object(rec))
                return bad(v, v->next_seq, "malformed: not a JSON object; expected record %lld here",
                           (long long)v->next_seq);
        copy = json_copy((json_t *)rec);
        json_object_del(copy, "hash");
        body = api_audit_canonical(copy);
        if (!body)
                return bad(v, v->next_seq, "malformed: cannot be written as JSON; expected record %lld here",
                           (long long)v->next_seq);
        return check_body(v, body, strlen(body), hash);
}

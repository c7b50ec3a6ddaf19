/* audit-api.c — GET /v1/audit: the audit log's records with filters and
 * paging, each exactly as its JSONL line (with "hash"), plus the retention
 * anchor and the head, which is what `wsctl audit verify` walks. */
#include "api/audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000

/* "2024-05-01", "2024-05-01T10:00:00Z" or "2024-05-01T10:00:00.123Z" as a
 * record's time ("2024-05-01T10:00:00.123Z"); -1 when it is none of them. */
static int parse_time(const char *s, char out[32])
{
        struct tm tm = {0};
        int ms = 0, used = 0;
        time_t t;
        size_t len = strlen(s);

        if (len == 10) {
                if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &used) != 3 || used != 10)
                        return -1;
        } else if (len == 20 || len == 24) {
                if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                           &tm.tm_min, &tm.tm_sec, &used) != 6 || used != 19)
                        return -1;
                if (len == 24 && (s[19] != '.' || sscanf(s + 20, "%3d", &ms) != 1 || strspn(s + 20, "0123456789") != 3))
                        return -1;
                if (s[len - 1] != 'Z')
                        return -1;
        } else {
                return -1;
        }
        if (s[4] != '-' || s[7] != '-' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
            tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
                return -1;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = timegm(&tm);
        if (t == (time_t)-1)
                return -1;
        api_audit_time((int64_t)t * 1000 + ms, out);
        return 0;
}

static int parse_seq(const char *s, int64_t *out)
{
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < 0)
                return -1;
        *out = v;
        return 0;
}

/* The query's filters, checked; -1 with the answer already given. */
static int read_query(api_request *req, orch_audit_query *q, char since[32], char until[32], char type[64])
{
        const char *v, *slash;
        int64_t limit = LIMIT_DEFAULT;

        *q = (orch_audit_query){.actor = api_query(req, "actor"), .action = api_query(req, "action")};
        if (q->actor && (!*q->actor || strlen(q->actor) >= API_NAME_MAX)) {
                api_reply_errorf(req, HD_E_INVALID, "query parameter 'actor' must be a user name");
                return -1;
        }
        if (q->action && (!*q->action || strlen(q->action) > 256)) {
                api_reply_errorf(req, HD_E_INVALID, "query parameter 'action' must be like 'POST /v1/workspaces'");
                return -1;
        }
        if ((v = api_query(req, "resource"))) {
                slash = strchr(v, '/');
                if (!*v || slash == v || (size_t)(slash ? slash - v : (ptrdiff_t)strlen(v)) >= 64) {
                        api_reply_errorf(req, HD_E_INVALID, "query parameter 'resource' must be TYPE or TYPE/ID "
                                                            "(workspace, workspace/dev1)");
                        return -1;
                }
                snprintf(type, 64, "%.*s", (int)(slash ? slash - v : (ptrdiff_t)strlen(v)), v);
                q->resource_type = type;
                q->resource_id = slash && slash[1] ? slash + 1 : NULL;
        }
        if ((v = api_query(req, "since")) && parse_time(v, since) < 0) {
                api_reply_errorf(req, HD_E_INVALID, "query parameter 'since' must be a UTC time like "
                                                    "2024-05-01T10:00:00Z or a date like 2024-05-01");
                return -1;
        }
        q->since = v ? since : NULL;
        if ((v = api_query(req, "until")) && parse_time(v, until) < 0) {
                api_reply_errorf(req, HD_E_INVALID, "query parameter 'until' must be a UTC time like "
                                                    "2024-05-01T10:00:00Z or a date like 2024-05-01");
                return -1;
        }
        q->until = v ? until : NULL;
        if (((v = api_query(req, "after")) && parse_seq(v, &q->after) < 0) ||
            ((v = api_query(req, "before")) && parse_seq(v, &q->before) < 0)) {
                api_reply_errorf(req, HD_E_INVALID, "query parameters 'after' and 'before' must be record numbers");
                return -1;
        }
        if ((v = api_query(req, "limit")) && (parse_seq(v, &limit) < 0 || limit < 1 || limit > LIMIT_MAX)) {
                api_reply_errorf(req, HD_E_INVALID, "query parameter 'limit' must be 1 to %d", LIMIT_MAX);
                return -1;
        }
        v = api_query(req, "order");
        if (v && strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0) {
                api_reply_errorf(req, HD_E_INVALID, "query parameter 'order' must be asc or desc");
                return -1;
        }
        q->newest_first = v && strcmp(v, "desc") == 0;
        q->limit = (size_t)limit + 1; /* one more tells whether there is a next page */
        return 0;
}

/* A stored record as its line's object; one whose body is no longer JSON
 * shows as such, so that a verifier names it. */
static json_t *record_json(const orch_audit_row *row)
{
        json_t *o = json_loads(row->body, JSON_REJECT_DUPLICATES, NULL);

        if (!json_is_object(o)) {
                json_decref(o);
                o = json_pack("{s:I,s:s}", "seq", (json_int_t)row->seq, "unreadable_body", row->body);
        }
        json_object_set_new(o, "hash", json_string(row->hash));
        return o;
}

static json_t *point_json(int64_t seq, const char *hash)
{
        return seq ? json_pack("{s:I,s:s}", "seq", (json_int_t)seq, "hash", hash) : json_null();
}

void api_list_audit(api_request *req)
{
        api_audit *a = api_audit_of(req);
        orch_audit_store *st = a ? api_audit_store(a) : NULL;
        orch_audit_rows rows = {0};
        orch_audit_query q;
        char since[32], until[32], type[64], anchor_hash[65], head_hash[65];
        int64_t anchor_seq = 0, head_seq = 0;
        hd_error err = {0};
        json_t *list, *next = json_null();
        size_t shown;

        if (!st) {
                api_reply_errorf(req, HD_E_IO, "this hostd keeps no audit log");
                return;
        }
        if (read_query(req, &q, since, until, type) < 0)
                return;
        /* Head and anchor first: a page read after them can only be newer. */
        if (orch_audit_store_anchor(st, &anchor_seq, anchor_hash, &err) < 0 ||
            orch_audit_store_head(st, &head_seq, head_hash, &err) < 0 ||
            orch_audit_store_list(st, &q, &rows, &err) < 0) {
                orch_audit_rows_free(&rows);
                api_reply_error(req, &err);
                return;
        }
        shown = rows.count < q.limit ? rows.count : q.limit - 1;
        list = json_array();
        for (size_t i = 0; i < shown; i++)
                json_array_append_new(list, record_json(&rows.items[i]));
        if (rows.count > shown)
                next = json_integer(rows.items[shown - 1].seq);
        orch_audit_rows_free(&rows);
        api_reply_json(req, 200, json_pack("{s:o,s:o,s:o,s:o}", "records", list, "next", next, "anchor",
                                           point_json(anchor_seq, anchor_hash), "head",
                                           point_json(head_seq, head_hash)));
}

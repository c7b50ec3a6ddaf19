/* audit.c — `wsctl audit`: list the audit log's records with filters, and
 * verify its hash chain, from hostd's database (through GET /v1/audit) or
 * from JSONL files (the SIEM's copy, no hostd needed). docs/audit.md. */
#include "tools/wsctl/wsctl.h"

#include "api/audit-chain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 1000

/* ---- list ----------------------------------------------------------------------------- */

static void add_record_row(wsctl_table *t, json_t *r, time_t now)
{
        json_t *actor = json_object_get(r, "actor"), *res = json_object_get(r, "resource");
        const char *user = wsctl_str(actor, "user", "-"), *obo = wsctl_str(actor, "on_behalf_of", NULL);
        const char *type = wsctl_str(res, "type", NULL), *id = wsctl_str(res, "id", NULL);
        _cleanup_free_ char *who = obo ? hd_asprintf("%s (for %s)", user, obo) : hd_strdup(user);
        _cleanup_free_ char *what = type ? hd_asprintf("%s%s%s", type, id ? "/" : "", id ? id : "") : hd_strdup("-");
        char seq[24], outcome[16];

        snprintf(seq, sizeof(seq), "%lld", (long long)json_integer_value(json_object_get(r, "seq")));
        snprintf(outcome, sizeof(outcome), "%lld", (long long)json_integer_value(json_object_get(r, "outcome")));
        wsctl_table_add(t, (const char *const[]){seq, wsctl_str(r, "time", "-"), who, wsctl_str(r, "action", "-"),
                                                 what, outcome});
}

/* --since/--until: a UTC time or date as hostd takes it, or a duration
 * back from now (30m, 24h, 7d). */
static char *time_arg(const char *s)
{
        uint64_t back;
        time_t t;
        struct tm tm;
        char buf[32];

        if (hd_parse_duration(s, &back) < 0 || strchr(s, '-'))
                return hd_strdup(s);
        t = time(NULL) - (time_t)back;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return hd_strdup(buf);
}

static void add_param(hd_buf *q, const char *key, const char *value)
{
        _cleanup_free_ char *e = NULL;

        if (!value)
                return;
        e = wsctl_escape(value);
        hd_buf_appendf(q, "%c%s=%s", q->len ? '&' : '?', key, e);
}

static int audit_list(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {
                {"actor", required_argument, NULL, 'a'},  {"action", required_argument, NULL, 'A'},
                {"resource", required_argument, NULL, 'r'}, {"since", required_argument, NULL, 's'},
                {"until", required_argument, NULL, 'u'},  {"limit", required_argument, NULL, 'l'},
                {"after", required_argument, NULL, 'f'},  WSCTL_COMMON_OPTIONS,
        };
        static const char *const header[] = {"SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "OUTCOME"};
        _cleanup_buf_ hd_buf q = HD_BUF_INIT;
        _cleanup_free_ char *since = NULL, *until = NULL, *path = NULL;
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_(json_decrefp) json_t *rows = json_array();
        const char *limit = "50", *after = NULL;
        json_t *list, *item;
        size_t i;
        int c, rc = 0;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                switch (c) {
                case 'a': add_param(&q, "actor", optarg); break;
                case 'A': add_param(&q, "action", optarg); break;
                case 'r': add_param(&q, "resource", optarg); break;
                case 's': free(since); since = time_arg(optarg); break;
                case 'u': free(until); until = time_arg(optarg); break;
                case 'l': limit = optarg; break;
                case 'f': after = optarg; break;
                }
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                return rc;
        add_param(&q, "since", since);
        add_param(&q, "until", until);
        add_param(&q, "limit", limit);
        /* Without --after: the newest records, shown oldest first. */
        add_param(&q, after ? "after" : "order", after ? after : "desc");
        path = hd_asprintf("/v1/audit%s", q.data);
        if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json) {
                wsctl_print_json(ctx, r.json);
                return WSCTL_EXIT_OK;
        }
        list = json_object_get(r.json, "records");
        json_array_foreach(list, i, item)
                json_array_insert(rows, after ? json_array_size(rows) : 0, item);
        wsctl_print_rows(ctx, rows, header, HD_ARRAY_SIZE(header), "no audit records match", add_record_row);
        if (after && json_is_integer(json_object_get(r.json, "next")))
                fprintf(ctx->out, "(more: --after %lld)\n",
                        (long long)json_integer_value(json_object_get(r.json, "next")));
        return WSCTL_EXIT_OK;
}

/* ---- verify ----------------------------------------------------------------------------- */

typedef struct verify_opts {
        const char *files[16];
        size_t nfiles;
        bool db;
        int64_t anchor_seq;
        const char *anchor_hash;
} verify_opts;

static int report(wsctl_ctx *ctx, const api_audit_verifier *v, const char *what)
{
        if (v->bad)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s: record %lld is bad: %s", what, (long long)v->bad_seq,
                                  v->why);
        if (v->count == 0)
                fprintf(ctx->out, "%s: no records\n", what);
        else
                fprintf(ctx->out, "%s: OK, %lld records (%lld to %lld), last hash %s\n", what, (long long)v->count,
                        (long long)v->first_seq, (long long)v->last_seq, v->prev);
        return WSCTL_EXIT_OK;
}

/* The files, in order, as one log: every line ends with a newline. */
static int verify_files(wsctl_ctx *ctx, const verify_opts *o, api_audit_verifier *v)
{
        for (size_t i = 0; i < o->nfiles && !v->bad; i++) {
                _cleanup_fclose_ FILE *f = fopen(o->files[i], "re");
                _cleanup_free_ char *line = NULL;
                size_t cap = 0;
                ssize_t n;

                if (!f)
                        return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "cannot read %s: %s", o->files[i], strerror(errno));
                while (!v->bad && (n = getline(&line, &cap, f)) > 0) {
                        if (line[n - 1] != '\n') {
                                v->bad = true;
                                v->bad_seq = v->next_seq;
                                snprintf(v->why, sizeof(v->why), "truncated: the last line of %s has no newline "
                                         "(expected record %lld)", o->files[i], (long long)v->next_seq);
                                break;
                        }
                        api_audit_verify_line(v, line, (size_t)n - 1);
                }
        }
        return 0;
}

/* The anchor must be what the newest prune record says was pruned. */
static void check_anchor(api_audit_verifier *v, json_t *anchor, json_t *last_prune)
{
        json_t *diff = json_object_get(last_prune, "diff");

        if (v->bad || json_is_null(anchor) || !anchor)
                return;
        if (json_integer_value(json_object_get(diff, "pruned_through_seq")) !=
                    json_integer_value(json_object_get(anchor, "seq")) ||
            !json_equal(json_object_get(diff, "pruned_through_hash"), json_object_get(anchor, "hash"))) {
                v->bad = true;
                v->bad_seq = json_integer_value(json_object_get(anchor, "seq"));
                snprintf(v->why, sizeof(v->why), "the retention anchor (the last pruned record) is not the one "
                         "the newest prune record names: the anchor was changed, or the prune record removed");
        }
}

/* Every record through GET /v1/audit, from the retention anchor on. */
static int verify_db(wsctl_ctx *ctx, const verify_opts *o, api_audit_verifier *v, int64_t *head)
{
        _cleanup_(json_decrefp) json_t *anchor = NULL, *last_prune = NULL;
        long long after = 0;
        bool first = true;
        int rc;

        for (;;) {
                _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
                _cleanup_free_ char *path = hd_asprintf("/v1/audit?limit=%d&after=%lld", PAGE, after);
                json_t *rec;
                size_t i;

                if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                        return rc;
                if (first) {
                        anchor = json_incref(json_object_get(r.json, "anchor"));
                        *head = json_integer_value(json_object_get(json_object_get(r.json, "head"), "seq"));
                        if (json_is_object(anchor))
                                api_audit_verify_start(v, json_integer_value(json_object_get(anchor, "seq")),
                                                       json_string_value(json_object_get(anchor, "hash")));
                        first = false;
                }
                json_array_foreach(json_object_get(r.json, "records"), i, rec) {
                        if (api_audit_verify_object(v, rec) < 0)
                                return 0;
                        if (strcmp(wsctl_str(rec, "action", ""), "hostd audit.prune") == 0) {
                                json_decref(last_prune);
                                last_prune = json_incref(rec);
                        }
                }
                if (!json_is_integer(json_object_get(r.json, "next")))
                        break;
                after = json_integer_value(json_object_get(r.json, "next"));
        }
        check_anchor(v, anchor, last_prune);
        return 0;
}

/* "SEQ:HASH". */
static int parse_anchor(const char *s, verify_opts *o)
{
        long long seq;
        int used = 0;

        if (sscanf(s, "%lld:%n", &seq, &used) != 1 || used == 0 || seq < 0 || !api_audit_is_hash(s + used))
                return -1;
        o->anchor_seq = seq;
        o->anchor_hash = s + used;
        return 0;
}

static int audit_verify(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {
                {"file", required_argument, NULL, 'f'},
                {"db", no_argument, NULL, 'd'},
                {"anchor", required_argument, NULL, 'a'},
                WSCTL_COMMON_OPTIONS,
        };
        api_audit_verifier fv, dv;
        verify_opts o = {0};
        int64_t head = 0;
        int c, rc = 0, frc = WSCTL_EXIT_OK;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                if (c == 'f' && o.nfiles == HD_ARRAY_SIZE(o.files))
                        return wsctl_usage_error(ctx, cmd, "audit verify: at most %zu files",
                                                 HD_ARRAY_SIZE(o.files));
                if (c == 'f')
                        o.files[o.nfiles++] = optarg;
                else if (c == 'd')
                        o.db = true;
                else if (c == 'a' && parse_anchor(optarg, &o) < 0)
                        return wsctl_usage_error(ctx, cmd, "audit verify: --anchor takes SEQ:HASH (64 hex digits)");
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                return rc;
        if (o.anchor_hash && !o.nfiles)
                return wsctl_usage_error(ctx, cmd, "audit verify: --anchor goes with --file (the database "
                                                   "keeps its own anchor)");
        if (o.nfiles) {
                api_audit_verify_start(&fv, o.anchor_seq, o.anchor_hash);
                if ((rc = verify_files(ctx, &o, &fv)) != 0)
                        return rc;
                frc = report(ctx, &fv, o.nfiles == 1 ? o.files[0] : "the files");
                if (!o.db)
                        return frc;
        }
        api_audit_verify_start(&dv, 0, NULL);
        if ((rc = verify_db(ctx, &o, &dv, &head)) != 0)
                return rc;
        rc = report(ctx, &dv, "hostd's database");
        if (rc || frc || !o.nfiles)
                return rc ? rc : frc;
        /* Both good: do they end alike? Records cut off the end of one show here. */
        if (fv.last_seq != dv.last_seq || strcmp(fv.prev, dv.prev) != 0)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "the file ends at record %lld and the database at %lld%s",
                                  (long long)fv.last_seq, (long long)dv.last_seq,
                                  fv.last_seq == dv.last_seq ? " with different hashes" : "");
        fprintf(ctx->out, "the file and the database end with the same record\n");
        return WSCTL_EXIT_OK;
}

int wsctl_cmd_audit(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        const char *sub;
        int rc = 0;

        if (!(sub = wsctl_subcommand(ctx, cmd, &argc, &argv, &rc)))
                return rc;
        if (strcmp(sub, "list") == 0)
                return audit_list(ctx, cmd, argc, argv);
        if (strcmp(sub, "verify") == 0)
                return audit_verify(ctx, cmd, argc, argv);
        return wsctl_usage_error(ctx, cmd, "audit: unknown subcommand '%s'", sub);
}

/* quota.c — `wsctl quota`: your limits with their use and where each comes
 * from, every limit set (admins), and setting or removing limits of a user
 * or a group (docs/quotas.md). set and unset change only the limits they
 * name: they read the subject's limits, change them and put them back. */
#include "tools/wsctl/wsctl.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#define QUOTA_MIB (1024ull * 1024)
#define QUOTA_GIB (1024ull * QUOTA_MIB)

/* ---- output ---------------------------------------------------------------------- */

/* A resource's amount as people read it: sizes with a unit, counts bare. */
static void amount_text(const char *resource, json_t *v, char *buf, size_t len)
{
        uint64_t n = (uint64_t)json_integer_value(v);

        if (n == 0)
                snprintf(buf, len, "0");
        else if (strcmp(resource, "memory_mib") == 0)
                wsctl_format_bytes(n * QUOTA_MIB, buf, len);
        else if (strcmp(resource, "disk_gib") == 0)
                wsctl_format_bytes(n * QUOTA_GIB, buf, len);
        else
                snprintf(buf, len, "%llu", (unsigned long long)n);
}

/* "memory", "disk", "gpus H100": a resource's name in tables. */
static void resource_text(json_t *item, char *buf, size_t len)
{
        const char *r = wsctl_str(item, "resource", "?");

        if (strcmp(r, "gpus") == 0)
                snprintf(buf, len, "gpus %s", wsctl_str(item, "model", "?"));
        else
                snprintf(buf, len, "%.*s", (int)strcspn(r, "_"), r);
}

static void add_mine_row(wsctl_table *t, json_t *item, time_t now)
{
        const char *r = wsctl_str(item, "resource", "?");
        json_t *limit = json_object_get(item, "limit"), *src = json_object_get(item, "source");
        char name[96], used[32], max[32], source[160];

        (void)now;
        resource_text(item, name, sizeof(name));
        amount_text(r, json_object_get(item, "used"), used, sizeof(used));
        if (json_is_integer(limit))
                amount_text(r, limit, max, sizeof(max));
        else
                snprintf(max, sizeof(max), "unlimited");
        if (json_is_object(src))
                snprintf(source, sizeof(source), "%s %s", wsctl_str(src, "scope", "?"), wsctl_str(src, "name", "?"));
        else
                snprintf(source, sizeof(source), "-");
        wsctl_table_add(t, (const char *const[]){name, used, max, source});
}

/* "workspaces=3 vcpus=16 memory=64G gpus:H100=4" */
static char *limits_text(json_t *limits)
{
        hd_buf b = HD_BUF_INIT;
        const char *key, *model;
        json_t *v, *n;
        char amount[32];

        hd_buf_append(&b, "");
        json_object_foreach(limits, key, v) {
                if (strcmp(key, "gpus") == 0) {
                        json_object_foreach(v, model, n)
                                hd_buf_appendf(&b, "%sgpus:%s=%lld", b.len ? " " : "", model,
                                               (long long)json_integer_value(n));
                        continue;
                }
                amount_text(key, v, amount, sizeof(amount));
                hd_buf_appendf(&b, "%s%.*s=%s", b.len ? " " : "", (int)strcspn(key, "_"), key, amount);
        }
        return hd_buf_steal(&b);
}

static void add_set_row(wsctl_table *t, json_t *set, time_t now)
{
        _cleanup_free_ char *limits = limits_text(json_object_get(set, "limits"));

        (void)now;
        wsctl_table_add(t, (const char *const[]){wsctl_str(set, "scope", "?"), wsctl_str(set, "name", "?"), limits});
}

static int quota_mine(wsctl_ctx *ctx)
{
        static const char *const header[] = {"RESOURCE", "USED", "LIMIT", "SOURCE"};

        return wsctl_print_collection(ctx, "/v1/quotas/me", "quotas", header, HD_ARRAY_SIZE(header), "",
                                      add_mine_row);
}

static int quota_list(wsctl_ctx *ctx)
{
        static const char *const header[] = {"SCOPE", "NAME", "LIMITS"};

        return wsctl_print_collection(ctx, "/v1/quotas", "quotas", header, HD_ARRAY_SIZE(header),
                                      "no quota set: nobody has a limit", add_set_row);
}

/* ---- set and unset ----------------------------------------------------------------- */

enum { QOPT_USER = 1000, QOPT_GROUP, QOPT_WORKSPACES, QOPT_VCPUS, QOPT_MEMORY, QOPT_DISK, QOPT_GPUS };

typedef struct subject {
        const char *scope; /* "users" or "groups" */
        const char *name;
} subject;

static int parse_count(wsctl_ctx *ctx, const wsctl_command *cmd, const char *opt, const char *s, long long *out)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (!isdigit((unsigned char)s[0]) || *end || errno || v > (1ull << 40))
                return wsctl_usage_error(ctx, cmd, "quota: %s %s: give a whole number, e.g. 8", opt, s);
        *out = (long long)v;
        return 0;
}

/* "64G" in whole units (MiB or GiB); 0 allowed. */
static int parse_amount(wsctl_ctx *ctx, const wsctl_command *cmd, const char *opt, const char *s, uint64_t unit,
                        long long *out)
{
        uint64_t bytes;

        if (hd_parse_size(s, &bytes) < 0 || bytes % unit != 0 || bytes / unit > (1ull << 40))
                return wsctl_usage_error(ctx, cmd, "quota: %s %s: give a whole number of %s with its unit, e.g. %s",
                                         opt, s, unit == QUOTA_GIB ? "GiB" : "MiB", unit == QUOTA_GIB ? "1T" : "64G");
        *out = (long long)(bytes / unit);
        return 0;
}

/* --gpus MODEL=N into gpus. */
static int parse_gpus(wsctl_ctx *ctx, const wsctl_command *cmd, const char *s, json_t *gpus)
{
        const char *eq = strrchr(s, '=');
        _cleanup_free_ char *model = NULL;
        long long n;

        if (!eq || eq == s)
                return wsctl_usage_error(ctx, cmd, "quota: --gpus %s: give MODEL=N, e.g. H100=2 or any=4", s);
        if (parse_count(ctx, cmd, "--gpus", eq + 1, &n) != 0)
                return WSCTL_EXIT_USAGE;
        model = hd_asprintf("%.*s", (int)(eq - s), s);
        json_object_set_new(gpus, model, json_integer(n));
        return 0;
}

/* The limits set on subject now ({} when none), a new reference. */
static int current_limits(wsctl_ctx *ctx, const subject *who, json_t **out)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        const char *scope = strcmp(who->scope, "users") == 0 ? "user" : "group";
        json_t *set;
        size_t i;
        int rc;

        if ((rc = wsctl_call(ctx, "GET", "/v1/quotas", NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        json_array_foreach(json_object_get(r.json, "quotas"), i, set)
                if (strcmp(wsctl_str(set, "scope", ""), scope) == 0 && strcmp(wsctl_str(set, "name", ""), who->name) == 0) {
                        *out = json_deep_copy(json_object_get(set, "limits"));
                        return *out ? WSCTL_EXIT_OK : WSCTL_EXIT_ERROR;
                }
        *out = json_object();
        return WSCTL_EXIT_OK;
}

/* PUT limits on subject (DELETE when none is left) and print the result. */
static int put_limits(wsctl_ctx *ctx, const subject *who, json_t *limits)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *name = wsctl_escape(who->name);
        _cleanup_free_ char *full = hd_asprintf("/v1/quotas/%s/%s", who->scope, name);
        _cleanup_free_ char *text = NULL;
        json_t *gpus = json_object_get(limits, "gpus");
        int rc;

        if (gpus && json_object_size(gpus) == 0)
                json_object_del(limits, "gpus");
        if (json_object_size(limits) == 0) {
                if ((rc = wsctl_call(ctx, "DELETE", full, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                        return rc;
                if (!ctx->json)
                        fprintf(ctx->out, "%s %s: no limit set\n", who->scope[0] == 'u' ? "user" : "group", who->name);
                return WSCTL_EXIT_OK;
        }
        if ((rc = wsctl_call(ctx, "PUT", full, limits, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json) {
                wsctl_print_json(ctx, r.json);
                return WSCTL_EXIT_OK;
        }
        text = limits_text(json_object_get(r.json, "limits"));
        fprintf(ctx->out, "%s %s: %s\n", wsctl_str(r.json, "scope", "?"), wsctl_str(r.json, "name", "?"), text);
        return WSCTL_EXIT_OK;
}

/* The JSON field an option sets, NULL for --gpus and the subject. */
static const char *field_of(int opt)
{
        switch (opt) {
        case QOPT_WORKSPACES:
                return "workspaces";
        case QOPT_VCPUS:
                return "vcpus";
        case QOPT_MEMORY:
                return "memory_mib";
        case QOPT_DISK:
                return "disk_gib";
        default:
                return NULL;
        }
}

/* One option of set (values into change) or unset (names into drop). */
static int set_option(wsctl_ctx *ctx, const wsctl_command *cmd, int c, json_t *change, json_t *gpus)
{
        long long v;
        int rc;

        if (c == QOPT_GPUS)
                return parse_gpus(ctx, cmd, optarg, gpus);
        if (c == QOPT_MEMORY || c == QOPT_DISK)
                rc = parse_amount(ctx, cmd, c == QOPT_MEMORY ? "--memory" : "--disk", optarg,
                                  c == QOPT_MEMORY ? QUOTA_MIB : QUOTA_GIB, &v);
        else
                rc = parse_count(ctx, cmd, c == QOPT_VCPUS ? "--vcpus" : "--workspaces", optarg, &v);
        if (rc == 0)
                json_object_set_new(change, field_of(c), json_integer(v));
        return rc;
}

static int quota_change(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv, bool set)
{
        const int has_arg = set ? required_argument : no_argument;
        const struct option opts[] = {
                {"user", required_argument, NULL, QOPT_USER},
                {"group", required_argument, NULL, QOPT_GROUP},
                {"workspaces", has_arg, NULL, QOPT_WORKSPACES},
                {"vcpus", has_arg, NULL, QOPT_VCPUS},
                {"memory", has_arg, NULL, QOPT_MEMORY},
                {"disk", has_arg, NULL, QOPT_DISK},
                {"gpus", required_argument, NULL, QOPT_GPUS},
                WSCTL_COMMON_OPTIONS,
        };
        _cleanup_(json_decrefp) json_t *change = json_object();
        _cleanup_(json_decrefp) json_t *gpus = json_object();
        _cleanup_(json_decrefp) json_t *limits = NULL;
        subject who = {NULL, NULL};
        const char *key;
        json_t *v, *have;
        int c, rc = 0;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                if (c == QOPT_USER || c == QOPT_GROUP) {
                        if (who.name)
                                return wsctl_usage_error(ctx, cmd, "quota: give one --user or --group");
                        who = (subject){c == QOPT_USER ? "users" : "groups", optarg};
                } else if (!set) {
                        json_object_set_new(c == QOPT_GPUS ? gpus : change,
                                            c == QOPT_GPUS ? optarg : field_of(c), json_null());
                } else if ((rc = set_option(ctx, cmd, c, change, gpus)) != 0) {
                        return rc;
                }
        }
        if (!who.name)
                return wsctl_usage_error(ctx, cmd, "quota %s: give --user NAME or --group NAME", set ? "set" : "unset");
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                return rc;
        if (set && json_object_size(change) + json_object_size(gpus) == 0)
                return wsctl_usage_error(ctx, cmd, "quota set: give at least one limit (--vcpus, --memory, ...)");
        if ((rc = current_limits(ctx, &who, &limits)) != 0)
                return rc;
        if (!set && json_object_size(change) + json_object_size(gpus) == 0)
                json_object_clear(limits); /* unset without a resource: every limit */
        if (!json_object_get(limits, "gpus"))
                json_object_set_new(limits, "gpus", json_object());
        have = json_object_get(limits, "gpus");
        json_object_foreach(change, key, v) {
                if (json_is_null(v))
                        json_object_del(limits, key);
                else
                        json_object_set(limits, key, v);
        }
        json_object_foreach(gpus, key, v) {
                if (json_is_null(v))
                        json_object_del(have, key);
                else
                        json_object_set(have, key, v);
        }
        return put_limits(ctx, &who, limits);
}

int wsctl_cmd_quota(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        const char *sub;
        int rc = 0;

        if (!(sub = wsctl_subcommand(ctx, cmd, &argc, &argv, &rc)))
                return rc;
        /* No subcommand given (wsctl_subcommand then says "list" without
         * moving argv): your own limits. */
        if (sub != argv[0])
                return quota_mine(ctx);
        if (strcmp(sub, "set") == 0 || strcmp(sub, "unset") == 0)
                return quota_change(ctx, cmd, argc, argv, strcmp(sub, "set") == 0);
        if (strcmp(sub, "show") != 0 && strcmp(sub, "list") != 0)
                return wsctl_usage_error(ctx, cmd, "quota: unknown subcommand '%s'", sub);
        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                return rc;
        return strcmp(sub, "show") == 0 ? quota_mine(ctx) : quota_list(ctx);
}

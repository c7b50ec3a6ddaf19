/* tokens.c — `wsctl token`: make an API token (printed once, alone on
 * standard output so that scripts can take it), list tokens, revoke one. */
#include "tools/wsctl/wsctl.h"

#include <string.h>

#define DEFAULT_EXPIRES "30d"

/* "read-only, ws-…" or "-". */
static void scopes_text(json_t *t, char *buf, size_t len)
{
        json_t *s = json_object_get(t, "scopes");
        const char *ws = wsctl_str(s, "workspace", NULL);
        bool ro = json_is_true(json_object_get(s, "read_only"));

        snprintf(buf, len, "%s%s%s%s", ro ? "read-only" : "", ro && ws ? ", " : "", ws ? "workspace " : "",
                 ws ? ws : "");
        if (!*buf)
                snprintf(buf, len, "-");
}

/* "in 29d", "2d ago", "-". */
static void when_text(json_t *timestamp, time_t now, char *buf, size_t len)
{
        long long t = json_is_string(timestamp) ? wsctl_parse_time(json_string_value(timestamp)) : -1;
        char age[16];

        if (t < 0) {
                snprintf(buf, len, "-");
                return;
        }
        wsctl_format_age(t > now ? t - now : now - t, age, sizeof(age));
        snprintf(buf, len, t > now ? "in %s" : "%s ago", age);
}

static void add_token_row(wsctl_table *t, json_t *tok, time_t now)
{
        char expires[24], used[24], scopes[96];

        when_text(json_object_get(tok, "expires_at"), now, expires, sizeof(expires));
        when_text(json_object_get(tok, "last_used_at"), now, used, sizeof(used));
        scopes_text(tok, scopes, sizeof(scopes));
        wsctl_table_add(t, (const char *const[]){wsctl_str(tok, "id", "?"), wsctl_str(tok, "name", "?"),
                                                 wsctl_str(tok, "user", "?"), wsctl_str(tok, "state", "?"), expires,
                                                 used, scopes});
}

static int token_create(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {
                {"expires", required_argument, NULL, 'e'},
                {"read-only", no_argument, NULL, 'r'},
                {"workspace", required_argument, NULL, 'w'},
                {"user", required_argument, NULL, 'u'},
                WSCTL_COMMON_OPTIONS,
        };
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_(json_decrefp) json_t *body = NULL;
        const char *expires = DEFAULT_EXPIRES, *ws = NULL, *user = NULL;
        bool read_only = false;
        uint64_t seconds;
        int c, rc = 0;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                if (c == 'e')
                        expires = optarg;
                else if (c == 'r')
                        read_only = true;
                else if (c == 'w')
                        ws = optarg;
                else
                        user = optarg;
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        if (hd_parse_duration(expires, &seconds) < 0 || seconds == 0)
                return wsctl_usage_error(ctx, cmd, "token: --expires takes a duration such as 12h, 30d, not '%s'",
                                         expires);
        body = json_pack("{s:s,s:I}", "name", argv[optind], "expires_in", (json_int_t)seconds);
        if (read_only)
                json_object_set_new(body, "read_only", json_true());
        if (ws)
                json_object_set_new(body, "workspace", json_string(ws));
        if (user)
                json_object_set_new(body, "user", json_string(user));
        if ((rc = wsctl_call(ctx, "POST", "/v1/tokens", body, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json) {
                wsctl_print_json(ctx, r.json);
                return WSCTL_EXIT_OK;
        }
        /* The token alone on stdout (TOKEN=$(wsctl token create …)); the rest for people. */
        fprintf(ctx->out, "%s\n", wsctl_str(r.json, "token", ""));
        fprintf(ctx->err, "token %s (%s) for %s, expires %s; it is shown only this once\n",
                wsctl_str(r.json, "name", "?"), wsctl_str(r.json, "id", "?"), wsctl_str(r.json, "user", "?"),
                wsctl_str(r.json, "expires_at", "?"));
        return WSCTL_EXIT_OK;
}

static int token_list(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {
                {"user", required_argument, NULL, 'u'},
                {"all", no_argument, NULL, 'a'},
                WSCTL_COMMON_OPTIONS,
        };
        static const char *const header[] = {"ID", "NAME", "USER", "STATE", "EXPIRES", "LAST-USED", "SCOPES"};
        _cleanup_free_ char *path = NULL, *who = NULL;
        const char *user = NULL;
        bool all = false;
        int c, rc = 0;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                if (c == 'u')
                        user = optarg;
                else
                        all = true;
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                return rc;
        if (user && all)
                return wsctl_usage_error(ctx, cmd, "token: give --user or --all, not both");
        who = user ? wsctl_escape(user) : NULL;
        path = hd_asprintf("/v1/tokens%s%s", all ? "?all=true" : who ? "?user=" : "", who ? who : "");
        return wsctl_print_collection(ctx, path, "tokens", header, HD_ARRAY_SIZE(header),
                                      "no tokens (wsctl token create NAME makes one)", add_token_row);
}

static int token_revoke(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = NULL;
        int rc = 0;

        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if (optind >= argc)
                return wsctl_usage_error(ctx, cmd, "token revoke: missing the token's ID (wsctl token list)");
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        path = wsctl_path("tokens", argv[optind], "");
        if ((rc = wsctl_call(ctx, "DELETE", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        fprintf(ctx->out, "revoked token %s\n", argv[optind]);
        return WSCTL_EXIT_OK;
}

int wsctl_cmd_token(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        const char *sub;
        int rc = 0;

        if (!(sub = wsctl_subcommand(ctx, cmd, &argc, &argv, &rc)))
                return rc;
        if (strcmp(sub, "list") == 0)
                return token_list(ctx, cmd, argc, argv);
        if (strcmp(sub, "create") == 0)
                return token_create(ctx, cmd, argc, argv);
        if (strcmp(sub, "revoke") == 0)
                return token_revoke(ctx, cmd, argc, argv);
        return wsctl_usage_error(ctx, cmd, "token: unknown subcommand '%s'", sub);
}

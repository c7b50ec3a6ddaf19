/* idle.c — wsctl's side of idle auto-stop and lifetimes: `wsctl extend NAME
 * DURATION`, create's --idle-timeout and --lifetime, and the idle and
 * lifetime lines of `wsctl show`. */
#include "tools/wsctl/wsctl.h"

#include "common/units.h"

#include <string.h>

char *wsctl_idle_text(json_t *ws)
{
        json_t *idle = json_object_get(ws, "idle");

        if (!json_is_object(idle))
                return NULL;
        return hd_asprintf("%s (after %lld s idle)", wsctl_str(idle, "description", "?"),
                           (long long)json_integer_value(json_object_get(idle, "timeout_s")));
}

char *wsctl_lifetime_text(json_t *ws)
{
        json_t *life = json_object_get(ws, "lifetime");

        if (!json_is_object(life))
                return NULL;
        return hd_asprintf("ends %s, then %s", wsctl_str(life, "ends_at", "?"),
                           strcmp(wsctl_str(life, "action", "stop"), "delete") == 0 ? "deleted" : "stopped");
}

#define YEAR_S (366u * 24 * 3600) /* hostd refuses more: seconds mistaken for milliseconds */

int wsctl_policy_option(wsctl_ctx *ctx, const wsctl_command *cmd, const char *opt, const char *value, json_t *body)
{
        bool idle = strcmp(opt, "--idle-timeout") == 0;
        uint64_t seconds = 0;

        if (!(idle && strcmp(value, "off") == 0) &&
            (hd_parse_duration(value, &seconds) < 0 || seconds > YEAR_S || (!idle && seconds == 0)))
                return wsctl_usage_error(ctx, cmd, "%s: %s %s: give a duration like 90s, 30m, 2h or 1d (at most 366d%s)",
                                         cmd->name, opt, value, idle ? "; 0 or off: no idle stop" : "");
        json_object_set_new(body, idle ? "idle_timeout" : "lifetime", json_integer((json_int_t)seconds));
        return 0;
}

int wsctl_cmd_extend(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_free_ char *path = NULL;
        uint64_t seconds;
        int rc = 0;

        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 2, 2)) != 0)
                return rc;
        if (hd_parse_duration(argv[optind + 1], &seconds) < 0 || seconds == 0 || seconds > 366u * 24 * 3600)
                return wsctl_usage_error(ctx, cmd, "extend: %s is not a duration (e.g. 30m, 2h, 1d)",
                                         argv[optind + 1]);
        body = json_pack("{s:I}", "seconds", (json_int_t)seconds);
        path = wsctl_path("workspaces", argv[optind], "/extend");
        if ((rc = wsctl_call(ctx, "POST", path, body, WSCTL_TIMEOUT_MS, true, &r)) != 0)
                return rc;
        if (ctx->json) {
                wsctl_print_json(ctx, r.json);
        } else {
                _cleanup_free_ char *idle = wsctl_idle_text(r.json);
                fprintf(ctx->out, "%s: %s\n", argv[optind], idle ? idle : "extended");
        }
        return WSCTL_EXIT_OK;
}

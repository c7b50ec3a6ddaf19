/* users.c — `wsctl user`: list users, show one, create one, change one's
 * email, groups or roles, disable, enable or delete one (user-admin, admin;
 * list and show: auditor too). */
#include "tools/wsctl/wsctl.h"

#include <string.h>

json_t *wsctl_split_list(const char *s)
{
        json_t *a = json_array();

        while (s && *s) {
                size_t len = strcspn(s, ",");
                if (len)
                        json_array_append_new(a, json_stringn(s, len));
                s += len + (s[len] == ',');
        }
        return a;
}

static void add_user_row(wsctl_table *t, json_t *u, time_t now)
{
        _cleanup_free_ char *roles = wsctl_join(json_object_get(u, "roles"));
        _cleanup_free_ char *groups = wsctl_join(json_object_get(u, "groups"));

        (void)now;
        wsctl_table_add(t, (const char *const[]){wsctl_str(u, "name", "?"), roles ? roles : "-",
                                                 groups ? groups : "-", wsctl_str(u, "email", "-"),
                                                 json_is_true(json_object_get(u, "disabled")) ? "disabled" : "enabled"});
}

static void print_user(wsctl_ctx *ctx, json_t *u)
{
        _cleanup_free_ char *roles = wsctl_join(json_object_get(u, "roles"));
        _cleanup_free_ char *groups = wsctl_join(json_object_get(u, "groups"));
        const char *const fields[][2] = {
                {"name:", wsctl_str(u, "name", NULL)},
                {"email:", wsctl_str(u, "email", NULL)},
                {"roles:", roles ? roles : "(none)"},
                {"groups:", groups ? groups : "(none)"},
                {"state:", json_is_true(json_object_get(u, "disabled")) ? "disabled" : "enabled"},
                {"disabled at:", wsctl_str(u, "disabled_at", NULL)},
                {"created:", wsctl_str(u, "created_at", NULL)},
                {"created by:", wsctl_str(u, "created_by", NULL)},
                {"last sign-in:", wsctl_str(u, "last_login_at", NULL)},
        };

        if (ctx->json)
                wsctl_print_json(ctx, u);
        else
                wsctl_print_fields(ctx, fields, HD_ARRAY_SIZE(fields));
}

/* POST a new user, or PATCH one, from the options; prints the answer. */
static int user_write(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv, bool create)
{
        static const struct option opts[] = {
                {"email", required_argument, NULL, 'e'},
                {"groups", required_argument, NULL, 'g'},
                {"roles", required_argument, NULL, 'r'},
                WSCTL_COMMON_OPTIONS,
        };
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_(json_decrefp) json_t *body = json_object();
        _cleanup_free_ char *path = NULL;
        int c, rc = 0;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                if (c == 'e')
                        json_object_set_new(body, "email", json_string(optarg));
                else
                        json_object_set_new(body, c == 'g' ? "groups" : "roles", wsctl_split_list(optarg));
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        if (!create && json_object_size(body) == 0)
                return wsctl_usage_error(ctx, cmd, "user update: give --email, --groups or --roles");
        if (create)
                json_object_set_new(body, "name", json_string(argv[optind]));
        path = create ? hd_strdup("/v1/users") : wsctl_path("users", argv[optind], "");
        if ((rc = wsctl_call(ctx, create ? "POST" : "PATCH", path, body, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        print_user(ctx, r.json);
        return WSCTL_EXIT_OK;
}

/* show, disable, enable, delete: one NAME, no option of their own. */
static int user_one(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv, const char *sub)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_free_ char *path = NULL;
        const char *method = "GET";
        int rc = 0;

        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        path = wsctl_path("users", argv[optind], "");
        if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0) {
                method = "PATCH";
                body = json_pack("{s:b}", "disabled", strcmp(sub, "disable") == 0);
        } else if (strcmp(sub, "delete") == 0) {
                method = "DELETE";
        }
        if ((rc = wsctl_call(ctx, method, path, body, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (strcmp(sub, "delete") == 0)
                fprintf(ctx->out, "deleted user %s and its tokens\n", argv[optind]);
        else if (strcmp(sub, "show") == 0 || ctx->json)
                print_user(ctx, r.json);
        else
                fprintf(ctx->out, "%sd user %s%s\n", sub, argv[optind],
                        strcmp(sub, "disable") == 0 ? ": its tokens stop working now" : "");
        return WSCTL_EXIT_OK;
}

int wsctl_cmd_user(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        static const char *const header[] = {"NAME", "ROLES", "GROUPS", "EMAIL", "STATE"};
        static const char *const one[] = {"show", "disable", "enable", "delete"};
        const char *sub;
        int rc = 0;

        if (!(sub = wsctl_subcommand(ctx, cmd, &argc, &argv, &rc)))
                return rc;
        if (strcmp(sub, "list") == 0) {
                if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                        return rc;
                if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                        return rc;
                return wsctl_print_collection(ctx, "/v1/users", "users", header, HD_ARRAY_SIZE(header), "no users",
                                              add_user_row);
        }
        if (strcmp(sub, "create") == 0 || strcmp(sub, "update") == 0)
                return user_write(ctx, cmd, argc, argv, strcmp(sub, "create") == 0);
        for (size_t i = 0; i < HD_ARRAY_SIZE(one); i++)
                if (strcmp(sub, one[i]) == 0)
                        return user_one(ctx, cmd, argc, argv, sub);
        return wsctl_usage_error(ctx, cmd, "user: unknown subcommand '%s'", sub);
}

/* templates.c — `wsctl template`: push a template file, list the templates,
 * show one with its versions, diff two versions, delete one. */
#include "tools/wsctl/wsctl.h"

#include "common/fsutil.h"

#include <string.h>

#define TEMPLATE_FILE_MAX (1u << 20)

static void add_template_row(wsctl_table *t, json_t *v, time_t now)
{
        json_t *tpl = json_object_get(v, "template");
        char version[13], age[16];

        snprintf(version, sizeof(version), "%s", wsctl_str(v, "version", "-"));
        wsctl_age_of(json_object_get(v, "pushed_at"), now, age, sizeof(age));
        wsctl_table_add(t, (const char *const[]){wsctl_str(v, "name", "?"), version, wsctl_str(tpl, "image", "-"),
                                                 age, wsctl_str(v, "pushed_by", "-")});
}

static void print_version(wsctl_ctx *ctx, json_t *v)
{
        _cleanup_free_ char *pushed = NULL, *body = NULL;
        json_t *when = json_object_get(v, "pushed_at");
        char age[16];

        wsctl_age_of(when, time(NULL), age, sizeof(age));
        if (json_is_string(when))
                pushed = hd_asprintf("%s (%s ago) by %s", json_string_value(when), age,
                                     wsctl_str(v, "pushed_by", "?"));
        body = json_dumps(json_object_get(v, "template"), JSON_INDENT(2) | JSON_SORT_KEYS);
        const char *const fields[][2] = {
                {"name:", wsctl_str(v, "name", NULL)},
                {"version:", wsctl_str(v, "version", NULL)},
                {"pushed:", pushed},
        };
        wsctl_print_fields(ctx, fields, HD_ARRAY_SIZE(fields));
        if (body)
                fprintf(ctx->out, "%s\n", body);
}

static int template_push(wsctl_ctx *ctx, const char *file)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_free_ char *text = NULL;
        json_error_t jerr;
        hd_error err = {0};
        size_t len;
        int rc;

        if (hd_read_file(file, TEMPLATE_FILE_MAX, &text, &len, &err) < 0)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", err.message);
        body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!body)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s: line %d, column %d: %s", file, jerr.line,
                                  jerr.column, jerr.text);
        if ((rc = wsctl_call(ctx, "POST", "/v1/templates", body, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json)
                wsctl_print_json(ctx, r.json);
        else
                fprintf(ctx->out, "%s %s version %s\n",
                        json_is_true(json_object_get(r.json, "created")) ? "pushed" : "unchanged:",
                        wsctl_str(r.json, "name", "?"), wsctl_str(r.json, "version", "?"));
        return WSCTL_EXIT_OK;
}

static int template_show(wsctl_ctx *ctx, const char *name)
{
        static const char *const header[] = {"VERSION", "PUSHED", "BY"};
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = wsctl_path("templates", name, "");
        _cleanup_table_ wsctl_table t = WSCTL_TABLE_INIT(HD_ARRAY_SIZE(header));
        _cleanup_free_ char *table = NULL;
        time_t now = time(NULL);
        json_t *v;
        size_t i;
        int rc;

        if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json) {
                wsctl_print_json(ctx, r.json);
                return WSCTL_EXIT_OK;
        }
        print_version(ctx, r.json);
        wsctl_table_add(&t, header);
        json_array_foreach(json_object_get(r.json, "versions"), i, v) {
                char age[16];

                wsctl_age_of(json_object_get(v, "pushed_at"), now, age, sizeof(age));
                wsctl_table_add(&t, (const char *const[]){wsctl_str(v, "version", "?"), age,
                                                          wsctl_str(v, "pushed_by", "-")});
        }
        table = wsctl_table_render(&t);
        fprintf(ctx->out, "versions (current first):\n%s", table);
        return WSCTL_EXIT_OK;
}

static int template_diff(wsctl_ctx *ctx, const char *name, const char *from, const char *to)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *f = from ? wsctl_escape(from) : NULL, *t = to ? wsctl_escape(to) : NULL;
        _cleanup_free_ char *query = hd_asprintf("/diff%s%s%s%s", f ? "?from=" : "", f ? f : "",
                                                 t ? (f ? "&to=" : "?to=") : "", t ? t : "");
        _cleanup_free_ char *path = wsctl_path("templates", name, query);
        const char *text;
        int rc;

        if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json) {
                wsctl_print_json(ctx, r.json);
                return WSCTL_EXIT_OK;
        }
        text = wsctl_str(r.json, "diff", "");
        fprintf(ctx->out, "%.12s -> %.12s\n%s", wsctl_str(r.json, "from", "?"), wsctl_str(r.json, "to", "?"),
                *text ? text : "(no change)\n");
        return WSCTL_EXIT_OK;
}

static int template_delete(wsctl_ctx *ctx, const char *name)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = wsctl_path("templates", name, "");
        int rc;

        if ((rc = wsctl_call(ctx, "DELETE", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        fprintf(ctx->out, "deleted template %s (every version)\n", name);
        return WSCTL_EXIT_OK;
}

int wsctl_cmd_template(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        static const char *const header[] = {"NAME", "VERSION", "IMAGE", "PUSHED", "BY"};
        const char *sub;
        int rc = 0, min = 1, max = 1;

        if (!(sub = wsctl_subcommand(ctx, cmd, &argc, &argv, &rc)))
                return rc;
        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if (strcmp(sub, "list") == 0)
                min = max = 0;
        else if (strcmp(sub, "diff") == 0)
                max = 3;
        else if (strcmp(sub, "push") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "delete") != 0)
                return wsctl_usage_error(ctx, cmd, "template: unknown subcommand '%s'", sub);
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, min, max)) != 0)
                return rc;
        if (strcmp(sub, "list") == 0)
                return wsctl_print_collection(ctx, "/v1/templates", "templates", header, HD_ARRAY_SIZE(header),
                                              "no templates (wsctl template push FILE adds one)", add_template_row);
        if (strcmp(sub, "push") == 0)
                return template_push(ctx, argv[optind]);
        if (strcmp(sub, "show") == 0)
                return template_show(ctx, argv[optind]);
        if (strcmp(sub, "diff") == 0)
                return template_diff(ctx, argv[optind], optind + 1 < argc ? argv[optind + 1] : NULL,
                                     optind + 2 < argc ? argv[optind + 2] : NULL);
        return template_delete(ctx, argv[optind]);
}

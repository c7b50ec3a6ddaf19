/* startup.c — wsctl's side of a template's startup script: the "startup:"
 * line of `wsctl show` and `wsctl startup-log NAME`, which prints the end of
 * what the script wrote. The output comes from inside the guest, so control
 * characters other than newline and tab are shown as '?' on a terminal
 * (--json gives the text as stored). */
#include "tools/wsctl/wsctl.h"

#include <string.h>

const char *wsctl_startup_text(json_t *ws)
{
        return wsctl_str(json_object_get(ws, "startup"), "description", NULL);
}

/* Write text with C0 controls (but \n and \t), DEL and C1 controls as '?'. */
static void print_safe(FILE *f, const char *text)
{
        for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
                if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) { /* U+0080..U+009F */
                        fputc('?', f);
                        c++;
                } else if ((*c < 0x20 && *c != '\n' && *c != '\t') || *c == 0x7f) {
                        fputc('?', f);
                } else {
                        fputc(*c, f);
                }
        }
}

int wsctl_cmd_startup_log(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = NULL;
        const char *output;
        int rc = 0;

        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        path = wsctl_path("workspaces", argv[optind], "/startup-log");
        if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        output = wsctl_str(r.json, "output", NULL);
        if (ctx->json)
                wsctl_print_json(ctx, r.json);
        else if (output)
                print_safe(ctx->out, output);
        fprintf(ctx->err, "%s: startup script %s\n", argv[optind], wsctl_str(r.json, "description", "?"));
        if (output && json_is_true(json_object_get(r.json, "output_truncated")))
                fprintf(ctx->err, "%s: only the last %zu of the %lld bytes it wrote are kept\n", argv[optind],
                        strlen(output), (long long)json_integer_value(json_object_get(r.json, "output_bytes")));
        return output ? WSCTL_EXIT_OK : WSCTL_EXIT_STATE;
}

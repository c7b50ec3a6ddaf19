/* login.c — `wsctl login`: check an API token against a server over HTTPS
 * (verified against --ca, else the system's CAs) and keep server, CA and
 * token in wsctl.conf (config.c); from then on wsctl talks to that server.
 * `wsctl logout` forgets them (the token stays valid: revoke it for that). */
#include "tools/wsctl/wsctl.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define TOKEN_MAX 8192

/* The first line of f, without surrounding blanks; NULL when it has none. */
static char *read_token(FILE *f)
{
        char *buf = hd_malloc0(TOKEN_MAX + 2), *t;

        if (!fgets(buf, TOKEN_MAX + 2, f)) {
                free(buf);
                return NULL;
        }
        t = hd_strtrim(buf);
        memmove(buf, t, strlen(t) + 1);
        return buf;
}

/* From --token-file, else standard input (a terminal: asked for, not echoed). */
static char *token_from(wsctl_ctx *ctx, const char *file, hd_error *err)
{
        _cleanup_fclose_ FILE *f = NULL;
        struct termios old, quiet;
        bool tty = !file && isatty(STDIN_FILENO);
        char *t;

        if (file && !(f = fopen(file, "re"))) {
                hd_error_errno(err, HD_E_IO, errno, "cannot read %s", file);
                return NULL;
        }
        if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                fputs("API token (hdt_…): ", ctx->err);
                fflush(ctx->err);
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
                t = read_token(stdin);
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
                fputc('\n', ctx->err);
        } else {
                t = read_token(f ? f : stdin);
        }
        if (!t || !wsctl_token_text_valid(t)) {
                free(t);
                hd_error_set(err, HD_E_INVALID, "no usable token on %s (one line, no spaces)",
                             file ? file : "standard input");
                return NULL;
        }
        return t;
}

/* The user the token acts as, from its own token list; NULL when it may not read it. */
static char *whoami(wsctl_ctx *ctx)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        json_t *first;

        if (wsctl_request(ctx, "GET", "/v1/tokens", NULL, WSCTL_TIMEOUT_MS, &r, NULL) < 0 || r.status != 200)
                return NULL;
        first = json_array_get(json_object_get(r.json, "tokens"), 0);
        return json_is_string(json_object_get(first, "user")) ? hd_strdup(wsctl_str(first, "user", "")) : NULL;
}

int wsctl_cmd_login(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {
                {"server", required_argument, NULL, 's'},
                {"ca", required_argument, NULL, 'c'},
                {"token-file", required_argument, NULL, 't'},
                WSCTL_COMMON_OPTIONS,
        };
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *who = NULL, *msg = NULL;
        const char *server = NULL, *ca = NULL, *file = NULL;
        char ca_abs[PATH_MAX];
        hd_error err = {0};
        int c, rc = 0;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                if (c == 's')
                        server = optarg;
                else if (c == 'c')
                        ca = optarg;
                else
                        file = optarg;
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                return rc;
        if (!server)
                return wsctl_usage_error(ctx, cmd, "login: --server URL is required");
        if (wsctl_server_check(server, &err) < 0)
                return wsctl_usage_error(ctx, cmd, "login: %s", err.message);
        if (ca && (!realpath(ca, ca_abs) || access(ca_abs, R_OK) < 0))
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "cannot read the CA file %s: %s", ca, strerror(errno));
        wsctl_config_clear(&ctx->conf);
        ctx->conf.token = token_from(ctx, file, &err);
        if (!ctx->conf.token)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", err.message);
        ctx->conf.server = hd_strdup(server);
        ctx->conf.ca = ca ? hd_strdup(ca_abs) : NULL;
        ctx->socket_explicit = false;
        /* Any route a token of any scope may read: it proves server, CA and token. */
        if (wsctl_request(ctx, "GET", "/v1/workspaces", NULL, WSCTL_TIMEOUT_MS, &r, &err) < 0)
                return wsctl_fail(ctx, WSCTL_EXIT_UNREACHABLE, "%s", err.message);
        if (r.status != 200) {
                msg = wsctl_error_message(&r);
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s refused the token: %s", server, msg);
        }
        who = whoami(ctx);
        if (wsctl_config_save(&ctx->conf, &err) < 0)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", err.message);
        msg = wsctl_config_path(wsctl_home());
        fprintf(ctx->out, "logged in to %s%s%s (kept in %s)\n", server, who ? " as " : "", who ? who : "", msg);
        return WSCTL_EXIT_OK;
}

int wsctl_cmd_logout(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        _cleanup_free_ char *path = wsctl_config_path(wsctl_home());
        hd_error err = {0};
        int rc = 0, r;

        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                return rc;
        r = wsctl_config_remove(&err);
        if (r < 0)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", err.message);
        if (r == 0)
                fprintf(ctx->out, "not logged in (no %s)\n", path);
        else
                fprintf(ctx->out, "logged out: removed %s (the token still works until revoked: "
                                  "wsctl token revoke ID)\n",
                        path);
        return WSCTL_EXIT_OK;
}

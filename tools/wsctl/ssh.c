/* ssh.c — `wsctl ssh` and `wsctl ssh-config`: the ssh command line and the
 * ~/.ssh/config blocks for a workspace, with hostd's own known_hosts file
 * (a rebuilt workspace reuses its address, so the user's own file would
 * shout "host key changed"). Values from the server are checked before they
 * reach ssh's argv or config. */
#include "tools/wsctl/wsctl.h"

#include <errno.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

/* Characters ssh gets from us: no spaces, quotes, '%' or leading '-'. */
static bool safe_word(const char *s, const char *extra)
{
        if (!s || !*s || s[0] == '-')
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr(extra, *s)))
                        return false;
        return true;
}

int wsctl_ssh_target_of(json_t *ws, wsctl_ssh_target *t, hd_error *err)
{
        json_t *ssh = json_object_get(ws, "ssh");
        json_t *port = json_object_get(ssh, "port");

        t->name = wsctl_str(ws, "name", "?");
        if (!json_is_object(ssh))
                return hd_error_set(err, HD_E_CONFLICT, "workspace %s has no SSH address yet (state %s)", t->name,
                                    wsctl_str(ws, "state", "unknown"));
        t->host = wsctl_str(ssh, "host", NULL);
        t->user = wsctl_str(ssh, "user", NULL);
        t->port = json_is_integer(port) ? (long)json_integer_value(port) : 22;
        if (!safe_word(t->name, "._-") || !safe_word(t->host, ".:_-") || !safe_word(t->user, "._-") ||
            t->port < 1 || t->port > 65535)
                return hd_error_set(err, HD_E_INVALID,
                                    "hostd gave workspace %s an SSH address wsctl will not pass to ssh", t->name);
        return 0;
}

char *wsctl_known_hosts_path(const char *home)
{
        const char *xdg = getenv("XDG_CONFIG_HOME");

        if (xdg && xdg[0] == '/')
                return hd_asprintf("%s/hostd/known_hosts", xdg);
        return hd_asprintf("%s/.config/hostd/known_hosts", home);
}

/* ssh_config splits values on blanks: quote a path that has them. */
static char *config_value(const char *path)
{
        return strpbrk(path, " \t") ? hd_asprintf("\"%s\"", path) : hd_strdup(path);
}

static void push(char ***argv, size_t *n, char *word)
{
        char **a = realloc(*argv, (*n + 2) * sizeof(**argv));

        if (!a)
                abort();
        a[(*n)++] = word;
        a[*n] = NULL;
        *argv = a;
}

char **wsctl_ssh_argv(const wsctl_ssh_target *t, const char *known_hosts, const char *wrapper,
                      char *const *extra, int nextra)
{
        _cleanup_free_ char *kh = config_value(known_hosts);
        char **argv = hd_malloc0(sizeof(*argv));
        size_t n = 0;

        if (wrapper) {
                _cleanup_free_ char *copy = hd_strdup(wrapper);
                for (char *p = copy, *w; (w = strsep(&p, " \t")) != NULL;)
                        if (*w)
                                push(&argv, &n, hd_strdup(w));
        }
        push(&argv, &n, hd_strdup("ssh"));
        push(&argv, &n, hd_strdup("-o"));
        push(&argv, &n, hd_strdup("StrictHostKeyChecking=accept-new"));
        push(&argv, &n, hd_strdup("-o"));
        push(&argv, &n, hd_asprintf("UserKnownHostsFile=%s", kh));
        push(&argv, &n, hd_strdup("-p"));
        push(&argv, &n, hd_asprintf("%ld", t->port));
        push(&argv, &n, hd_asprintf("%s@%s", t->user, t->host));
        for (int i = 0; i < nextra; i++)
                push(&argv, &n, hd_strdup(extra[i]));
        return argv;
}

void wsctl_argv_free(char **argv)
{
        if (!argv)
                return;
        for (char **p = argv; *p; p++)
                free(*p);
        free(argv);
}

void wsctl_ssh_config_block(hd_buf *b, const wsctl_ssh_target *t, const char *known_hosts,
                            const char *wrapper)
{
        _cleanup_free_ char *kh = config_value(known_hosts);

        hd_buf_appendf(b,
                       "Host %s.hostd\n"
                       "  HostName %s\n"
                       "  Port %ld\n"
                       "  User %s\n"
                       "  UserKnownHostsFile %s\n"
                       "  StrictHostKeyChecking accept-new\n",
                       t->name, t->host, t->port, t->user, kh);
        if (wrapper && *wrapper) {
                /* ssh expands %-tokens in ProxyCommand: a literal % is %%. */
                hd_buf_append(b, "  ProxyCommand ");
                for (const char *p = wrapper; *p; p++)
                        hd_buf_append_len(b, *p == '%' ? "%%" : p, *p == '%' ? 2 : 1);
                hd_buf_append(b, " nc %h %p\n");
        }
}

static const char *ssh_wrapper(void)
{
        const char *w = getenv("WSCTL_SSH_WRAPPER");

        return w && *w ? w : NULL;
}

/* The known_hosts file's directory, made 0700 when missing. */
static int known_hosts_dir(wsctl_ctx *ctx, const char *known_hosts)
{
        _cleanup_free_ char *dir = hd_strdup(known_hosts);
        hd_error err = {0};

        if (hd_mkdir_p(dirname(dir), 0700, &err) < 0)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", err.message);
        return 0;
}

int wsctl_cmd_ssh(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {
                {"print", no_argument, NULL, 'p'},
                WSCTL_COMMON_OPTIONS,
        };
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = NULL, *known_hosts = NULL;
        wsctl_ssh_target t;
        hd_error err = {0};
        bool print = false;
        char **ssh_argv;
        const char *state;
        int c, rc = 0, first_extra;

        /* Options are wsctl's anywhere before "--"; ssh's own go after it. */
        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                print = true;
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, -1)) != 0)
                return rc;
        path = wsctl_path("workspaces", argv[optind], "");
        if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        state = wsctl_str(r.json, "state", "unknown");
        if (strcmp(state, "ready") != 0) {
                if (strcmp(state, "failed") == 0)
                        return wsctl_fail(ctx, WSCTL_EXIT_STATE, "workspace %s failed: %s", argv[optind],
                                          wsctl_str(r.json, "reason", "no reason given"));
                return wsctl_fail(ctx, WSCTL_EXIT_STATE,
                                  "workspace %s is %s, not ready (wsctl start --wait %s starts a stopped one)",
                                  argv[optind], state, argv[optind]);
        }
        if (wsctl_ssh_target_of(r.json, &t, &err) < 0)
                return wsctl_fail(ctx, WSCTL_EXIT_STATE, "%s", err.message);
        known_hosts = wsctl_known_hosts_path(wsctl_home());
        if ((rc = known_hosts_dir(ctx, known_hosts)) != 0)
                return rc;
        first_extra = optind + 1;
        ssh_argv = wsctl_ssh_argv(&t, known_hosts, ssh_wrapper(), argv + first_extra, argc - first_extra);
        if (print) {
                for (char **a = ssh_argv; *a; a++) {
                        _cleanup_free_ char *q = wsctl_shell_quote(*a);
                        fprintf(ctx->out, "%s%s", a == ssh_argv ? "" : " ", q);
                }
                fputc('\n', ctx->out);
                wsctl_argv_free(ssh_argv);
                return WSCTL_EXIT_OK;
        }
        fflush(ctx->out);
        wsctl_http_close(ctx);
        execvp(ssh_argv[0], ssh_argv);
        rc = errno;
        wsctl_fail(ctx, WSCTL_EXIT_ERROR, "cannot run %s: %s", ssh_argv[0], strerror(rc));
        wsctl_argv_free(ssh_argv);
        return WSCTL_EXIT_ERROR;
}

int wsctl_cmd_ssh_config(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *known_hosts = wsctl_known_hosts_path(wsctl_home());
        _cleanup_buf_ hd_buf out = HD_BUF_INIT;
        const char *wrapper = ssh_wrapper();
        wsctl_ssh_target t;
        hd_error err = {0};
        int c, rc = 0, worst = 0;
        json_t *ws;
        size_t i;

        if ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1)
                return rc; /* --help or a usage error: ssh-config has no options of its own */
        if (optind == argc) {
                if ((rc = wsctl_call(ctx, "GET", "/v1/workspaces", NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                        return rc;
                json_array_foreach(json_object_get(r.json, "workspaces"), i, ws) {
                        if (strcmp(wsctl_str(ws, "state", ""), "ready") != 0)
                                continue;
                        if (wsctl_ssh_target_of(ws, &t, &err) < 0) {
                                worst = wsctl_fail(ctx, WSCTL_EXIT_STATE, "%s", err.message);
                                continue;
                        }
                        hd_buf_append(&out, out.len ? "\n" : "");
                        wsctl_ssh_config_block(&out, &t, known_hosts, wrapper);
                }
        }
        for (int a = optind; a < argc; a++) {
                _cleanup_free_ char *path = wsctl_path("workspaces", argv[a], "");
                if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0) {
                        worst = worst ? worst : rc;
                        continue;
                }
                if (wsctl_ssh_target_of(r.json, &t, &err) < 0) {
                        worst = wsctl_fail(ctx, WSCTL_EXIT_STATE, "%s", err.message);
                        continue;
                }
                hd_buf_append(&out, out.len ? "\n" : "");
                wsctl_ssh_config_block(&out, &t, known_hosts, wrapper);
        }
        if (out.len) {
                if ((rc = known_hosts_dir(ctx, known_hosts)) != 0)
                        return rc;
                fputs(out.data, ctx->out);
        }
        return worst;
}
